import { describe, expect, it } from 'vitest';
import type avro from 'avsc';
import {
  DecodeError,
  SchemaError,
  ValidationError,
  crc64Avro,
  canonicalForm,
  flagCodec,
  imageFrameCodec,
  transactionCodec,
  TRANSACTION_SCHEMA,
  transactionsToFeatures,
  framesToFeatures,
  TRANSACTION_FEATURE_NAMES,
  type FlagRecord,
} from '../../../src/schemas/index.js';
import { sampleFrame, sampleTransaction } from './fixtures.js';

function expectDecodeError(fn: () => unknown, reason: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(DecodeError);
  expect((err as DecodeError).reason).toBe(reason);
  expect((err as DecodeError).code).toBe('DECODE_ERROR');
}

function expectValidationError(fn: () => unknown, reason: string, field?: string): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ValidationError);
  expect((err as ValidationError).reason).toBe(reason);
  if (field) expect((err as ValidationError).field).toBe(field);
}

describe('Transaction single-object encoding', () => {
  const codec = transactionCodec();

  it('lays out marker, LE fingerprint and Avro body as the spec says (hand-checked bytes)', () => {
    const tx = sampleTransaction({ id: 'ab', event_time: 1, card_id: null, merchant_id: null });
    const buf = codec.encode(tx);
    expect(buf.subarray(0, 2).toString('hex')).toBe('c301');
    const fp = crc64Avro(canonicalForm(TRANSACTION_SCHEMA));
    expect(buf.readBigUInt64LE(2)).toBe(fp);
    // body: string "ab" = zigzag(2)=0x04 'a' 'b'; long 1 = zigzag 0x02; 30 doubles LE; 2 union nulls.
    const body = buf.subarray(10);
    expect([...body.subarray(0, 4)]).toEqual([0x04, 0x61, 0x62, 0x02]);
    expect(body.readDoubleLE(4)).toBe(7.5); // time_seconds
    expect(body.readDoubleLE(4 + 8)).toBe(tx.V1);
    expect(body.readDoubleLE(4 + 28 * 8)).toBe(tx.V28);
    expect(body.readDoubleLE(4 + 29 * 8)).toBe(123.45); // amount
    expect([...body.subarray(4 + 30 * 8)]).toEqual([0x00, 0x00]);
    expect(body.length).toBe(4 + 240 + 2);
  });

  it('round-trips', () => {
    const tx = sampleTransaction();
    const back = codec.decode(codec.encode(tx));
    expect({ ...back }).toEqual(tx);
  });

  it('rejects empty values', () => {
    expectDecodeError(() => codec.decode(null), 'EMPTY_VALUE');
    expectDecodeError(() => codec.decode(Buffer.alloc(0)), 'EMPTY_VALUE');
  });

  it('rejects a bad marker', () => {
    const buf = codec.encode(sampleTransaction());
    buf[1] = 0x02;
    expectDecodeError(() => codec.decode(buf), 'BAD_MARKER');
    expectDecodeError(() => codec.decode(Buffer.from('{"id":"json"}')), 'BAD_MARKER');
  });

  it('rejects truncated headers and bodies', () => {
    const buf = codec.encode(sampleTransaction());
    expectDecodeError(() => codec.decode(buf.subarray(0, 1)), 'TRUNCATED');
    expectDecodeError(() => codec.decode(buf.subarray(0, 9)), 'TRUNCATED');
    expectDecodeError(() => codec.decode(buf.subarray(0, 10)), 'TRUNCATED');
    expectDecodeError(() => codec.decode(buf.subarray(0, buf.length - 1)), 'TRUNCATED');
    expectDecodeError(() => codec.decode(buf.subarray(0, 50)), 'TRUNCATED');
  });

  it('rejects trailing bytes', () => {
    const buf = codec.encode(sampleTransaction());
    expectDecodeError(() => codec.decode(Buffer.concat([buf, Buffer.from([0])])), 'TRAILING_BYTES');
  });

  it('rejects an unknown fingerprint', () => {
    const buf = codec.encode(sampleTransaction());
    buf[5] ^= 0xff;
    expectDecodeError(() => codec.decode(buf), 'UNKNOWN_FINGERPRINT');
  });

  it('rejects a frame fingerprint on the transaction codec', () => {
    expectDecodeError(() => codec.decode(imageFrameCodec().encode(sampleFrame())), 'UNKNOWN_FINGERPRINT');
  });

  it('rejects a body with a bad union branch', () => {
    const buf = codec.encode(sampleTransaction({ card_id: null, merchant_id: null }));
    buf[buf.length - 1] = 0x08; // union index 4 does not exist
    expectDecodeError(() => codec.decode(buf), 'BAD_BODY');
  });

  it.each([
    ['V3', Number.NaN],
    ['amount', Number.POSITIVE_INFINITY],
    ['time_seconds', Number.NEGATIVE_INFINITY],
  ])('rejects non-finite %s after decoding', (field, value) => {
    const buf = codec.encode(sampleTransaction({ [field]: value }), { validate: false });
    expectValidationError(() => codec.decode(buf), 'NON_FINITE', field);
    // and refuses to encode it when validating
    expectValidationError(() => codec.encode(sampleTransaction({ [field]: value })), 'NON_FINITE', field);
  });

  it('accepts huge finite values whose sum overflows (validation fast path falls back)', () => {
    const tx = sampleTransaction({ V1: 1.7e308, V2: 1.7e308, amount: 1.7e308 });
    expect(codec.decode(codec.encode(tx)).V2).toBe(1.7e308);
  });

  it('rejects an empty id', () => {
    const buf = codec.encode(sampleTransaction({ id: '' }), { validate: false });
    expectValidationError(() => codec.decode(buf), 'BAD_ID', 'id');
  });

  it('refuses to encode a record of the wrong shape with the field path', () => {
    const bad = { ...sampleTransaction(), V7: 'x' } as unknown as ReturnType<typeof sampleTransaction>;
    expectValidationError(() => codec.encode(bad), 'NON_FINITE', 'V7');
    expectValidationError(() => codec.encode(bad, { validate: false }), 'INVALID_RECORD', 'V7');
  });
});

describe('schema evolution', () => {
  // v0: the schema before card_id/merchant_id existed, with a field that was later removed.
  const v0 = JSON.parse(JSON.stringify(TRANSACTION_SCHEMA)) as { fields: { name: string }[] };
  v0.fields = v0.fields.filter((f) => f.name !== 'card_id' && f.name !== 'merchant_id');
  v0.fields.push({ name: 'legacy_risk', type: 'float' } as { name: string });
  const v0Schema = v0 as unknown as avro.Schema;

  it('decodes records written with an older registered schema, filling defaults', async () => {
    const avsc = (await import('avsc')).default;
    const v0Type = avsc.Type.forSchema(v0Schema);
    const { card_id: _c, merchant_id: _m, ...rest } = sampleTransaction();
    void _c;
    void _m;
    const body = v0Type.toBuffer({ ...rest, legacy_risk: 0.5 });
    const framed = Buffer.concat([Buffer.from([0xc3, 0x01]), Buffer.alloc(8), body]);
    framed.writeBigUInt64LE(crc64Avro(canonicalForm(v0Schema)), 2);

    expectDecodeError(() => transactionCodec().decode(framed), 'UNKNOWN_FINGERPRINT');
    const codec = transactionCodec([v0Schema]);
    const tx = codec.decode(framed);
    expect(tx.card_id).toBeNull();
    expect(tx.merchant_id).toBeNull();
    expect(tx.V28).toBe(rest.V28);
    expect((tx as unknown as Record<string, unknown>).legacy_risk).toBeUndefined();
  });

  it('refuses an incompatible writer schema at registration', () => {
    const bad = JSON.parse(JSON.stringify(TRANSACTION_SCHEMA)) as {
      fields: { name: string; type: unknown }[];
    };
    bad.fields = bad.fields.map((f) => (f.name === 'V1' ? { name: 'V1', type: 'string' } : f));
    expect(() => transactionCodec([bad as unknown as avro.Schema])).toThrow(SchemaError);
  });
});

describe('ImageFrame codec', () => {
  const codec = imageFrameCodec();

  it('round-trips pixels and optional labels', () => {
    const f = sampleFrame({ ood_kind: 'noise-uniform', label: null });
    const back = codec.decode(codec.encode(f));
    expect(Buffer.compare(back.pixels, f.pixels)).toBe(0);
    expect(back.ood_kind).toBe('noise-uniform');
    expect(back.label).toBeNull();
    expect([back.width, back.height, back.channels]).toEqual([28, 28, 1]);
  });

  it('rejects pixels whose length is not width*height*channels', () => {
    const buf = codec.encode(sampleFrame({ pixels: Buffer.alloc(783) }), { validate: false });
    expectValidationError(() => codec.decode(buf), 'PIXELS_LENGTH', 'pixels');
  });

  it.each([
    ['width', 0],
    ['height', -3],
    ['channels', 9],
  ])('rejects %s = %d', (field, v) => {
    const buf = codec.encode(sampleFrame({ [field]: v }), { validate: false });
    expectValidationError(() => codec.decode(buf), 'BAD_DIMENSIONS', field);
  });

  it('rejects an absurd size without allocating', () => {
    const buf = codec.encode(sampleFrame({ width: 100000, height: 100000 }), { validate: false });
    expectValidationError(() => codec.decode(buf), 'BAD_DIMENSIONS');
  });
});

describe('Flag codec', () => {
  it('round-trips', () => {
    const codec = flagCodec();
    const f: FlagRecord = {
      source_topic: 't',
      source_partition: 2,
      source_offset: 123456789012,
      record_id: 'tx-1',
      kind: 'transaction',
      score_name: 'neg_waic',
      score: 812.5,
      threshold: 300,
      waic: -812.5,
      logp_mean: -800,
      logp_var: 12.5,
      rate: 33.25,
      model_version: 'v1',
      event_time: 1,
      flagged_at: 2,
    };
    expect({ ...codec.decode(codec.encode(f)) }).toEqual(f);
  });
});

describe('features', () => {
  it('transactions → 30 floats in Kaggle order Time, V1..V28, Amount', () => {
    const a = sampleTransaction();
    const b = sampleTransaction({ time_seconds: 1, amount: 2, V1: 3, V28: 4 });
    const x = transactionsToFeatures([a, b]);
    expect(TRANSACTION_FEATURE_NAMES).toHaveLength(30);
    expect(TRANSACTION_FEATURE_NAMES[0]).toBe('Time');
    expect(TRANSACTION_FEATURE_NAMES[29]).toBe('Amount');
    const expectA = [7.5];
    for (let i = 1; i <= 28; i++) expectA.push(i + 0.25 * i * (i % 2 === 0 ? -1 : 1));
    expectA.push(123.45);
    expect(x.length).toBe(60);
    for (let j = 0; j < 30; j++) expect(x[j]).toBeCloseTo(expectA[j], 5);
    expect([x[30], x[31], x[58], x[59]]).toEqual([1, 3, 4, 2]);
  });

  it('frames → 784 floats 0..255, row-major', () => {
    const f = sampleFrame();
    const x = framesToFeatures([f, f]);
    expect(x.length).toBe(2 * 784);
    for (let i = 0; i < 784; i++) {
      expect(x[i]).toBe((i * 7) % 256);
      expect(x[784 + i]).toBe((i * 7) % 256);
    }
  });

  it('frames of another shape → SHAPE_MISMATCH', () => {
    expectValidationError(() => framesToFeatures([sampleFrame({ width: 14, height: 56 })]), 'SHAPE_MISMATCH');
  });
});
