/**
 * Writer schemas found at run time: the single-object codec asks its lookup once per batch for the
 * fingerprints it does not know, remembers misses for a while, and refuses a looked-up schema that
 * does not resolve against the reader schema. Encoded bytes come from avsc directly with the writer
 * schema (not from the codec under test).
 */
import { describe, expect, it } from 'vitest';
import avro from 'avsc';
import { transactionCodec } from '../../../src/schemas/codec.js';
import { DecodeError, SchemaError } from '../../../src/schemas/errors.js';
import { TRANSACTION_SCHEMA } from '../../../src/schemas/schemas.js';
import { frameSingleObject } from '../../../src/schemas/single-object.js';
import { checkWriterSchema, fingerprintOf, kindForSchemaName } from '../../../src/schemas/writer-schemas.js';
import { sampleTransaction } from './fixtures.js';

const base = TRANSACTION_SCHEMA as { fields: { name: string; type: unknown }[] } & Record<string, unknown>;
const V2 = {
  ...base,
  fields: [...base.fields, { name: 'channel', type: 'string', default: 'web' }],
} as avro.Schema;
/** amount as a string: cannot be read as the reader's double. */
const BAD = {
  ...base,
  fields: base.fields.map((f) => (f.name === 'amount' ? { name: 'amount', type: 'string' } : f)),
} as avro.Schema;

function encodeWith(schema: avro.Schema, rec: Record<string, unknown>): Buffer {
  return frameSingleObject(fingerprintOf(schema).fingerprint, avro.Type.forSchema(schema).toBuffer(rec));
}

describe('writer schema lookup', () => {
  it('unknown fingerprints are looked up once per batch, then decode', async () => {
    const asked: bigint[][] = [];
    const codec = transactionCodec([], {
      lookup: (fps) => {
        asked.push([...fps]);
        return Promise.resolve(fps.includes(fingerprintOf(V2).fingerprint) ? [V2] : []);
      },
    });
    const rec = sampleTransaction({ id: 'v2-1' });
    const buf = encodeWith(V2, { ...rec, channel: 'app' });
    expect(() => codec.decode(buf)).toThrow(DecodeError);
    await codec.prepare([buf, buf, codec.encode(rec), null, Buffer.from('junk')]);
    expect(asked).toEqual([[fingerprintOf(V2).fingerprint]]);
    expect({ ...codec.decode(buf) }).toEqual(rec);
    await codec.prepare([buf]);
    expect(asked.length).toBe(1); // known now: not asked again
  });

  it('a miss is remembered for lookupMissTtlMs, then asked again', async () => {
    let now = 1000;
    let calls = 0;
    const codec = transactionCodec([], {
      lookupMissTtlMs: 500,
      now: () => now,
      lookup: () => {
        calls++;
        return Promise.resolve([]);
      },
    });
    const buf = encodeWith(V2, { ...sampleTransaction(), channel: 'x' });
    await codec.prepare([buf]);
    now += 499;
    await codec.prepare([buf]);
    expect(calls).toBe(1);
    now += 1;
    await codec.prepare([buf]);
    expect(calls).toBe(2);
    try {
      codec.decode(buf);
      expect.fail('decoded');
    } catch (e) {
      expect((e as DecodeError).reason).toBe('UNKNOWN_FINGERPRINT');
    }
  });

  it('a looked-up schema that does not resolve dead-letters its records as INCOMPATIBLE_SCHEMA', async () => {
    const seen: { ok: boolean }[] = [];
    const codec = transactionCodec([], {
      lookup: () => Promise.resolve([BAD]),
      onLookup: (e) => seen.push(e),
    });
    const buf = encodeWith(BAD, { ...sampleTransaction(), amount: '12.5' });
    await codec.prepare([buf]);
    expect(seen).toMatchObject([{ ok: false }]);
    try {
      codec.decode(buf);
      expect.fail('decoded');
    } catch (e) {
      expect((e as DecodeError).reason).toBe('INCOMPATIBLE_SCHEMA');
    }
  });

  it('a failing lookup propagates (the batch is retried, not dead-lettered)', async () => {
    const codec = transactionCodec([], { lookup: () => Promise.reject(new Error('db down')) });
    await expect(codec.prepare([encodeWith(V2, { ...sampleTransaction(), channel: 'x' })])).rejects.toThrow(
      'db down',
    );
  });

  it('checkWriterSchema accepts compatible versions, names the problem otherwise; kinds by full name', () => {
    expect(checkWriterSchema('transactions', V2).hex).toMatch(/^[0-9a-f]{16}$/);
    expect(() => checkWriterSchema('transactions', BAD)).toThrow(SchemaError);
    expect(() => checkWriterSchema('frames', V2)).toThrow(SchemaError);
    expect(kindForSchemaName('gensemble.Transaction')).toBe('transactions');
    expect(kindForSchemaName('gensemble.ImageFrame')).toBe('frames');
    expect(kindForSchemaName('other.Thing')).toBeUndefined();
    const fp = fingerprintOf(V2);
    expect(fp.header.subarray(0, 2).toString('hex')).toBe('c301');
    expect(fp.header.readBigUInt64LE(2)).toBe(fp.fingerprint);
    expect(BigInt(fp.signed)).toBe(BigInt.asIntN(64, fp.fingerprint));
  });
});
