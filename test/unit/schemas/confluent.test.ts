/**
 * Confluent wire format. No schema registry runs here, so the library's registry client is given its
 * schema through its own cache (what it would hold after one fetch); the HTTP fetch path is only
 * tested for the "registry unreachable" case. Not tested here: register() against a real registry,
 * HTTP 404 from a real registry (a stub client stands in).
 */
import { describe, expect, it } from 'vitest';
import avro from 'avsc';
import { SchemaType } from '@kafkajs/confluent-schema-registry';
import {
  ConfluentCodec,
  DecodeError,
  RegistryUnavailableError,
  TRANSACTION_SCHEMA,
  TRANSACTION_SPEC,
  createSchemaRegistry,
  type SchemaRegistryClient,
} from '../../../src/schemas/index.js';
import { sampleTransaction } from './fixtures.js';

function registryWithCachedSchema(id: number, schema: avro.Schema) {
  const registry = createSchemaRegistry('http://127.0.0.1:1', { retries: 0 });
  registry.cache.setSchema(id, SchemaType.AVRO, avro.Type.forSchema(schema));
  return registry;
}

describe('Confluent wire format', () => {
  it('our encoding is decoded by @kafkajs/confluent-schema-registry and vice versa', async () => {
    const registry = registryWithCachedSchema(42, TRANSACTION_SCHEMA);
    const codec = new ConfluentCodec(TRANSACTION_SPEC, registry, 42);
    const tx = sampleTransaction();
    const ours = codec.encode(tx);
    expect(ours[0]).toBe(0);
    expect(ours.readInt32BE(1)).toBe(42);
    expect({ ...(await registry.decode(ours)) }).toEqual(tx);

    const theirs = await registry.encode(42, tx);
    expect(Buffer.compare(theirs, ours)).toBe(0);
    await codec.prepare([theirs]);
    expect({ ...codec.decode(theirs) }).toEqual(tx);
  });

  it('typed errors for empty, bad magic, truncated, trailing and unknown ids', async () => {
    const registry = registryWithCachedSchema(42, TRANSACTION_SCHEMA);
    const codec = new ConfluentCodec(TRANSACTION_SPEC, registry, 42);
    const good = codec.encode(sampleTransaction());
    const reason = (b: Buffer | null) => {
      try {
        codec.decode(b);
      } catch (e) {
        return e instanceof DecodeError ? e.reason : `other: ${String(e)}`;
      }
      return 'no error';
    };
    expect(reason(null)).toBe('EMPTY_VALUE');
    expect(reason(Buffer.from([1, 0, 0, 0, 42]))).toBe('BAD_MARKER');
    expect(reason(good.subarray(0, 3))).toBe('TRUNCATED');
    expect(reason(good.subarray(0, good.length - 2))).toBe('TRUNCATED');
    expect(reason(Buffer.concat([good, Buffer.from([1])]))).toBe('TRAILING_BYTES');
    const other = Buffer.from(good);
    other.writeInt32BE(43, 1);
    expect(reason(other)).toBe('UNKNOWN_SCHEMA_ID');
  });

  it('an unreachable registry is a retriable RegistryUnavailableError', async () => {
    const registry = registryWithCachedSchema(42, TRANSACTION_SCHEMA);
    const codec = new ConfluentCodec(TRANSACTION_SPEC, registry, 42);
    const other = codec.encode(sampleTransaction());
    other.writeInt32BE(77, 1);
    const err = await codec.prepare([other]).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RegistryUnavailableError);
    expect((err as RegistryUnavailableError).retriable).toBe(true);
  }, 20_000);

  it('resolves an older writer schema fetched by id; 404 ids become UNKNOWN_SCHEMA_ID', async () => {
    const v0 = JSON.parse(JSON.stringify(TRANSACTION_SCHEMA)) as { fields: { name: string }[] };
    v0.fields = v0.fields.filter((f) => f.name !== 'card_id' && f.name !== 'merchant_id');
    const v0Type = avro.Type.forSchema(v0 as unknown as avro.Schema);
    const calls: number[] = [];
    const stub: SchemaRegistryClient = {
      getSchema: async (id) => {
        calls.push(id);
        if (id === 5) return v0Type;
        throw Object.assign(new Error('Schema not found'), { status: 404 });
      },
      register: async () => ({ id: 6 }),
    };
    const codec = await ConfluentCodec.create(TRANSACTION_SPEC, stub, 'gensemble.transactions-value');
    expect(codec.schemaId).toBe(6);
    const { card_id: _c, merchant_id: _m, ...rest } = sampleTransaction();
    void _c;
    void _m;
    const body = v0Type.toBuffer(rest);
    const old = Buffer.concat([Buffer.from([0, 0, 0, 0, 5]), body]);
    const missing = Buffer.concat([Buffer.from([0, 0, 0, 0, 9]), body]);
    await codec.prepare([old, missing, old]);
    expect(calls.sort()).toEqual([5, 9]);
    const tx = codec.decode(old);
    expect(tx.card_id).toBeNull();
    expect(tx.amount).toBe(rest.amount);
    expect(() => codec.decode(missing)).toThrow(/UNKNOWN_SCHEMA_ID/);
  });
});
