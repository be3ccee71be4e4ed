/**
 * 'dose': a density-of-states score (Morningstar et al., AISTATS 2021, "Density of States Estimation
 * for Out-of-Distribution Detection"), fitted per trained model on its held-out NORMAL records only.
 *
 * For each statistic s_j the ensemble computes for a record (mean −log p, mean rate, the members'
 * variance of log p and, for 8-bit frames, −log p − L(x)), a one-dimensional Gaussian kernel density
 * f_j is fitted to the values s_j takes on the calibration normals. The score of a record is
 *
 *     dose(x) = Σ_j −log f_j(s_j(x))
 *
 * (DoSE's "KDE, sum" variant, statistics treated as independent). No sign is chosen by anyone: a value
 * the normal data rarely takes is improbable on either side, so an input the models find unusually
 * LIKELY (MNIST under a Fashion-MNIST model, blank frames) is as atypical as an unlikely one, and no
 * OoD data or proxy enters the fit.
 *
 * Representation: the rule stores, per statistic, a bandwidth (Silverman's rule of thumb on all
 * calibration values) and at most {@link DOSE_MAX_SUPPORT} support points (evenly spaced order
 * statistics of the calibration values). At load time each density is tabulated on a uniform grid
 * over [min − 6h, max + 6h] (spacing ≤ h/32: interpolation error of −log f below ~1e-4 where log f curves as fast as 1/h²) and interpolated linearly, so a record costs O(1) per
 * statistic. Outside the grid the exact log density is computed from the support points near the
 * record (the nearest point and every point within 8h of its distance; the others contribute less
 * than e^−32 of the total), which keeps the far tails exact: −log f grows quadratically.
 *
 * Tails ({@link DoseTails}): with 'exponential', each density keeps the kernel estimate between its 1 %
 * tail quantiles and has an exponential tail beyond them (scale = the mean excess over the quantile),
 * so a record's penalty grows linearly, at the rate the statistic's own tail sets, instead of with the
 * square of its distance in body bandwidths. Heavy-tailed statistics (the members' variance) then no
 * longer let an in-distribution outlier outscore a record that is far out on a light-tailed one.
 */
import { CalibrationError, ScoringInputError } from './errors.js';
import { componentScore } from './statistics.js';
import { fitTypicalityRule, typicalityScores, type TypicalityRule } from './typicality.js';
import type { ScoreBatch } from './types.js';

/** The statistics a dose rule may use: ensemble-level scores the engine computes for every record. */
export const DOSE_STATISTICS = [
  'neg_logp',
  'rate',
  'logp_var',
  'neg_logp_ic',
  'feature_maha',
  'feature_knn',
  'member_typicality',
  'neg_critic',
  'critic_var',
] as const;
export type DoseStatistic = (typeof DOSE_STATISTICS)[number];

/**
 * Statistics for records with / without an input complexity (frames / tabular records). Both end with
 * 'feature_maha', the record's distance under the model's input Gaussian (detection protocol v5 in
 * BENCHMARKS.md; engine/feature-gaussian.ts), which the build fits unless told not to, and
 * 'member_typicality', the distance of the record's per-member (log p, rate) vector from the fit set's
 * (typicality.ts; detection protocol v6), which the build fits when there are enough records.
 */
export const DOSE_STATISTICS_FRAMES: readonly DoseStatistic[] = [
  'neg_logp',
  'rate',
  'logp_var',
  'neg_logp_ic',
  'feature_maha',
  'member_typicality',
];
export const DOSE_STATISTICS_TABULAR: readonly DoseStatistic[] = [
  'neg_logp',
  'rate',
  'logp_var',
  'feature_maha',
  'member_typicality',
];

/**
 * The Gaussian of 'member_typicality': over each member's log p and rate, with the product's typicality
 * shrinkage (typicality.ts), fitted on the same normal records as the densities.
 */
export const DOSE_TYPICALITY = { features: 'logp_rate', shrinkage: 0.01 } as const;
/** 'member_typicality' is fitted only with at least this many records per dimension (2M dimensions). */
export const DOSE_TYPICALITY_RECORDS_PER_DIM = 10;
/**
 * Added to a kind's statistics when the model carries a WGAN critic ensemble (family 'vae+wgan'): the
 * critics' mean value and their variance, each a density fitted on the same normal records.
 */
export const DOSE_STATISTICS_CRITICS: readonly DoseStatistic[] = ['neg_critic', 'critic_var'];

/** At most this many support points per statistic are stored in the manifest. */
export const DOSE_MAX_SUPPORT = 1024;

export interface DoseDensity {
  stat: DoseStatistic;
  /** Kernel bandwidth h (> 0). */
  bandwidth: number;
  /** Sorted support points (order statistics of the calibration values). */
  support: number[];
}

/**
 * How a density behaves beyond its fitted body. 'kde' (the default, and what a rule without the field
 * means): the Gaussian kernel estimate everywhere, so −log f grows like ((x − nearest point)/h)²/2,
 * where h is a bandwidth chosen for the BODY of the distribution. 'exponential': the kernel estimate
 * between the 1 % tail quantiles, and beyond each an exponential tail whose scale is the mean excess of
 * the fitted values over that quantile (the peaks-over-threshold model of extreme-value statistics with
 * shape 0), so −log f grows linearly, at a rate the statistic's own tail sets.
 */
export const DOSE_TAILS = ['kde', 'exponential'] as const;
export type DoseTails = (typeof DOSE_TAILS)[number];

export interface DoseRule {
  densities: DoseDensity[];
  /** The Gaussian 'member_typicality' measures against (present when a density uses it). */
  typicality?: TypicalityRule;
  /** Calibration records the densities were fitted on. */
  fittedOn: number;
  /** Tail model of every density (absent: 'kde'). */
  tails?: DoseTails;
}

/** Fraction of the fitted values in each exponential tail (of the support's evenly spaced quantiles). */
export const DOSE_TAIL_MASS = 0.01;

/** One exponential tail: beyond `threshold`, log f(x) = log(mass/scale) − |x − threshold|/scale. */
export interface DoseTail {
  threshold: number;
  scale: number;
  /** Probability mass beyond the threshold. */
  mass: number;
}

/**
 * The exponential tails of a density, from its support points alone (evenly spaced order statistics
 * of the fitted values, support[j] at probability j/(m − 1)): k = max(1, round(0.01·(m − 1))) points
 * on each side lie beyond the threshold support[m − 1 − k] (resp. support[k]), mass k/(m − 1), and the
 * scale is the mean distance of those k points from the threshold (the mean excess). A tail with no
 * spread (a constant statistic) takes the kernel bandwidth as its scale.
 */
export function doseTails(d: DoseDensity): { lower: DoseTail; upper: DoseTail } {
  const s = d.support;
  const m = s.length;
  if (m < 3) {
    const mass = 0.5;
    return {
      lower: { threshold: s[0], scale: d.bandwidth, mass },
      upper: { threshold: s[m - 1], scale: d.bandwidth, mass },
    };
  }
  const k = Math.min(Math.floor((m - 1) / 2), Math.max(1, Math.round(DOSE_TAIL_MASS * (m - 1))));
  const mass = k / (m - 1);
  const hiT = s[m - 1 - k];
  const loT = s[k];
  let hiEx = 0;
  let loEx = 0;
  for (let j = 0; j < k; j++) {
    hiEx += s[m - 1 - j] - hiT;
    loEx += loT - s[j];
  }
  const scale = (ex: number): number => (ex / k > 0 ? ex / k : d.bandwidth);
  return {
    lower: { threshold: loT, scale: scale(loEx), mass },
    upper: { threshold: hiT, scale: scale(hiEx), mass },
  };
}

/**
 * The statistic per record (float64): read off the batch like every other score (statistics.ts), or,
 * for 'member_typicality', the distance under the rule's own typicality Gaussian.
 */
export function doseStatistic(
  batch: ScoreBatch,
  stat: DoseStatistic,
  typicality?: TypicalityRule,
): Float64Array {
  if (stat === 'member_typicality') {
    if (!typicality)
      throw new ScoringInputError("dose statistic 'member_typicality' needs the rule's typicality fit");
    return typicalityScores(batch, typicality);
  }
  return componentScore(batch, stat);
}

function quantileSorted(s: Float64Array, q: number): number {
  const pos = q * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.min(s.length - 1, lo + 1);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/**
 * Silverman's rule of thumb, h = 0.9·min(σ, IQR/1.34)·n^(−1/5), on sorted values; falls back to σ or
 * to a tiny positive width when the spread is zero (a constant statistic).
 */
export function silvermanBandwidth(sorted: Float64Array): number {
  const n = sorted.length;
  let mean = 0;
  for (const v of sorted) mean += v;
  mean /= n;
  let v2 = 0;
  for (const v of sorted) v2 += (v - mean) ** 2;
  const sd = Math.sqrt(v2 / Math.max(1, n - 1));
  const iqr = quantileSorted(sorted, 0.75) - quantileSorted(sorted, 0.25);
  let spread = Math.min(sd, iqr / 1.34);
  if (!(spread > 0)) spread = sd;
  if (!(spread > 0)) spread = Math.max(1e-6, Math.abs(mean) * 1e-6);
  return 0.9 * spread * Math.pow(n, -0.2);
}

/** Fits one density per statistic on the calibration normals' statistics. */
export function fitDoseRule(
  normal: ScoreBatch,
  stats: readonly DoseStatistic[],
  options: { tails?: DoseTails } = {},
): DoseRule {
  if (normal.n < 10)
    throw new CalibrationError(`fitting the dose score needs at least 10 normal records, got ${normal.n}`);
  if (stats.length === 0) throw new CalibrationError('the dose score needs at least one statistic');
  const typicality = stats.includes('member_typicality')
    ? fitTypicalityRule(normal, DOSE_TYPICALITY)
    : undefined;
  const densities = stats.map((stat): DoseDensity => {
    const values = doseStatistic(normal, stat, typicality);
    for (const v of values)
      if (!Number.isFinite(v))
        throw new CalibrationError(`dose statistic ${stat} is not finite on the normal data`);
    const sorted = Float64Array.from(values).sort();
    const bandwidth = silvermanBandwidth(sorted);
    const m = Math.min(DOSE_MAX_SUPPORT, sorted.length);
    const support: number[] = new Array(m);
    for (let i = 0; i < m; i++) support[i] = quantileSorted(sorted, m === 1 ? 0 : i / (m - 1));
    return { stat, bandwidth, support };
  });
  return {
    densities,
    ...(typicality ? { typicality } : {}),
    fittedOn: normal.n,
    ...(options.tails ? { tails: options.tails } : {}),
  };
}

const LOG_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** First index with support[i] >= x (binary search). */
function lowerBound(a: number[], x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Exact log density of the kernel estimate at x (float64), summing the points within (distance of the
 * nearest point + 8h) of x; each point left out weighs less than e^−32 of the nearest one.
 */
export function logDensityExact(d: DoseDensity, x: number): number {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? NaN : -Infinity;
  const { support, bandwidth: h } = d;
  const n = support.length;
  const j = lowerBound(support, x);
  const near = Math.min(j < n ? support[j] - x : Infinity, j > 0 ? x - support[j - 1] : Infinity);
  const reach = near + 8 * h;
  const lo = lowerBound(support, x - reach);
  const hi = lowerBound(support, x + reach + Number.EPSILON * Math.abs(x + reach));
  let max = -Infinity;
  for (let i = lo; i < hi; i++) {
    const e = -0.5 * ((x - support[i]) / h) ** 2;
    if (e > max) max = e;
  }
  let sum = 0;
  for (let i = lo; i < hi; i++) sum += Math.exp(-0.5 * ((x - support[i]) / h) ** 2 - max);
  return max + Math.log(sum) - Math.log(n * h) - LOG_SQRT_2PI;
}

/** A density tabulated on a uniform grid for O(1) lookups (built once per loaded rule). */
interface CompiledDensity {
  density: DoseDensity;
  lo: number;
  step: number;
  values: Float64Array;
  /** Exponential tails (rule.tails 'exponential'), else undefined. */
  tails?: { lower: DoseTail; upper: DoseTail };
}

const MAX_GRID = 1 << 16;

function compile(d: DoseDensity, tails: DoseTails): CompiledDensity {
  const h = d.bandwidth;
  const lo = d.support[0] - 6 * h;
  const hi = d.support[d.support.length - 1] + 6 * h;
  const points = Math.min(MAX_GRID, Math.max(256, Math.ceil(((hi - lo) / h) * 32) + 1));
  const step = (hi - lo) / (points - 1);
  const values = new Float64Array(points);
  for (let i = 0; i < points; i++) values[i] = logDensityExact(d, lo + i * step);
  return { density: d, lo, step, values, ...(tails === 'exponential' ? { tails: doseTails(d) } : {}) };
}

const compiled = new WeakMap<DoseRule, CompiledDensity[]>();

function compiledOf(rule: DoseRule): CompiledDensity[] {
  let c = compiled.get(rule);
  if (!c) {
    for (const d of rule.densities) {
      if (!(d.bandwidth > 0) || d.support.length === 0)
        throw new ScoringInputError(`dose density ${d.stat}: needs a positive bandwidth and support points`);
    }
    if (rule.tails !== undefined && !(DOSE_TAILS as readonly string[]).includes(rule.tails))
      throw new ScoringInputError(`dose rule: unknown tails '${String(rule.tails)}'`);
    const tails = rule.tails ?? 'kde';
    c = rule.densities.map((d) => compile(d, tails));
    compiled.set(rule, c);
  }
  return c;
}

function logDensity(c: CompiledDensity, x: number): number {
  if (c.tails) {
    const { lower, upper } = c.tails;
    if (x > upper.threshold) return Math.log(upper.mass / upper.scale) - (x - upper.threshold) / upper.scale;
    if (x < lower.threshold) return Math.log(lower.mass / lower.scale) - (lower.threshold - x) / lower.scale;
  }
  const t = (x - c.lo) / c.step;
  if (!(t >= 0 && t <= c.values.length - 1)) return Number.isNaN(x) ? NaN : logDensityExact(c.density, x);
  const i = Math.min(c.values.length - 2, Math.floor(t));
  const f = t - i;
  return c.values[i] * (1 - f) + c.values[i + 1] * f;
}

/** Σ_j −log f_j(s_j(x)) per record; a NaN statistic gives NaN (never "typical"). */
export function doseScores(batch: ScoreBatch, rule: DoseRule): Float64Array {
  const comp = compiledOf(rule);
  const out = new Float64Array(batch.n);
  for (const c of comp) {
    const s = doseStatistic(batch, c.density.stat, rule.typicality);
    for (let i = 0; i < batch.n; i++) out[i] -= logDensity(c, s[i]);
  }
  return out;
}

/** Whether the rule needs ScoreBatch.complexity. */
export function doseNeedsComplexity(rule: DoseRule | undefined): boolean {
  return (rule?.densities ?? []).some((d) => d.stat === 'neg_logp_ic');
}
