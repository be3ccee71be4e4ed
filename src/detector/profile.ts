/**
 * What the detector needs to know about an input kind to build a model for it — and nothing else:
 * the default model, whether the input complexity L(x) is defined for its records, which statistics
 * the default (dose) rule reads, the z-score components of the optional 'combined' rule and the raw
 * columns a supervised head may use. Each kind (src/kinds) owns one; the detector never branches on a
 * kind's name.
 */
import type { CombinedComponentSpec } from '../engine/score-rules.js';
import type { DoseStatistic } from '../engine/dose.js';
import type { Arch, FeatureTransform, Likelihood, WrapColumn } from '../engine/spec.js';

export type TransformKind = FeatureTransform['kind'];

export interface ModelConfig {
  arch: Arch;
  likelihood: Likelihood;
  prior: 'standard' | { kind: 'maf'; layers: number; hidden: number[] };
  transform: TransformKind;
  /**
   * Periodic raw columns the minmax / standard transform wraps before scaling (raw mod period, e.g.
   * seconds → time of day); none when absent or empty. Not allowed with the `scale` transform.
   */
  wrap?: WrapColumn[];
  /**
   * The Bernoulli columns of the 'mixed' likelihood (0/1 by construction; the kind knows which). The
   * standard transform leaves them unscaled (mean 0, std 1). Required with 'mixed', refused without.
   */
  binaryColumns?: number[];
}

export interface ModelProfile {
  /** The kind's default model for records of `inputDim` raw values. */
  defaultConfig(inputDim: number): ModelConfig;
  /**
   * The input complexity L(x) (bits of a lossless image code) is defined for these records (8-bit
   * images): the scorer computes it, and scores that use it are available.
   */
  readonly inputComplexity: boolean;
  /** The statistics of the density-of-states rule (the default score). */
  readonly doseStatistics: readonly DoseStatistic[];
  /** The z-score components of the optional 'combined' rule. */
  readonly combinedComponents: ReadonlyArray<CombinedComponentSpec>;
  /** Raw columns the supervised head of 'dose_or_known' may use (of d). */
  headColumns(d: number): number[];
}

/** Every column. */
export const allColumns = (d: number): number[] => Array.from({ length: d }, (_, j) => j);

/**
 * An MLP VAE for tabular records, Bernoulli on min-max features (the paper's credit VAE family); the
 * built-in transactions kind and declared kinds replace the likelihood with a Gaussian on standardised
 * features (see their profiles).
 */
export function tabularMlpConfig(
  encoderHidden: number[],
  decoderHidden: number[],
  latentDim: number,
): ModelProfile['defaultConfig'] {
  return (inputDim) => ({
    arch: { kind: 'mlp', inputDim, encoderHidden, decoderHidden, latentDim },
    likelihood: 'bernoulli',
    prior: 'standard',
    transform: 'minmax',
  });
}
