/**
 * One error hierarchy for gensemble (in the spirit of kafkajs' src/errors.js): every error carries a
 * machine-readable `code`, a `retriable` flag that retry logic branches on, and an optional `cause`.
 */
export class GensembleError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  constructor(code: string, message: string, opts: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = opts.retriable ?? false;
  }
}

/** Bad configuration: an environment variable or CLI option that does not validate. */
export class ConfigError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('CONFIG_INVALID', message, { cause });
  }
}

/** A command line that names something that does not exist (an unknown kind): exit code 2, like a bad option. */
export class UsageError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('USAGE_INVALID', message, { cause });
  }
}

/** A user-facing input problem (bad file, wrong shape, unreadable data). */
export class InputError extends GensembleError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { cause });
  }
}
