/**
 * An input kind: one kind of record gensemble scores (built-in: transactions, frames; or declared by
 * a user: src/kinds/tabular). A kind owns everything that depends on what its records are — the Avro
 * reader schema and content checks, the codec, record → model row, what a flag keeps of a record, the
 * offline file format of `train` / `score`, the default model and the statistics of its rule, and its
 * topic and model settings. Everything else (the stream, the detector, the store, the CLI) is
 * generic and asks the kind registry (./registry.ts).
 */
import type { Env } from '../config.js';
import type { CheckpointManifest, JsonValue } from '../engine/checkpoint.js';
import type { RecordSpec, SingleObjectCodec, SingleObjectCodecOptions } from '../schemas/codec.js';
import type { ModelProfile } from '../detector/profile.js';

/** How records of a kind become rows of ONE model, and what a flag keeps of them. */
export interface RecordBinding<T> {
  /** The model's raw inputs per record. */
  readonly inputDim: number;
  /** Writes the record's raw features into `out` at row `row`. Throws ValidationError. */
  writeFeatures(record: T, out: Float32Array, row: number): void;
  recordId(record: T): string;
  /** ms since the epoch. */
  eventTime(record: T): number;
  /** The fields a flag keeps (JSON; as the producer sent them). */
  payload(record: T): Record<string, unknown>;
}

/** Records read from a file by `gensemble train` / `gensemble score`, as the model's raw rows. */
export interface OfflineRecords {
  n: number;
  d: number;
  /** Row-major [n, d] raw features (what the stream hands the scorer). */
  raw: Float32Array;
  /** Record ids. */
  ids: ArrayLike<number | string>;
  /**
   * Where the file carries labels (Kaggle `Class`, a `label` column): 1 = anomaly / fraud, 0 = normal,
   * UNLABELLED (src/data/labels.ts) = not known; else null.
   */
  labels: Uint8Array | null;
  /** The kind's input encoder the rows were made with (fitted when no model was given); stored in the manifest. */
  input?: JsonValue;
  /** Columns that are 0/1 by construction (one-hot, boolean, missing indicators): the Bernoulli columns of --likelihood mixed. */
  binaryColumns?: number[];
}

/** A record of a file that `readFile` skipped under `onReject`. */
export interface RejectedRecord {
  /** 1-based line of the file. */
  line: number;
  /** What is wrong with it, one line, without the file name. */
  reason: string;
}

export interface ReadFileOptions {
  /** Read at most this many records (rejected ones do not count). */
  limit?: number;
  /** The model's manifest.input (scoring); absent for training, which fits the kind's encoder. */
  input?: JsonValue;
  /**
   * Called for a record that cannot be read (a value that is not a number, a missing field, a ragged
   * row, a line that is not JSON); the record is skipped and the rest are read. Absent: the first such
   * record is an InputError. Problems of the whole file (no such file, header, syntax, shape) always
   * throw. A kind whose files have no per-record problems (IDX frames) never calls it.
   */
  onReject?: (r: RejectedRecord) => void;
}

export interface KindDefinition<T = unknown> {
  /** Lower-case name: flags.kind, model_versions.kind, the consumer group suffix. */
  readonly name: string;
  readonly description: string;
  /** Shipped with gensemble (false: declared by a user in KINDS_DIR). */
  readonly builtin: boolean;
  /** Avro reader schema and content checks of the kind's records. */
  readonly record: RecordSpec<T>;
  /** The single-object codec of the reader schema (options: writer schemas registered at run time). */
  codec(options?: SingleObjectCodecOptions): SingleObjectCodec<T>;
  /** The topic the kind is consumed from. */
  topic(env: Env): string;
  /** Checkpoint directory used when no registry version is active ('' = none). */
  modelDir(env: Env): string;
  /** The default model and the statistics of its rule. */
  readonly profile: ModelProfile;
  /** Checks that a model fits this kind and binds records to its rows. Throws ConfigError. */
  bind(manifest: CheckpointManifest): RecordBinding<T>;
  /**
   * Reads a file for `train` (no `input`: the kind's input encoder, if any, is fitted on it) or for
   * `score` (`input` = the model's manifest.input). Throws InputError with one clear line.
   */
  readFile(path: string, options?: ReadFileOptions): Promise<OfflineRecords>;
  /**
   * The model's raw row of a record from what a flag kept of it (its payload), for labels from
   * reviewed flags; null when the payload lacks something. Absent: labels from flags not supported.
   */
  fromPayload?(payload: unknown, input?: JsonValue): number[] | null;
  /** What `--data` / `--input` take, for help texts. */
  readonly fileFormats: string;
}
