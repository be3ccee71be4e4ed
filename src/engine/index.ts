/** Public API of the scoring engine. */
export * from './spec.js';
export type * from './types.js';
export * from './errors.js';
export { Rng, makeEps, randomParams } from './random.js';
export { paramShapes } from './params.js';
export {
  exportEnsembleOnnx,
  validateEnsembleSpec,
  ONNX_INPUT,
  ONNX_OUTPUTS,
  type ExportOptions,
} from './onnx/export.js';
export { OnnxScorer, scoreAll, DEFAULT_CHUNK_SIZE, type ScorerOptions } from './scorer.js';
export {
  NativeScorer,
  loadNativeAddon,
  nativeUnsupported,
  nativeAddonPath,
  type NativeScorerOptions,
} from './native-scorer.js';
export {
  createEnsembleScorer,
  nativeUnavailable,
  autoEngine,
  NATIVE_AUTO_MAX_WIDTH,
  engineFromEnv,
  SCORING_ENGINES,
  type ScoringEngine,
} from './ensemble-scorer.js';
export {
  saveCheckpoint,
  loadCheckpoint,
  openScorer,
  manifestSchema,
  CHECKPOINT_FORMAT_VERSION,
  type CheckpointManifest,
  type LoadedCheckpoint,
  type SaveCheckpointOptions,
  type ModelKind,
  type JsonValue,
} from './checkpoint.js';
export { calibrateThreshold, flaggedFraction } from './calibrate.js';
export { inputComplexity } from './complexity.js';
export {
  anomalyScores,
  componentScore,
  fitCombinedRule,
  fitTypicalityRule,
  typicalityScores,
  needsComplexity,
  COMPONENT_SCORES,
  SCORE_NAMES,
  DEFAULT_COMBINED_COMPONENTS,
  FRAMES_COMBINED_COMPONENTS,
  type CombinedRule,
  type FittedRules,
  type TypicalityRule,
  type TypicalityFeatures,
  type CombinedComponent,
  type ComponentScore,
} from './score-rules.js';
export {
  fitDoseRule,
  doseScores,
  DOSE_STATISTICS,
  DOSE_STATISTICS_FRAMES,
  DOSE_STATISTICS_TABULAR,
  DOSE_TAILS,
  doseTails,
  type DoseTails,
  type DoseRule,
  type DoseDensity,
  type DoseStatistic,
} from './dose.js';
export { fitFeatureGaussian, featureMahalanobis, type FeatureGaussian } from './feature-gaussian.js';
export {
  InputDistances,
  InputStatisticsScorer,
  type InputStatistics,
  type InputDistanceValues,
} from './feature-scorer.js';
export {
  nearestDistance,
  nearestReference,
  KNN_REFERENCE_MAX,
  type NearestReference,
} from './feature-knn.js';
export {
  fitSupervisedHead,
  fitLogistic,
  headLogits,
  fitTailMap,
  tailR,
  unionScores,
  HEAD_STATISTICS,
  HEAD_FEATURE_FAMILIES,
  HEAD_DEFAULTS,
  quadraticFeatures,
  TAIL_MAX_POINTS,
  type HeadFeatureFamily,
  type SupervisedHead,
  type TailMap,
  type LabelledRule,
  type HeadFitOptions,
  type HeadRows,
} from './supervised-head.js';
