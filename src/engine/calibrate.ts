/**
 * Threshold calibration on held-out NORMAL scores for a target false-positive rate.
 *
 * Rule (a record is flagged when score > value): with the n calibration scores sorted ascending
 * s_(1) ≤ … ≤ s_(n), let j = ceil((1 − fpr)·n) (at least 1). value = s_(j), the empirical
 * (1 − fpr) quantile ("lower" definition). At most n − j ≤ fpr·n calibration records are strictly
 * above s_(j), so the empirical FPR on the calibration data is ≤ fpr. Ties: every record equal to
 * value is NOT flagged, so when ties straddle position j the achieved FPR is lower than fpr (never
 * higher). fpr = 0 gives value = max (nothing flagged on the calibration data).
 */
import { CalibrationError } from './errors.js';
import type { ScoreName, Threshold } from './types.js';

export function calibrateThreshold(
  scores: ArrayLike<number>,
  targetFpr: number,
  score: ScoreName,
): Threshold {
  if (!(targetFpr >= 0 && targetFpr < 1))
    throw new CalibrationError(`targetFpr must be in [0, 1), got ${targetFpr}`);
  const n = scores.length;
  if (n === 0) throw new CalibrationError('cannot calibrate a threshold on zero scores');
  const sorted = Float64Array.from(scores as ArrayLike<number>);
  for (const v of sorted) if (Number.isNaN(v)) throw new CalibrationError('calibration scores contain NaN');
  sorted.sort();
  // Guard against floating error in (1 - fpr)·n, e.g. 0.99·100 = 98.99999999999999.
  const j = Math.max(1, Math.ceil((1 - targetFpr) * n - 1e-9));
  return { score, value: sorted[Math.min(j, n) - 1], targetFpr, calibrationSize: n };
}

/** Fraction of scores strictly above the threshold value. */
export function flaggedFraction(scores: ArrayLike<number>, value: number): number {
  let c = 0;
  for (let i = 0; i < scores.length; i++) if (scores[i] > value) c++;
  return scores.length === 0 ? 0 : c / scores.length;
}
