/**
 * Dead-letter envelope: what the consumer publishes for a record it cannot score.
 *
 * Value: UTF-8 JSON {@link DeadLetterEnvelope} (original value, key and header values base64-encoded,
 * so any bytes survive). Key: "<topic>/<partition>/<offset>" of the source record — a dead letter
 * produced again after a crash (the DLQ is at-least-once; the consumer skips records already
 * accounted for in PostgreSQL, so this only happens for a batch whose DB transaction had not
 * committed) carries the same key, and readers can de-duplicate on it. Headers: the source
 * record's headers, plus `gensemble-dlq-reason` and `gensemble-dlq-source`.
 */
import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import { DecodeError, ValidationError } from '../schemas/errors.js';

export const DLQ_ENVELOPE_TYPE = 'gensemble.DeadLetter';
export const DLQ_ENVELOPE_VERSION = 1;
export const DLQ_REASON_HEADER = 'gensemble-dlq-reason';
export const DLQ_SOURCE_HEADER = 'gensemble-dlq-source';

export interface DeadLetterEnvelope {
  type: typeof DLQ_ENVELOPE_TYPE;
  version: typeof DLQ_ENVELOPE_VERSION;
  /** DecodeError / ValidationError reason, e.g. TRUNCATED, UNKNOWN_FINGERPRINT, NON_FINITE, SHAPE_MISMATCH, EMPTY_VALUE. */
  reason: string;
  /** Error class code (DECODE_ERROR, VALIDATION_ERROR). */
  errorCode: string;
  error: string;
  field: string | null;
  kind: string;
  consumerGroup: string;
  source: { topic: string; partition: number; offset: string; timestamp: string; key: string | null };
  /** Original value, base64 (null when the record had no value). */
  value: string | null;
  valueLength: number;
  /** Original headers, values base64 (arrays kept as arrays). */
  headers: Record<string, string | string[] | null>;
  deadLetteredAt: string;
}

export interface RejectedRecord {
  message: KafkaMessage;
  error: DecodeError | ValidationError;
}

function b64(v: Buffer | string | undefined | null): string | null {
  if (v === undefined || v === null) return null;
  return (typeof v === 'string' ? Buffer.from(v) : v).toString('base64');
}

function headersB64(h: IHeaders | undefined): Record<string, string | string[] | null> {
  const out: Record<string, string | string[] | null> = {};
  if (!h) return out;
  for (const [k, v] of Object.entries(h)) {
    out[k] = Array.isArray(v) ? v.map((x) => b64(x) ?? '') : b64(v);
  }
  return out;
}

export function deadLetterEnvelope(
  r: RejectedRecord,
  ctx: { topic: string; partition: number; kind: string; consumerGroup: string; now?: Date },
): DeadLetterEnvelope {
  const m = r.message;
  return {
    type: DLQ_ENVELOPE_TYPE,
    version: DLQ_ENVELOPE_VERSION,
    reason: r.error.reason,
    errorCode: r.error.code,
    error: r.error.message,
    field: r.error instanceof ValidationError ? (r.error.field ?? null) : null,
    kind: ctx.kind,
    consumerGroup: ctx.consumerGroup,
    source: {
      topic: ctx.topic,
      partition: ctx.partition,
      offset: m.offset,
      timestamp: m.timestamp,
      key: b64(m.key),
    },
    value: b64(m.value),
    valueLength: m.value?.length ?? 0,
    headers: headersB64(m.headers),
    deadLetteredAt: (ctx.now ?? new Date()).toISOString(),
  };
}

/** The Kafka message for one rejected record. */
export function deadLetterMessage(
  r: RejectedRecord,
  ctx: { topic: string; partition: number; kind: string; consumerGroup: string; now?: Date },
): Message {
  const env = deadLetterEnvelope(r, ctx);
  const headers: IHeaders = {};
  for (const [k, v] of Object.entries(r.message.headers ?? {})) if (v !== undefined) headers[k] = v;
  headers[DLQ_REASON_HEADER] = env.reason;
  headers[DLQ_SOURCE_HEADER] = `${ctx.topic}/${ctx.partition}/${r.message.offset}`;
  return { key: `${ctx.topic}/${ctx.partition}/${r.message.offset}`, value: JSON.stringify(env), headers };
}

/** Parses a dead-letter message value (for tools and tests). */
export function parseDeadLetter(value: Buffer | string): DeadLetterEnvelope {
  const env = JSON.parse(typeof value === 'string' ? value : value.toString('utf8')) as DeadLetterEnvelope;
  if (env.type !== DLQ_ENVELOPE_TYPE)
    throw new DecodeError('BAD_BODY', `not a ${DLQ_ENVELOPE_TYPE} envelope`);
  return env;
}
