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
import { typicalityScores, type TypicalityRule } from './typicality.js';
import { componentScore, isCriticScore, type ComponentScore } from './statistics.js';

export type { ComponentScore } from './statistics.js';
export { componentScore, isCriticScore } from './statistics.js';
export {
  fitTypicalityRule,
  typicalityDim,
  typicalityScores,
  type TypicalityFeatures,
  type TypicalityFitOptions,
  type TypicalityRule,
} from './typicality.js';
/** Scores read straight off a ScoreBatch (the components of 'combined'). */
export const COMPONENT_SCORES = [
  'neg_waic',
  'neg_logp',
  'neg_logp_single',
  'rate',
  'logp_var',
  'neg_logp_ic',
  'feature_maha',
  'feature_knn',
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

/** Whether computing `name` (with these rules) needs ScoreBatch.featureKnn (the reference set). */
export function needsNearestReference(name: ScoreName, rules: FittedRules = {}): boolean {
  if (name === 'feature_knn') return true;
  if (name === 'combined') return (rules.combined?.components ?? []).some((c) => c.score === 'feature_knn');
  if (name === 'dose' || name === 'dose_or_known')
    return (rules.dose?.densities ?? []).some((d) => d.stat === 'feature_knn');
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
