/**
 * What the stream benchmarks share: the credit subset, the production-default transactions model
 * built on its normal rows (M = 5, K = 16, cached in benchmarks/.cache), and Transactions made from
 * its rows.
 */
import { join } from 'node:path';
import { loadCreditCardCsv, type CreditCardData } from '../../src/data/credit.js';
import { TRANSACTION_PCA_FIELDS, type Transaction } from '../../src/schemas/schemas.js';
import { buildOrLoad, type CachedModel } from './cache.js';

export async function streamTxModel(
  dataDir: string,
  log: (s: string) => void,
): Promise<{ credit: CreditCardData; model: CachedModel }> {
  const credit = await loadCreditCardCsv(join(dataDir, 'creditcard', 'creditcard-subset.csv.gz'));
  const normalIdx: number[] = [];
  for (let i = 0; i < credit.n; i++) if (credit.labels?.[i] === 0) normalIdx.push(i);
  const normal = new Float32Array(normalIdx.length * 30);
  normalIdx.forEach((r, j) => normal.set(credit.features.subarray(r * 30, r * 30 + 30), j * 30));
  const model = await buildOrLoad(
    'stream-tx',
    { kind: 'transactions', raw: normal, n: normalIdx.length, d: 30, members: 5, steps: 100, seed: 0 },
    { log },
  );
  return { credit, model };
}

/** Row `i % n` of the credit data as a Transaction (Kaggle Time, V1..V28, Amount). */
export function creditTransaction(
  credit: CreditCardData,
  i: number,
  id: string,
  eventTime: number,
): Transaction {
  const row = i % credit.n;
  const f = credit.features.subarray(row * 30, row * 30 + 30);
  const r: Record<string, unknown> = {
    id,
    event_time: eventTime,
    time_seconds: f[0],
    amount: f[29],
    card_id: null,
    merchant_id: null,
  };
  TRANSACTION_PCA_FIELDS.forEach((name, j) => (r[name] = f[j + 1]));
  return r as Transaction;
}
