/**
 * Binary detection metrics for anomaly scores.
 *
 * Conventions (shared by every function here):
 * - `scores`: higher = more anomalous. Float32Array, Float64Array or number[]. NaN is rejected
 *   ({@link MetricError} code `NAN_SCORE`); ±Infinity is allowed (it is an ordinary, extreme score).
 * - `labels`: 1 (or `true`) = positive = anomaly/fraud, 0 (or `false`) = negative = normal.
 *   Anything else is rejected (`BAD_LABEL`).
 * - Both classes must be present (`ONE_CLASS`), lengths must match (`LENGTH_MISMATCH`) and be > 0
 *   (`EMPTY`).
 * - A record is predicted positive at threshold t when score >= t (scikit-learn's convention), so all
 *   records with equal scores change side together: ties are never split.
 *
 * Definitions match scikit-learn (roc_auc_score, average_precision_score, roc_curve,
 * precision_recall_curve with drop_intermediate=False); see each function.
 */

import { GensembleError } from '../errors.js';

export type ScoreArray = Float32Array | Float64Array | readonly number[];
export type LabelArray = Uint8Array | Int8Array | Int32Array | readonly number[] | readonly boolean[];

export type MetricErrorCode =
  'EMPTY' | 'LENGTH_MISMATCH' | 'NAN_SCORE' | 'BAD_LABEL' | 'ONE_CLASS' | 'BAD_ARGUMENT';

/** Bad metric input. `code` is one of {@link MetricErrorCode}. */
export class MetricError extends GensembleError {
  declare readonly code: MetricErrorCode;
  constructor(code: MetricErrorCode, message: string) {
    super(code, message);
  }
}

/**
 * Cumulative counts at each distinct threshold, thresholds in decreasing order
 * (scikit-learn's `_binary_clf_curve`): at `thresholds[i]`, `tps[i]` positives and `fps[i]`
 * negatives have score >= thresholds[i].
 */
export interface BinaryCurveCounts {
  thresholds: Float64Array;
  tps: Float64Array;
  fps: Float64Array;
  /** Total positives. */
  p: number;
  /** Total negatives. */
  n: number;
}

function validate(
  scores: ScoreArray,
  labels: LabelArray,
): { s: Float64Array; y: Uint8Array; p: number; n: number } {
  const len = scores.length;
  if (labels.length !== len)
    throw new MetricError('LENGTH_MISMATCH', `scores has ${len} entries but labels has ${labels.length}`);
  if (len === 0) throw new MetricError('EMPTY', 'scores and labels are empty');
  const s = new Float64Array(len);
  const y = new Uint8Array(len);
  let p = 0;
  for (let i = 0; i < len; i++) {
    const v = scores[i];
    if (Number.isNaN(v)) throw new MetricError('NAN_SCORE', `score at index ${i} is NaN`);
    s[i] = v;
    const l = labels[i] as number | boolean;
    if (l === 1 || l === true) {
      y[i] = 1;
      p++;
    } else if (l !== 0 && l !== false) {
      throw new MetricError('BAD_LABEL', `label at index ${i} is ${String(l)}; labels must be 0 or 1`);
    }
  }
  const n = len - p;
  if (p === 0 || n === 0)
    throw new MetricError(
      'ONE_CLASS',
      `labels hold only one class (${p} positives, ${n} negatives); the metric needs both`,
    );
  return { s, y, p, n };
}

/**
 * Cumulative true/false positive counts per distinct threshold (descending). Positives' and
 * negatives' scores are sorted separately (native numeric typed-array sort) and merged from the top,
 * consuming each tie group of both classes at once.
 */
export function binaryCurveCounts(scores: ScoreArray, labels: LabelArray): BinaryCurveCounts {
  const { s, y, p, n } = validate(scores, labels);
  const pos = new Float64Array(p);
  const neg = new Float64Array(n);
  for (let k = 0, a = 0, b = 0; k < s.length; k++) {
    if (y[k] === 1) pos[a++] = s[k];
    else neg[b++] = s[k];
  }
  pos.sort();
  neg.sort();
  const th: number[] = [];
  const tp: number[] = [];
  const fp: number[] = [];
  let i = p - 1;
  let j = n - 1;
  let ctp = 0;
  let cfp = 0;
  while (i >= 0 || j >= 0) {
    const t = i < 0 ? neg[j] : j < 0 ? pos[i] : Math.max(pos[i], neg[j]);
    while (i >= 0 && pos[i] === t) {
      ctp++;
      i--;
    }
    while (j >= 0 && neg[j] === t) {
      cfp++;
      j--;
    }
    th.push(t);
    tp.push(ctp);
    fp.push(cfp);
  }
  return { thresholds: Float64Array.from(th), tps: Float64Array.from(tp), fps: Float64Array.from(fp), p, n };
}

/**
 * Area under the ROC curve = P(score of a random positive > score of a random negative)
 * + 0.5·P(equal): the Mann–Whitney U statistic / (P·N), ties counting one half. Computed exactly
 * over tie groups in integer arithmetic: U = Σ_groups Δneg · (pos above the group + Δpos / 2)
 * (integers up to 2·P·N, exact below 2^53). Equals sklearn.metrics.roc_auc_score.
 */
export function auroc(scores: ScoreArray, labels: LabelArray): number {
  const { tps, fps, p, n } = binaryCurveCounts(scores, labels);
  let twiceU = 0;
  let prevTp = 0;
  let prevFp = 0;
  for (let k = 0; k < tps.length; k++) {
    const dfp = fps[k] - prevFp;
    const dtp = tps[k] - prevTp;
    // each negative of this tie group is beaten by the prevTp positives above it and ties with dtp
    twiceU += dfp * (2 * prevTp + dtp);
    prevTp = tps[k];
    prevFp = fps[k];
  }
  return twiceU / (2 * p * n);
}

/**
 * Average precision, scikit-learn's definition (no interpolation):
 * AP = Σ_k (R_k − R_{k−1}) · P_k over distinct thresholds in decreasing order, R_0 = 0,
 * where P_k = TP_k / (TP_k + w·FP_k) and R_k = TP_k / P; tied scores form one threshold. w (default 1)
 * weighs each negative, see {@link averagePrecisionAtPrevalence}.
 */
export function averagePrecision(scores: ScoreArray, labels: LabelArray, negativeWeight = 1): number {
  if (!(negativeWeight > 0 && Number.isFinite(negativeWeight)))
    throw new MetricError('BAD_ARGUMENT', `negativeWeight must be a positive number, got ${negativeWeight}`);
  const { tps, fps, p } = binaryCurveCounts(scores, labels);
  let ap = 0;
  let prevRecall = 0;
  for (let k = 0; k < tps.length; k++) {
    const recall = tps[k] / p;
    const precision = tps[k] / (tps[k] + negativeWeight * fps[k]);
    ap += (recall - prevRecall) * precision;
    prevRecall = recall;
  }
  return ap;
}

/**
 * Average precision as it would be at a positive rate (prevalence) `prevalence` in the population the
 * negatives were sampled from: each negative counts (P/N)·(1 − π)/π times, which is exactly AP on a set
 * with that class ratio when the negatives are a representative sample (e.g. AP at Kaggle's real
 * fraud rate of 0.17 % from a balanced test set).
 */
export function averagePrecisionAtPrevalence(
  scores: ScoreArray,
  labels: LabelArray,
  prevalence: number,
): number {
  if (!(prevalence > 0 && prevalence < 1))
    throw new MetricError('BAD_ARGUMENT', `prevalence must be in (0, 1), got ${prevalence}`);
  const { p, n } = binaryCurveCounts(scores, labels);
  return averagePrecision(scores, labels, (p / n) * ((1 - prevalence) / prevalence));
}

/**
 * False-positive rate at a true-positive-rate target (default 0.95, the "FPR@95%TPR" of the OoD
 * literature). Convention: walk the ROC points of {@link rocCurve} (sklearn roc_curve,
 * drop_intermediate=False) from the highest threshold down and return the FPR of the FIRST point
 * whose TPR >= target, i.e. the highest threshold (= lowest FPR) that detects at least `tpr` of the
 * positives. Equivalent to numpy `fpr[np.searchsorted(tpr_arr, target, side='left')]`.
 * Ties are never split, so the achieved TPR may exceed the target.
 */
export function fprAtTpr(scores: ScoreArray, labels: LabelArray, tpr = 0.95): number {
  if (!(tpr >= 0 && tpr <= 1))
    throw new MetricError('BAD_ARGUMENT', `tpr target must be in [0, 1], got ${tpr}`);
  const { tps, fps, p, n } = binaryCurveCounts(scores, labels);
  if (tpr === 0) return 0; // the (0, 0) point at threshold +Infinity
  for (let k = 0; k < tps.length; k++) {
    // tps[k]/p is the correctly rounded quotient and 'tpr' a correctly rounded literal: rounding is
    // monotonic, so this comparison never misorders an exact rational tie.
    if (tps[k] / p >= tpr) return fps[k] / n;
  }
  return 1; // unreachable: the last threshold has tps = p
}

export interface RocPoint {
  fpr: number;
  tpr: number;
  /** Predicted positive when score >= threshold. The first point has threshold +Infinity. */
  threshold: number;
}

export interface PrPoint {
  precision: number;
  recall: number;
  threshold: number;
}

export interface CurveOptions {
  /**
   * Downsample to at most this many points (>= 2) for plotting: the first and last points are kept
   * and the rest are taken at evenly spaced indices. Metrics are never computed from a downsampled curve.
   */
  maxPoints?: number;
}

function downsample<T>(pts: T[], maxPoints: number | undefined): T[] {
  if (maxPoints === undefined || pts.length <= maxPoints) return pts;
  if (!Number.isInteger(maxPoints) || maxPoints < 2)
    throw new MetricError('BAD_ARGUMENT', `maxPoints must be an integer >= 2, got ${maxPoints}`);
  const out: T[] = [];
  const last = pts.length - 1;
  let prev = -1;
  for (let i = 0; i < maxPoints; i++) {
    const j = Math.round((i * last) / (maxPoints - 1));
    if (j !== prev) out.push(pts[j]);
    prev = j;
  }
  return out;
}

/**
 * ROC curve, scikit-learn roc_curve with drop_intermediate=False: a first point (0, 0) at threshold
 * +Infinity, then one point per distinct score in decreasing order, ending at (1, 1).
 */
export function rocCurve(scores: ScoreArray, labels: LabelArray, options: CurveOptions = {}): RocPoint[] {
  const { thresholds, tps, fps, p, n } = binaryCurveCounts(scores, labels);
  const pts: RocPoint[] = [{ fpr: 0, tpr: 0, threshold: Infinity }];
  for (let k = 0; k < thresholds.length; k++)
    pts.push({ fpr: fps[k] / n, tpr: tps[k] / p, threshold: thresholds[k] });
  return downsample(pts, options.maxPoints);
}

/**
 * Precision–recall curve: one point per distinct score in DECREASING threshold order (recall
 * non-decreasing), precision = TP/(TP+FP), recall = TP/P. Unlike sklearn's precision_recall_curve
 * (which returns the reverse order plus an extra (recall 0, precision 1) end point without a
 * threshold), no synthetic point is added.
 */
export function prCurve(scores: ScoreArray, labels: LabelArray, options: CurveOptions = {}): PrPoint[] {
  const { thresholds, tps, fps, p } = binaryCurveCounts(scores, labels);
  const pts: PrPoint[] = [];
  for (let k = 0; k < thresholds.length; k++)
    pts.push({ precision: tps[k] / (tps[k] + fps[k]), recall: tps[k] / p, threshold: thresholds[k] });
  return downsample(pts, options.maxPoints);
}
