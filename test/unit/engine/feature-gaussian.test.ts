/**
 * The input Gaussian (engine/feature-gaussian.ts) against an independent float64 reference: the
 * Ledoit–Wolf intensity from its definition (a per-record Frobenius sum, not the trace identity the fit
 * uses), Σ inverted by Gauss–Jordan elimination (not a Cholesky solve), and d² = vᵀ Σ⁻¹ v.
 */
import { describe, expect, it } from 'vitest';
import { FEATURES_FILE } from '../../../src/engine/checkpoint.js';
import { CalibrationError, ScoringInputError } from '../../../src/engine/errors.js';
import { InputDistances, InputStatisticsScorer } from '../../../src/engine/feature-scorer.js';
import {
  featureMahalanobis,
  fitFeatureGaussian,
  packFeatureGaussian,
  unpackFeatureGaussian,
} from '../../../src/engine/feature-gaussian.js';
import { doseScores, fitDoseRule } from '../../../src/engine/dose.js';
import { anomalyScores, needsFeatureGaussian } from '../../../src/engine/score-rules.js';
import { applyTransform, IMAGE_TRANSFORM } from '../../../src/features/transform.js';
import { loadMnist } from '../../../src/data/datasets.js';
import { testDataDir } from '../../helpers/models.js';
import { Rng } from '../../../src/engine/random.js';
import { statisticsFileRoundTrip, TINY, tinyEnsemble, zeroStatisticsScorer } from './fixtures.js';

/** n records of width p with correlated columns (x = A u, u uniform), optional constant columns. */
function data(n: number, p: number, seed: number, constant: number[] = []): Float64Array {
  const g = new Rng(seed);
  const r = (): number => g.uniform();
  const A = Array.from({ length: p }, () => Array.from({ length: p }, () => r() - 0.5));
  const x = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    const u = Array.from({ length: p }, () => r() * 2 - 1);
    for (let a = 0; a < p; a++) {
      let s = 0;
      for (let b = 0; b < p; b++) s += A[a][b] * u[b];
      x[i * p + a] = constant.includes(a) ? 0.25 : s + (a === 0 ? 3 * u[0] ** 3 : 0);
    }
  }
  return x;
}

/** The reference: Ledoit–Wolf by definition, then Σ⁻¹ by Gauss–Jordan. */
function reference(x: Float64Array, n: number, p: number): { rho: number; inv: number[][]; mean: number[] } {
  const mean = Array.from({ length: p }, (_, a) => {
    let s = 0;
    for (let i = 0; i < n; i++) s += x[i * p + a];
    return s / n;
  });
  const S = Array.from({ length: p }, () => new Array<number>(p).fill(0));
  for (let i = 0; i < n; i++)
    for (let a = 0; a < p; a++)
      for (let b = 0; b < p; b++) S[a][b] += ((x[i * p + a] - mean[a]) * (x[i * p + b] - mean[b])) / n;
  let mu = 0;
  for (let a = 0; a < p; a++) mu += S[a][a] / p;
  let d2 = 0;
  for (let a = 0; a < p; a++) for (let b = 0; b < p; b++) d2 += (S[a][b] - (a === b ? mu : 0)) ** 2;
  d2 /= p;
  // b̄² = (1/n²) Σᵢ ‖xᵢxᵢᵀ − S‖²_F / p, term by term
  let bbar = 0;
  for (let i = 0; i < n; i++)
    for (let a = 0; a < p; a++)
      for (let b = 0; b < p; b++)
        bbar += ((x[i * p + a] - mean[a]) * (x[i * p + b] - mean[b]) - S[a][b]) ** 2;
  bbar /= n * n * p;
  const rho = Math.min(bbar, d2) / d2;
  const M = S.map((row, a) => [
    ...row.map((v, b) => (1 - rho) * v + (a === b ? rho * mu + 1e-9 * mu : 0)),
    ...Array.from({ length: p }, (_, b) => (a === b ? 1 : 0)),
  ]);
  for (let c = 0; c < p; c++) {
    let piv = c;
    for (let r = c + 1; r < p; r++) if (Math.abs(M[r][c]) > Math.abs(M[piv][c])) piv = r;
    [M[c], M[piv]] = [M[piv], M[c]];
    const d = M[c][c];
    for (let j = 0; j < 2 * p; j++) M[c][j] /= d;
    for (let r = 0; r < p; r++) {
      if (r === c) continue;
      const f = M[r][c];
      for (let j = 0; j < 2 * p; j++) M[r][j] -= f * M[c][j];
    }
  }
  return { rho, inv: M.map((row) => row.slice(p)), mean };
}

function refDistance(ref: ReturnType<typeof reference>, x: Float64Array, i: number, p: number): number {
  let s = 0;
  for (let a = 0; a < p; a++)
    for (let b = 0; b < p; b++)
      s += (x[i * p + a] - ref.mean[a]) * ref.inv[a][b] * (x[i * p + b] - ref.mean[b]);
  return s;
}

describe('fitFeatureGaussian and featureMahalanobis', () => {
  for (const [label, n, p, constant] of [
    ['many records (light shrinkage)', 400, 6, []],
    ['fewer records than columns (singular S, shrinkage decides)', 5, 9, []],
    ['a constant column (a never-inked pixel)', 120, 5, [2]],
  ] as const) {
    it(`matches the float64 reference: ${label}`, () => {
      const x = data(n, p, 7 + n, [...constant]);
      const g = fitFeatureGaussian(x, n, p);
      const ref = reference(x, n, p);
      expect(g.shrinkage).toBeCloseTo(ref.rho, 10);
      expect(g.shrinkage).toBeGreaterThan(0);
      expect(g.shrinkage).toBeLessThanOrEqual(1);
      const probe = data(30, p, 99, []);
      const got = featureMahalanobis(g, probe, 30);
      for (let i = 0; i < 30; i++) {
        const want = refDistance(ref, probe, i, p);
        expect(Math.abs(got[i] - want)).toBeLessThanOrEqual(1e-7 * Math.max(1, want));
      }
    });
  }

  it('a constant column gets variance ρ·tr(S)/p, exactly; the training mean is at distance 0', () => {
    const n = 200;
    const p = 4;
    const x = data(n, p, 3, [1]);
    const g = fitFeatureGaussian(x, n, p);
    const at = Float64Array.from(g.mean);
    expect(featureMahalanobis(g, at, 1)[0]).toBeCloseTo(0, 12);
    // the constant column has no covariance with the others, so moving it by δ = 1 adds δ² / Σ₁₁ with
    // Σ₁₁ = ρ·μ_S (+ the 1e-9·μ_S jitter), μ_S = tr(S)/p from the reference
    const ref = reference(x, n, p);
    let tr = 0;
    for (let a = 0; a < p; a++) {
      let s2 = 0;
      for (let i = 0; i < n; i++) s2 += (x[i * p + a] - ref.mean[a]) ** 2 / n;
      tr += s2;
    }
    const mu = tr / p;
    const moved = Float64Array.from(g.mean);
    moved[1] += 1;
    const want = 1 / (ref.rho * mu + 1e-9 * mu);
    expect(featureMahalanobis(g, moved, 1)[0]).toBeCloseTo(want, 6);
    // and it is far: beyond every training record's distance
    expect(want).toBeGreaterThan(Math.max(...featureMahalanobis(g, x, n)));
  });

  it('NaN in a record gives NaN for that record only; bad fits are refused', () => {
    const x = data(50, 3, 1);
    const g = fitFeatureGaussian(x, 50, 3);
    const probe = Float64Array.from([0, 0, 0, NaN, 0, 0, 1, 1, 1]);
    const d = featureMahalanobis(g, probe, 3);
    expect(Number.isFinite(d[0])).toBe(true);
    expect(Number.isNaN(d[1])).toBe(true);
    expect(Number.isFinite(d[2])).toBe(true);
    expect(() => featureMahalanobis(g, probe, 2)).toThrow(ScoringInputError);
    expect(() => fitFeatureGaussian(new Float64Array(6).fill(1), 2, 3)).toThrow(/no spread/);
    expect(() => fitFeatureGaussian(Float64Array.from([1, NaN, 2, 3]), 2, 2)).toThrow(CalibrationError);
    expect(() => fitFeatureGaussian(new Float64Array(3), 1, 3)).toThrow(/at least 2/);
  });

  it('packs and unpacks bit for bit, and refuses a malformed factor', () => {
    const g = fitFeatureGaussian(data(80, 5, 2), 80, 5);
    const buf = packFeatureGaussian(g);
    const back = unpackFeatureGaussian(buf, g);
    expect(Array.from(back.mean)).toEqual(Array.from(g.mean));
    expect(Array.from(back.cholesky)).toEqual(Array.from(g.cholesky));
    expect(() => unpackFeatureGaussian(buf.subarray(8), g)).toThrow(/bytes/);
    const bad = Buffer.from(buf);
    bad.writeDoubleLE(-1, 8 * 5); // L[0][0]
    expect(() => unpackFeatureGaussian(bad, g)).toThrow(/malformed/);
  });
});

describe('feature_maha as a dose statistic', () => {
  const p = 6;
  const tf = { kind: 'standard' as const, mean: [1, 2, 3, 4, 5, 6], std: [1, 2, 1, 2, 1, 2] };
  const spec = tinyEnsemble(TINY.mlpMaf, { members: 2, k: 4, transform: tf });
  const raw = Float32Array.from(data(300, p, 11), (v, i) => v * 2 + (i % p) + 1);
  const g = fitFeatureGaussian(applyTransform(spec.transform, raw, 300, p), 300, p);

  const inner = zeroStatisticsScorer(p);

  it('the scorer adds the distance of the transformed record; a dose density scores both tails', async () => {
    const scorer = await InputStatisticsScorer.create(inner, { gaussian: g }, spec.transform, {
      intraOpNumThreads: 1,
    });
    const b = await scorer.scoreBatch(raw, 300);
    const want = featureMahalanobis(g, applyTransform(spec.transform, raw, 300, p), 300);
    // the float32 graph against the float64 forward substitution
    for (let i = 0; i < 300; i++)
      expect(Math.abs(b.featureMaha![i] - want[i])).toBeLessThanOrEqual(2e-5 * Math.max(1, want[i]));
    const rule = fitDoseRule(b, ['feature_maha']);
    expect(needsFeatureGaussian('dose', { dose: rule })).toBe(true);
    expect(needsFeatureGaussian('dose', {})).toBe(false);
    // the training mean (distance 0: unusually CLOSE) and a far record are both less typical than a
    // record at the median distance
    const sorted = Float64Array.from(want).sort();
    const med = want.indexOf(sorted[150]);
    const mean = Float32Array.from(g.mean, (v, a) => v * tf.std[a] + tf.mean[a]);
    const far = Float32Array.from(mean, (v, a) => v + 40 * tf.std[a]);
    const three = new Float32Array(3 * p);
    three.set(raw.subarray(med * p, med * p + p), 0);
    three.set(mean, p);
    three.set(far, 2 * p);
    const s = doseScores(await scorer.scoreBatch(three, 3), rule);
    expect(s[1]).toBeGreaterThan(s[0]);
    expect(s[2]).toBeGreaterThan(s[1]);
    const direct = featureMahalanobis(g, applyTransform(spec.transform, three, 3, p), 3);
    anomalyScores(await scorer.scoreBatch(three, 3), 'feature_maha').forEach((v, i) =>
      expect(Math.abs(v - direct[i])).toBeLessThanOrEqual(2e-5 * Math.max(1, direct[i])),
    );
    await expect(scorer.scoreBatch(three, 2)).rejects.toThrow(ScoringInputError);
    const { featureMaha: _f, ...without } = b;
    expect(() => anomalyScores(without, 'feature_maha')).toThrow(/input Gaussian/);
    expect(() => anomalyScores(without, 'dose', { dose: rule })).toThrow(/input Gaussian/);
    await expect(
      InputStatisticsScorer.create({ ...inner, inputDim: 5 }, { gaussian: g }, spec.transform),
    ).rejects.toThrow(/wide/);
    await scorer.close();
    await expect(scorer.scoreBatch(three, 3)).rejects.toThrow(/closed/);
  });

  it('the graph matches the float64 reference on MNIST (784 pixels, never-inked borders, ρ ~ 1e-3)', async () => {
    const train = await loadMnist(testDataDir(), 'train');
    const D = 784;
    const n = 4000;
    const m = 300;
    const raw = Float32Array.from(train.images.pixels.subarray(0, (n + m) * D)); // 8-bit pixels, 0..255
    const g = fitFeatureGaussian(applyTransform(IMAGE_TRANSFORM, raw.subarray(0, n * D), n * D, 1), n, D);
    const probe = raw.subarray(n * D);
    // held-out digits, and the same digits flipped left–right (far from the training moments)
    const flipped = probe.map((_, k) => probe[k - (k % 28) + 27 - (k % 28)]);
    const fd = await InputDistances.create({ gaussian: g }, IMAGE_TRANSFORM, { intraOpNumThreads: 1 });
    for (const x of [probe, flipped]) {
      const want = featureMahalanobis(g, applyTransform(IMAGE_TRANSFORM, x, m * D, 1), m);
      const got = (await fd.distances(x, m)).featureMaha!;
      for (let i = 0; i < m; i++) expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-5 * want[i]);
    }
    await expect(fd.distances(probe, m - 1)).rejects.toThrow(ScoringInputError);
    await fd.close();
  }, 60_000);

  it('round-trips through features.bin; corruption and a missing Gaussian are refused', () =>
    statisticsFileRoundTrip({
      spec,
      stat: 'feature_maha',
      file: FEATURES_FILE,
      withStatistic: { featureGaussian: g },
      check: (loaded) => {
        expect(loaded.manifest.featureGaussian).toMatchObject({ file: FEATURES_FILE, dim: p, fittedOn: 300 });
        expect(Array.from(loaded.featureGaussian!.cholesky)).toEqual(Array.from(g.cholesky));
      },
      missing: /no featureGaussian/,
    }));
});
