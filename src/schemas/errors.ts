import { GensembleError } from '../errors.js';

/** Why a message value could not be decoded (the dead-letter topic records this code). */
export type DecodeReason =
  | 'EMPTY_VALUE'
  | 'TRUNCATED'
  | 'BAD_MARKER'
  | 'UNKNOWN_FINGERPRINT'
  | 'UNKNOWN_SCHEMA_ID'
  | 'INCOMPATIBLE_SCHEMA'
  | 'TRAILING_BYTES'
  | 'BAD_BODY';

/** Why a decoded record was rejected before scoring. */
export type ValidationReason =
  | 'NON_FINITE'
  | 'BAD_DIMENSIONS'
  | 'PIXELS_LENGTH'
  | 'SHAPE_MISMATCH'
  | 'BAD_ID'
  | 'INVALID_RECORD'
  /** The record decoded and validated, but the model's anomaly score for it is NaN or ±Infinity. */
  | 'NON_FINITE_SCORE';

/** The bytes are not a record of the expected schema. Never retriable: the bytes will not change. */
export class DecodeError extends GensembleError {
  readonly reason: DecodeReason;
  constructor(reason: DecodeReason, message: string, cause?: unknown) {
    super('DECODE_ERROR', `${reason}: ${message}`, { cause });
    this.reason = reason;
  }
}

/** The record decoded but its content cannot be scored (shape, non-finite numbers, ...). */
export class ValidationError extends GensembleError {
  readonly reason: ValidationReason;
  /** The offending field, when one field is to blame. */
  readonly field: string | undefined;
  constructor(reason: ValidationReason, message: string, field?: string) {
    super('VALIDATION_ERROR', `${reason}: ${message}`);
    this.reason = reason;
    this.field = field;
  }
}

/** A writer schema cannot be registered (invalid, or not resolvable against the reader schema). */
export class SchemaError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('SCHEMA_ERROR', message, { cause });
  }
}

/** The schema registry could not be reached or answered with a server error; retrying may help. */
export class RegistryUnavailableError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('REGISTRY_UNAVAILABLE', message, { cause, retriable: true });
  }
}
