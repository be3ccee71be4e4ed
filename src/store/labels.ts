/**
 * Labels for the next model (issue 13, item 3): reviewed transaction flags read back as labelled raw
 * records. A flag's label is its LATEST review (reviews are append-only: the newest by (reviewed_at,
 * id)); 'fraud' → 1, 'not_fraud' → 0, 'unsure' is left out. A record flagged more than once (several
 * model versions or consumer groups) counts once, with the label of its latest review. The features
 * are the ones the transactions consumer keeps in the flag payload (consumers/transactions.ts):
 * payload.features = {time_seconds, V1..V28} and payload.amount, in the model's order Time, V1..V28,
 * Amount (schemas/features.ts).
 */
import type { Knex } from 'knex';
import { z } from 'zod';
import { TRANSACTION_PCA_FIELDS } from '../schemas/schemas.js';
import { TRANSACTION_FEATURE_DIM } from '../schemas/features.js';

export interface ReviewedRecords {
  /** Raw features, row-major [n, 30]. */
  raw: Float32Array;
  n: number;
  /** 1 = fraud, 0 = not fraud. */
  labels: Uint8Array;
  recordIds: string[];
  /** Reviewed flags whose payload lacks the features (not usable). */
  skipped: number;
}

const num = z.number().finite();
const payloadSchema = z.object({
  amount: num,
  features: z.object({
    time_seconds: num,
    ...Object.fromEntries(TRANSACTION_PCA_FIELDS.map((f) => [f, num])),
  }),
});

/** The 30 raw features of a transaction flag's payload, or null when they are not all there. */
export function transactionFeaturesOfPayload(payload: unknown): number[] | null {
  const p = payloadSchema.safeParse(payload);
  if (!p.success) return null;
  const f = p.data.features as Record<string, number>;
  return [f.time_seconds, ...TRANSACTION_PCA_FIELDS.map((k) => f[k]), p.data.amount];
}

/** Every reviewed transaction flag labelled fraud / not_fraud by its latest review. */
export async function reviewedTransactions(db: Knex): Promise<ReviewedRecords> {
  const res = await db.raw<{ rows: { record_id: string; label: string; payload: unknown }[] }>(
    `SELECT DISTINCT ON (f.record_id) f.record_id, r.label, f.payload
       FROM flags f
       JOIN LATERAL (
             SELECT label, reviewed_at, id FROM reviews
              WHERE reviews.flag_id = f.id
              ORDER BY reviewed_at DESC, id DESC
              LIMIT 1
            ) r ON true
      WHERE f.kind = 'transactions'
      ORDER BY f.record_id, r.reviewed_at DESC, r.id DESC`,
  );
  const rows: number[][] = [];
  const labels: number[] = [];
  const recordIds: string[] = [];
  let skipped = 0;
  for (const r of res.rows) {
    if (r.label !== 'fraud' && r.label !== 'not_fraud') continue;
    const x = transactionFeaturesOfPayload(r.payload);
    if (!x) {
      skipped++;
      continue;
    }
    rows.push(x);
    labels.push(r.label === 'fraud' ? 1 : 0);
    recordIds.push(r.record_id);
  }
  const raw = new Float32Array(rows.length * TRANSACTION_FEATURE_DIM);
  rows.forEach((x, i) => raw.set(x, i * TRANSACTION_FEATURE_DIM));
  return { raw, n: rows.length, labels: Uint8Array.from(labels), recordIds, skipped };
}
