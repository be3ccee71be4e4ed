/**
 * 'typicality': a typicality test in the space of the ensemble's own outputs, the squared Mahalanobis
 * distance of a record's per-member vector (log p₁..log p_M[, rate₁..rate_M]) from the mean of
 * held-out normal records, under their shrunk covariance. A score of its own (score-rules.ts) and,
 * since detection protocol v6, a statistic of the dose rule ('member_typicality', dose.ts).
 */
import { CalibrationError, ScoringInputError } from './errors.js';
import { cholesky, invertLower, NotPositiveDefiniteError } from './linalg.js';
import type { ScoreBatch } from './types.js';

/** Which per-member scores form the vector: each member's log p, or log p then rate (2M values). */
export type TypicalityFeatures = 'logp' | 'logp_rate';

export interface TypicalityRule {
  features: TypicalityFeatures;
  /** Ensemble size the rule was fitted for (the vector has M or 2M entries). */
  members: number;
  /** Mean of the vector on held-out normal data. */
  mean: number[];
  /**
   * W = L⁻¹, lower triangular, row-major d×d, where L·Lᵀ is the shrunk covariance
   * (1 − α)·Σ + α·diag(Σ). The score is ‖W·(v − mean)‖².
   */
  whiten: number[];
  /** α, the shrinkage toward the diagonal. */
  shrinkage: number;
}

export function typicalityDim(features: TypicalityFeatures, members: number): number {
  return features === 'logp' ? members : 2 * members;
}

/** Row i of the feature matrix (float64) into v. */
function typicalityVector(batch: ScoreBatch, features: TypicalityFeatures, i: number, v: Float64Array): void {
  const M = batch.members;
  for (let m = 0; m < M; m++) v[m] = batch.logp[i * M + m];
  if (features === 'logp_rate') for (let m = 0; m < M; m++) v[M + m] = batch.memberRate[i * M + m];
}

/** Squared Mahalanobis distance per record; NaN inputs give NaN. */
export function typicalityScores(batch: ScoreBatch, rule: TypicalityRule): Float64Array {
  const d = typicalityDim(rule.features, rule.members);
  if (batch.members !== rule.members)
    throw new ScoringInputError(
      `typicality rule was fitted for ${rule.members} members, the batch has ${batch.members}`,
    );
  if (rule.mean.length !== d || rule.whiten.length !== d * d)
    throw new ScoringInputError(`typicality rule: expected a ${d}-vector mean and a ${d}×${d} matrix`);
  const out = new Float64Array(batch.n);
  const v = new Float64Array(d);
  const W = rule.whiten;
  for (let i = 0; i < batch.n; i++) {
    typicalityVector(batch, rule.features, i, v);
    for (let j = 0; j < d; j++) v[j] -= rule.mean[j];
    let q = 0;
    for (let r = 0; r < d; r++) {
      let acc = 0;
      for (let c = 0; c <= r; c++) acc += W[r * d + c] * v[c];
      q += acc * acc;
    }
    out[i] = q;
  }
  return out;
}

export interface TypicalityFitOptions {
  features?: TypicalityFeatures;
  /** Shrinkage α toward the diagonal covariance, in [0, 1]. Default 0.01. */
  shrinkage?: number;
}

/**
 * Fits mean and whitening matrix of the per-member score vector on held-out NORMAL data (float64):
 * Σ = population covariance, Σ' = (1 − α)Σ + α·diag(Σ) (a zero variance becomes 1), Σ' = L·Lᵀ
 * (Cholesky), W = L⁻¹. Needs more records than dimensions.
 */
export function fitTypicalityRule(normal: ScoreBatch, opts: TypicalityFitOptions = {}): TypicalityRule {
  const features = opts.features ?? 'logp_rate';
  const alpha = opts.shrinkage ?? 0.01;
  if (!(alpha >= 0 && alpha <= 1)) throw new CalibrationError(`shrinkage must be in [0, 1], got ${alpha}`);
  const M = normal.members;
  const d = typicalityDim(features, M);
  const n = normal.n;
  if (n <= d)
    throw new CalibrationError(
      `fitting the typicality score needs more than ${d} normal records (2 per member and dimension), got ${n}`,
    );
  const mean = new Float64Array(d);
  const v = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    typicalityVector(normal, features, i, v);
    for (let j = 0; j < d; j++) mean[j] += v[j];
  }
  for (let j = 0; j < d; j++) mean[j] /= n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    typicalityVector(normal, features, i, v);
    for (let j = 0; j < d; j++) v[j] -= mean[j];
    for (let r = 0; r < d; r++) for (let c = 0; c <= r; c++) cov[r * d + c] += v[r] * v[c];
  }
  for (let r = 0; r < d; r++)
    for (let c = 0; c <= r; c++) {
      cov[r * d + c] /= n;
      cov[c * d + r] = cov[r * d + c];
    }
  for (let j = 0; j < d; j++)
    if (!Number.isFinite(mean[j]) || !Number.isFinite(cov[j * d + j]))
      throw new CalibrationError('the per-member scores are not finite on the normal data');
  for (let r = 0; r < d; r++) for (let c = 0; c < d; c++) if (r !== c) cov[r * d + c] *= 1 - alpha;
  for (let j = 0; j < d; j++) if (!(cov[j * d + j] > 0)) cov[j * d + j] = 1;
  let L: Float64Array;
  try {
    L = cholesky(cov, d);
  } catch (e) {
    if (!(e instanceof NotPositiveDefiniteError)) throw e;
    throw new CalibrationError(
      'the covariance of the per-member scores is not positive definite; raise the shrinkage',
    );
  }
  return {
    features,
    members: M,
    mean: Array.from(mean),
    whiten: Array.from(invertLower(L, d)),
    shrinkage: alpha,
  };
}
