/**
 * Record codecs: bytes ⇄ validated records, in Avro single-object encoding (default) or the Confluent
 * wire format (when a schema registry is configured). Every failure is a typed DecodeError or
 * ValidationError whose `reason` the dead-letter topic records.
 */
import avro from 'avsc';
import { ValidationError } from './errors.js';
import {
  FLAG_SCHEMA,
  IMAGE_FRAME_SCHEMA,
  TRANSACTION_SCHEMA,
  type FlagRecord,
  type ImageFrame,
  type Transaction,
} from './schemas.js';
import { WriterSchemaStore, decodeSingleObject, frameSingleObject } from './single-object.js';
import { validateFlag, validateImageFrame, validateTransaction } from './validate.js';

export type WireFormat = 'single-object' | 'confluent';

export interface EncodeOptions {
  /** Run the content checks before encoding (default true). Off only to make poison test input. */
  validate?: boolean;
}

export interface RecordCodec<T> {
  /** Full Avro name of the reader schema, e.g. "gensemble.Transaction". */
  readonly name: string;
  readonly wireFormat: WireFormat;
  /** Record → framed bytes. Throws ValidationError for records that do not fit the schema. */
  encode(record: T, opts?: EncodeOptions): Buffer;
  /** Framed bytes → validated record. Throws DecodeError or ValidationError. */
  decode(buf: Buffer | null | undefined): T;
  /**
   * Fetches whatever `decode` needs for these values (schemas by registry id). A no-op for
   * single-object encoding; call it once per batch before decoding with the Confluent format.
   */
  prepare(bufs: readonly (Buffer | null | undefined)[]): Promise<void>;
}

/** What a codec needs to know about one record type. */
export interface RecordSpec<T> {
  readonly schema: avro.Schema;
  readonly validate: (record: T) => void;
}

export const TRANSACTION_SPEC: RecordSpec<Transaction> = {
  schema: TRANSACTION_SCHEMA,
  validate: validateTransaction,
};
export const IMAGE_FRAME_SPEC: RecordSpec<ImageFrame> = {
  schema: IMAGE_FRAME_SCHEMA,
  validate: validateImageFrame,
};
export const FLAG_SPEC: RecordSpec<FlagRecord> = { schema: FLAG_SCHEMA, validate: validateFlag };

/** Serialises with avsc; wrong field types become ValidationError INVALID_RECORD naming the paths. */
export function encodeBody<T>(type: avro.Type, spec: RecordSpec<T>, record: T, opts?: EncodeOptions): Buffer {
  if (opts?.validate !== false) spec.validate(record);
  const paths: string[] = [];
  const ok = type.isValid(record, {
    errorHook: (path: string[]) => {
      paths.push(path.join('.') || '(record)');
    },
  });
  if (!ok) {
    throw new ValidationError(
      'INVALID_RECORD',
      `record does not match ${type.name ?? 'schema'} at ${paths.join(', ')}`,
      paths[0],
    );
  }
  return type.toBuffer(record);
}

/** Runs the content checks on a decoded value; any non-ValidationError becomes one. */
export function checkDecoded<T>(spec: RecordSpec<T>, value: unknown): T {
  const record = value as T;
  spec.validate(record);
  return record;
}

/** Avro single-object encoding (marker + CRC-64-AVRO fingerprint + body). */
export class SingleObjectCodec<T> implements RecordCodec<T> {
  readonly wireFormat = 'single-object' as const;
  readonly store: WriterSchemaStore;

  /**
   * @param olderWriterSchemas earlier versions of the schema that producers may still write; they
   *   are resolved against the current (reader) schema.
   */
  constructor(
    private readonly spec: RecordSpec<T>,
    olderWriterSchemas: readonly avro.Schema[] = [],
  ) {
    this.store = new WriterSchemaStore(spec.schema, olderWriterSchemas);
  }

  get name(): string {
    return this.store.readerType.name ?? this.store.readerType.typeName;
  }

  /** The reader schema's fingerprint (unsigned 64-bit). */
  get fingerprint(): bigint {
    return this.store.readerFingerprint;
  }

  encode(record: T, opts?: EncodeOptions): Buffer {
    return frameSingleObject(
      this.store.readerFingerprint,
      encodeBody(this.store.readerType, this.spec, record, opts),
    );
  }

  decode(buf: Buffer | null | undefined): T {
    return checkDecoded(this.spec, decodeSingleObject(this.store, buf));
  }

  prepare(): Promise<void> {
    return Promise.resolve();
  }
}

export function transactionCodec(
  olderWriterSchemas: readonly avro.Schema[] = [],
): SingleObjectCodec<Transaction> {
  return new SingleObjectCodec(TRANSACTION_SPEC, olderWriterSchemas);
}
export function imageFrameCodec(
  olderWriterSchemas: readonly avro.Schema[] = [],
): SingleObjectCodec<ImageFrame> {
  return new SingleObjectCodec(IMAGE_FRAME_SPEC, olderWriterSchemas);
}
export function flagCodec(olderWriterSchemas: readonly avro.Schema[] = []): SingleObjectCodec<FlagRecord> {
  return new SingleObjectCodec(FLAG_SPEC, olderWriterSchemas);
}
