/** Training loop (src/engine/train.ts): learning, determinism, early stopping, no leaks. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.js';
import {
  betaAt,
  cosineLr,
  trainingLoss,
  trainMember,
  type TrainProgress,
} from '../../../src/engine/train.js';
import { TfVae, makeMafPrior } from '../../../src/engine/vae.js';
import { makeEps, Rng } from '../../../src/engine/random.js';
import type { MemberSpec } from '../../../src/engine/spec.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** Binary-ish 12-D data from 2 latent factors: pixel j is on with prob sigmoid(4·(a·u_j + b·v_j)). */
function synthetic(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const d = 12;
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const a = rng.normal();
    const b = rng.normal();
    for (let j = 0; j < d; j++) {
      const logit = 4 * (a * Math.cos(j) + b * Math.sin(j));
      out[i * d + j] = rng.uniform() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
    }
  }
  return out;
}

const spec: MemberSpec = {
  arch: { kind: 'mlp', inputDim: 12, encoderHidden: [32], decoderHidden: [32], latentDim: 2 },
  likelihood: 'bernoulli',
  prior: { kind: 'standard' },
};

describe('schedules', () => {
  it('cosine learning rate and linear β warm-up', () => {
    expect(cosineLr(1e-3, 0, 100)).toBeCloseTo(1e-3, 12);
    expect(cosineLr(1e-3, 50, 100)).toBeCloseTo(5e-4, 12);
    expect(cosineLr(1e-3, 100, 100)).toBeCloseTo(0, 12);
    expect(cosineLr(2, 25, 100)).toBeCloseTo(0.5 * 2 * (1 + Math.SQRT1_2), 12);
    expect(betaAt(0, 1, 0.1, 10)).toBeCloseTo(0.1, 12);
    expect(betaAt(5, 1, 0.1, 10)).toBeCloseTo(0.55, 12);
    expect(betaAt(10, 1, 0.1, 10)).toBe(1);
    expect(betaAt(3, 0.5, 0.5, 0)).toBe(0.5);
  });
});

describe('trainMember', () => {
  const train = synthetic(1000, 1);
  const val = synthetic(300, 2);

  it('a learned MAF prior trains on wasm (its permutations have a gradient there) and lowers the loss', () => {
    // tf.gather's gradient needs UnsortedSegmentSum, which tfjs-wasm lacks: MAF training used to throw.
    const maf: MemberSpec = { ...spec, prior: makeMafPrior(2, 3, [8, 8], 5) };
    const r = trainMember(maf, train, 1000, {
      steps: 300,
      batchSize: 64,
      learningRate: 3e-3,
      seed: 4,
      validation: { data: val, n: 300 },
      validateEvery: 100,
    });
    expect(Object.keys(r.params).some((k) => k.startsWith('prior.maf'))).toBe(true);
    for (const p of Object.values(r.params)) expect(p.data.every(Number.isFinite)).toBe(true);
    const losses = r.history.map((e) => e.loss);
    const first = losses.slice(0, 20).reduce((a, b) => a + b, 0) / 20;
    const last = losses.slice(-20).reduce((a, b) => a + b, 0) / 20;
    expect(last).toBeLessThan(first - 0.5);
  });

  it('reduces the loss and improves the validation IWAE', () => {
    const events: TrainProgress[] = [];
    const r = trainMember(spec, train, 1000, {
      steps: 600,
      batchSize: 64,
      learningRate: 3e-3,
      seed: 4,
      validation: { data: val, n: 300 },
      validateEvery: 100,
      patience: 10,
      betaStart: 0.2,
      warmupSteps: 100,
      onProgress: (e) => events.push(e),
    });
    expect(r.steps).toBe(600);
    const losses = events.map((e) => e.loss);
    const head = losses.slice(0, 3).reduce((a, b) => a + b) / 3;
    const tail = losses.slice(-3).reduce((a, b) => a + b) / 3;
    expect(tail).toBeLessThan(head - 0.5);
    const vals = events.filter((e) => e.valIwae !== undefined).map((e) => e.valIwae as number);
    expect(vals.length).toBe(6);
    // Independent check: the initial model's validation IWAE, computed here, is well below the best.
    const init = TfVae.create(spec, 4);
    const eps = makeEps(99, 16, 2);
    const s0 = init.scoreArray(val, 300, eps, 16);
    init.dispose();
    const trained = TfVae.fromParams(spec, r.params, false);
    const s1 = trained.scoreArray(val, 300, eps, 16);
    trained.dispose();
    const mean = (a: Float32Array): number => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(s1.iwae)).toBeGreaterThan(mean(s0.iwae) + 1);
    expect(vals[vals.length - 1]).toBeGreaterThan(vals[0]);
    // The progress events carry what a progress bar needs.
    expect(events[0].steps).toBe(600);
    expect(events.every((e, i) => i === 0 || e.step > events[i - 1].step)).toBe(true);
    expect(events.every((e) => e.elapsedMs >= 0 && e.lr > 0 && e.beta > 0)).toBe(true);
  });

  it('is deterministic: the same seed gives bit-identical parameters; another seed does not', () => {
    const opts = { steps: 40, batchSize: 32, seed: 7, validation: { data: val, n: 300 }, validateEvery: 20 };
    const a = trainMember(spec, train, 1000, opts);
    const b = trainMember(spec, train, 1000, opts);
    const c = trainMember(spec, train, 1000, { ...opts, seed: 8 });
    for (const name of Object.keys(a.params)) {
      expect(Buffer.from(a.params[name].data.buffer).equals(Buffer.from(b.params[name].data.buffer))).toBe(
        true,
      );
    }
    expect(
      Buffer.from(a.params['dec.out.w'].data.buffer).equals(Buffer.from(c.params['dec.out.w'].data.buffer)),
    ).toBe(false);
    expect(a.history.map((e) => e.loss)).toEqual(b.history.map((e) => e.loss));
  });

  it('early stopping keeps the parameters of the best validation IWAE', () => {
    // A learning rate far too high makes the validation IWAE go up and down.
    const events: TrainProgress[] = [];
    const r = trainMember(spec, train, 1000, {
      steps: 400,
      batchSize: 16,
      learningRate: 0.05,
      seed: 3,
      validation: { data: val, n: 300 },
      validateEvery: 10,
      patience: 3,
      validationK: 8,
      onProgress: (e) => events.push(e),
    });
    const vals = events.filter((e) => e.valIwae !== undefined);
    const best = vals.reduce((m, e) => ((e.valIwae as number) > (m.valIwae as number) ? e : m));
    expect(r.stoppedEarly).toBe(true);
    expect(r.steps).toBeLessThan(400);
    expect(r.bestValIwae).toBe(best.valIwae);
    expect(r.bestStep).toBe(best.step);
    expect(r.bestStep).toBeLessThan(r.steps);
    // The last 3 validations were all worse than the best (that is why it stopped).
    for (const e of vals.slice(-3)) expect(e.valIwae as number).toBeLessThan(best.valIwae as number);
    // Re-score the returned parameters with the validation noise: they are the best ones, not the last.
    const vae = TfVae.fromParams(spec, r.params, false);
    const s = vae.scoreArray(val, 300, makeEps((3 + 0x51ed) >>> 0, 8, 2), 8);
    vae.dispose();
    const mean = s.iwae.reduce((x, y) => x + y, 0) / 300;
    expect(mean).toBeCloseTo(best.valIwae as number, 3);
  });

  it('IWAE objective and gaussian likelihood train too', () => {
    const g: MemberSpec = { ...spec, likelihood: 'gaussian' };
    const r = trainMember(g, train, 1000, {
      steps: 100,
      batchSize: 32,
      objective: 'iwae',
      trainK: 4,
      seed: 1,
      progressEvery: 20,
    });
    expect(r.history.length).toBe(5);
    expect(r.history[4].loss).toBeLessThan(r.history[0].loss);
    expect(r.params['dec.scale_raw'].shape).toEqual([12]);
  });

  it('the K-sample objectives: the ELBO is the mean of K one-sample ELBOs, the IWAE their log-mean-exp (float64)', () => {
    const vae = TfVae.create(spec, 5);
    const n = 6;
    const K = 4;
    const x = tf.tensor2d(synthetic(n, 9), [n, 12]);
    const epsAll = makeEps(77, n * K, 2);
    const beta = 0.3;
    const loss = (eps: Float32Array, k: number, objective: 'elbo' | 'iwae') =>
      tf.tidy(() => trainingLoss(vae, x, tf.tensor3d(eps, [n, k, 2]), beta, objective).dataSync()[0]);
    // each record's k-th sample alone: a one-sample loss per (record, k), read back one record at a time
    const single: number[][] = [];
    for (let i = 0; i < n; i++) {
      const xi = x.slice([i, 0], [1, 12]);
      single.push(
        Array.from({ length: K }, (_, k) =>
          tf.tidy(() => {
            const e = tf.tensor3d(epsAll.subarray((i * K + k) * 2, (i * K + k + 1) * 2), [1, 1, 2]);
            return -trainingLoss(vae, xi as tf.Tensor2D, e, beta, 'elbo').dataSync()[0];
          }),
        ),
      );
      xi.dispose();
    }
    const elboRef = -single.flat().reduce((a, b) => a + b, 0) / (n * K);
    const iwaeRef =
      -single.reduce((acc, w) => {
        const m = Math.max(...w);
        return acc + m + Math.log(w.reduce((a, v) => a + Math.exp(v - m), 0) / K);
      }, 0) / n;
    expect(loss(epsAll, K, 'elbo')).toBeCloseTo(elboRef, 3);
    expect(loss(epsAll, K, 'iwae')).toBeCloseTo(iwaeRef, 3);
    // the bound is tighter: IWAE's loss is below the ELBO's (Jensen), strictly for a non-degenerate q
    expect(iwaeRef).toBeLessThan(elboRef);
    x.dispose();
    vae.dispose();
  });

  it('student-t likelihood trains (loss falls, a learned scale per feature)', () => {
    const t: MemberSpec = { ...spec, likelihood: 'student-t' };
    const r = trainMember(t, train, 1000, { steps: 100, batchSize: 32, seed: 2, progressEvery: 20 });
    expect(r.history[4].loss).toBeLessThan(r.history[0].loss);
    expect(r.params['dec.scale_raw'].shape).toEqual([12]);
  });

  it('rejects bad data and options with typed errors', () => {
    expect(() => trainMember(spec, new Float32Array(11), 1)).toThrow(
      expect.objectContaining({ code: 'E_TRAIN_DATA' }),
    );
    expect(() => trainMember(spec, train, 1000, { steps: 0 })).toThrow(
      expect.objectContaining({ code: 'E_TRAIN_OPTIONS' }),
    );
  });

  it('leaks no tensors over 1,000 training steps', () => {
    const tiny: MemberSpec = {
      ...spec,
      arch: { kind: 'mlp', inputDim: 12, encoderHidden: [8], decoderHidden: [8], latentDim: 2 },
    };
    const before = tf.memory().numTensors;
    const counts: number[] = [];
    trainMember(tiny, train, 1000, {
      steps: 1000,
      batchSize: 16,
      seed: 2,
      validation: { data: val, n: 300 },
      validateEvery: 250,
      patience: 100,
      progressEvery: 100,
      onProgress: () => counts.push(tf.memory().numTensors),
    });
    expect(counts.length).toBeGreaterThanOrEqual(10);
    expect(new Set(counts).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
  });
});
