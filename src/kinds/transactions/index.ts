/**
 * Built-in kind `transactions`: Avro `gensemble.Transaction` records (the Kaggle credit-card data's
 * Time, V1..V28, Amount plus ids) → 30 raw features in the Kaggle CSV column order → the paper's
 * credit VAE. Offline files: the Kaggle CSV (`Class` = label when present).
 */
import type { Env } from '../../config.js';
import type { CheckpointManifest } from '../../engine/checkpoint.js';
import { DEFAULT_COMBINED_COMPONENTS } from '../../engine/score-rules.js';
import { DOSE_STATISTICS_TABULAR } from '../../engine/dose.js';
import { ConfigError } from '../../errors.js';
import { loadCreditCardCsv } from '../../data/credit.js';
import { TRANSACTION_SPEC, transactionCodec } from '../../schemas/codec.js';
import { TRANSACTION_FEATURE_DIM, writeTransactionFeatures } from '../../schemas/features.js';
import { TRANSACTION_PCA_FIELDS, type Transaction } from '../../schemas/schemas.js';
import { z } from 'zod';
import { tabularMlpConfig, type ModelProfile } from '../../detector/profile.js';
import { cleanText } from '../text.js';
import type { KindDefinition, OfflineRecords, RecordBinding } from '../types.js';

/** time_seconds and V1..V28 of a transaction, by name (as the producer sent them). */
export function transactionFeatureFields(r: Transaction): Record<string, number> {
  const out: Record<string, number> = { time_seconds: r.time_seconds };
  for (const f of TRANSACTION_PCA_FIELDS) out[f] = r[f];
  return out;
}

/** What a flag keeps of a transaction: amount, the features by name (labels train on them), ids. */
export function transactionPayload(r: Transaction): Record<string, unknown> {
  return {
    amount: r.amount,
    features: transactionFeatureFields(r),
    ...(r.card_id !== null ? { card_id: cleanText(r.card_id, 64) } : {}),
    ...(r.merchant_id !== null ? { merchant_id: cleanText(r.merchant_id, 64) } : {}),
  };
}

const num = z.number().finite();
const payloadSchema = z.object({
  amount: num,
  features: z.object({
    time_seconds: num,
    ...Object.fromEntries(TRANSACTION_PCA_FIELDS.map((f) => [f, num])),
  }),
});

/**
 * The 30 raw features of a transaction flag's payload ({@link transactionPayload}: features by name and
 * the amount) in the model's order Time, V1..V28, Amount; null when they are not all there.
 */
export function transactionFeaturesOfPayload(payload: unknown): number[] | null {
  const p = payloadSchema.safeParse(payload);
  if (!p.success) return null;
  const f = p.data.features as Record<string, number>;
  return [f.time_seconds, ...TRANSACTION_PCA_FIELDS.map((k) => f[k]), p.data.amount];
}

const binding: RecordBinding<Transaction> = {
  inputDim: TRANSACTION_FEATURE_DIM,
  writeFeatures: writeTransactionFeatures,
  recordId: (r) => r.id,
  eventTime: (r) => r.event_time,
  payload: transactionPayload,
};

const creditMlpConfig = tabularMlpConfig([32], [30], 8);

/** Seconds per day: the period of the Time column (column 0) in the default model. */
export const TIME_OF_DAY_PERIOD = 86_400;

/**
 * The paper's credit VAE architecture (encoder 32, decoder 30, latent 8), Gaussian on standardised
 * features, with Time wrapped to the time of day; dose over log p, rate and Var log p.
 */
export const transactionsProfile: ModelProfile = {
  // Raw Time (seconds since the first transaction) grows without bound in a stream: every future
  // transaction would lie beyond the training range (clipped to 1, or far out when standardised) and
  // look anomalous for its date alone. The time of day is what carries information, so Time is taken
  // mod 86,400 before scaling (`gensemble train --wrap none` switches this off).
  //
  // The likelihood: a Gaussian with a learned scale per feature on standardised (unclipped) features,
  // chosen on validation frauds only (credit protocol v3 in BENCHMARKS.md: mean validation AUROC of
  // the default score 95.6 vs 93.7 for the paper's Bernoulli on clipped min-max, 95.1 for Student-t).
  defaultConfig: (inputDim) => ({
    ...creditMlpConfig(inputDim),
    likelihood: 'gaussian',
    transform: 'standard',
    wrap: [{ column: 0, period: TIME_OF_DAY_PERIOD }],
  }),
  inputComplexity: false,
  doseStatistics: DOSE_STATISTICS_TABULAR,
  combinedComponents: DEFAULT_COMBINED_COMPONENTS,
  // Every column but Time (column 0): labels come from flags, always newer than the training normals
  // the head also sees, so Time alone would separate "fraud" from "normal" and flag every recent record.
  headColumns: (d) => Array.from({ length: d }, (_, j) => j).slice(1),
};

export const transactionsKind: KindDefinition<Transaction> = {
  name: 'transactions',
  description: 'card transactions in the Kaggle credit-card layout (Time, V1..V28, Amount)',
  builtin: true,
  record: TRANSACTION_SPEC,
  codec: (options) => transactionCodec([], options),
  topic: (env: Env) => env.TOPIC_TRANSACTIONS,
  modelDir: (env: Env) => env.MODEL_TRANSACTIONS,
  profile: transactionsProfile,
  bind(manifest: CheckpointManifest): RecordBinding<Transaction> {
    if (manifest.kind !== 'transactions')
      throw new ConfigError(`a ${manifest.kind} model cannot score transactions`);
    if (manifest.inputDim !== TRANSACTION_FEATURE_DIM)
      throw new ConfigError(
        `the transactions model takes ${manifest.inputDim} features, a Transaction has ${TRANSACTION_FEATURE_DIM}`,
      );
    return binding;
  },
  async readFile(path, options = {}): Promise<OfflineRecords> {
    const { onReject } = options;
    const data = await loadCreditCardCsv(path, {
      requireLabels: false,
      ...(options.limit !== undefined ? { maxRows: options.limit } : {}),
      ...(onReject
        ? { onReject: (r) => onReject({ line: r.line, reason: `data row ${r.row + 1}: ${r.reason}` }) }
        : {}),
    });
    return { n: data.n, d: data.d, raw: data.features, ids: data.rowIds, labels: data.labels };
  },
  fromPayload: transactionFeaturesOfPayload,
  fileFormats: 'a Kaggle-format credit-card CSV (Time, V1..V28, Amount[, Class])',
};
