export {
  auroc,
  averagePrecision,
  averagePrecisionAtPrevalence,
  fprAtTpr,
  rocCurve,
  prCurve,
  binaryCurveCounts,
  MetricError,
} from './classification.js';
export type {
  ScoreArray,
  LabelArray,
  MetricErrorCode,
  BinaryCurveCounts,
  RocPoint,
  PrPoint,
  CurveOptions,
} from './classification.js';
