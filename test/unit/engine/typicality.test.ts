/**
 * The 'typicality' score (squared Mahalanobis distance of the per-member score vector) against an
 * independent float64 reference: covariance by plain loops, shrinkage, a Gauss–Jordan inverse (no
 * Cholesky, unlike the engine) and the quadratic form (v − μ)ᵀ Σ'⁻¹ (v − μ).
 */
import { describe, expect, it } from 'vitest';
import { manifestSchema } from '../../../src/engine/checkpoint.js';
import { CalibrationError, ScoringInputError } from '../../../src/engine/errors.js';
import {
  anomalyScores,
  fitTypicalityRule,
  typicalityScores,
  type TypicalityFeatures,
} from '../../../src/engine/score-rules.js';
import { Rng } from '../../../src/engine/random.js';
import type { ScoreBatch } from '../../../src/engine/types.js';
import { withMoments } from './fixtures.js';

/** A batch of n records from M members with correlated log p (shared factor) and rates. */
function syntheticBatch(n: number, M: number, seed: number): ScoreBatch {
  const rng = new Rng(seed);
  const logp = new Float32Array(n * M);
  const memberRate = new Float32Array(n * M);
  for (let i = 0; i < n; i++) {
    const base = -100 + 15 * rng.normal();
    const r = 20 + 3 * rng.normal();
    for (let m = 0; m < M; m++) {
      logp[i * M + m] = base + (1 + 0.3 * m) * rng.normal();
      memberRate[i * M + m] = r - 0.05 * (base + 100) + 0.5 * rng.normal();
    }
  }
  return withMoments(n, M, logp, memberRate);
}

function vectors(b: ScoreBatch, features: TypicalityFeatures): number[][] {
  const M = b.members;
  return Array.from({ length: b.n }, (_, i) => [
    ...Array.from(b.logp.subarray(i * M, (i + 1) * M)),
    ...(features === 'logp_rate' ? Array.from(b.memberRate.subarray(i * M, (i + 1) * M)) : []),
  ]);
}

function gaussJordanInverse(a: number[][]): number[][] {
  const d = a.length;
  const m = a.map((row, i) => [...row, ...Array.from({ length: d }, (_, j) => (i === j ? 1 : 0))]);
  for (let c = 0; c < d; c++) {
    let piv = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(m[r][c]) > Math.abs(m[piv][c])) piv = r;
    [m[c], m[piv]] = [m[piv], m[c]];
    const p = m[c][c];
    for (let j = 0; j < 2 * d; j++) m[c][j] /= p;
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = m[r][c];
      for (let j = 0; j < 2 * d; j++) m[r][j] -= f * m[c][j];
    }
  }
  return m.map((row) => row.slice(d));
}

/** Reference: fit on `fit`, score `x`. */
function reference(fit: ScoreBatch, x: ScoreBatch, features: TypicalityFeatures, alpha: number): number[] {
  const V = vectors(fit, features);
  const d = V[0].length;
  const mu = Array.from({ length: d }, (_, j) => V.reduce((a, v) => a + v[j], 0) / V.length);
  const cov = Array.from({ length: d }, (_, r) =>
    Array.from(
      { length: d },
      (_, c) => V.reduce((a, v) => a + (v[r] - mu[r]) * (v[c] - mu[c]), 0) / V.length,
    ),
  );
  const shrunk = cov.map((row, r) => row.map((v, c) => (r === c ? v : (1 - alpha) * v)));
  const P = gaussJordanInverse(shrunk);
  return vectors(x, features).map((v) => {
    const e = v.map((vj, j) => vj - mu[j]);
    let q = 0;
    for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) q += e[r] * P[r][c] * e[c];
    return q;
  });
}

describe('typicality score (Mahalanobis over per-member scores)', () => {
  const fit = syntheticBatch(600, 4, 1);
  const other = syntheticBatch(50, 4, 2);

  for (const features of ['logp', 'logp_rate'] as const)
    for (const alpha of [0, 0.01, 0.3])
      it(`equals the float64 Gauss–Jordan reference (${features}, α=${alpha})`, () => {
        const rule = fitTypicalityRule(fit, { features, shrinkage: alpha });
        expect(rule.mean).toHaveLength(features === 'logp' ? 4 : 8);
        const got = typicalityScores(other, rule);
        const want = reference(fit, other, features, alpha);
        for (let i = 0; i < other.n; i++)
          expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-8 * (1 + want[i]));
      });

  it('in-sample mean of the squared distance is exactly d when α = 0 (trace identity)', () => {
    const rule = fitTypicalityRule(fit, { features: 'logp_rate', shrinkage: 0 });
    const s = typicalityScores(fit, rule);
    expect(s.reduce((a, v) => a + v, 0) / s.length).toBeCloseTo(8, 9);
  });

  it('one member, log p only: ((log p − mean)/std)², the squared z-score', () => {
    const b = withMoments(4, 1, new Float32Array([-1, -3, -5, -7]), new Float32Array(4));
    const rule = fitTypicalityRule(b, { features: 'logp', shrinkage: 0 });
    // mean −4, population variance (9 + 1 + 1 + 9)/4 = 5
    expect(rule.mean).toEqual([-4]);
    const x = withMoments(2, 1, new Float32Array([-4, 1]), new Float32Array(2));
    const s = typicalityScores(x, rule);
    expect(s[0]).toBe(0);
    expect(s[1]).toBeCloseTo(25 / 5, 12);
  });

  it('is invariant to rescaling the scores (α = 0): log p in nats or in millinats', () => {
    const scaled = withMoments(
      fit.n,
      fit.members,
      fit.logp.map((v) => v * 1000),
      fit.memberRate,
    );
    const a = typicalityScores(other, fitTypicalityRule(fit, { shrinkage: 0 }));
    const otherScaled = withMoments(
      other.n,
      other.members,
      other.logp.map((v) => v * 1000),
      other.memberRate,
    );
    const b = typicalityScores(otherScaled, fitTypicalityRule(scaled, { shrinkage: 0 }));
    for (let i = 0; i < a.length; i++) expect(b[i]).toBeCloseTo(a[i], 4);
  });

  it('is two-sided: an unusually LIKELY record scores as high as an equally unlikely one', () => {
    const rule = fitTypicalityRule(fit, { features: 'logp', shrinkage: 0 });
    const M = 4;
    const mk = (shift: number): ScoreBatch =>
      withMoments(
        1,
        M,
        Float32Array.from(rule.mean, (v) => v + shift),
        new Float32Array(M),
      );
    const hi = typicalityScores(mk(+60), rule)[0];
    const lo = typicalityScores(mk(-60), rule)[0];
    expect(hi).toBeGreaterThan(10);
    // equal up to float32 rounding of the shifted inputs
    expect(Math.abs(hi - lo) / hi).toBeLessThan(1e-6);
  });

  it('scores member DISagreement: members that agree on normal data but not on this record', () => {
    const rule = fitTypicalityRule(fit, { features: 'logp', shrinkage: 0.01 });
    const M = 4;
    const agree = Float32Array.from(rule.mean, (v) => v - 10);
    const disagree = Float32Array.from(rule.mean, (v, m) => v + (m % 2 === 0 ? 10 : -10));
    const s = typicalityScores(
      withMoments(2, M, Float32Array.from([...agree, ...disagree]), new Float32Array(8)),
      rule,
    );
    // same total |shift| per member; moving along the shared factor is far more typical
    expect(s[1]).toBeGreaterThan(20 * s[0]);
  });

  it('through anomalyScores, and typed errors for a missing rule, wrong M, bad fits', () => {
    const rule = fitTypicalityRule(fit);
    expect(Array.from(anomalyScores(other, 'typicality', { typicality: rule }))).toEqual(
      Array.from(typicalityScores(other, rule)),
    );
    expect(() => anomalyScores(other, 'typicality')).toThrow(ScoringInputError);
    expect(() => typicalityScores(syntheticBatch(5, 3, 3), rule)).toThrow(/fitted for 4 members/);
    expect(() => fitTypicalityRule(syntheticBatch(8, 4, 4))).toThrow(CalibrationError);
    expect(() => fitTypicalityRule(fit, { shrinkage: 1.5 })).toThrow(CalibrationError);
    const nan = syntheticBatch(100, 2, 5);
    nan.logp[7] = NaN;
    expect(() => fitTypicalityRule(nan)).toThrow(CalibrationError);
    // perfectly collinear members (identical copies) and α = 0: singular, a clear error
    const twin = withMoments(
      100,
      2,
      fit.logp.subarray(0, 200).map((_, i) => fit.logp[Math.floor(i / 2) * 4]),
      new Float32Array(200),
    );
    expect(() => fitTypicalityRule(twin, { features: 'logp', shrinkage: 0 })).toThrow(
      /not positive definite/,
    );
    expect(() => fitTypicalityRule(twin, { features: 'logp', shrinkage: 0.01 })).not.toThrow();
  });

  it('the manifest schema accepts a fitted rule and rejects wrong sizes', () => {
    const schema = manifestSchema.shape.scoreRule;
    const rule = fitTypicalityRule(fit);
    expect(schema.safeParse({ score: 'typicality', typicality: rule }).success).toBe(true);
    expect(
      schema.safeParse({ score: 'typicality', typicality: { ...rule, mean: rule.mean.slice(1) } }).success,
    ).toBe(false);
    expect(schema.safeParse({ score: 'typicality', typicality: { ...rule, whiten: [1] } }).success).toBe(
      false,
    );
    expect(schema.safeParse({ score: 'typicality', typicality: { ...rule, shrinkage: -1 } }).success).toBe(
      false,
    );
  });
});
