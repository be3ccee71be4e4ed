/**
 * Per-record anomaly scores ("higher = more anomalous") from a {@link ScoreBatch}.
 *
 * 'combined' is a hook: Σ_i w_i·(s_i − mean_i)/std_i over component scores (or, for a component with
 * `transform: 'abs'`, the two-sided "typicality" term w_i·|s_i − mean_i|/std_i), with z-normalisation
 * statistics measured on held-out normal data (see {@link fitCombinedRule}) and stored in the
 * checkpoint manifest. Default components: frames z(neg_logp_ic) + z(neg_logp) + z(logp_var) − z(rate)
 * ({@link FRAMES_COMBINED_COMPONENTS}), other records z(neg_logp) + z(logp_var) − z(rate); in these
 * VAEs a posterior close to the prior (LOW rate) marks most OoD inputs.
 *
 * 'typicality' is a typicality test in the space of the ensemble's own outputs: the squared
 * Mahalanobis distance of the record's vector of per-member scores (each member's log p and, by
 * default, each member's rate: 2M values) from their mean on held-out normal data, under a
 * shrunk covariance fitted there (see {@link fitTypicalityRule}). It is two-sided by construction
 * (an input the models find unusually LIKELY, like MNIST under a Fashion-MNIST model, is as atypical
 * as an unlikely one), and ensemble disagreement enters through the covariance: members that
 * usually agree but disagree on this record move it off the principal axis, where the precision is
 * large. The same idea as density-of-states detectors (Morningstar et al., 2021) with a Gaussian
 * density over the statistics.
 */
import { CalibrationError, ScoringInputError } from './errors.js';
import { doseNeedsComplexity, doseScores, type DoseRule } from './dose.js';
import { headLogits, unionScores, type LabelledRule } from './supervised-head.js';
import type { ScoreBatch, ScoreName } from './types.js';
import { componentScore, isCriticScore, type ComponentScore } from './statistics.js';

export type { ComponentScore } from './statistics.js';
export { componentScore, isCriticScore } from './statistics.js';
/** Scores read straight off a ScoreBatch (the components of 'combined'). */
export const COMPONENT_SCORES = [
  'neg_waic',
  'neg_logp',
  'neg_logp_single',
  'rate',
  'logp_var',
  'neg_logp_ic',
  'feature_maha',
  'neg_critic',
  'neg_critic_single',
  'critic_var',
] as const satisfies readonly ComponentScore[];
/** Every score name (the one list the manifest schema and the model registry validate against). */
export const SCORE_NAMES = [
  ...COMPONENT_SCORES,
  'combined',
  'typicality',
  'dose',
  'dose_or_known',
] as const satisfies readonly ScoreName[];

/**
 * 'abs': the component contributes w·|s − mean|/std (two-sided: unusually HIGH and unusually LOW
 * values both count as anomalous) instead of w·(s − mean)/std.
 */
export type ComponentTransform = 'abs';

/** A component before fitting: which score, its weight and optional transform. */
export interface CombinedComponentSpec {
  score: ComponentScore;
  weight: number;
  transform?: ComponentTransform;
}

export interface CombinedComponent {
  score: ComponentScore;
  weight: number;
  /** Absent: linear z-score term. */
  transform?: ComponentTransform;
  /** Mean of this score on held-out normal data. */
  mean: number;
  /** Standard deviation of this score on held-out normal data (> 0). */
  std: number;
}

export interface CombinedRule {
  components: CombinedComponent[];
}

/** Components of 'combined' for records without an input complexity (tabular). */
export const DEFAULT_COMBINED_COMPONENTS: ReadonlyArray<CombinedComponentSpec> = [
  { score: 'neg_logp', weight: 1 },
  { score: 'logp_var', weight: 1 },
  { score: 'rate', weight: -1 },
];

/**
 * Components of 'combined' for image frames, the frames default: z(−log p − L(x)) + z(−log p) +
 * z(Var log p) − z(rate). Chosen by the image benchmark on validation data only (corruption proxies
 * and held-out classes, pooled over MNIST and Fashion-MNIST models at 5k steps; BENCHMARKS.md).
 */
export const FRAMES_COMBINED_COMPONENTS: ReadonlyArray<CombinedComponentSpec> = [
  { score: 'neg_logp_ic', weight: 1 },
  { score: 'neg_logp', weight: 1 },
  { score: 'logp_var', weight: 1 },
  { score: 'rate', weight: -1 },
];

/** Whether computing `name` (with these rules) needs ScoreBatch.complexity. */
export function needsComplexity(name: ScoreName, rules: FittedRules = {}): boolean {
  if (name === 'neg_logp_ic') return true;
  if (name === 'combined') return (rules.combined?.components ?? []).some((c) => c.score === 'neg_logp_ic');
  if (name === 'dose' || name === 'dose_or_known') return doseNeedsComplexity(rules.dose);
  return false;
}

/** Whether computing `name` (with these rules) needs ScoreBatch.featureMaha (the input Gaussian). */
export function needsFeatureGaussian(name: ScoreName, rules: FittedRules = {}): boolean {
  if (name === 'feature_maha') return true;
  if (name === 'combined') return (rules.combined?.components ?? []).some((c) => c.score === 'feature_maha');
  if (name === 'dose' || name === 'dose_or_known')
    return (rules.dose?.densities ?? []).some((d) => d.stat === 'feature_maha');
  return false;
}

/**
 * The fitted parameters the derived scores need ('combined', 'typicality', 'dose'); a manifest's
 * scoreRule fits.
 */
export interface FittedRules {
  combined?: CombinedRule | undefined;
  typicality?: TypicalityRule | undefined;
  dose?: DoseRule | undefined;
  /** The supervised head and the tail maps of 'dose_or_known' (with `dose`). */
  labelled?: LabelledRule | undefined;
}

/** Whether computing `name` (with these rules) needs ScoreBatch.critic (a WGAN critic ensemble). */
export function needsCritics(name: ScoreName, rules: FittedRules = {}): boolean {
  if (isCriticScore(name)) return true;
  if (name === 'combined') return (rules.combined?.components ?? []).some((c) => isCriticScore(c.score));
  if (name === 'dose' || name === 'dose_or_known')
    return (rules.dose?.densities ?? []).some((d) => isCriticScore(d.stat));
  return false;
}

/** Which fitted rule a derived score needs, or undefined for a score read straight off the batch. */
export function missingRule(name: ScoreName, rules: FittedRules): string | undefined {
  if (name === 'combined' && !rules.combined) return 'combined';
  if (name === 'typicality' && !rules.typicality) return 'typicality';
  if ((name === 'dose' || name === 'dose_or_known') && !rules.dose) return 'dose';
  if (name === 'dose_or_known' && !rules.labelled) return 'labelled';
  return undefined;
}

/** The named anomaly score per record. 'combined' and 'typicality' need their fitted rule. */
export function anomalyScores(batch: ScoreBatch, name: ScoreName, rules: FittedRules = {}): Float64Array {
  if (name === 'typicality') {
    if (!rules.typicality) throw new ScoringInputError("score 'typicality' needs a fitted TypicalityRule");
    return typicalityScores(batch, rules.typicality);
  }
  if (name === 'dose') {
    if (!rules.dose) throw new ScoringInputError("score 'dose' needs a fitted DoseRule");
    return doseScores(batch, rules.dose);
  }
  if (name === 'dose_or_known') {
    // "novel OR known-fraud-like": max of the two scores' −log tail probabilities on normal records
    if (!rules.dose || !rules.labelled)
      throw new ScoringInputError("score 'dose_or_known' needs a fitted DoseRule and LabelledRule");
    return unionScores(rules.labelled, doseScores(batch, rules.dose), headLogits(batch, rules.labelled.head));
  }
  if (name !== 'combined') {
    if (!(COMPONENT_SCORES as readonly ScoreName[]).includes(name))
      throw new ScoringInputError(`unknown score '${String(name)}'`);
    return componentScore(batch, name);
  }
  const rule = rules.combined;
  if (!rule || rule.components.length === 0)
    throw new ScoringInputError("score 'combined' needs a CombinedRule with at least one component");
  const out = new Float64Array(batch.n);
  for (const c of rule.components) {
    if (!(c.std > 0))
      throw new ScoringInputError(`combined component ${c.score}: std must be > 0, got ${c.std}`);
    const s = componentScore(batch, c.score);
    if (c.transform === 'abs') {
      for (let i = 0; i < batch.n; i++) out[i] += (c.weight * Math.abs(s[i] - c.mean)) / c.std;
    } else if (c.transform === undefined) {
      for (let i = 0; i < batch.n; i++) out[i] += (c.weight * (s[i] - c.mean)) / c.std;
    } else {
      throw new ScoringInputError(
        `combined component ${c.score}: unknown transform '${String(c.transform)}'`,
      );
    }
  }
  return out;
}

/**
 * Measures mean/std (population) of each component on held-out NORMAL data. A zero std (constant
 * score) is replaced by 1 so that the component contributes only its (constant) offset.
 */
export function fitCombinedRule(
  normal: ScoreBatch,
  components: ReadonlyArray<CombinedComponentSpec> = DEFAULT_COMBINED_COMPONENTS,
): CombinedRule {
  if (normal.n < 2)
    throw new CalibrationError(`fitting the combined score needs at least 2 normal records, got ${normal.n}`);
  return {
    components: components.map(({ score, weight, transform }) => {
      const s = componentScore(normal, score);
      let mean = 0;
      for (const v of s) mean += v;
      mean /= s.length;
      let v2 = 0;
      for (const v of s) v2 += (v - mean) ** 2;
      const std = Math.sqrt(v2 / s.length);
      if (!Number.isFinite(mean) || !Number.isFinite(std))
        throw new CalibrationError(`component ${score} is not finite on the normal data`);
      return { score, weight, ...(transform ? { transform } : {}), mean, std: std > 0 ? std : 1 };
    }),
  };
}

// ------------------------------------------------------------------ typicality (Mahalanobis)

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
  const L = cholesky(cov, d);
  return {
    features,
    members: M,
    mean: Array.from(mean),
    whiten: Array.from(invertLower(L, d)),
    shrinkage: alpha,
  };
}

/** Cholesky factor (lower, row-major) of a symmetric positive-definite matrix. */
function cholesky(a: Float64Array, d: number): Float64Array {
  const L = new Float64Array(d * d);
  for (let r = 0; r < d; r++) {
    for (let c = 0; c <= r; c++) {
      let s = a[r * d + c];
      for (let k = 0; k < c; k++) s -= L[r * d + k] * L[c * d + k];
      if (r === c) {
        if (!(s > 0))
          throw new CalibrationError(
            'the covariance of the per-member scores is not positive definite; raise the shrinkage',
          );
        L[r * d + r] = Math.sqrt(s);
      } else {
        L[r * d + c] = s / L[c * d + c];
      }
    }
  }
  return L;
}

/** Inverse of a lower-triangular matrix (forward substitution, column by column). */
function invertLower(L: Float64Array, d: number): Float64Array {
  const W = new Float64Array(d * d);
  for (let c = 0; c < d; c++) {
    W[c * d + c] = 1 / L[c * d + c];
    for (let r = c + 1; r < d; r++) {
      let s = 0;
      for (let k = c; k < r; k++) s += L[r * d + k] * W[k * d + c];
      W[r * d + c] = -s / L[r * d + r];
    }
  }
  return W;
}
