/**
 * Unit tests of the stream pieces that need no services: dead-letter envelopes, error
 * classification, model version names, frame shapes, and the HTTP server (/metrics, /healthz,
 * /readyz, 404/405) on an ephemeral port.
 */
import { describe, expect, it } from 'vitest';
import { Counter, Registry } from 'prom-client';
import {
  deadLetterEnvelope,
  deadLetterMessage,
  parseDeadLetter,
  DLQ_REASON_HEADER,
} from '../../../src/stream/dlq.js';
import { DecodeError, ValidationError } from '../../../src/schemas/errors.js';
import { isRetriableDbError, describeError, StreamConfigError } from '../../../src/stream/errors.js';
import { versionName } from '../../../src/detector/detector.js';
import { ConfigError } from '../../../src/errors.js';
import { cleanText, featureDistance } from '../../../src/stream/consumer.js';
import { frameShapeOf } from '../../../consumers/frames.js';
import { startHttpServer } from '../../../src/http/server.js';
import type { CheckpointManifest } from '../../../src/engine/checkpoint.js';
import type { KafkaMessage } from 'kafkajs';

const msg = (over: Partial<KafkaMessage> = {}): KafkaMessage =>
  ({
    key: Buffer.from('k1'),
    value: Buffer.from([0xc3, 0x01, 0, 255]),
    timestamp: '1700000000000',
    attributes: 0,
    offset: '41',
    headers: { a: Buffer.from([0, 1, 2]), b: 'text', c: [Buffer.from('x'), Buffer.from('y')] },
    ...over,
  }) as KafkaMessage;

describe('dead-letter envelope', () => {
  it('keeps reason, error, source coordinates, original bytes and headers (base64)', () => {
    const err = new DecodeError('TRUNCATED', 'body ends early');
    const env = deadLetterEnvelope(
      { message: msg(), error: err },
      { topic: 't', partition: 3, kind: 'transactions', consumerGroup: 'g', now: new Date(0) },
    );
    expect(env).toMatchObject({
      reason: 'TRUNCATED',
      errorCode: 'DECODE_ERROR',
      field: null,
      kind: 'transactions',
      consumerGroup: 'g',
      valueLength: 4,
      deadLetteredAt: '1970-01-01T00:00:00.000Z',
    });
    expect(env.error).toBe('TRUNCATED: body ends early');
    expect(env.source).toEqual({
      topic: 't',
      partition: 3,
      offset: '41',
      timestamp: '1700000000000',
      key: Buffer.from('k1').toString('base64'),
    });
    expect(Buffer.from(env.value as string, 'base64')).toEqual(Buffer.from([0xc3, 0x01, 0, 255]));
    expect(env.headers).toEqual({
      a: 'AAEC',
      b: Buffer.from('text').toString('base64'),
      c: ['eA==', 'eQ=='],
    });
  });

  it('message: key = source coordinates, reason header added, original headers kept; parse round-trips', () => {
    const err = new ValidationError('NON_FINITE', 'V4 is NaN', 'V4');
    const m = deadLetterMessage(
      { message: msg({ value: null }), error: err },
      { topic: 'tx', partition: 0, kind: 'transactions', consumerGroup: 'g' },
    );
    expect(m.key).toBe('tx/0/41');
    expect(m.headers?.[DLQ_REASON_HEADER]).toBe('NON_FINITE');
    expect(m.headers?.b).toBe('text');
    const env = parseDeadLetter(m.value as string);
    expect(env).toMatchObject({ reason: 'NON_FINITE', field: 'V4', value: null, valueLength: 0 });
    expect(() => parseDeadLetter('{"type":"other"}')).toThrow(DecodeError);
  });
});

describe('flag payload: the input statistics', () => {
  it('carries each statistic the model has, to 7 significant digits; a non-finite one as null', () => {
    const featureMaha = Float64Array.of(12.345678901, NaN);
    const featureKnn = Float64Array.of(0, 3.14159265358979);
    expect(featureDistance({}, 0)).toBeUndefined();
    expect(featureDistance({ featureMaha }, 0)).toEqual({ feature_maha: 12.34568 });
    expect(featureDistance({ featureMaha }, 1)).toEqual({ feature_maha: null });
    expect(featureDistance({ featureKnn }, 1)).toEqual({ feature_knn: 3.141593 });
    expect(featureDistance({ featureMaha, featureKnn }, 0)).toEqual({
      feature_maha: 12.34568,
      feature_knn: 0,
    });
  });
});

describe('errors', () => {
  it('classifies database errors by SQLSTATE class and network codes', () => {
    expect(isRetriableDbError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isRetriableDbError(new Error('Knex: Timeout acquiring a connection'))).toBe(true);
    expect(isRetriableDbError(Object.assign(new Error('terminating'), { code: '57P01' }))).toBe(true); // admin shutdown
    expect(isRetriableDbError(Object.assign(new Error('deadlock'), { code: '40P01' }))).toBe(true);
    expect(isRetriableDbError(Object.assign(new Error('no table'), { code: '42P01' }))).toBe(false);
    expect(isRetriableDbError(Object.assign(new Error('bad utf8'), { code: '22021' }))).toBe(false);
    expect(isRetriableDbError(Object.assign(new Error('dup'), { code: '23505' }))).toBe(false);
    expect(isRetriableDbError(new StreamConfigError('x'))).toBe(false);
  });

  it('describeError never shows a password in a URL', () => {
    expect(describeError(new Error('connect postgres://u:s3cret@db:5432/x failed')).message).toBe(
      'connect postgres://u:***@db:5432/x failed',
    );
  });

  it('cleanText drops NUL and caps the length', () => {
    expect(cleanText('a\u0000b', 10)).toBe('ab');
    expect(cleanText('abcdef', 3)).toBe('abc');
  });
});

describe('model versions and frame shapes', () => {
  it('versionName = kind + compact createdAt + ONNX sha prefix (the one name, however loaded)', () => {
    const m = {
      kind: 'transactions',
      createdAt: '2026-11-29T13:45:07.123Z',
      onnx: { sha256: 'ab'.repeat(32) },
    } as unknown as CheckpointManifest;
    expect(versionName(m)).toBe('transactions-20261129T134507Z-abababababab');
  });

  it('frameShapeOf: conv arch shape, recorded shape, square MLP, refuses non-square without a record', () => {
    const mlp = (inputDim: number) => ({
      inputDim,
      member: {
        arch: { kind: 'mlp' as const, inputDim, encoderHidden: [], decoderHidden: [], latentDim: 2 },
        likelihood: 'bernoulli' as const,
        prior: { kind: 'standard' as const },
      },
    });
    expect(frameShapeOf(mlp(784))).toEqual({ width: 28, height: 28, channels: 1 });
    expect(() => frameShapeOf(mlp(30))).toThrow(ConfigError);
    const conv = {
      inputDim: 3072,
      member: {
        arch: { kind: 'conv' as const, height: 32, width: 32, channels: 3, base: 8, latentDim: 4 },
        likelihood: 'bernoulli' as const,
        prior: { kind: 'standard' as const },
      },
    };
    expect(frameShapeOf(conv)).toEqual({ width: 32, height: 32, channels: 3 });
    // an MLP model trained on colour or non-square frames records their shape (manifest.input)
    const frame = { width: 16, height: 12, channels: 3 };
    expect(frameShapeOf({ ...mlp(576), input: { frame } })).toEqual(frame);
    expect(() => frameShapeOf({ ...mlp(575), input: { frame } })).toThrow(
      /16x12x3 does not match its 575 inputs/,
    );
    // an unusable record falls back to the square grayscale rule
    expect(frameShapeOf({ ...mlp(784), input: { frame: { width: 0, height: 28, channels: 1 } } })).toEqual({
      width: 28,
      height: 28,
      channels: 1,
    });
  });
});

describe('HTTP server', () => {
  it('/metrics, /healthz, /readyz (503 naming the failing check, then 200), 404, 405', async () => {
    const registry = new Registry();
    const c = new Counter({ name: 'unit_things_total', help: 'things', registers: [registry] });
    c.inc(3);
    let joined = false;
    const srv = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry,
      readiness: {
        consumers: () => (joined ? true : 'not joined: transactions'),
        database: async () => true,
        broken: () => true,
      },
    });
    try {
      const m = await fetch(`${srv.url}/metrics`);
      expect(m.status).toBe(200);
      expect(m.headers.get('content-type')).toContain('text/plain');
      expect(await m.text()).toContain('unit_things_total 3');
      expect((await fetch(`${srv.url}/healthz`)).status).toBe(200);
      const r1 = await fetch(`${srv.url}/readyz`);
      expect(r1.status).toBe(503);
      expect(await r1.json()).toEqual({
        status: 'not ready',
        checks: { consumers: 'not joined: transactions', database: 'ok', broken: 'ok' },
      });
      joined = true;
      const r2 = await fetch(`${srv.url}/readyz`);
      expect(r2.status).toBe(200);
      expect((await fetch(`${srv.url}/nope`)).status).toBe(404);
      expect((await fetch(`${srv.url}/metrics`, { method: 'POST' })).status).toBe(405);
    } finally {
      await srv.close();
    }
  });

  it('a throwing or hanging readiness check makes /readyz 503, not a crash', async () => {
    const srv = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      checkTimeoutMs: 100,
      readiness: {
        db: async () => Promise.reject(new Error('ECONNREFUSED')),
        slow: () => new Promise<boolean>(() => undefined),
      },
    });
    try {
      const r = await fetch(`${srv.url}/readyz`);
      expect(r.status).toBe(503);
      expect(await r.json()).toEqual({
        status: 'not ready',
        checks: { db: 'ECONNREFUSED', slow: 'timed out after 100 ms' },
      });
    } finally {
      await srv.close();
    }
  });
});
