/** Tiny random-weight ensembles shared by the engine tests. */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import {
  loadCheckpoint,
  saveCheckpoint,
  type LoadedCheckpoint,
  type SaveCheckpointOptions,
} from '../../../src/engine/checkpoint.js';
import type { DoseStatistic } from '../../../src/engine/dose.js';
import { CheckpointError, ScoringInputError } from '../../../src/engine/errors.js';
import { makeEps, randomParams, Rng } from '../../../src/engine/random.js';
import type { ScoreBatch, Scorer } from '../../../src/engine/types.js';
import {
  dataDim,
  SPEC_VERSION,
  type EnsembleSpec,
  type FeatureTransform,
  type MemberSpec,
} from '../../../src/engine/spec.js';
import { criticParamShapes, glorotParams, type WganEnsembleSpec } from '../../../src/engine/wgan.js';

export const TINY: Record<string, MemberSpec> = {
  mlpBernoulli: {
    arch: { kind: 'mlp', inputDim: 6, encoderHidden: [5], decoderHidden: [4], latentDim: 2 },
    likelihood: 'bernoulli',
    prior: { kind: 'standard' },
  },
  mlpGaussian: {
    arch: { kind: 'mlp', inputDim: 6, encoderHidden: [5, 3], decoderHidden: [4], latentDim: 3 },
    likelihood: 'gaussian',
    prior: { kind: 'standard' },
  },
  mlpStudent: {
    arch: { kind: 'mlp', inputDim: 6, encoderHidden: [5], decoderHidden: [4], latentDim: 2 },
    likelihood: 'student-t',
    prior: { kind: 'standard' },
  },
  // a declared kind's layout: Gaussian continuous columns, Bernoulli one-hot / boolean / missing columns
  mlpMixed: {
    arch: { kind: 'mlp', inputDim: 6, encoderHidden: [5], decoderHidden: [4], latentDim: 2 },
    likelihood: 'mixed',
    prior: { kind: 'standard' },
    binaryColumns: [1, 4, 5],
  },
  mlpMaf: {
    arch: { kind: 'mlp', inputDim: 6, encoderHidden: [5], decoderHidden: [4], latentDim: 3 },
    likelihood: 'bernoulli',
    prior: {
      kind: 'maf',
      layers: 2,
      hidden: [4, 4],
      permutations: [
        [2, 0, 1],
        [1, 2, 0],
      ],
    },
  },
  convBernoulli: {
    arch: { kind: 'conv', height: 28, width: 28, channels: 1, base: 2, latentDim: 2 },
    likelihood: 'bernoulli',
    prior: { kind: 'standard' },
  },
  convStudent: {
    arch: { kind: 'conv', height: 28, width: 28, channels: 1, base: 2, latentDim: 2 },
    likelihood: 'student-t',
    prior: { kind: 'standard' },
  },
  convGaussian2ch: {
    arch: { kind: 'conv', height: 28, width: 28, channels: 2, base: 2, latentDim: 2 },
    likelihood: 'gaussian',
    prior: { kind: 'standard' },
  },
  // colour frames of CIFAR-10's size: the VALID layers span 8×8 (the paper's CIFAR-10 change)
  conv32x32x3: {
    arch: { kind: 'conv', height: 32, width: 32, channels: 3, base: 2, latentDim: 2 },
    likelihood: 'bernoulli',
    prior: { kind: 'standard' },
  },
  // the smallest frame the architecture takes: a 2×2 inner map
  conv8x8: {
    arch: { kind: 'conv', height: 8, width: 8, channels: 1, base: 2, latentDim: 3 },
    likelihood: 'gaussian',
    prior: { kind: 'standard' },
  },
};

/** Random weights, with biases also randomised so that every parameter matters. */
export function tinyEnsemble(
  member: MemberSpec,
  opts: { members?: number; k?: number; seed?: number; transform?: FeatureTransform } = {},
): EnsembleSpec {
  const M = opts.members ?? 3;
  const k = opts.k ?? 4;
  const seed = opts.seed ?? 1;
  const D = dataDim(member.arch);
  const rng = new Rng(seed * 7919);
  return {
    specVersion: 1,
    member,
    transform: opts.transform ?? { kind: 'scale', factor: 1 },
    inputDim: D,
    k,
    members: Array.from({ length: M }, (_, m) => {
      const params = randomParams(member, seed * 100 + m);
      for (const [name, t] of Object.entries(params))
        if (!name.endsWith('.w'))
          for (let i = 0; i < t.data.length; i++) t.data[i] = 0.3 * (2 * rng.uniform() - 1);
      return { seed: seed * 100 + m, params, eps: makeEps(seed * 100 + m, k, member.arch.latentDim) };
    }),
  };
}

export function uniformBatch(n: number, d: number, seed: number, lo = 0, hi = 1): Float32Array {
  const rng = new Rng(seed);
  return new Float32Array(n * d).map(() => lo + (hi - lo) * rng.uniform());
}

/**
 * Two tiny WGAN critics (the MLP of {@link TINY}.mlpBernoulli, Glorot weights seeded `seedBase + m`)
 * reading 6 raw values through `transform`.
 */
export function tinyCriticEnsemble(transform: FeatureTransform, seedBase: number): WganEnsembleSpec {
  const arch = TINY.mlpBernoulli.arch;
  return {
    specVersion: SPEC_VERSION,
    wgan: { arch, output: 'sigmoid' },
    transform,
    inputDim: 6,
    members: [0, 1].map((m) => ({
      seed: m,
      critic: glorotParams(criticParamShapes(arch), seedBase + m),
      stats: { dataMean: 0, dataStd: 1, fakeMean: -1, fakeStd: 1, samples: 10 },
    })),
  };
}

/** A ScoreBatch from the members' log p and rate [n, M]: mean, population variance, WAIC, mean rate. */
export function withMoments(n: number, M: number, logp: Float32Array, memberRate: Float32Array): ScoreBatch {
  const logpMean = new Float32Array(n);
  const logpVar = new Float32Array(n);
  const rate = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let s = 0;
    let r = 0;
    for (let m = 0; m < M; m++) {
      s += logp[i * M + m];
      r += memberRate[i * M + m];
    }
    const mu = s / M;
    let v = 0;
    for (let m = 0; m < M; m++) v += (logp[i * M + m] - mu) ** 2;
    logpMean[i] = mu;
    logpVar[i] = v / M;
    rate[i] = r / M;
  }
  const waic = logpMean.map((v, i) => v - logpVar[i]);
  return { n, members: M, logp, memberRate, logpMean, logpVar, waic, rate };
}

/**
 * A stand-in inner scorer of width p whose ensemble statistics are all 0: for rules that read only the
 * input statistics (feature_maha, feature_knn) that an InputStatisticsScorer adds.
 */
export function zeroStatisticsScorer(p: number): Scorer {
  return {
    inputDim: p,
    members: 1,
    executionProvider: 'cpu',
    scoreBatch: (x: Float32Array, n: number): Promise<ScoreBatch> => {
      const z = (): Float32Array => new Float32Array(n);
      if (x.length !== n * p) throw new ScoringInputError('bad length');
      return Promise.resolve({
        n,
        members: 1,
        logp: z(),
        memberRate: z(),
        logpMean: z(),
        logpVar: z(),
        waic: z(),
        rate: z(),
      });
    },
    close: () => Promise.resolve(),
  };
}

/**
 * The checkpoint round trip of one input-statistics file: `spec` saved with a one-density dose rule over
 * `stat` and `withStatistic` (the option that stores the file) loads and passes `check`; a flipped byte
 * and a missing file are refused; the same rule saved without the statistic is refused with `missing`.
 */
export async function statisticsFileRoundTrip(o: {
  spec: EnsembleSpec;
  stat: DoseStatistic;
  file: string;
  withStatistic: Partial<SaveCheckpointOptions>;
  check: (loaded: LoadedCheckpoint) => void;
  missing: RegExp;
}): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'gensemble-stat-'));
  const save = (dir: string, extra: Partial<SaveCheckpointOptions>): Promise<unknown> =>
    saveCheckpoint(dir, o.spec, {
      kind: 'transactions',
      dataFingerprint: 'sha256:abc',
      scoreRule: {
        score: 'dose',
        dose: { densities: [{ stat: o.stat, bandwidth: 1, support: [1, 2, 3] }], fittedOn: 3 },
      },
      ...extra,
    });
  try {
    const dir = join(root, 'ok');
    await save(dir, o.withStatistic);
    o.check(await loadCheckpoint(dir));
    const f = join(dir, o.file);
    const bytes = await readFile(f);
    bytes[17] ^= 1;
    await writeFile(f, bytes);
    await expect(loadCheckpoint(dir)).rejects.toThrow(`${o.file} is corrupted`);
    await rm(f);
    await expect(loadCheckpoint(dir)).rejects.toThrow(CheckpointError);
    const none = join(root, 'none');
    await save(none, {});
    await expect(loadCheckpoint(none)).rejects.toThrow(o.missing);
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}
