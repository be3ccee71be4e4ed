/**
 * Per-record anomaly scores ("higher = more anomalous") from a {@link ScoreBatch}.
 *
 * 'combined' is a hook: Σ_i w_i·(s_i − mean_i)/std_i over component scores (or, for a component with
 * `transform: 'abs'`, the two-sided "typicality" term w_i·|s_i − mean_i|/std_i), with z-normalisation
 * statistics measured on held-out normal data (see {@link fitCombinedRule}) and stored in the
 * checkpoint manifest. Default components: z(neg_logp) + z(logp_var) − z(rate) — chosen on validation
 * data only (held-out training images vs blurred / pixel-shuffled / inverted proxies, see
 * benchmarks/image-ood); in these VAEs a posterior close to the prior (LOW rate) marks OoD inputs.
 */
import { CalibrationError, ScoringInputError } from './errors.js';
import type { ScoreBatch, ScoreName } from './types.js';

export type ComponentScore = Exclude<ScoreName, 'combined'>;
export const COMPONENT_SCORES: readonly ComponentScore[] = [
  'neg_waic',
  'neg_logp',
  'neg_logp_single',
  'rate',
  'logp_var',
];
export const SCORE_NAMES: readonly ScoreName[] = [...COMPONENT_SCORES, 'combined'];

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

export const DEFAULT_COMBINED_COMPONENTS: ReadonlyArray<CombinedComponentSpec> = [
  { score: 'neg_logp', weight: 1 },
  { score: 'logp_var', weight: 1 },
  { score: 'rate', weight: -1 },
];

/** One component score for every record of the batch (float64 array of length n). */
export function componentScore(batch: ScoreBatch, name: ComponentScore): Float64Array {
  const out = new Float64Array(batch.n);
  for (let i = 0; i < batch.n; i++) {
    switch (name) {
      case 'neg_waic':
        out[i] = -batch.waic[i];
        break;
      case 'neg_logp':
        out[i] = -batch.logpMean[i];
        break;
      case 'neg_logp_single':
        out[i] = -batch.logp[i * batch.members];
        break;
      case 'rate':
        out[i] = batch.rate[i];
        break;
      case 'logp_var':
        out[i] = batch.logpVar[i];
        break;
    }
  }
  return out;
}

/** The named anomaly score per record. 'combined' needs its rule. */
export function anomalyScores(batch: ScoreBatch, name: ScoreName, rule?: CombinedRule): Float64Array {
  if (name !== 'combined') {
    if (!COMPONENT_SCORES.includes(name)) throw new ScoringInputError(`unknown score '${String(name)}'`);
    return componentScore(batch, name);
  }
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
