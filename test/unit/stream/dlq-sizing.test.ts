/**
 * Dead letters that always fit: envelope sizes, chunking by count and bytes, truncation of an
 * oversized envelope (checked against an independent SHA-256 of the original bytes), and the
 * classification of producer errors built from kafkajs' own error classes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  KafkaJSConnectionError,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  type KafkaMessage,
} from 'kafkajs';
import { DecodeError } from '../../../src/schemas/errors.js';
import {
  TRUNCATED_PREFIX_BYTES,
  chunkMessages,
  deadLetterMessage,
  deadLetters,
  messageBytes,
  parseDeadLetter,
  type RejectedRecord,
} from '../../../src/stream/dlq.js';
import { classifyProduceError } from '../../../src/stream/dlq-sender.js';

const ctx = { topic: 'src', partition: 2, kind: 'transactions', consumerGroup: 'g' };

function rejected(
  offset: number,
  value: Buffer | null,
  headers: KafkaMessage['headers'] = {},
): RejectedRecord {
  const message = {
    key: Buffer.from(`k${offset}`),
    value,
    timestamp: '1700000000000',
    attributes: 0,
    offset: String(offset),
    headers,
  } as KafkaMessage;
  return { message, error: new DecodeError('UNKNOWN_FINGERPRINT', 'writer schema not known') };
}

describe('dead-letter sizing', () => {
  it('messageBytes is at least the bytes key, value and headers take', () => {
    const r = rejected(7, randomBytes(1000), {
      trace: Buffer.from('abc'),
      multi: [Buffer.from('x'), Buffer.from('yz')],
    });
    const m = deadLetterMessage(r, ctx);
    const raw =
      Buffer.byteLength(m.key as string) +
      Buffer.byteLength(m.value as string) +
      Object.entries(m.headers ?? {}).reduce(
        (s, [k, v]) =>
          s +
          Buffer.byteLength(k) +
          (Array.isArray(v)
            ? v.reduce((a, x) => a + Buffer.byteLength(x as Buffer), 0)
            : Buffer.byteLength(v as Buffer | string)),
        0,
      );
    expect(messageBytes(m)).toBeGreaterThanOrEqual(raw);
    expect(messageBytes(m)).toBeLessThan(raw + 200);
  });

  it('chunks respect the byte and count bounds and keep the order', () => {
    const items = Array.from({ length: 257 }, (_, i) => ({
      message: deadLetterMessage(rejected(i, randomBytes(100 + ((i * 37) % 900))), ctx),
      i,
    }));
    const maxBytes = 20_000;
    const chunks = chunkMessages(items, maxBytes, 40);
    expect(chunks.flat().map((x) => x.i)).toEqual(items.map((x) => x.i));
    for (const c of chunks) {
      expect(c.length).toBeLessThanOrEqual(40);
      expect(c.reduce((s, x) => s + messageBytes(x.message), 0)).toBeLessThanOrEqual(maxBytes);
    }
    // A single message larger than the bound gets a chunk of its own.
    const big = { message: deadLetterMessage(rejected(999, randomBytes(50_000)), ctx), i: 999 };
    const c2 = chunkMessages([items[0], big, items[1]], maxBytes, 40);
    expect(c2.map((c) => c.map((x) => x.i))).toEqual([[0], [999], [1]]);
  });

  it('an envelope over the limit is truncated: value out, length, SHA-256 and first bytes in, headers named', () => {
    const value = randomBytes(300_000);
    const headers = { big: randomBytes(20_000), small: Buffer.from('s') };
    const [small, huge] = deadLetters(
      [rejected(1, randomBytes(200)), rejected(2, value, headers)],
      ctx,
      16_000,
    );
    expect(small.truncated).toBe(false);
    expect(parseDeadLetter(small.message.value as string).value).not.toBeNull();
    expect(huge.truncated).toBe(true);
    expect(messageBytes(huge.message)).toBeLessThan(16_000);
    const env = parseDeadLetter(huge.message.value as string);
    expect(env).toMatchObject({
      value: null,
      valueTruncated: true,
      valueLength: 300_000,
      headers: {},
      headersTruncated: true,
      headerNames: ['big', 'small'],
      reason: 'UNKNOWN_FINGERPRINT',
      source: { topic: 'src', partition: 2, offset: '2' },
    });
    expect(env.valueSha256).toBe(createHash('sha256').update(value).digest('hex'));
    expect(
      Buffer.from(env.valuePrefix as string, 'base64').equals(value.subarray(0, TRUNCATED_PREFIX_BYTES)),
    ).toBe(true);
    // The reason and source stay readable as headers; the original headers are not copied.
    expect(Object.keys(huge.message.headers ?? {}).sort()).toEqual([
      'gensemble-dlq-reason',
      'gensemble-dlq-source',
    ]);
    expect(huge.message.key).toBe('src/2/2');
  });

  it('a record without a value truncates to a valid envelope too', () => {
    const m = deadLetterMessage(rejected(3, null), ctx, true);
    const env = parseDeadLetter(m.value as string);
    expect(env.valueLength).toBe(0);
    expect(env.valueSha256).toBe(createHash('sha256').update(Buffer.alloc(0)).digest('hex'));
  });
});

describe('classifyProduceError', () => {
  const protocol = (type: string, retriable: boolean) =>
    new KafkaJSProtocolError({ type, code: 1, retriable, message: type } as unknown as Error);

  it('too large: split or truncate, also when kafkajs wraps it', () => {
    expect(classifyProduceError(protocol('MESSAGE_TOO_LARGE', false))).toBe('too-large');
    expect(classifyProduceError(protocol('RECORD_LIST_TOO_LARGE', false))).toBe('too-large');
    expect(
      classifyProduceError(
        Object.assign(new KafkaJSNonRetriableError(protocol('MESSAGE_TOO_LARGE', false)), {
          cause: protocol('MESSAGE_TOO_LARGE', false),
        }),
      ),
    ).toBe('too-large');
  });

  it('never-succeeding errors are fatal', () => {
    expect(classifyProduceError(protocol('TOPIC_AUTHORIZATION_FAILED', false))).toBe('fatal');
    expect(classifyProduceError(protocol('INVALID_TOPIC_EXCEPTION', false))).toBe('fatal');
  });

  it('transient errors are retriable, also after kafkajs ran out of its own retries', () => {
    expect(classifyProduceError(new KafkaJSConnectionError('connection refused'))).toBe('retriable');
    expect(classifyProduceError(new KafkaJSRequestTimeoutError('timeout'))).toBe('retriable');
    expect(classifyProduceError(protocol('NOT_LEADER_FOR_PARTITION', true))).toBe('retriable');
    const exhausted = new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError('refused'), {
      retryCount: 5,
      retryTime: 100,
    });
    expect(exhausted.retriable).toBe(false); // kafkajs' own flag says "don't retry me"…
    expect(classifyProduceError(exhausted)).toBe('retriable'); // …but what it retried may come back
    const exhaustedFatal = new KafkaJSNumberOfRetriesExceeded(protocol('TOPIC_AUTHORIZATION_FAILED', false), {
      retryCount: 5,
      retryTime: 100,
    });
    expect(classifyProduceError(exhaustedFatal)).toBe('fatal');
  });
});
