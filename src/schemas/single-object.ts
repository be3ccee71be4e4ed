/**
 * Avro single-object encoding (Avro spec, "Single-object encoding"):
 *   C3 01 | 8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's canonical form | body
 * Any Avro implementation can produce to gensemble this way without a schema registry. The
 * `WriterSchemaStore` maps fingerprints to writer types, so records written with an older (or newer,
 * compatible) schema resolve against the current reader schema.
 */
import avro from 'avsc';
import { DecodeError, SchemaError } from './errors.js';
import { crc64Avro, canonicalForm } from './fingerprint.js';

export const SINGLE_OBJECT_MARKER = Buffer.from([0xc3, 0x01]);
export const SINGLE_OBJECT_HEADER_LENGTH = 10;

/** A writer schema known to a store, with the resolver that reads its records as the reader type. */
export interface WriterEntry {
  readonly fingerprint: bigint;
  readonly canonicalForm: string;
  readonly type: avro.Type;
  /** undefined when the writer schema is the reader schema (no resolution needed). */
  readonly resolver: avro.Resolver | undefined;
}

/** Fingerprint → writer type, all resolving to one reader type. */
export class WriterSchemaStore {
  readonly readerType: avro.Type;
  readonly readerFingerprint: bigint;
  private readonly entries = new Map<bigint, WriterEntry>();

  constructor(readerSchema: avro.Schema, olderWriterSchemas: readonly avro.Schema[] = []) {
    this.readerType = WriterSchemaStore.parse(readerSchema);
    const own = this.addType(this.readerType, undefined);
    this.readerFingerprint = own.fingerprint;
    for (const s of olderWriterSchemas) this.register(s);
  }

  private static parse(schema: avro.Schema): avro.Type {
    try {
      return avro.Type.forSchema(schema);
    } catch (e) {
      throw new SchemaError(`invalid Avro schema: ${(e as Error).message}`, e);
    }
  }

  private addType(type: avro.Type, resolver: avro.Resolver | undefined): WriterEntry {
    const pcf = canonicalForm(type);
    const entry: WriterEntry = { fingerprint: crc64Avro(pcf), canonicalForm: pcf, type, resolver };
    this.entries.set(entry.fingerprint, entry);
    return entry;
  }

  /** Registers a writer schema; throws SchemaError when it cannot be read as the reader schema. */
  register(writerSchema: avro.Schema): WriterEntry {
    const type = WriterSchemaStore.parse(writerSchema);
    const pcf = canonicalForm(type);
    const existing = this.entries.get(crc64Avro(pcf));
    if (existing) return existing;
    let resolver: avro.Resolver;
    try {
      resolver = this.readerType.createResolver(type);
    } catch (e) {
      throw new SchemaError(
        `writer schema ${type.name ?? type.typeName} cannot be resolved to reader schema ` +
          `${this.readerType.name ?? this.readerType.typeName}: ${(e as Error).message}`,
        e,
      );
    }
    return this.addType(type, resolver);
  }

  get(fingerprint: bigint): WriterEntry | undefined {
    return this.entries.get(fingerprint);
  }

  fingerprints(): bigint[] {
    return [...this.entries.keys()];
  }
}

/** Frames an Avro body as a single object (header + body). */
export function frameSingleObject(fingerprint: bigint, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(SINGLE_OBJECT_HEADER_LENGTH + body.length);
  SINGLE_OBJECT_MARKER.copy(out, 0);
  out.writeBigUInt64LE(fingerprint, 2);
  body.copy(out, SINGLE_OBJECT_HEADER_LENGTH);
  return out;
}

/** Reads the header: throws DecodeError EMPTY_VALUE / TRUNCATED / BAD_MARKER. */
export function readSingleObjectHeader(buf: Buffer | null | undefined): bigint {
  if (buf === null || buf === undefined || buf.length === 0) {
    throw new DecodeError('EMPTY_VALUE', 'message has no value');
  }
  if (buf.length >= 2 && !buf.subarray(0, 2).equals(SINGLE_OBJECT_MARKER)) {
    throw new DecodeError(
      'BAD_MARKER',
      `expected single-object marker c3 01, got ${buf.subarray(0, 2).toString('hex')}`,
    );
  }
  if (buf.length < SINGLE_OBJECT_HEADER_LENGTH) {
    throw new DecodeError('TRUNCATED', `single-object header needs 10 bytes, got ${buf.length}`);
  }
  return buf.readBigUInt64LE(2);
}

/**
 * Decodes an Avro body that starts at `pos` and must end exactly at the end of `buf`.
 * Throws DecodeError TRUNCATED / TRAILING_BYTES / BAD_BODY.
 */
export function decodeAvroBody(
  readerType: avro.Type,
  buf: Buffer,
  pos: number,
  resolver: avro.Resolver | undefined,
): unknown {
  let res: { value: unknown; offset: number };
  try {
    res = readerType.decode(buf, pos, resolver);
  } catch (e) {
    throw new DecodeError('BAD_BODY', `Avro body does not decode: ${(e as Error).message}`, e);
  }
  if (res.offset < 0) {
    throw new DecodeError('TRUNCATED', `Avro body ends early (${buf.length - pos} body bytes)`);
  }
  if (res.offset !== buf.length) {
    throw new DecodeError(
      'TRAILING_BYTES',
      `${buf.length - res.offset} bytes left after the Avro body (${res.offset - pos} used)`,
    );
  }
  return res.value;
}

/** Decodes a single-object encoded value with the store's reader type. */
export function decodeSingleObject(store: WriterSchemaStore, buf: Buffer | null | undefined): unknown {
  const fp = readSingleObjectHeader(buf);
  const entry = store.get(fp);
  if (!entry) {
    throw new DecodeError(
      'UNKNOWN_FINGERPRINT',
      `writer schema fingerprint ${fp.toString(16).padStart(16, '0')} is not known ` +
        `(reader ${store.readerType.name ?? ''} ${store.readerFingerprint.toString(16).padStart(16, '0')})`,
    );
  }
  return decodeAvroBody(store.readerType, buf as Buffer, SINGLE_OBJECT_HEADER_LENGTH, entry.resolver);
}
