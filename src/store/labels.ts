/**
 * Labels for the next model (issue 13, item 3): reviewed flags of one kind read back with their
 * payloads. A flag's label is its LATEST review (reviews are append-only: the newest by (reviewed_at,
 * id)); 'fraud' → 1, 'not_fraud' → 0, 'unsure' is left out. A record flagged more than once (several
 * model versions or consumer groups) counts once, with the label of its latest review. Turning a
 * payload back into the model's raw row is the kind's business (KindDefinition.fromPayload).
 */
import type { Knex } from 'knex';

export interface ReviewedFlag {
  recordId: string;
  /** 1 = fraud, 0 = not fraud. */
  label: 0 | 1;
  payload: unknown;
}

/** Every reviewed flag of `kind` labelled fraud / not_fraud by its latest review. */
export async function reviewedFlags(db: Knex, kind: string): Promise<ReviewedFlag[]> {
  const res = await db.raw<{ rows: { record_id: string; label: string; payload: unknown }[] }>(
    `SELECT DISTINCT ON (f.record_id) f.record_id, r.label, f.payload
       FROM flags f
       JOIN LATERAL (
             SELECT label, reviewed_at, id FROM reviews
              WHERE reviews.flag_id = f.id
              ORDER BY reviewed_at DESC, id DESC
              LIMIT 1
            ) r ON true
      WHERE f.kind = ?
      ORDER BY f.record_id, r.reviewed_at DESC, r.id DESC`,
    [kind],
  );
  const out: ReviewedFlag[] = [];
  for (const r of res.rows) {
    if (r.label !== 'fraud' && r.label !== 'not_fraud') continue;
    out.push({ recordId: r.record_id, label: r.label === 'fraud' ? 1 : 0, payload: r.payload });
  }
  return out;
}
