/**
 * Public engine API types shared by the stream, the CLI and the benchmarks.
 * The engine knows nothing of Kafka or PostgreSQL.
 */

/** Scores of one batch of n records from an M-member ensemble. All arrays are float32. */
export interface ScoreBatch {
  n: number;
  members: number;
  /** Each member's IWAE-K log p(x), row-major [n, M]. */
  logp: Float32Array;
  /** Each member's rate (MC KL(q(z|x) || p(z))), row-major [n, M]. */
  memberRate: Float32Array;
  /**
   * Each member's K-sample ELBO estimate, mean_k log w_k with the same K posterior samples as `logp`
   * (so memberElbo ≤ logp), row-major [n, M]. This is the per-record "elbo" that the paper's authors'
   * code scores with (hschoi1/rich_latent `tools/analysis.py: fetch` averages `elbo_local` over its
   * n_samples). Set by OnnxScorer when created with `memberElbo: true` (ScorerOptions).
   */
  memberElbo?: Float32Array;
  /** Mean over members of log p. [n] */
  logpMean: Float32Array;
  /** Population variance over members of log p. [n] */
  logpVar: Float32Array;
  /** logpMean - logpVar. [n] */
  waic: Float32Array;
  /** Mean over members of rate. [n] */
  rate: Float32Array;
  /**
   * Input complexity L(x) in nats [n] (see engine/complexity.ts), present when the scorer was created
   * with `inputComplexity: true`; needed by the 'neg_logp_ic' score.
   */
  complexity?: Float32Array;
  /**
   * The raw records this batch scored, row-major [n, inputDim] (the caller's array, not a copy), set
   * by OnnxScorer; needed by the supervised head of 'dose_or_known'.
   */
  input?: Float32Array;
  /**
   * Each record's squared Mahalanobis distance under the model's input Gaussian [n]
   * (engine/feature-gaussian.ts), present when the model carries one (InputStatisticsScorer sets it).
   */
  featureMaha?: Float64Array;
  /**
   * Each record's squared distance to the nearest record of the model's reference set [n]
   * (engine/feature-knn.ts), present when the model carries one (InputStatisticsScorer sets it).
   */
  featureKnn?: Float64Array;
  /**
   * The WGAN critic ensemble's values, present when the model carries one (family 'vae+wgan'; see
   * engine/critic-scorer.ts): each critic's value [n, C], their mean and population variance [n].
   * C may differ from `members` (the VAE's).
   */
  critic?: CriticStatistics;
}

/** Critic values of one batch (structurally the CriticScorer's batch). */
export interface CriticStatistics {
  n: number;
  members: number;
  /** Each critic's value, row-major [n, members]. */
  critic: Float32Array;
  mean: Float32Array;
  var: Float32Array;
}

/** Names of the per-record anomaly scores ("higher = more anomalous"). */
export type ScoreName =
  | 'neg_waic'
  | 'neg_logp'
  | 'neg_logp_single'
  | 'rate'
  | 'logp_var'
  | 'neg_logp_ic'
  | 'combined'
  | 'typicality'
  | 'dose'
  | 'dose_or_known'
  /**
   * The record's squared Mahalanobis distance under the model's input Gaussian
   * (engine/feature-gaussian.ts); needs a model that carries one.
   */
  | 'feature_maha'
  /**
   * The record's squared distance to the nearest record of the model's reference set
   * (engine/feature-knn.ts); needs a model that carries one.
   */
  | 'feature_knn'
  /** −mean of the critics (a WGAN critic is higher on real data); needs a critic ensemble. */
  | 'neg_critic'
  /** −D(x) of critic 0: the paper's single fine-tuned discriminator column. */
  | 'neg_critic_single'
  /** Var over the critics of D(x): the paper's ensemble variance of discriminators. */
  | 'critic_var';

/** Scores a batch of RAW records (the feature transform is part of the model). */
export interface Scorer {
  /** Raw values per record. */
  readonly inputDim: number;
  readonly members: number;
  /** Which onnxruntime execution provider is scoring ("cpu", "cuda"). */
  readonly executionProvider: string;
  /** `x` holds n records of inputDim float32 values each, row-major. */
  scoreBatch(x: Float32Array, n: number): Promise<ScoreBatch>;
  close(): Promise<void>;
}

/** A threshold on one anomaly score, calibrated on held-out normal data. */
export interface Threshold {
  score: ScoreName;
  /** A record is flagged when its score is > value. */
  value: number;
  /** The false-positive rate on the calibration data this value was chosen for. */
  targetFpr: number;
  /** Number of held-out normal records it was calibrated on. */
  calibrationSize: number;
}
