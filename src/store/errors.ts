import { GensembleError } from '../errors.js';

/** A query filter or write input failed validation; nothing was sent to the database. */
export class StoreInputError extends GensembleError {
  /** The offending input field (e.g. "minScore"). */
  readonly field: string | undefined;
  constructor(message: string, field?: string) {
    super('STORE_INPUT_INVALID', message);
    this.field = field;
  }
}

/** A model version that does not exist (show/activate). */
export class ModelNotFoundError extends GensembleError {
  constructor(version: string) {
    super('MODEL_NOT_FOUND', `model version ${JSON.stringify(version)} is not registered`);
  }
}

/** Registering a model version that already exists. */
export class ModelExistsError extends GensembleError {
  constructor(version: string, cause?: unknown) {
    super('MODEL_EXISTS', `model version ${JSON.stringify(version)} is already registered`, { cause });
  }
}
