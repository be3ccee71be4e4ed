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
import { createHash } from 'node:crypto';
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
  /** Original value, base64 (null when the record had no value, or when `valueTruncated`). */
  value: string | null;
  valueLength: number;
  /** Original headers, values base64 (arrays kept as arrays); {} when `headersTruncated`. */
  headers: Record<string, string | string[] | null>;
  deadLetteredAt: string;
  /**
   * Set when the whole envelope would not fit the dead-letter topic's message size limit: `value`
   * is then null and the original is described by its length, SHA-256 (hex) and first bytes.
   */
  valueTruncated?: true;
  valueSha256?: string;
  /** The first {@link TRUNCATED_PREFIX_BYTES} bytes of the original value, base64. */
  valuePrefix?: string;
  /** Set when the original headers were dropped for size too (their names are kept). */
  headersTruncated?: true;
  headerNames?: string[];
}

/** How many leading bytes of an oversized value a truncated envelope keeps. */
export const TRUNCATED_PREFIX_BYTES = 256;
/** Longest error text kept in an envelope. */
const MAX_ERROR_CHARS = 2000;

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
    error:
      r.error.message.length > MAX_ERROR_CHARS ? r.error.message.slice(0, MAX_ERROR_CHARS) : r.error.message,
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

export interface DeadLetterContext {
  topic: string;
  partition: number;
  kind: string;
  consumerGroup: string;
  now?: Date;
}

/** A dead letter ready to produce, with the source record it describes (for truncation). */
export interface DeadLetter {
  readonly message: Message;
  readonly source: RejectedRecord;
  readonly ctx: DeadLetterContext;
  readonly truncated: boolean;
}

/** Bytes a Kafka record needs on the wire, roughly: key, value, headers and a per-record overhead. */
export function messageBytes(m: Message): number {
  const len = (v: Buffer | string | null | undefined): number =>
    v === null || v === undefined ? 0 : typeof v === 'string' ? Buffer.byteLength(v) : v.length;
  let n = 32 + len(m.key) + len(m.value as Buffer | string | null);
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    n += 8 + Buffer.byteLength(k);
    if (Array.isArray(v)) for (const x of v) n += 8 + len(x as Buffer | string);
    else n += len(v as Buffer | string | undefined);
  }
  return n;
}

/**
 * The Kafka message for one rejected record. With `truncate`, the original value and headers are left
 * out (length, SHA-256 and the first bytes are kept): the form used when the full envelope does not
 * fit the dead-letter topic's size limit.
 */
export function deadLetterMessage(r: RejectedRecord, ctx: DeadLetterContext, truncate = false): Message {
  const env = deadLetterEnvelope(r, ctx);
  const headers: IHeaders = {};
  if (truncate) {
    const v = r.message.value;
    env.value = null;
    env.valueTruncated = true;
    env.valueSha256 = createHash('sha256')
      .update(v ?? Buffer.alloc(0))
      .digest('hex');
    env.valuePrefix = (v ?? Buffer.alloc(0)).subarray(0, TRUNCATED_PREFIX_BYTES).toString('base64');
    const names = Object.keys(env.headers);
    if (names.length > 0) {
      env.headers = {};
      env.headersTruncated = true;
      env.headerNames = names.map((n) => (n.length > 256 ? n.slice(0, 256) : n)).slice(0, 64);
    }
  } else {
    for (const [k, v] of Object.entries(r.message.headers ?? {})) if (v !== undefined) headers[k] = v;
  }
  headers[DLQ_REASON_HEADER] = env.reason;
  headers[DLQ_SOURCE_HEADER] = `${ctx.topic}/${ctx.partition}/${r.message.offset}`;
  return { key: `${ctx.topic}/${ctx.partition}/${r.message.offset}`, value: JSON.stringify(env), headers };
}

/**
 * Dead letters for a batch's rejected records, each within `maxMessageBytes`: an envelope that would
 * be larger is replaced by its truncated form.
 */
export function deadLetters(
  rejected: readonly RejectedRecord[],
  ctx: DeadLetterContext,
  maxMessageBytes: number,
): DeadLetter[] {
  return rejected.map((r) => {
    const full = deadLetterMessage(r, ctx);
    if (messageBytes(full) <= maxMessageBytes) return { message: full, source: r, ctx, truncated: false };
    return { message: deadLetterMessage(r, ctx, true), source: r, ctx, truncated: true };
  });
}

/** Splits messages into chunks of at most `maxCount` messages and `maxBytes` bytes (a larger single message gets a chunk of its own). */
export function chunkMessages<M extends { message: Message }>(
  items: readonly M[],
  maxBytes: number,
  maxCount: number,
): M[][] {
  const out: M[][] = [];
  let cur: M[] = [];
  let bytes = 0;
  for (const it of items) {
    const b = messageBytes(it.message);
    if (cur.length > 0 && (cur.length >= maxCount || bytes + b > maxBytes)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(it);
    bytes += b;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Parses a dead-letter message value (for tools and tests). */
export function parseDeadLetter(value: Buffer | string): DeadLetterEnvelope {
  const env = JSON.parse(typeof value === 'string' ? value : value.toString('utf8')) as DeadLetterEnvelope;
  if (env.type !== DLQ_ENVELOPE_TYPE)
    throw new DecodeError('BAD_BODY', `not a ${DLQ_ENVELOPE_TYPE} envelope`);
  return env;
}
