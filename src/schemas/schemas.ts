/**
 * The .avsc files of this folder, loaded once, and the TypeScript shapes of their records.
 * Logical types (timestamp-millis) are not given avsc implementations: times stay plain numbers of
 * milliseconds since the Unix epoch, which is what the feature transforms and SQL layer want.
 */
import { readFileSync } from 'node:fs';
import type avro from 'avsc';

function load(file: string): avro.Schema {
  return JSON.parse(readFileSync(new URL(`./${file}`, import.meta.url), 'utf8')) as avro.Schema;
}

export const TRANSACTION_SCHEMA: avro.Schema = load('transaction.avsc');
export const IMAGE_FRAME_SCHEMA: avro.Schema = load('image-frame.avsc');
export const FLAG_SCHEMA: avro.Schema = load('flag.avsc');

/** Number of Kaggle PCA components V1..V28. */
export const TRANSACTION_PCA_COUNT = 28;
/** Names of the PCA fields, in order. */
export const TRANSACTION_PCA_FIELDS = Array.from(
  { length: TRANSACTION_PCA_COUNT },
  (_, i) => `V${i + 1}` as PcaField,
);

type Digit1to9 = 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
export type PcaField = `V${Digit1to9}` | `V1${0 | Digit1to9}` | `V2${0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8}`;

/** gensemble.Transaction */
export type Transaction = {
  id: string;
  /** ms since the Unix epoch */
  event_time: number;
  /** Kaggle 'Time' (seconds) */
  time_seconds: number;
  /** Kaggle 'Amount' */
  amount: number;
  card_id: string | null;
  merchant_id: string | null;
} & Record<PcaField, number>;

/** gensemble.ImageFrame */
export interface ImageFrame {
  id: string;
  source: string;
  width: number;
  height: number;
  channels: number;
  /** uint8, row-major HWC, width * height * channels bytes */
  pixels: Buffer;
  /** ms since the Unix epoch */
  event_time: number;
  label: number | null;
  ood_kind: string | null;
}

/** gensemble.Flag */
export interface FlagRecord {
  source_topic: string;
  source_partition: number;
  source_offset: number;
  record_id: string;
  kind: string;
  score_name: string;
  score: number;
  threshold: number;
  waic: number;
  logp_mean: number;
  logp_var: number;
  rate: number;
  model_version: string;
  event_time: number;
  flagged_at: number;
}
