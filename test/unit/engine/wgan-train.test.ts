/**
 * WGAN training (src/engine/wgan-train.ts): learning on a 2-D toy, fine-tuning, weight clipping,
 * the gradient penalty's double backprop, determinism, worker-thread ensembles. Tiny models only.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.js';
import { memberSeed } from '../../../src/engine/ensemble-train.js';
import { Rng } from '../../../src/engine/random.js';
import { convEncoderLayers } from '../../../src/engine/params.js';
import { LEAKY_ALPHA, type MemberParams } from '../../../src/engine/spec.js';
import {
  criticLoss,
  criticUpdates,
  logisticCriticLoss,
  trainWganEnsemble,
  trainWganMember,
  type WganMemberProgress,
  type WganProgress,
} from '../../../src/engine/wgan-train.js';
import { TfWgan, type WganSpec } from '../../../src/engine/wgan.js';
import { DirectoryMemberStore } from '../../../src/engine/member-store.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** The paper's Figure 2 data: N((5,5), I). */
function gaussian2d(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return new Float32Array(n * 2).map(() => 5 + rng.normal());
}

const toy: WganSpec = {
  arch: { kind: 'mlp', inputDim: 2, encoderHidden: [16, 16], decoderHidden: [16, 16], latentDim: 2 },
  output: 'linear',
};
const data = gaussian2d(1000, 1);

function generatorMean(spec: WganSpec, critic: MemberParams, generator: MemberParams | undefined): number[] {
  const gan = TfWgan.fromParams(spec, critic, generator);
  const rng = new Rng(99);
  const n = 500;
  const g = gan.generateArray(
    new Float32Array(n * 2).map(() => rng.normal()),
    n,
  );
  gan.dispose();
  const m = [0, 0];
  for (let i = 0; i < n; i++) for (let j = 0; j < 2; j++) m[j] += g[i * 2 + j] / n;
  return m;
}

function sameBytes(a: MemberParams, b: MemberParams): boolean {
  return Object.keys(a).every((k) => Buffer.from(a[k].data.buffer).equals(Buffer.from(b[k].data.buffer)));
}

describe("the authors' critic schedule (criticSchedule 'arjovsky')", () => {
  it('100 critic updates before generator iterations 0–24 and every 500th, nCritic otherwise', () => {
    const count = (steps: number, schedule: 'fixed' | 'arjovsky'): number =>
      Array.from({ length: steps }, (_, i) => criticUpdates(i, 5, schedule)).reduce((a, b) => a + b, 0);
    expect(count(500, 'fixed')).toBe(2500);
    expect(count(500, 'arjovsky')).toBe(25 * 100 + 475 * 5);
    expect(count(1501, 'arjovsky')).toBe(25 * 100 + 3 * 100 + (1501 - 28) * 5); // 500, 1000, 1500 too
    expect(criticUpdates(24, 5, 'arjovsky')).toBe(100);
    expect(criticUpdates(25, 5, 'arjovsky')).toBe(5);
    expect(criticUpdates(500, 3, 'arjovsky')).toBe(100);
    expect(criticUpdates(501, 3, 'arjovsky')).toBe(3);
  });

  it('one generator iteration under it is exactly one under nCritic 100 (same seed, bit for bit)', () => {
    const common = { steps: 1, fineTuneSteps: 0, seed: 5, learningRate: 1e-3 } as const;
    const a = trainWganMember(toy, data, 1000, { ...common, criticSchedule: 'arjovsky' });
    const b = trainWganMember(toy, data, 1000, { ...common, nCritic: 100 });
    const c = trainWganMember(toy, data, 1000, { ...common });
    expect(sameBytes(a.critic, b.critic)).toBe(true);
    expect(sameBytes(a.critic, c.critic)).toBe(false);
    expect(() =>
      trainWganMember(toy, data, 1000, { ...common, criticSchedule: 'often' as unknown as 'fixed' }),
    ).toThrow(/criticSchedule must be 'fixed' or 'arjovsky'/);
  });
});

describe('trainWganMember', () => {
  it('moves the generator onto N((5,5), I); weight clipping holds after every phase', () => {
    const init = TfWgan.create(toy, 3);
    const m0 = generatorMean(toy, init.criticParams(), init.generatorParams());
    init.dispose();
    expect(Math.hypot(m0[0] - 5, m0[1] - 5)).toBeGreaterThan(4);
    const events: WganProgress[] = [];
    const before = tf.memory().numTensors;
    const r = trainWganMember(toy, data, 1000, {
      steps: 300,
      fineTuneSteps: 100,
      fineTuneLoss: 'wasserstein',
      learningRate: 1e-3,
      seed: 3,
      progressEvery: 100,
      onProgress: (e) => events.push(e),
    });
    expect(tf.memory().numTensors).toBe(before);
    const m1 = generatorMean(toy, r.critic, r.generator);
    expect(Math.hypot(m1[0] - 5, m1[1] - 5)).toBeLessThan(1);
    const c = Math.fround(0.01);
    for (const t of Object.values(r.critic))
      for (const v of t.data) expect(Math.abs(v)).toBeLessThanOrEqual(c);
    expect(events.map((e) => `${e.phase}:${e.step}`)).toEqual([
      'gan:100',
      'gan:200',
      'gan:300',
      'finetune:100',
    ]);
    expect(events.every((e) => Number.isFinite(e.criticLoss) && Number.isFinite(e.wasserstein))).toBe(true);
    expect(events[0].genLoss).not.toBeNull();
    expect(events[3].genLoss).toBeNull();
    // with clipping, the loss is exactly minus the Wasserstein estimate
    expect(events[3].criticLoss).toBeCloseTo(-events[3].wasserstein, 12);
    expect(r.steps).toBe(300);
    expect(r.fineTuneSteps).toBe(100);
    expect(r.stats.samples).toBe(1000);
    expect(r.stoppedEarly).toBe(false);
  }, 120_000);

  for (const lipschitz of ['clip', 'gp'] as const) {
    it(`${lipschitz}: fine-tuning against the frozen generator separates data from generator samples`, () => {
      // steps 0: the generator stays at its initialisation (samples near the origin), far from the data
      const untrained = trainWganMember(toy, data, 1000, { steps: 0, fineTuneSteps: 0, lipschitz, seed: 4 });
      const tuned = trainWganMember(toy, data, 1000, {
        steps: 0,
        fineTuneSteps: 150,
        fineTuneLoss: 'wasserstein',
        lipschitz,
        learningRate: lipschitz === 'clip' ? 5e-4 : 1e-3,
        seed: 4,
      });
      const sep = (s: typeof tuned.stats): number =>
        (s.dataMean - s.fakeMean) / Math.max(s.dataStd, s.fakeStd);
      expect(sep(tuned.stats)).toBeGreaterThan(2);
      expect(sep(tuned.stats)).toBeGreaterThan(sep(untrained.stats) + 1);
      // the generator is frozen: identical to the one without fine-tuning
      expect(sameBytes(tuned.generator!, untrained.generator!)).toBe(true);
      if (lipschitz === 'gp') {
        // a 1-Lipschitz critic: its gap cannot exceed the distance between the distributions (≈ 7 here)
        expect(tuned.stats.dataMean - tuned.stats.fakeMean).toBeLessThan(10);
      }
    }, 30_000);
  }

  it('logistic objective = ½·[mean softplus(−D(x)) + mean softplus(D(G(z)))] in float64', () => {
    const gan = TfWgan.create(toy, 5);
    const rng = new Rng(6);
    const xr = new Float32Array(7 * 2).map(() => 5 + 3 * rng.normal());
    const xf = new Float32Array(5 * 2).map(() => 3 * rng.normal());
    const dr = gan.criticArray(xr, 7);
    const df = gan.criticArray(xf, 5);
    // softplus(t) = log(1 + e^t), stable in float64
    const sp = (t: number): number => Math.max(t, 0) + Math.log1p(Math.exp(-Math.abs(t)));
    const mean = (a: Float32Array, f: (t: number) => number): number =>
      a.reduce((acc, t) => acc + f(t), 0) / a.length;
    const want = 0.5 * (mean(dr, (t) => sp(-t)) + mean(df, sp));
    const holder: { value: tf.Scalar | null } = { value: null };
    const got = tf.tidy(
      () => logisticCriticLoss(gan, tf.tensor2d(xr, [7, 2]), tf.tensor2d(xf, [5, 2]), holder).dataSync()[0],
    );
    expect(Math.abs(got - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
    expect(holder.value!.dataSync()[0]).toBeCloseTo(mean(dr, (t) => t) - mean(df, (t) => t), 5);
    holder.value!.dispose();
    gan.dispose();
  });

  it('logistic fine-tuning makes D a classifier (data > 0 > generator), unclipped; init starts from given params', () => {
    // the adversarial phase once (clipped), then a logistic fine-tuning of exactly that member
    const adv = trainWganMember(toy, data, 1000, { steps: 0, fineTuneSteps: 0, seed: 9 });
    const init = { critic: adv.critic, generator: adv.generator! };
    // init with no steps at all returns the given parameters unchanged
    const same = trainWganMember(toy, data, 1000, { steps: 0, fineTuneSteps: 0, seed: 1, init });
    expect(sameBytes(same.critic, adv.critic)).toBe(true);
    expect(sameBytes(same.generator!, adv.generator!)).toBe(true);
    const events: WganProgress[] = [];
    const tuned = trainWganMember(toy, data, 1000, {
      steps: 0,
      fineTuneSteps: 200,
      fineTuneLoss: 'logistic',
      learningRate: 1e-3,
      seed: 9,
      init,
      progressEvery: 200,
      onProgress: (e) => events.push(e),
    });
    // a logistic classifier's logit has a meaningful origin: positive on data, negative on samples
    expect(tuned.stats.dataMean).toBeGreaterThan(1);
    expect(tuned.stats.fakeMean).toBeLessThan(-1);
    expect(sameBytes(tuned.generator!, adv.generator!)).toBe(true);
    // no clipping in the logistic phase: parameters leave [−0.01, 0.01] (the Wasserstein phase keeps them in)
    const maxAbs = (p: MemberParams): number =>
      Math.max(...Object.values(p).map((t) => t.data.reduce((a, v) => Math.max(a, Math.abs(v)), 0)));
    expect(maxAbs(tuned.critic)).toBeGreaterThan(0.05);
    const clipped = trainWganMember(toy, data, 1000, {
      steps: 0,
      fineTuneSteps: 5,
      fineTuneLoss: 'wasserstein',
      seed: 9,
      init,
    });
    expect(maxAbs(clipped.critic)).toBeLessThanOrEqual(Math.fround(0.01));
    // the logged loss is the cross-entropy (positive, below log 2 once separated), not −W
    expect(events).toHaveLength(1);
    expect(events[0].criticLoss).toBeGreaterThan(0);
    expect(events[0].criticLoss).toBeLessThan(Math.log(2));
    expect(() => trainWganMember(toy, data, 1000, { fineTuneLoss: 'hinge' as 'logistic' })).toThrow(
      /fineTuneLoss must be one of/,
    );
  }, 60_000);

  it('is deterministic given the seed (bit-identical), and the seed matters', () => {
    const o = { steps: 15, fineTuneSteps: 15, batchSize: 32, learningRate: 5e-4 };
    const a = trainWganMember(toy, data, 1000, { ...o, seed: 7 });
    const b = trainWganMember(toy, data, 1000, { ...o, seed: 7 });
    const c = trainWganMember(toy, data, 1000, { ...o, seed: 8 });
    expect(sameBytes(a.critic, b.critic)).toBe(true);
    expect(sameBytes(a.generator!, b.generator!)).toBe(true);
    expect(a.stats).toEqual(b.stats);
    expect(sameBytes(a.critic, c.critic)).toBe(false);
    const g = trainWganMember(toy, data, 1000, { ...o, seed: 7, lipschitz: 'gp', keepGenerator: false });
    const h = trainWganMember(toy, data, 1000, { ...o, seed: 7, lipschitz: 'gp', keepGenerator: false });
    expect(sameBytes(g.critic, h.critic)).toBe(true);
    expect(g.generator).toBeUndefined();
  });

  it('trains the conv architecture (sigmoid generator), clipped and with the gradient penalty', () => {
    const spec: WganSpec = {
      arch: { kind: 'conv', height: 28, width: 28, channels: 1, base: 2, latentDim: 2 },
      output: 'sigmoid',
    };
    const rng = new Rng(2);
    const imgs = new Float32Array(6 * 784).map(() => (rng.uniform() < 0.2 ? 1 : 0));
    for (const lipschitz of ['clip', 'gp'] as const) {
      const r = trainWganMember(spec, imgs, 6, {
        steps: 2,
        fineTuneSteps: 2,
        fineTuneLoss: 'wasserstein',
        nCritic: 2,
        batchSize: 3,
        lipschitz,
        statsSamples: 3,
        seed: 1,
      });
      expect(Number.isFinite(r.stats.dataMean) && Number.isFinite(r.stats.fakeMean)).toBe(true);
      const init = TfWgan.create(spec, 1);
      expect(sameBytes(r.generator!, init.generatorParams())).toBe(false);
      init.dispose();
      if (lipschitz === 'clip')
        for (const t of Object.values(r.critic))
          for (const v of t.data) expect(Math.abs(v)).toBeLessThanOrEqual(Math.fround(0.01));
    }
    // the logistic fine-tuning through the conv critic (leaky_relu layers)
    const lg = trainWganMember(spec, imgs, 6, {
      steps: 1,
      fineTuneSteps: 3,
      fineTuneLoss: 'logistic',
      nCritic: 1,
      batchSize: 3,
      statsSamples: 3,
      seed: 1,
    });
    expect(lg.fineTuneSteps).toBe(3);
    expect(Number.isFinite(lg.stats.dataMean) && Number.isFinite(lg.stats.fakeMean)).toBe(true);
  }, 30_000);

  it('rejects bad options and data with typed errors', () => {
    expect(() => trainWganMember(toy, data, 1000, { nCritic: 0 })).toThrow(
      expect.objectContaining({ code: 'E_TRAIN_OPTIONS' }),
    );
    expect(() => trainWganMember(toy, data, 1000, { clip: 0 })).toThrow(/clip must be > 0/);
    expect(() => trainWganMember(toy, data, 999)).toThrow(expect.objectContaining({ code: 'E_TRAIN_DATA' }));
    const bad = data.slice();
    bad.fill(NaN, 0, 2);
    expect(() => trainWganMember(toy, bad, 1000, { steps: 0, fineTuneSteps: 3, batchSize: 1000 })).toThrow(
      expect.objectContaining({ code: 'E_TRAIN_DIVERGED' }),
    );
  });
});

describe('gradient penalty: double backprop through the engine layers', () => {
  /** The same critic with stock tfjs ops (tf.matMul / tf.conv2d and their registered gradients). */
  function stockCritic(spec: WganSpec, v: Record<string, tf.Variable>, x: tf.Tensor2D): tf.Tensor1D {
    const arch = spec.arch;
    let h: tf.Tensor2D;
    if (arch.kind === 'mlp') {
      h = x;
      arch.encoderHidden.forEach((_, i) => {
        h = tf.relu(tf.add(tf.matMul(h, v[`enc.h${i}.w`] as tf.Tensor2D), v[`enc.h${i}.b`])) as tf.Tensor2D;
      });
    } else {
      let a = tf.reshape(x, [-1, 28, 28, arch.channels]) as tf.Tensor4D;
      for (const [i, l] of convEncoderLayers(arch).entries()) {
        // αy + (1−α)·relu(y): tf.leakyRelu's own gradient is not differentiable in tfjs (Greater)
        const y = tf.add(
          tf.conv2d(a, v[`enc.conv${i}.w`] as tf.Tensor4D, l.stride, l.padding),
          v[`enc.conv${i}.b`],
        );
        a = tf.add(tf.mul(y, LEAKY_ALPHA), tf.mul(tf.relu(y), 1 - LEAKY_ALPHA));
      }
      h = tf.reshape(a, [-1, 4 * arch.latentDim]);
    }
    const e = tf.add(tf.matMul(h, v['enc.head.w'] as tf.Tensor2D), v['enc.head.b']);
    return tf.reshape(tf.add(tf.matMul(e, v['critic.out.w'] as tf.Tensor2D), v['critic.out.b']), [-1]);
  }

  const cases: Array<[string, WganSpec]> = [
    ['mlp', toy],
    [
      'conv',
      {
        arch: { kind: 'conv', height: 28, width: 28, channels: 1, base: 2, latentDim: 2 },
        output: 'sigmoid',
      },
    ],
  ];
  for (const [name, spec] of cases) {
    it(`${name}: ∂/∂θ of λ·(‖∇ₓD‖−1)² equals stock tfjs (reference on the cpu backend)`, async () => {
      const gan = TfWgan.create(spec, 5);
      const d = gan.dataDim;
      const rng = new Rng(6);
      const b = 3;
      const arrays = [0, 1, 2].map(() => new Float32Array(b * d).map(() => rng.uniform()));
      const vars = gan.criticVariables();
      const grads = (f: (xr: tf.Tensor2D, xf: tf.Tensor2D, xhat: tf.Tensor2D) => tf.Scalar) =>
        tf.tidy(() => {
          const [xr, xf, xhat] = arrays.map((a) => tf.tensor2d(a, [b, d]));
          const r = tf.variableGrads(() => f(xr, xf, xhat), vars);
          return {
            value: r.value.dataSync()[0],
            grads: vars.map((v) => r.grads[v.name]?.dataSync() ?? new Float32Array(v.size)),
          };
        });
      const ours = grads((xr, xf, xhat) => criticLoss(gan, xr, xf, xhat, 10));
      // tfjs-wasm's stock second-order conv path goes through backend.ts' Conv2DBackpropFilter shim,
      // which is wrong for stride-2 'same' convolutions, so the stock reference runs on 'cpu'.
      await tf.setBackend('cpu');
      let stock: typeof ours;
      try {
        stock = grads((xr, xf, xhat) => {
          const dAll = stockCritic(spec, gan.criticVars, tf.concat([xr, xf], 0));
          const gap = tf.sub(tf.mean(tf.slice(dAll, [0], [b])), tf.mean(tf.slice(dAll, [b], [b])));
          const crit = (xi: tf.Tensor) => tf.sum(stockCritic(spec, gan.criticVars, xi as tf.Tensor2D));
          const gx = tf.grad(crit)(xhat);
          const norm = tf.sqrt(tf.add(tf.sum(tf.square(gx), 1), 1e-12));
          return tf.add(tf.neg(gap), tf.mul(tf.mean(tf.square(tf.sub(norm, 1))), 10)) as tf.Scalar;
        });
      } finally {
        await initBackend('wasm');
      }
      expect(ours.value).toBeCloseTo(stock.value, 4);
      let nonzeroWeights = 0;
      vars.forEach((v, k) => {
        const [g1, g2] = [ours.grads[k], stock.grads[k]];
        const scale = Math.max(1e-3, ...Array.from(g2, Math.abs));
        for (let i = 0; i < g1.length; i++) expect(Math.abs(g1[i] - g2[i])).toBeLessThan(1e-4 * scale);
        if (v.name.includes('.w') && g2.some((q) => q !== 0)) nonzeroWeights++;
      });
      expect(nonzeroWeights).toBe(vars.filter((v) => v.name.includes('.w')).length);
      expect(tf.getBackend()).toBe('wasm');
      gan.dispose();
    }, 30_000);
  }
});

describe('trainWganEnsemble', () => {
  it('with a member store: critics a stopped run finished are read back, not trained, bit for bit', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gensemble-wgan-store-'));
    try {
      const store = new DirectoryMemberStore(join(dir, 'critics.partial'));
      const train = { steps: 5, fineTuneSteps: 5, batchSize: 32, learningRate: 5e-4 };
      const whole = await trainWganEnsemble(toy, data, 1000, { members: 2, seed: 3, train, store });
      const files = await store.files();
      expect(files.map((f) => f.replace(/-[0-9a-f]{16}\.member$/, ''))).toEqual([
        'wgan-worker-0',
        'wgan-worker-1',
      ]);
      await rm(join(store.dir, files[1]));
      const trained = new Set<number>();
      const reused: number[] = [];
      const again = await trainWganEnsemble(toy, data, 1000, {
        members: 2,
        seed: 3,
        train,
        store,
        onProgress: (m) => trained.add(m),
        onReused: (r) => reused.push(r.member),
      });
      expect(reused).toEqual([0]);
      expect([...trained]).toEqual([1]);
      for (const m of [0, 1]) {
        expect(sameBytes(again.members[m].critic, whole.members[m].critic)).toBe(true);
        expect(again.members[m].stats).toEqual(whole.members[m].stats);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('trains M members in workers, each identical to in-process training with its seed', async () => {
    const events: WganMemberProgress[] = [];
    const backends: string[] = [];
    const train = { steps: 10, fineTuneSteps: 10, batchSize: 32, learningRate: 5e-4, progressEvery: 5 };
    const r = await trainWganEnsemble(toy, data, 1000, {
      members: 2,
      seed: 20,
      concurrency: 2,
      train,
      onProgress: (_m, e) => events.push(e),
      onBackend: (_m, detail) => backends.push(detail),
    });
    expect(r.members.length).toBe(2);
    expect(backends.length).toBe(2);
    expect(backends[0]).toMatch(/wasm/);
    for (const m of [0, 1]) {
      expect(events.filter((e) => e.member === m).map((e) => `${e.phase}:${e.step}`)).toEqual([
        'gan:5',
        'gan:10',
        'finetune:5',
        'finetune:10',
      ]);
      const mem = r.members[m];
      expect(mem.seed).toBe(memberSeed(20, m));
      const local = trainWganMember(toy, data, 1000, { ...train, seed: mem.seed });
      expect(sameBytes(mem.critic, local.critic)).toBe(true);
      expect(sameBytes(mem.generator!, local.generator!)).toBe(true);
      expect(mem.stats).toEqual(local.stats);
    }
    expect(sameBytes(r.members[0].critic, r.members[1].critic)).toBe(false);

    // the same members fine-tuned again from their parameters: inits[m] reaches member m's worker
    const ft = {
      steps: 0,
      fineTuneSteps: 10,
      batchSize: 32,
      learningRate: 5e-4,
      fineTuneLoss: 'logistic' as const,
    };
    const inits = r.members.map((mem) => ({ critic: mem.critic, generator: mem.generator! }));
    const again = await trainWganEnsemble(toy, data, 1000, {
      members: 2,
      seed: 20,
      concurrency: 2,
      train: ft,
      inits,
    });
    for (const m of [0, 1]) {
      const local = trainWganMember(toy, data, 1000, { ...ft, seed: memberSeed(20, m), init: inits[m] });
      expect(sameBytes(again.members[m].critic, local.critic)).toBe(true);
      expect(sameBytes(again.members[m].generator!, inits[m].generator)).toBe(true);
    }
    await expect(trainWganEnsemble(toy, data, 1000, { members: 3, train: ft, inits })).rejects.toMatchObject({
      code: 'E_ENSEMBLE_OPTIONS',
    });
  }, 60_000);

  it('types member and option errors', async () => {
    await expect(
      trainWganEnsemble(toy, data, 1000, { members: 2, train: { steps: 1, learningRate: -1 } }),
    ).rejects.toMatchObject({ code: 'E_ENSEMBLE_MEMBER' });
    await expect(trainWganEnsemble(toy, data, 999)).rejects.toMatchObject({ code: 'E_ENSEMBLE_OPTIONS' });
    await expect(trainWganEnsemble(toy, data, 1000, { members: 0 })).rejects.toMatchObject({
      code: 'E_ENSEMBLE_OPTIONS',
    });
  }, 60_000);
});
