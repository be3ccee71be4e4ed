import { GensembleError } from '../errors.js';

/** A stream consumer cannot start or continue because of its configuration (model, topic, schema). */
export class StreamConfigError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('STREAM_CONFIG_INVALID', message, { cause });
  }
}

/**
 * A batch could not be completed (database or dead-letter topic unavailable, consumer stopping):
 * its offsets were NOT committed, so Kafka redelivers it. `retriable` is true when the same batch
 * may succeed later.
 */
export class BatchFailedError extends GensembleError {
  readonly stage: 'hwm' | 'dlq' | 'db' | 'commit' | 'score' | 'flags';
  constructor(
    stage: BatchFailedError['stage'],
    message: string,
    opts: { retriable: boolean; cause?: unknown },
  ) {
    super('STREAM_BATCH_FAILED', message, opts);
    this.stage = stage;
  }
}

/** The consumer is shutting down: the batch in progress gives up without committing. */
export class ConsumerStoppingError extends GensembleError {
  constructor(message = 'the consumer is stopping; the batch will be redelivered') {
    super('STREAM_STOPPING', message, { retriable: true });
  }
}

/** SQLSTATE classes that retrying the same batch cannot fix. */
const FATAL_SQLSTATE_CLASSES = new Set(['22', '23', '42', '2B', '28', '3D', '3F']);

/**
 * Whether a database error may go away by itself (connection refused or reset, server restarting,
 * pool timeout, serialization failure) as opposed to one that repeats for the same batch (data
 * exception, missing table, bad credentials).
 */
export function isRetriableDbError(e: unknown): boolean {
  if (e instanceof GensembleError) return e.retriable;
  const err = e as { code?: unknown; name?: unknown; message?: unknown };
  const code = typeof err?.code === 'string' ? err.code : undefined;
  if (code !== undefined && /^[0-9A-Z]{5}$/.test(code)) return !FATAL_SQLSTATE_CLASSES.has(code.slice(0, 2));
  return true;
}

/** Short, credential-free description of an error for a log line. */
export function describeError(e: unknown): { message: string; code?: string } {
  const err = e as { message?: unknown; code?: unknown };
  const message =
    typeof err?.message === 'string'
      ? err.message.replace(/\/\/([^:/@\s]+):[^@\s]*@/g, '//$1:***@')
      : String(e);
  return typeof err?.code === 'string' ? { message, code: err.code } : { message };
}
