/**
 * Record codecs: bytes ⇄ validated records, in Avro single-object encoding (default) or the Confluent
 * wire format (when a schema registry is configured). Every failure is a typed DecodeError or
 * ValidationError whose `reason` the dead-letter topic records.
 */
import avro from 'avsc';
import { canonicalForm, crc64Avro } from './fingerprint.js';
import { DecodeError, SchemaError, ValidationError } from './errors.js';
import {
  FLAG_SCHEMA,
  IMAGE_FRAME_SCHEMA,
  TRANSACTION_SCHEMA,
  type FlagRecord,
  type ImageFrame,
  type Transaction,
} from './schemas.js';
import {
  SINGLE_OBJECT_HEADER_LENGTH,
  SINGLE_OBJECT_MARKER,
  WriterSchemaStore,
  decodeSingleObject,
  frameSingleObject,
} from './single-object.js';
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

/**
 * Finds writer schemas by fingerprint outside the code (e.g. the `writer_schemas` table that
 * `gensemble schemas register` fills). Returns the schemas it knows among those asked for.
 */
export type WriterSchemaLookup = (fingerprints: readonly bigint[]) => Promise<readonly avro.Schema[]>;

export interface SingleObjectCodecOptions {
  /** Asked, once per batch, for the fingerprints of that batch that the codec does not know. */
  lookup?: WriterSchemaLookup;
  /**
   * A fingerprint the lookup did not know is asked again only after this long (ms, default 1000):
   * a burst of unknown records costs one query per second, and a schema registered meanwhile is
   * picked up at most this late.
   */
  lookupMissTtlMs?: number;
  /** Called when the lookup brings a schema in (or finds one that does not resolve). */
  onLookup?: (e: { fingerprint: bigint; ok: boolean; error?: string }) => void;
  now?: () => number;
}

/** Avro single-object encoding (marker + CRC-64-AVRO fingerprint + body). */
export class SingleObjectCodec<T> implements RecordCodec<T> {
  readonly wireFormat = 'single-object' as const;
  readonly store: WriterSchemaStore;
  private readonly misses = new Map<bigint, number>();
  private readonly incompatible = new Map<bigint, string>();

  /**
   * @param olderWriterSchemas earlier versions of the schema that producers may still write; they
   *   are resolved against the current (reader) schema.
   */
  constructor(
    private readonly spec: RecordSpec<T>,
    olderWriterSchemas: readonly avro.Schema[] = [],
    private readonly opts: SingleObjectCodecOptions = {},
  ) {
    this.store = new WriterSchemaStore(spec.schema, olderWriterSchemas);
  }

  /** Writer schemas this codec decodes now (the reader's own, built-in older ones, looked-up ones). */
  get knownSchemas(): number {
    return this.store.fingerprints().length;
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
    if (this.incompatible.size > 0 && buf && buf.length >= SINGLE_OBJECT_HEADER_LENGTH) {
      const why = this.incompatible.get(buf.readBigUInt64LE(2));
      if (why !== undefined) throw new DecodeError('INCOMPATIBLE_SCHEMA', why);
    }
    return checkDecoded(this.spec, decodeSingleObject(this.store, buf));
  }

  /**
   * With a lookup: asks it for the fingerprints of this batch that are not known yet (and not asked
   * in the last `lookupMissTtlMs`), and registers what it returns. Lookup failures propagate (the
   * batch is retried, not dead-lettered: the records may well be decodable once it answers).
   */
  async prepare(bufs: readonly (Buffer | null | undefined)[] = []): Promise<void> {
    const lookup = this.opts.lookup;
    if (!lookup) return;
    const now = (this.opts.now ?? Date.now)();
    const ttl = this.opts.lookupMissTtlMs ?? 1000;
    const wanted = new Set<bigint>();
    for (const b of bufs) {
      if (
        !b ||
        b.length < SINGLE_OBJECT_HEADER_LENGTH ||
        b[0] !== SINGLE_OBJECT_MARKER[0] ||
        b[1] !== SINGLE_OBJECT_MARKER[1]
      )
        continue;
      const fp = b.readBigUInt64LE(2);
      if (this.store.get(fp) || this.incompatible.has(fp) || wanted.has(fp)) continue;
      const missedAt = this.misses.get(fp);
      if (missedAt !== undefined && now - missedAt < ttl) continue;
      wanted.add(fp);
      if (wanted.size >= 64) break;
    }
    if (wanted.size === 0) return;
    const found = await lookup([...wanted]);
    for (const schema of found) {
      let fp: bigint | undefined;
      try {
        fp = this.store.register(schema).fingerprint;
        this.misses.delete(fp);
        this.opts.onLookup?.({ fingerprint: fp, ok: true });
      } catch (e) {
        // Registered once as compatible, but not with this reader schema (it may have changed since).
        const msg = e instanceof SchemaError ? e.message : String(e);
        try {
          fp = crc64Avro(canonicalForm(schema));
        } catch {
          fp = undefined;
        }
        if (fp !== undefined) {
          this.incompatible.set(fp, msg);
          this.opts.onLookup?.({ fingerprint: fp, ok: false, error: msg });
        }
      }
      if (fp !== undefined) wanted.delete(fp);
    }
    for (const fp of wanted) this.misses.set(fp, now);
    if (this.misses.size > 10_000) {
      for (const [fp, t] of this.misses) if (now - t >= ttl) this.misses.delete(fp);
    }
  }
}

export function transactionCodec(
  olderWriterSchemas: readonly avro.Schema[] = [],
  opts: SingleObjectCodecOptions = {},
): SingleObjectCodec<Transaction> {
  return new SingleObjectCodec(TRANSACTION_SPEC, olderWriterSchemas, opts);
}
export function imageFrameCodec(
  olderWriterSchemas: readonly avro.Schema[] = [],
  opts: SingleObjectCodecOptions = {},
): SingleObjectCodec<ImageFrame> {
  return new SingleObjectCodec(IMAGE_FRAME_SPEC, olderWriterSchemas, opts);
}
export function flagCodec(olderWriterSchemas: readonly avro.Schema[] = []): SingleObjectCodec<FlagRecord> {
  return new SingleObjectCodec(FLAG_SPEC, olderWriterSchemas);
}
