/**
 * Confluent wire format: magic byte 0 | 4-byte big-endian schema id | Avro body. Used instead of
 * single-object encoding when SCHEMA_REGISTRY_URL is set. Schemas are fetched (and cached) through
 * @kafkajs/confluent-schema-registry; framing, resolution against our reader schema and the typed
 * errors are ours, so both wire formats fail the same way.
 */
import avro from 'avsc';
import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { DecodeError, RegistryUnavailableError, SchemaError } from './errors.js';
import { decodeAvroBody } from './single-object.js';
import {
  checkDecoded,
  encodeBody,
  type EncodeOptions,
  type RecordCodec,
  type RecordSpec,
  type SingleObjectCodec,
  type WireFormat,
} from './codec.js';

export const CONFLUENT_MAGIC_BYTE = 0;
export const CONFLUENT_HEADER_LENGTH = 5;

/** The part of SchemaRegistry this codec uses (a real SchemaRegistry fits). */
export interface SchemaRegistryClient {
  getSchema(registryId: number): Promise<unknown>;
  register(schema: { type: SchemaType; schema: string }, opts: { subject: string }): Promise<{ id: number }>;
}

export function createSchemaRegistry(url: string, opts: { retries?: number } = {}): SchemaRegistry {
  return new SchemaRegistry({ host: url, retry: { retries: opts.retries ?? 3 } });
}

export function frameConfluent(schemaId: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(CONFLUENT_HEADER_LENGTH + body.length);
  out[0] = CONFLUENT_MAGIC_BYTE;
  out.writeInt32BE(schemaId, 1);
  body.copy(out, CONFLUENT_HEADER_LENGTH);
  return out;
}

/** Reads the header: throws DecodeError EMPTY_VALUE / BAD_MARKER / TRUNCATED; returns the id. */
export function readConfluentHeader(buf: Buffer | null | undefined): number {
  if (buf === null || buf === undefined || buf.length === 0) {
    throw new DecodeError('EMPTY_VALUE', 'message has no value');
  }
  if (buf[0] !== CONFLUENT_MAGIC_BYTE) {
    throw new DecodeError(
      'BAD_MARKER',
      `expected Confluent magic byte 00, got ${buf.subarray(0, 1).toString('hex')}`,
    );
  }
  if (buf.length < CONFLUENT_HEADER_LENGTH) {
    throw new DecodeError('TRUNCATED', `Confluent header needs 5 bytes, got ${buf.length}`);
  }
  return buf.readInt32BE(1);
}

interface WriterById {
  type: avro.Type;
  resolver: avro.Resolver | undefined;
}

function httpStatus(e: unknown): number | undefined {
  const s = (e as { status?: unknown } | null)?.status;
  return typeof s === 'number' ? s : undefined;
}

export class ConfluentCodec<T> implements RecordCodec<T> {
  readonly wireFormat = 'confluent' as const;
  readonly readerType: avro.Type;
  private readonly writers = new Map<number, WriterById>();

  /** Registers the reader schema under `subject` and returns a codec that writes with its id. */
  static async create<T>(
    spec: RecordSpec<T>,
    registry: SchemaRegistryClient,
    subject: string,
  ): Promise<ConfluentCodec<T>> {
    let id: number;
    try {
      ({ id } = await registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(spec.schema) },
        { subject },
      ));
    } catch (e) {
      const status = httpStatus(e);
      if (status !== undefined && status >= 400 && status < 500) {
        throw new SchemaError(
          `schema registry refused the schema for subject ${subject}: ${(e as Error).message}`,
          e,
        );
      }
      throw new RegistryUnavailableError(`schema registry: ${(e as Error).message}`, e);
    }
    return new ConfluentCodec(spec, registry, id);
  }

  /**
   * A codec that only decodes (a consumer's): every writer schema is fetched from the registry by
   * the id in the record, and nothing is registered. `encode` throws.
   */
  static forDecoding<T>(spec: RecordSpec<T>, registry: SchemaRegistryClient): ConfluentCodec<T> {
    return new ConfluentCodec(spec, registry, null);
  }

  constructor(
    private readonly spec: RecordSpec<T>,
    private readonly registry: SchemaRegistryClient,
    /** Registry id of the reader schema, written into every encoded record (null: decode only). */
    readonly schemaId: number | null,
  ) {
    this.readerType = avro.Type.forSchema(spec.schema);
    if (schemaId !== null) this.writers.set(schemaId, { type: this.readerType, resolver: undefined });
  }

  get name(): string {
    return this.readerType.name ?? this.readerType.typeName;
  }

  encode(record: T, opts?: EncodeOptions): Buffer {
    if (this.schemaId === null)
      throw new SchemaError('this Confluent codec only decodes: no schema id registered to write with');
    return frameConfluent(this.schemaId, encodeBody(this.readerType, this.spec, record, opts));
  }

  /**
   * Fetches unknown schema ids. Ids the registry does not know (HTTP 404) are left out, so their
   * records fail with UNKNOWN_SCHEMA_ID; an unreachable registry throws RegistryUnavailableError
   * (retriable: the batch should be retried, not dead-lettered).
   */
  async prepare(bufs: readonly (Buffer | null | undefined)[]): Promise<void> {
    const missing = new Set<number>();
    for (const b of bufs) {
      if (!b || b.length < CONFLUENT_HEADER_LENGTH || b[0] !== CONFLUENT_MAGIC_BYTE) continue;
      const id = b.readInt32BE(1);
      if (!this.writers.has(id)) missing.add(id);
    }
    for (const id of missing) {
      let fetched: unknown;
      try {
        fetched = await this.registry.getSchema(id);
      } catch (e) {
        const status = httpStatus(e);
        if (status === 404) continue;
        throw new RegistryUnavailableError(
          `schema registry: fetching schema ${id}: ${(e as Error).message}`,
          e,
        );
      }
      if (!avro.Type.isType(fetched)) continue; // not an Avro schema: records fail UNKNOWN_SCHEMA_ID
      // Re-parse through our avsc with defaults kept, then resolve against the reader schema.
      const writer = avro.Type.forSchema((fetched as avro.Type).schema({ exportAttrs: true }));
      try {
        this.writers.set(id, { type: writer, resolver: this.readerType.createResolver(writer) });
      } catch {
        // Incompatible writer schema: leave it out; its records fail with UNKNOWN_SCHEMA_ID.
      }
    }
  }

  decode(buf: Buffer | null | undefined): T {
    const id = readConfluentHeader(buf);
    const w = this.writers.get(id);
    if (!w) {
      throw new DecodeError('UNKNOWN_SCHEMA_ID', `schema id ${id} is unknown, incompatible or not prepared`);
    }
    return checkDecoded(
      this.spec,
      decodeAvroBody(this.readerType, buf as Buffer, CONFLUENT_HEADER_LENGTH, w.resolver),
    );
  }
}

/**
 * What a consumer decodes with: either framing, told apart by the first byte — c3 (single-object:
 * c3 01 + CRC-64-AVRO fingerprint) or 00 (Confluent: 00 + 4-byte schema id). The single-object side
 * keeps its options (writer schemas looked up in PostgreSQL by fingerprint); the Confluent side
 * exists only with a schema registry (SCHEMA_REGISTRY_URL), else a Confluent-framed record is
 * rejected with UNKNOWN_SCHEMA_ID saying so. Encodes with the Confluent format when it has a codec
 * that can write (a schema id), else single-object.
 */
export class FramingCodec<T> implements RecordCodec<T> {
  constructor(
    readonly singleObject: SingleObjectCodec<T>,
    readonly confluent: ConfluentCodec<T> | null = null,
  ) {}

  get wireFormat(): WireFormat {
    return this.confluent !== null && this.confluent.schemaId !== null ? 'confluent' : 'single-object';
  }

  get name(): string {
    return this.singleObject.name;
  }

  encode(record: T, opts?: EncodeOptions): Buffer {
    return this.wireFormat === 'confluent'
      ? (this.confluent as ConfluentCodec<T>).encode(record, opts)
      : this.singleObject.encode(record, opts);
  }

  decode(buf: Buffer | null | undefined): T {
    if (buf && buf.length > 0 && buf[0] === CONFLUENT_MAGIC_BYTE) {
      if (this.confluent === null)
        throw new DecodeError(
          'UNKNOWN_SCHEMA_ID',
          'the record is in the Confluent wire format (magic byte 00) but no schema registry is configured (SCHEMA_REGISTRY_URL)',
        );
      return this.confluent.decode(buf);
    }
    return this.singleObject.decode(buf);
  }

  /** Each side prepares the records of its own framing (they skip the others). */
  async prepare(bufs: readonly (Buffer | null | undefined)[]): Promise<void> {
    await this.singleObject.prepare(bufs);
    if (this.confluent !== null) await this.confluent.prepare(bufs);
  }
}
