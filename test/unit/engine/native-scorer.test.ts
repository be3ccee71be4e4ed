/**
 * The fused native scorer (native/gensemble_native.cc through src/engine/native-scorer.ts) against the
 * float64 reference (test/reference/f64.ts) and against onnxruntime on the same exported ensemble.
 * Without a built addon these tests skip with a warning, except where GENSEMBLE_NATIVE=require (CI),
 * where the addon must load.
 */
import { describe, expect, it } from 'vitest';
import {
  autoEngine,
  createEnsembleScorer,
  engineFromEnv,
  NATIVE_AUTO_MAX_WIDTH,
  nativeUnavailable,
} from '../../../src/engine/ensemble-scorer.js';
import { ScorerRuntimeError, ScoringInputError } from '../../../src/engine/errors.js';
import {
  loadNativeAddon,
  NativeScorer,
  nativeUnsupported,
  packNativeModel,
} from '../../../src/engine/native-scorer.js';
import { exportEnsembleOnnx } from '../../../src/engine/onnx/export.js';
import { makeEps, randomParams, Rng } from '../../../src/engine/random.js';
import { OnnxScorer } from '../../../src/engine/scorer.js';
import type { EnsembleSpec, FeatureTransform, MemberSpec } from '../../../src/engine/spec.js';
import type { ScoreBatch } from '../../../src/engine/types.js';
import { ensembleScoresF64 } from '../../reference/f64.js';
import { TINY, tinyEnsemble, uniformBatch } from './fixtures.js';

const { addon, error } = loadNativeAddon();
if (!addon) console.warn(`native scorer tests skipped: ${error}`);

it('the addon is built where GENSEMBLE_NATIVE=require (CI)', () => {
  if (process.env.GENSEMBLE_NATIVE === 'require') expect(error).toBeUndefined();
  expect(addon !== undefined || error !== undefined).toBe(true);
});

/** |a − b| ≤ rel·max(1, |b|), with a message naming the field and record. */
function close(a: number, b: number, rel: number, what: string): void {
  if (!(Math.abs(a - b) <= rel * Math.max(1, Math.abs(b))))
    throw new Error(`${what}: native ${a} vs ${b} (|Δ| ${Math.abs(a - b)})`);
}

function expectMatchesF64(spec: EnsembleSpec, x: Float32Array, n: number, got: ScoreBatch, rel = 2e-5): void {
  const d = spec.inputDim;
  const M = spec.members.length;
  for (let i = 0; i < n; i++) {
    const ref = ensembleScoresF64(spec, x.subarray(i * d, (i + 1) * d));
    for (let m = 0; m < M; m++) {
      close(got.logp[i * M + m], ref.logp[m], rel, `logp[${i},${m}]`);
      close(got.memberRate[i * M + m], ref.memberRate[m], rel, `rate[${i},${m}]`);
    }
    close(got.logpMean[i], ref.logpMean, rel, `logpMean[${i}]`);
    close(got.logpVar[i], ref.logpVar, rel * 10, `logpVar[${i}]`);
    close(got.waic[i], ref.waic, rel, `waic[${i}]`);
    close(got.rate[i], ref.rate, rel, `rateMean[${i}]`);
  }
}

function expectMatchesOrt(a: ScoreBatch, b: ScoreBatch, rel: number): void {
  expect(a.n).toBe(b.n);
  const fields = ['logp', 'memberRate', 'logpMean', 'waic', 'rate'] as const;
  for (const f of fields)
    for (let i = 0; i < a[f].length; i++) close(a[f][i], b[f][i], rel, `${f}[${i}] vs onnxruntime`);
}

/** An MLP ensemble of any shape with random weights and biases. */
function mlpEnsemble(
  member: MemberSpec,
  o: { members?: number; k?: number; seed?: number; transform?: FeatureTransform; weightScale?: number } = {},
): EnsembleSpec {
  const M = o.members ?? 5;
  const k = o.k ?? 16;
  const seed = o.seed ?? 3;
  const rng = new Rng(seed);
  const arch = member.arch;
  if (arch.kind !== 'mlp') throw new Error('mlpEnsemble: MLP only');
  return {
    specVersion: 1,
    member,
    transform: o.transform ?? { kind: 'scale', factor: 1 },
    inputDim: arch.inputDim,
    k,
    members: Array.from({ length: M }, (_, m) => {
      const params = randomParams(member, seed * 10 + m);
      for (const [name, t] of Object.entries(params))
        for (let i = 0; i < t.data.length; i++)
          if (!name.endsWith('.w')) t.data[i] = 0.3 * (2 * rng.uniform() - 1);
          else t.data[i] *= o.weightScale ?? 1;
      return { seed: seed * 10 + m, params, eps: makeEps(seed * 10 + m, k, arch.latentDim) };
    }),
  };
}

const credit = (likelihood: MemberSpec['likelihood']): MemberSpec => ({
  arch: { kind: 'mlp', inputDim: 30, encoderHidden: [32], decoderHidden: [30], latentDim: 4 },
  likelihood,
  prior: { kind: 'standard' },
});

/** Scores x with a fresh NativeScorer of `threads` threads and holds it to the float64 reference. */
async function expectNativeMatchesF64(
  spec: EnsembleSpec,
  x: Float32Array,
  n: number,
  threads: number,
): Promise<void> {
  const s = NativeScorer.create(spec, { threads });
  try {
    expectMatchesF64(spec, x, n, await s.scoreBatch(x, n));
  } finally {
    await s.close();
  }
}

describe.skipIf(!addon)('native scorer vs the float64 reference', () => {
  for (const name of ['mlpBernoulli', 'mlpGaussian', 'mlpStudent', 'mlpMixed'] as const)
    it(`${name}: every output, 3 members, K 5, records split over threads`, async () => {
      const spec = tinyEnsemble(TINY[name], { members: 3, k: 5 });
      const n = 70;
      const x = uniformBatch(n, spec.inputDim, 11, -0.5, 1.5);
      await expectNativeMatchesF64(spec, x, n, 3);
    });

  it('mlpMixed with huge logits on its Bernoulli columns (the products of factors, the masks)', async () => {
    const spec = tinyEnsemble(TINY.mlpMixed, { members: 2, k: 5 });
    for (const m of spec.members) m.params['dec.out.b'].data.set([0.1, -5e3, 0.2, -0.1, 4e3, -6e3]);
    const x = new Float32Array([0.3, 1, -0.2, 0.8, 0, 1, 0.3, 0, -0.2, 0.8, 1, 0]);
    const s = NativeScorer.create(spec, { threads: 1 });
    try {
      const got = await s.scoreBatch(x, 2);
      for (let i = 0; i < 2; i++) {
        const ref = ensembleScoresF64(spec, x.subarray(i * 6, (i + 1) * 6));
        // row 0 contradicts every huge logit (≈ −15,000 nats), row 1 agrees with them
        expect(i === 0 ? ref.logpMean < -1e4 : ref.logpMean > -50).toBe(true);
        for (let m = 0; m < 2; m++) close(got.logp[i * 2 + m], ref.logp[m], 2e-5, `logp[${i},${m}]`);
        close(got.logpMean[i], ref.logpMean, 2e-5, `logpMean[${i}]`);
        // a variance of member values near 15,000 carries float32's error of such values (≈ 1e-3 each)
        expect(Math.abs(got.logpVar[i] - ref.logpVar)).toBeLessThanOrEqual(0.01);
      }
    } finally {
      await s.close();
    }
  });

  it('feature transforms in the kernel: minmax (zero range, clipping), standard with a wrapped column, scale', async () => {
    const transforms: FeatureTransform[] = [
      { kind: 'minmax', min: [0, -1, 2, 5, 0, 0], max: [1, 1, 4, 5, 10, 0.5] },
      // the constant column 3 as an indicator: 0 at its training value 5, 1 elsewhere
      { kind: 'minmax', min: [0, -1, 2, 5, 0, 0], max: [1, 1, 4, 5, 10, 0.5], constant: 'indicator' },
      // standard with the constant column 3 (std floored) as an indicator
      {
        kind: 'standard',
        mean: [0.1, 0.2, 0.3, 5, 0.5, 0.6],
        std: [1, 2, 0.5, 1e-6, 0.25, 1],
        constant: 'indicator',
      },
      {
        kind: 'standard',
        mean: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        std: [1, 2, 0.5, 3, 0.25, 1],
        wrap: [
          { column: 0, period: 2.5 },
          { column: 4, period: 0.7 },
        ],
      },
      { kind: 'scale', factor: 1 / 3 },
    ];
    for (const transform of transforms) {
      const spec = tinyEnsemble(TINY.mlpGaussian, { transform });
      const n = 12;
      // raw values beyond the minmax range and negative ones for the wrap (fmod keeps the sign)
      const x = uniformBatch(n, 6, 5, -7, 12);
      for (let i = 0; i < n; i += 3) x[i * 6 + 3] = 5; // the constant column's training value
      x[6 + 3] = 5 + 2 ** -21; // a deviation under 2^-20 (half of it): 0.5
      await expectNativeMatchesF64(spec, x, n, 1);
    }
  });

  it('credit shape (30 → 32 → 4 → 30 → 30, M 5, K 16), every likelihood', async () => {
    for (const like of ['bernoulli', 'gaussian', 'student-t'] as const) {
      const spec = mlpEnsemble(credit(like));
      const n = 24;
      const x = uniformBatch(n, 30, 7, 0, 1);
      await expectNativeMatchesF64(spec, x, n, 2);
    }
  });

  it('student-t far in the tails (|r| up to ~1e4: the vector log on large arguments)', async () => {
    const spec = mlpEnsemble(credit('student-t'), { members: 2, k: 5 });
    const n = 16;
    const x = uniformBatch(n, 30, 12, -2000, 2000);
    await expectNativeMatchesF64(spec, x, n, 1);
  });

  it('Bernoulli rows longer than 128 values and logits beyond ±87 (the split product and the exp clamp)', async () => {
    const member: MemberSpec = {
      arch: { kind: 'mlp', inputDim: 203, encoderHidden: [17, 9], decoderHidden: [40], latentDim: 5 },
      likelihood: 'bernoulli',
      prior: { kind: 'standard' },
    };
    // weights ×40: decoder logits reach the hundreds
    const spec = mlpEnsemble(member, { members: 2, k: 7, weightScale: 40 });
    const n = 9;
    const x = uniformBatch(n, 203, 2, 0, 1);
    const s = NativeScorer.create(spec, { threads: 1 });
    const got = await s.scoreBatch(x, n);
    expect(Math.max(...Array.from(got.logp, Math.abs))).toBeGreaterThan(200);
    expectMatchesF64(spec, x, n, got);
    await s.close();
  });
});

describe.skipIf(!addon)('native scorer vs onnxruntime', () => {
  it('the same scores to float32 rounding on 3000 credit-shape records; threads change nothing', async () => {
    const spec = mlpEnsemble(credit('gaussian'), {
      transform: {
        kind: 'standard',
        mean: Array.from({ length: 30 }, (_, i) => i / 30),
        std: Array.from({ length: 30 }, (_, i) => 0.5 + i / 20),
        wrap: [{ column: 0, period: 86400 }],
      },
    });
    const n = 3000;
    const rng = new Rng(9);
    const x = new Float32Array(n * 30).map((_, i) => (i % 30 === 0 ? 172_000 * rng.uniform() : rng.normal()));
    const ort = await OnnxScorer.create(exportEnsembleOnnx(spec));
    const one = NativeScorer.create(spec, { threads: 1 });
    const two = NativeScorer.create(spec, { threads: 2 });
    const [a, b, c] = await Promise.all([one.scoreBatch(x, n), two.scoreBatch(x, n), ort.scoreBatch(x, n)]);
    expectMatchesOrt(a, c, 2e-5);
    // records are independent: how they are split over threads cannot change a bit
    expect(b.logp).toEqual(a.logp);
    expect(b.waic).toEqual(a.waic);
    // nor can the batch a record came in: records scored one at a time get the same bits
    for (const i of [0, 1, 7, 8, 1499, 1500, 2999]) {
      const alone = await one.scoreBatch(x.slice(i * 30, (i + 1) * 30), 1);
      expect(alone.logp).toEqual(a.logp.subarray(i * 5, i * 5 + 5));
      expect(alone.rate[0]).toBe(a.rate[i]);
    }
    await Promise.all([one.close(), two.close(), ort.close()]);
  });

  it('input complexity, as OnnxScorer computes it', async () => {
    const spec = tinyEnsemble(TINY.mlpBernoulli);
    const x = uniformBatch(10, 6, 4, 0, 1);
    const ort = await OnnxScorer.create(exportEnsembleOnnx(spec), { inputComplexity: true });
    const nat = NativeScorer.create(spec, { inputComplexity: true });
    expect((await nat.scoreBatch(x, 10)).complexity).toEqual((await ort.scoreBatch(x, 10)).complexity);
    await Promise.all([nat.close(), ort.close()]);
  });
});

describe.skipIf(!addon)('native scorer: bad input loses nothing', () => {
  it('a NaN or infinite value poisons its own record only', async () => {
    const spec = mlpEnsemble(credit('gaussian'), { members: 3 });
    const n = 20;
    const x = uniformBatch(n, 30, 8, 0, 1);
    const s = NativeScorer.create(spec, { threads: 2 });
    const clean = await s.scoreBatch(x, n);
    const bad = x.slice();
    bad[3 * 30 + 7] = Number.NaN;
    bad[11 * 30 + 2] = Number.POSITIVE_INFINITY;
    const got = await s.scoreBatch(bad, n);
    for (const i of [3, 11]) expect(Number.isFinite(got.waic[i])).toBe(false);
    for (let i = 0; i < n; i++)
      if (i !== 3 && i !== 11) {
        expect(got.waic[i]).toBe(clean.waic[i]);
        expect(got.logp.subarray(i * 3, i * 3 + 3)).toEqual(clean.logp.subarray(i * 3, i * 3 + 3));
      }
    await s.close();
  });

  it('refuses a wrong length, a bad n and a closed scorer with ScoringInputError; n = 0 is empty', async () => {
    const s = NativeScorer.create(tinyEnsemble(TINY.mlpGaussian));
    await expect(s.scoreBatch(new Float32Array(13), 2)).rejects.toThrow(ScoringInputError);
    await expect(s.scoreBatch(new Float32Array(12), 2.5)).rejects.toThrow(/non-negative integer/);
    const empty = await s.scoreBatch(new Float32Array(0), 0);
    expect(empty.n).toBe(0);
    expect(empty.logp.length).toBe(0);
    expect(s.executionProvider).toBe('native');
    await s.close();
    await expect(s.scoreBatch(new Float32Array(6), 1)).rejects.toThrow(/closed/);
  });

  it('the addon refuses a parameter array of the wrong size instead of reading past it', () => {
    const spec = tinyEnsemble(TINY.mlpGaussian);
    const { config, floats, transform } = packNativeModel(spec);
    const a = addon as NonNullable<typeof addon>;
    expect(() => a.create(config, floats.subarray(0, floats.length - 1), transform)).toThrow(/too short/);
    const longer = new Float32Array(floats.length + 1);
    longer.set(floats);
    expect(() => a.create(config, longer, transform)).toThrow(/too many/);
    expect(() => a.create(Int32Array.of(6, 3), floats, transform)).toThrow(/config/);
  });

  it('close waits for a batch in flight', async () => {
    const spec = mlpEnsemble(credit('bernoulli'));
    const n = 4000;
    const x = uniformBatch(n, 30, 1, 0, 1);
    const s = NativeScorer.create(spec, { threads: 1 });
    const running = s.scoreBatch(x, n);
    await s.close();
    const got = await running;
    expect(got.waic.every(Number.isFinite)).toBe(true);
  });
});

describe('engine choice', () => {
  it('the native kernel declines conv and MAF ensembles; createEnsembleScorer then uses onnxruntime', async () => {
    expect(nativeUnsupported(tinyEnsemble(TINY.convBernoulli, { members: 1 }))).toMatch(/conv/);
    const maf = tinyEnsemble(TINY.mlpMaf);
    expect(nativeUnsupported(maf)).toMatch(/maf prior/);
    const s = await createEnsembleScorer(maf, exportEnsembleOnnx(maf));
    expect(s).toBeInstanceOf(OnnxScorer);
    await s.close();
    await expect(createEnsembleScorer(maf, exportEnsembleOnnx(maf), { engine: 'native' })).rejects.toThrow(
      ScorerRuntimeError,
    );
  });

  it("'auto' takes the native kernel for an MLP where it is built, 'onnx' never; CUDA asks for onnxruntime", async () => {
    const spec = tinyEnsemble(TINY.mlpGaussian);
    const bytes = exportEnsembleOnnx(spec);
    const auto = await createEnsembleScorer(spec, bytes);
    expect(auto.executionProvider).toBe(addon ? 'native' : 'cpu');
    const onnx = await createEnsembleScorer(spec, bytes, { engine: 'onnx' });
    expect(onnx).toBeInstanceOf(OnnxScorer);
    expect(nativeUnavailable(spec, { executionProvider: 'cuda' })).toMatch(/cuda/);
    // the members' ELBO comes from the ONNX graph only: 'auto' takes onnxruntime, 'native' refuses
    const elbo = await createEnsembleScorer(spec, bytes, { memberElbo: true });
    expect(elbo).toBeInstanceOf(OnnxScorer);
    expect((await elbo.scoreBatch(new Float32Array(spec.inputDim), 1)).memberElbo).toHaveLength(
      spec.members.length,
    );
    expect(nativeUnavailable(spec, { memberElbo: true })).toMatch(/ELBO/);
    await expect(createEnsembleScorer(spec, bytes, { engine: 'native', memberElbo: true })).rejects.toThrow(
      ScorerRuntimeError,
    );
    await Promise.all([auto.close(), onnx.close(), elbo.close()]);
  });

  it("'auto' leaves MLPs wider than NATIVE_AUTO_MAX_WIDTH to onnxruntime; 'native' still takes them", async () => {
    const wide = mlpEnsemble(
      {
        arch: {
          kind: 'mlp',
          inputDim: 12,
          encoderHidden: [NATIVE_AUTO_MAX_WIDTH + 1],
          decoderHidden: [8],
          latentDim: 2,
        },
        likelihood: 'gaussian',
        prior: { kind: 'standard' },
      },
      { members: 2, k: 3 },
    );
    expect(autoEngine(wide)).toBe('onnx');
    const bytes = exportEnsembleOnnx(wide);
    const auto = await createEnsembleScorer(wide, bytes);
    expect(auto).toBeInstanceOf(OnnxScorer);
    await auto.close();
    if (addon) {
      const forced = await createEnsembleScorer(wide, bytes, { engine: 'native' });
      expect(forced).toBeInstanceOf(NativeScorer);
      const x = uniformBatch(5, 12, 3, -1, 1);
      expectMatchesF64(wide, x, 5, await forced.scoreBatch(x, 5));
      await forced.close();
    }
  });

  it('SCORING_ENGINE picks the default engine; a bad value is refused', () => {
    const saved = process.env.SCORING_ENGINE;
    try {
      delete process.env.SCORING_ENGINE;
      expect(engineFromEnv()).toBe('auto');
      process.env.SCORING_ENGINE = 'onnx';
      expect(engineFromEnv()).toBe('onnx');
      process.env.SCORING_ENGINE = 'fast';
      expect(() => engineFromEnv()).toThrow(/SCORING_ENGINE must be one of auto, onnx, native/);
    } finally {
      if (saved === undefined) delete process.env.SCORING_ENGINE;
      else process.env.SCORING_ENGINE = saved;
    }
  });
});
