/**
 * Writer schemas registered at run time: which reader schema each input kind decodes with, and the
 * check that a writer schema can be read as it (Avro schema resolution), done before it is stored and
 * again when a consumer loads it.
 */
import { readFile } from 'node:fs/promises';
import type avro from 'avsc';
import { SchemaError } from './errors.js';
import { canonicalForm, crc64Avro, toSignedInt64 } from './fingerprint.js';
import { IMAGE_FRAME_SCHEMA, TRANSACTION_SCHEMA } from './schemas.js';
import { SINGLE_OBJECT_MARKER, WriterSchemaStore } from './single-object.js';

/** The reader schema of each input kind that arrives as Avro single-object records. */
export const READER_SCHEMAS = {
  transactions: TRANSACTION_SCHEMA,
  frames: IMAGE_FRAME_SCHEMA,
} as const satisfies Record<string, avro.Schema>;
export type ReaderKind = keyof typeof READER_SCHEMAS;

export interface SchemaFingerprint {
  canonicalForm: string;
  /** Unsigned 64-bit CRC-64-AVRO. */
  fingerprint: bigint;
  /** 16 hex digits, unsigned big-endian (how gensemble prints and stores it). */
  hex: string;
  /** Signed 64-bit decimal: what Java's SchemaNormalization.parsingFingerprint64 returns. */
  signed: string;
  /** The 10 bytes that start every single-object record in this schema (marker + little-endian fingerprint). */
  header: Buffer;
  /** Full name of a named schema (record, enum, fixed), else null. */
  name: string | null;
}

export function fingerprintOf(schema: avro.Schema): SchemaFingerprint {
  let pcf: string;
  try {
    pcf = canonicalForm(schema);
  } catch (e) {
    throw new SchemaError(`invalid Avro schema: ${(e as Error).message}`, e);
  }
  const fp = crc64Avro(pcf);
  const header = Buffer.alloc(10);
  SINGLE_OBJECT_MARKER.copy(header, 0);
  header.writeBigUInt64LE(fp, 2);
  const parsed = JSON.parse(pcf) as unknown;
  const name =
    typeof parsed === 'object' && parsed !== null && typeof (parsed as { name?: unknown }).name === 'string'
      ? (parsed as { name: string }).name
      : null;
  return {
    canonicalForm: pcf,
    fingerprint: fp,
    hex: fp.toString(16).padStart(16, '0'),
    signed: toSignedInt64(fp).toString(),
    header,
    name,
  };
}

/** Reads and parses an .avsc file; one clear SchemaError for a missing file or bad JSON. */
export async function readSchemaFile(path: string): Promise<avro.Schema> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new SchemaError(
      `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      e,
    );
  }
  try {
    return JSON.parse(text) as avro.Schema;
  } catch (e) {
    throw new SchemaError(`${path} is not JSON: ${(e as Error).message}`, e);
  }
}

/** The kind whose reader schema has the same full name as this writer schema, if any. */
export function kindForSchemaName(name: string | null): ReaderKind | undefined {
  if (name === null) return undefined;
  for (const [kind, reader] of Object.entries(READER_SCHEMAS) as [ReaderKind, avro.Schema][]) {
    if (fingerprintOf(reader).name === name) return kind;
  }
  return undefined;
}

/**
 * Checks that records written with `schema` can be read as `kind`'s reader schema (throws SchemaError
 * saying why not) and returns its fingerprint.
 */
export function checkWriterSchema(kind: ReaderKind, schema: avro.Schema): SchemaFingerprint {
  const fp = fingerprintOf(schema);
  new WriterSchemaStore(READER_SCHEMAS[kind]).register(schema);
  return fp;
}
