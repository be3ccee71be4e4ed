/**
 * Replay a Kaggle-format credit-card CSV (with or without header, gzip or plain) into a Kafka topic as
 * gensemble.Transaction records: key = record id, Avro single-object encoding (Confluent framing when
 * a schema registry is configured). The Kaggle `Class` goes into the `label` header (1 = fraud), so a
 * scored run can be checked against the truth afterwards; the record itself carries no label.
 *
 * Library: `replayTransactions(options)`. CLI: `gensemble replay transactions --file PATH ...`.
 */
import { basename } from 'node:path';
import { loadCreditCardCsv } from '../data/credit.js';
import { UNLABELLED } from '../data/labels.js';
import {
  TRANSACTION_PCA_FIELDS,
  TRANSACTION_SPEC,
  type RecordCodec,
  type Transaction,
} from '../schemas/index.js';
import { producerCodec } from './codec.js';
import {
  passThroughOptions,
  runLabelledReplay,
  type ReplayMessage,
  type ReplayPassThroughOptions,
  type ReplaySummary,
} from './runner.js';

export interface ReplayTransactionsOptions extends ReplayPassThroughOptions {
  file: string;
  /** Prefix of record ids (`<prefix><row>`; `-p<pass>` appended from the second pass on). Default "tx-". */
  idPrefix?: string;
  /** '' = single-object encoding; a URL = Confluent wire format through that registry. */
  schemaRegistryUrl?: string;
}

export interface ReplayTransactionsSummary extends ReplaySummary {
  /** Records sent with label 1 / 0 (null counts when the CSV has no Class column). */
  frauds: number | null;
  normals: number | null;
  hasLabels: boolean;
}

/**
 * CSV row (features in Kaggle order Time, V1..V28, Amount) → Transaction. Give it the values as the
 * CSV wrote them (doubles): a record carries what its source said, and the consumer rounds to float32
 * for the model itself (the same float32 either way).
 */
export function rowToTransaction(id: string, row: ArrayLike<number>, eventTime: number): Transaction {
  const t: Record<string, unknown> = {
    id,
    event_time: eventTime,
    time_seconds: row[0],
    amount: row[29],
    card_id: null,
    merchant_id: null,
  };
  for (let j = 0; j < TRANSACTION_PCA_FIELDS.length; j++) t[TRANSACTION_PCA_FIELDS[j]] = row[1 + j];
  return t as Transaction;
}

export async function replayTransactions(o: ReplayTransactionsOptions): Promise<ReplayTransactionsSummary> {
  // Without looping, at most `limit` rows are needed.
  const data = await loadCreditCardCsv(o.file, {
    requireLabels: false,
    float64: true,
    ...(o.limit !== undefined && !o.loop ? { maxRows: o.limit } : {}),
  });
  const codec: RecordCodec<Transaction> = await producerCodec(
    TRANSACTION_SPEC,
    o.topic,
    o.schemaRegistryUrl ?? '',
  );
  const prefix = o.idPrefix ?? 'tx-';
  const source = basename(o.file);
  function* pass(p: number): Iterable<ReplayMessage> {
    for (let i = 0; i < data.n; i++) {
      const id = `${prefix}${data.rowIds[i]}${p > 0 ? `-p${p}` : ''}`;
      const values = data.features64 ?? data.features;
      const rec = rowToTransaction(id, values.subarray(i * 30, (i + 1) * 30), Date.now());
      const headers: Record<string, string> = { source, row: String(data.rowIds[i]) };
      if (data.labels && data.labels[i] !== UNLABELLED) headers.label = String(data.labels[i]);
      yield { key: id, value: codec.encode(rec), headers };
    }
  }
  return runLabelledReplay(
    pass,
    { ...passThroughOptions(o), passSize: data.n, ...(o.onSent ? { onSent: o.onSent } : {}) },
    data.labels !== null,
  );
}
