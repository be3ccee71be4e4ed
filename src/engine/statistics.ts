/**
 * The per-record statistics read straight off a {@link ScoreBatch} ("higher = more anomalous"): the
 * components of 'combined' and the statistics of 'dose'. One place, so that every rule reads them the
 * same way.
 */
import { ScoringInputError } from './errors.js';
import type { ScoreBatch, ScoreName } from './types.js';

export type ComponentScore = Exclude<ScoreName, 'combined' | 'typicality' | 'dose' | 'dose_or_known'>;

/** The statistics of a WGAN critic ensemble (present only in models that carry one). */
export const CRITIC_COMPONENTS: readonly ComponentScore[] = ['neg_critic', 'neg_critic_single', 'critic_var'];

/** Whether the score reads the critic ensemble's values. */
export function isCriticScore(name: string): boolean {
  return (CRITIC_COMPONENTS as readonly string[]).includes(name);
}

function criticScore(batch: ScoreBatch, name: ComponentScore): Float64Array {
  const c = batch.critic;
  if (!c || c.mean.length !== batch.n)
    throw new ScoringInputError(
      `score '${name}' needs a WGAN critic ensemble: this model has none (train it with --family vae+wgan)`,
    );
  const out = new Float64Array(batch.n);
  for (let i = 0; i < batch.n; i++)
    out[i] = name === 'critic_var' ? c.var[i] : name === 'neg_critic' ? -c.mean[i] : -c.critic[i * c.members];
  return out;
}

/** One component score for every record of the batch (float64 array of length n). */
export function componentScore(batch: ScoreBatch, name: ComponentScore): Float64Array {
  if (name === 'neg_logp_ic' && (!batch.complexity || batch.complexity.length !== batch.n))
    throw new ScoringInputError(
      "score 'neg_logp_ic' needs the input complexity: create the scorer with inputComplexity: true",
    );
  if (CRITIC_COMPONENTS.includes(name)) return criticScore(batch, name);
  if (name === 'feature_maha') {
    if (!batch.featureMaha || batch.featureMaha.length !== batch.n)
      throw new ScoringInputError(
        "score 'feature_maha' needs the model's input Gaussian: this model carries none (built before it existed, or with --no-feature-statistic)",
      );
    return Float64Array.from(batch.featureMaha);
  }
  if (name === 'feature_knn') {
    if (!batch.featureKnn || batch.featureKnn.length !== batch.n)
      throw new ScoringInputError(
        "score 'feature_knn' needs the model's reference set: this model carries none (built before it existed, or with --no-feature-statistic)",
      );
    return Float64Array.from(batch.featureKnn);
  }
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
      case 'neg_logp_ic':
        // −log p(x) − L(x), Serrà et al. 2020 (engine/complexity.ts)
        out[i] = -batch.logpMean[i] - (batch.complexity as Float32Array)[i];
        break;
      default:
        throw new ScoringInputError(`unknown score '${String(name)}'`);
    }
  }
  return out;
}
