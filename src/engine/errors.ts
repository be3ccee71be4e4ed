/** Typed errors of the scoring engine (all extend the project's {@link GensembleError}). */
import { GensembleError } from '../errors.js';

/** Bad arguments to a scorer (wrong input length, non-positive n, ...). */
export class ScoringInputError extends GensembleError {
  constructor(message: string) {
    super('SCORING_INPUT_INVALID', message);
  }
}

/** An ensemble spec that cannot be exported (missing parameter, wrong shape, bad prior). */
export class ModelSpecError extends GensembleError {
  constructor(message: string) {
    super('MODEL_SPEC_INVALID', message);
  }
}

/** A checkpoint directory that is missing, corrupted or does not match itself. */
export class CheckpointError extends GensembleError {
  readonly path: string;
  constructor(path: string, message: string, cause?: unknown) {
    super('CHECKPOINT_INVALID', `checkpoint ${path}: ${message}`, { cause });
    this.path = path;
  }
}

/** Calibration data that cannot give a threshold (empty, NaN, fpr out of range). */
export class CalibrationError extends GensembleError {
  constructor(message: string) {
    super('CALIBRATION_INVALID', message);
  }
}

/** onnxruntime failed to create a session or run the graph. */
export class ScorerRuntimeError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('SCORER_RUNTIME', message, { cause });
  }
}
