/**
 * The supervised head of "labels feed the next model" (issue 13, item 3), pure float64 JS.
 *
 * Head: an L2-regularised logistic regression on a per-record base vector
 *   b = [the record's raw values in `columns`, −mean log p, mean rate, Var log p]
 * ('linear' family), or on [b, ((b − center) / scale)²] ('quadratic', the default since labels
 * protocol v2 in BENCHMARKS.md: a linear logit can say "V14 low means fraud" but not "far from the
 * normals along V14, either way"; center / scale are the mean / std of b on the reference normals,
 * the training normals). The expanded features are standardised with the mean / std of the rows the
 * head was fitted on, with class weights that give frauds and normals equal total weight. Fitted by
 * Newton's method (IRLS) with step halving: deterministic, and the penalty makes the objective
 * strictly concave, so the maximiser is unique even when the labelled classes are separable.
 *
 * 'dose_or_known' ("novel OR known-fraud-like, calibrated jointly"): each of two scores — the
 * unsupervised 'dose' score and the head's logit — is mapped to r(s) = −log sf(s), sf its upper-tail
 * probability on held-out NORMAL records ({@link fitTailMap}); the score is max(r_dose, r_head), whose
 * threshold is then calibrated at the target FPR like every other score (engine/calibrate.ts).
 */
import { CalibrationError, ScoringInputError } from './errors.js';
import type { ScoreBatch } from './types.js';

/** The ensemble statistics the head adds to the record's raw features, in this order. */
export const HEAD_STATISTICS = ['neg_logp', 'rate', 'logp_var'] as const;

/** Most order statistics a tail map stores. */
export const TAIL_MAX_POINTS = 1024;

/** The head's feature families (see the module comment). */
export const HEAD_FEATURE_FAMILIES = ['linear', 'quadratic'] as const;
export type HeadFeatureFamily = (typeof HEAD_FEATURE_FAMILIES)[number];

/**
 * The product's head: the family (labels protocol v2) and penalty (v3) chosen in BENCHMARKS.md on
 * cross-validation over labelled validation frauds only; a linear head keeps v1's λ = 1.
 */
export const HEAD_DEFAULTS = {
  features: 'quadratic',
  l2: { linear: 1, quadratic: 3000 },
} as const satisfies {
  features: HeadFeatureFamily;
  l2: Record<HeadFeatureFamily, number>;
};

export interface SupervisedHead {
  /** Raw values per record (the model's inputDim). */
  inputDim: number;
  /** Feature family; absent in checkpoints written before labels protocol v2 (= 'linear'). */
  features?: HeadFeatureFamily;
  /** 'quadratic' only: mean / std (0 → 1) of the c + 3 base features on the reference normals. */
  center?: number[];
  scale?: number[];
  /**
   * Which raw columns enter the head (indices < inputDim). A transaction's Time is left out: labels come
   * from flags, which are always newer than the training normals, so Time alone would separate them.
   */
  columns: number[];
  /**
   * Mean / std (population; a zero std stored as 1) of the features (c + 3, or 2(c + 3) when
   * quadratic) on the fitting rows.
   */
  mean: number[];
  std: number[];
  /** Coefficients on the standardised features (c + 3, or 2(c + 3) when quadratic) and the intercept. */
  weights: number[];
  bias: number;
  /** The L2 penalty λ (on `weights`, not the intercept). */
  l2: number;
  /** Rows it was fitted on, per class. */
  positives: number;
  negatives: number;
}

/** −log of the upper-tail probability of a score on held-out normal records (see {@link tailR}). */
export interface TailMap {
  /** Sorted order statistics of the normal scores (≤ TAIL_MAX_POINTS, evenly spaced ranks, min and max). */
  points: number[];
  /** How many normal scores the map was fitted on (n). */
  n: number;
  /** Scale of the exponential tail beyond the largest point (mean excess over the 90th percentile). */
  tau: number;
}

/** The fitted parts of 'dose_or_known' (manifest scoreRule.labelled); the dose rule is scoreRule.dose. */
export interface LabelledRule {
  head: SupervisedHead;
  /** Tail map of the 'dose' score. */
  doseTail: TailMap;
  /** Tail map of the head's logit. */
  headTail: TailMap;
}

// ------------------------------------------------------------------ features

/** All raw columns 0..d−1. */
export function allColumns(d: number): number[] {
  return Array.from({ length: d }, (_, j) => j);
}

/**
 * The c + 3 unstandardised head features of each record (c = columns.length), row-major float64
 * [n, c + 3]: the raw values in `columns`, then −mean log p, mean rate, Var log p.
 */
export function headFeatures(
  raw: ArrayLike<number>,
  batch: ScoreBatch,
  d: number,
  columns: readonly number[] = allColumns(d),
): Float64Array {
  const n = batch.n;
  if (raw.length !== n * d)
    throw new ScoringInputError(`head features: ${raw.length} raw values for ${n} records of ${d}`);
  const c = columns.length;
  for (const j of columns)
    if (!(Number.isInteger(j) && j >= 0 && j < d))
      throw new ScoringInputError(`head features: column ${j} is not in 0..${d - 1}`);
  const p = c + HEAD_STATISTICS.length;
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++) {
    const o = i * p;
    for (let k = 0; k < c; k++) out[o + k] = raw[i * d + columns[k]];
    out[o + c] = -batch.logpMean[i];
    out[o + c + 1] = batch.rate[i];
    out[o + c + 2] = batch.logpVar[i];
  }
  return out;
}

/**
 * The quadratic family's expansion of base rows b [n, p] → [n, 2p]: [b, ((b − center) / scale)²].
 */
export function quadraticFeatures(
  base: Float64Array,
  n: number,
  p: number,
  center: readonly number[],
  scale: readonly number[],
): Float64Array {
  if (center.length !== p || scale.length !== p)
    throw new ScoringInputError(
      `quadratic head: center / scale hold ${center.length} / ${scale.length} values, expected ${p}`,
    );
  const q = 2 * p;
  const out = new Float64Array(n * q);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < p; j++) {
      const v = base[i * p + j];
      const t = (v - center[j]) / scale[j];
      out[i * q + j] = v;
      out[i * q + p + j] = t * t;
    }
  return out;
}

// ------------------------------------------------------------------ logistic regression

export interface HeadFitOptions {
  /** Raw columns the head uses (fitSupervisedHead). Default: all. */
  columns?: readonly number[];
  /** Feature family (fitSupervisedHead). Default {@link HEAD_DEFAULTS}.features. */
  features?: HeadFeatureFamily;
  /**
   * L2 penalty λ on the standardised coefficients. Default: fitLogistic 1; fitSupervisedHead
   * {@link HEAD_DEFAULTS}.l2 of the family.
   */
  l2?: number;
  /** Newton iterations at most. Default 100. */
  maxIterations?: number;
  /** Stop when the largest gradient entry is below this (relative to the total weight). Default 1e-10. */
  tolerance?: number;
}

/** Weighted penalised log-likelihood and its gradient / Hessian on standardised features (with intercept). */
interface Objective {
  value: number;
  grad: Float64Array;
  hess: Float64Array;
}

function logSigmoid(t: number): number {
  return t >= 0 ? -Math.log1p(Math.exp(-t)) : t - Math.log1p(Math.exp(t));
}

function sigmoid(t: number): number {
  if (t >= 0) return 1 / (1 + Math.exp(-t));
  const e = Math.exp(t);
  return e / (1 + e);
}

/**
 * Penalised weighted log-likelihood of coefficients beta (last entry = intercept) on standardised
 * rows z [n, p]: Σ_i w_i [y_i log σ(η_i) + (1 − y_i) log(1 − σ(η_i))] − λ/2 Σ_{j<p} β_j².
 * Exported for tests.
 */
export function penalisedLogLik(
  z: Float64Array,
  y: ArrayLike<number>,
  w: ArrayLike<number>,
  beta: ArrayLike<number>,
  l2: number,
): Objective {
  const q = beta.length; // p + 1
  const p = q - 1;
  const n = y.length;
  const grad = new Float64Array(q);
  const hess = new Float64Array(q * q);
  let value = 0;
  const x = new Float64Array(q);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < p; j++) x[j] = z[i * p + j];
    x[p] = 1;
    let eta = 0;
    for (let j = 0; j < q; j++) eta += beta[j] * x[j];
    const mu = sigmoid(eta);
    value += w[i] * (y[i] ? logSigmoid(eta) : logSigmoid(-eta));
    const r = w[i] * (y[i] - mu);
    const s = w[i] * mu * (1 - mu);
    for (let a = 0; a < q; a++) {
      grad[a] += r * x[a];
      const sx = s * x[a];
      for (let b = 0; b <= a; b++) hess[a * q + b] += sx * x[b];
    }
  }
  for (let a = 0; a < q; a++) for (let b = 0; b < a; b++) hess[b * q + a] = hess[a * q + b];
  for (let j = 0; j < p; j++) {
    value -= 0.5 * l2 * beta[j] * beta[j];
    grad[j] -= l2 * beta[j];
    hess[j * q + j] += l2;
  }
  // hess holds the NEGATIVE Hessian of the objective (positive definite)
  return { value, grad, hess };
}

/** Solves A·x = b for a symmetric positive-definite A (Cholesky), float64. */
function solveSpd(A: Float64Array, b: Float64Array, q: number): Float64Array {
  const L = new Float64Array(q * q);
  for (let r = 0; r < q; r++) {
    for (let c = 0; c <= r; c++) {
      let s = A[r * q + c];
      for (let k = 0; k < c; k++) s -= L[r * q + k] * L[c * q + k];
      if (r === c) {
        // the intercept row can be tiny in weight but never zero; guard against round-off
        L[r * q + r] = Math.sqrt(Math.max(s, 1e-300));
      } else {
        L[r * q + c] = s / L[c * q + c];
      }
    }
  }
  const y = new Float64Array(q);
  for (let r = 0; r < q; r++) {
    let s = b[r];
    for (let k = 0; k < r; k++) s -= L[r * q + k] * y[k];
    y[r] = s / L[r * q + r];
  }
  const x = new Float64Array(q);
  for (let r = q - 1; r >= 0; r--) {
    let s = y[r];
    for (let k = r + 1; k < q; k++) s -= L[k * q + r] * x[k];
    x[r] = s / L[r * q + r];
  }
  return x;
}

/** Mean / std (population; 0 → 1) of each column of x [n, p]. */
export function columnStats(x: Float64Array, n: number, p: number): { mean: number[]; std: number[] } {
  const mean = new Float64Array(p);
  const v2 = new Float64Array(p);
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) mean[j] += x[i * p + j];
  for (let j = 0; j < p; j++) mean[j] /= n;
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) v2[j] += (x[i * p + j] - mean[j]) ** 2;
  const std = Array.from(v2, (v) => {
    const s = Math.sqrt(v / n);
    return s > 0 && Number.isFinite(s) ? s : 1;
  });
  return { mean: Array.from(mean), std };
}

/**
 * Class weights that give each class half of the total weight n: w = n / (2·n_class).
 * Exported for tests.
 */
export function balancedWeights(y: ArrayLike<number>): Float64Array {
  let pos = 0;
  for (let i = 0; i < y.length; i++) if (y[i]) pos++;
  const neg = y.length - pos;
  const w = new Float64Array(y.length);
  for (let i = 0; i < y.length; i++) w[i] = y[i] ? y.length / (2 * pos) : y.length / (2 * neg);
  return w;
}

/**
 * Fits the logistic regression on already-built feature rows x [n, p] (unstandardised) and labels y
 * (1 = fraud, 0 = normal). Needs at least one record of each class. Deterministic.
 */
export function fitLogistic(
  x: Float64Array,
  y: ArrayLike<number>,
  p: number,
  opts: HeadFitOptions = {},
): { mean: number[]; std: number[]; weights: number[]; bias: number; iterations: number } {
  const n = y.length;
  if (x.length !== n * p) throw new CalibrationError(`head: ${x.length} feature values for ${n}×${p}`);
  let pos = 0;
  for (let i = 0; i < n; i++) {
    if (y[i] !== 0 && y[i] !== 1) throw new CalibrationError(`head: label ${y[i]} is not 0 or 1`);
    if (y[i]) pos++;
  }
  if (pos === 0 || pos === n)
    throw new CalibrationError(
      `the supervised head needs frauds and normals among its rows, got ${pos} frauds of ${n}`,
    );
  for (const v of x) if (!Number.isFinite(v)) throw new CalibrationError('head: a feature is not finite');
  const l2 = opts.l2 ?? 1;
  if (!(l2 > 0)) throw new CalibrationError(`head: l2 must be > 0, got ${l2}`);
  const maxIt = opts.maxIterations ?? 100;
  const tol = (opts.tolerance ?? 1e-10) * n;
  const { mean, std } = columnStats(x, n, p);
  const z = new Float64Array(n * p);
  for (let i = 0; i < n; i++) for (let j = 0; j < p; j++) z[i * p + j] = (x[i * p + j] - mean[j]) / std[j];
  const w = balancedWeights(y);
  const q = p + 1;
  let beta = new Float64Array(q);
  let obj = penalisedLogLik(z, y, w, beta, l2);
  let it = 0;
  for (; it < maxIt; it++) {
    let gmax = 0;
    for (const g of obj.grad) gmax = Math.max(gmax, Math.abs(g));
    if (gmax < tol) break;
    const step = solveSpd(obj.hess, obj.grad, q);
    let t = 1;
    let next = beta;
    let nextObj = obj;
    for (let h = 0; h < 60; h++) {
      const cand = new Float64Array(q);
      for (let j = 0; j < q; j++) cand[j] = beta[j] + t * step[j];
      const candObj = penalisedLogLik(z, y, w, cand, l2);
      if (candObj.value >= obj.value - 1e-12 * Math.abs(obj.value)) {
        next = cand;
        nextObj = candObj;
        break;
      }
      t /= 2;
    }
    if (next === beta) break; // no ascent possible: at the optimum up to round-off
    beta = next;
    obj = nextObj;
  }
  return { mean, std, weights: Array.from(beta.subarray(0, p)), bias: beta[p], iterations: it };
}

/** Logit of each row of unstandardised features x [n, p]. */
export function logisticLogits(
  x: Float64Array,
  n: number,
  m: Pick<SupervisedHead, 'mean' | 'std' | 'weights' | 'bias'>,
): Float64Array {
  const p = m.weights.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let eta = m.bias;
    for (let j = 0; j < p; j++) eta += (m.weights[j] * (x[i * p + j] - m.mean[j])) / m.std[j];
    out[i] = eta;
  }
  return out;
}

/** Labelled records for the head: their raw features, their ensemble scores, 1 = fraud / 0 = normal. */
export interface HeadRows {
  raw: ArrayLike<number>;
  batch: ScoreBatch;
  labels: ArrayLike<number>;
  /**
   * These rows are the quadratic family's reference normals (center / scale); when no group is marked,
   * every label-0 row is.
   */
  reference?: boolean;
}

/** Fits the head on one or more sets of labelled rows (e.g. training normals + reviewed flags). */
export function fitSupervisedHead(
  rows: readonly HeadRows[],
  inputDim: number,
  opts: HeadFitOptions = {},
): SupervisedHead {
  const columns = [...(opts.columns ?? allColumns(inputDim))];
  const features = opts.features ?? HEAD_DEFAULTS.features;
  if (!(HEAD_FEATURE_FAMILIES as readonly string[]).includes(features))
    throw new CalibrationError(
      `head: feature family '${features}' is not one of ${HEAD_FEATURE_FAMILIES.join(', ')}`,
    );
  const l2 = opts.l2 ?? HEAD_DEFAULTS.l2[features];
  const p = columns.length + HEAD_STATISTICS.length;
  const n = rows.reduce((a, r) => a + r.batch.n, 0);
  const base = new Float64Array(n * p);
  const y = new Uint8Array(n);
  const isRef = new Uint8Array(n);
  const marked = rows.some((r) => r.reference);
  let o = 0;
  for (const r of rows) {
    if (r.labels.length !== r.batch.n)
      throw new CalibrationError(`head: ${r.labels.length} labels for ${r.batch.n} records`);
    base.set(headFeatures(r.raw, r.batch, inputDim, columns), o * p);
    for (let i = 0; i < r.batch.n; i++) {
      y[o + i] = r.labels[i] ? 1 : 0;
      isRef[o + i] = (marked ? r.reference === true : !r.labels[i]) ? 1 : 0;
    }
    o += r.batch.n;
  }
  let x: Float64Array = base;
  let quad: { center: number[]; scale: number[] } | undefined;
  if (features === 'quadratic') {
    const refRows: number[] = [];
    for (let i = 0; i < n; i++) if (isRef[i]) refRows.push(i);
    if (refRows.length === 0) throw new CalibrationError('quadratic head: no reference normals');
    const ref = new Float64Array(refRows.length * p);
    refRows.forEach((r, i) => ref.set(base.subarray(r * p, (r + 1) * p), i * p));
    for (const v of ref) if (!Number.isFinite(v)) throw new CalibrationError('head: a feature is not finite');
    const st = columnStats(ref, refRows.length, p);
    quad = { center: st.mean, scale: st.std };
    x = quadraticFeatures(base, n, p, quad.center, quad.scale);
  }
  const fit = fitLogistic(x, y, x.length / n, { ...opts, l2 });
  let positives = 0;
  for (const v of y) positives += v;
  return {
    inputDim,
    ...(quad ? { features, center: quad.center, scale: quad.scale } : { features }),
    columns,
    mean: fit.mean,
    std: fit.std,
    weights: fit.weights,
    bias: fit.bias,
    l2,
    positives,
    negatives: n - positives,
  };
}

/** Features per record of a head (c + 3, or 2(c + 3) when quadratic). */
export function headWidth(head: Pick<SupervisedHead, 'columns' | 'features'>): number {
  const p = head.columns.length + HEAD_STATISTICS.length;
  return head.features === 'quadratic' ? 2 * p : p;
}

/** The head's logit of each record of a batch; the raw records are batch.input (set by OnnxScorer). */
export function headLogits(batch: ScoreBatch, head: SupervisedHead, raw = batch.input): Float64Array {
  if (!raw)
    throw new ScoringInputError(
      'the supervised head needs the raw records of the batch (ScoreBatch.input, set by OnnxScorer)',
    );
  if (head.weights.length !== headWidth(head))
    throw new ScoringInputError(
      `supervised head: ${head.weights.length} weights for ${head.columns.length} columns (${head.features ?? 'linear'})`,
    );
  const base = headFeatures(raw, batch, head.inputDim, head.columns);
  if (head.features !== 'quadratic') return logisticLogits(base, batch.n, head);
  if (!head.center || !head.scale) throw new ScoringInputError('quadratic head without center / scale');
  const p = head.columns.length + HEAD_STATISTICS.length;
  return logisticLogits(quadraticFeatures(base, batch.n, p, head.center, head.scale), batch.n, head);
}

// ------------------------------------------------------------------ tail maps

/**
 * Fits the tail map of a score on held-out NORMAL records: sorted order statistics at evenly spaced
 * ranks (all of them when n ≤ TAIL_MAX_POINTS; always the min and the max), n, and τ = the mean excess
 * over the 90th percentile (empirical, lower order statistic).
 */
export function fitTailMap(scores: ArrayLike<number>, maxPoints = TAIL_MAX_POINTS): TailMap {
  const n = scores.length;
  if (n < 10) throw new CalibrationError(`a tail map needs at least 10 normal scores, got ${n}`);
  if (maxPoints < 2) throw new CalibrationError('a tail map needs at least 2 points');
  const s = Float64Array.from(scores as ArrayLike<number>);
  for (const v of s)
    if (!Number.isFinite(v)) throw new CalibrationError('tail map: a normal score is not finite');
  s.sort();
  const m = Math.min(n, maxPoints);
  const points = Array.from({ length: m }, (_, k) => s[tailRank(k, m, n) - 1]);
  const q90 = s[Math.ceil(0.9 * n - 1e-9) - 1];
  let excess = 0;
  let count = 0;
  for (const v of s)
    if (v > q90) {
      excess += v - q90;
      count++;
    }
  let tau = count > 0 ? excess / count : 0;
  if (!(tau > 0)) tau = Math.max(1e-9, Math.abs(s[n - 1]) * 1e-9);
  return { points, n, tau };
}

/** 1-based rank (in the n sorted scores) of stored point k of m: evenly spaced, 1 and n included. */
export function tailRank(k: number, m: number, n: number): number {
  return m === n ? k + 1 : 1 + Math.round((k * (n - 1)) / (m - 1));
}

/**
 * r(s) = −log sf(s). At a stored point of rank j, sf = (#{c_i > c_(j)} + 1)/(n + 1) = (n − j + 1)/(n + 1)
 * (the empirical "(#{c_i ≥ s} + 1)/(n + 1)" just above it); r is linear between stored points (so
 * that calibration sees no ties), constant −log(n/(n + 1)) below the smallest, and beyond the largest
 * c_max follows the exponential tail sf = 1/(n + 1)·exp(−(s − c_max)/τ): continuous everywhere and
 * strictly increasing from the smallest point on. NaN stays NaN.
 */
export function tailR(map: TailMap, s: number): number {
  const { points, n, tau } = map;
  const m = points.length;
  if (Number.isNaN(s)) return NaN;
  const rAt = (k: number): number => -Math.log((n - tailRank(k, m, n) + 1) / (n + 1));
  const top = points[m - 1];
  if (s >= top) return Math.log(n + 1) + (s - top) / tau;
  if (s <= points[0]) return rAt(0);
  // largest k with points[k] <= s (k < m − 1 here)
  let lo = 0;
  let hi = m - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (points[mid] <= s) lo = mid;
    else hi = mid;
  }
  const a = points[lo];
  const b = points[hi];
  const ra = rAt(lo);
  const rb = hi === m - 1 ? Math.log(n + 1) : rAt(hi);
  return b > a ? ra + ((rb - ra) * (s - a)) / (b - a) : rb;
}

/** r of every score. */
export function tailRs(map: TailMap, scores: ArrayLike<number>): Float64Array {
  const out = new Float64Array(scores.length);
  for (let i = 0; i < scores.length; i++) out[i] = tailR(map, scores[i]);
  return out;
}

/** max(r_dose, r_head) per record, given the dose scores and the head logits. */
export function unionScores(
  rule: LabelledRule,
  dose: ArrayLike<number>,
  logits: ArrayLike<number>,
): Float64Array {
  if (dose.length !== logits.length)
    throw new ScoringInputError(`union: ${dose.length} dose scores, ${logits.length} head logits`);
  const out = new Float64Array(dose.length);
  for (let i = 0; i < dose.length; i++) {
    const a = tailR(rule.doseTail, dose[i]);
    const b = tailR(rule.headTail, logits[i]);
    // a NaN on either side makes the record unscorable (dead-lettered), never "not flagged"
    out[i] = Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b);
  }
  return out;
}
