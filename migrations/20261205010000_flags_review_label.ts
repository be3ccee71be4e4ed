import type { Knex } from 'knex';

/**
 * flags.review_label: the label of the flag's latest review (NULL = never reviewed), a cache of the
 * reviews table kept by ReviewStore.review() in the same transaction as the review row.
 *
 * Why: with 1,000,000 flags the review queue filtered by a label ("fraud, newest first") had to find
 * the flags whose LATEST review says so by joining every review with that label (thousands) to its
 * flag and sorting: 280-360 ms a page (BENCHMARKS.md, "Analyst console"). With the label on the flag,
 * partial indexes (only reviewed flags) give that order directly. `reviews` stays the history and the
 * source of truth; this column is rebuilt from it here (and could be again at any time).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE flags ADD COLUMN review_label text NULL`);
  await knex.raw(`
    ALTER TABLE flags ADD CONSTRAINT flags_review_label_check
      CHECK (review_label IS NULL OR review_label IN ('fraud', 'not_fraud', 'unsure'))`);
  await knex.raw(`
    UPDATE flags f SET review_label = l.label
      FROM (SELECT DISTINCT ON (flag_id) flag_id, label FROM reviews
             ORDER BY flag_id, reviewed_at DESC, id DESC) l
     WHERE l.flag_id = f.id`);
  await knex.raw(`
    CREATE INDEX flags_review_label_time_idx ON flags (review_label, flagged_at DESC, id DESC)
     WHERE review_label IS NOT NULL`);
  await knex.raw(`
    CREATE INDEX flags_review_label_score_idx ON flags (review_label, score DESC, id DESC)
     WHERE review_label IS NOT NULL`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX IF EXISTS flags_review_label_score_idx`);
  await knex.raw(`DROP INDEX IF EXISTS flags_review_label_time_idx`);
  await knex.raw(`ALTER TABLE flags DROP CONSTRAINT IF EXISTS flags_review_label_check`);
  await knex.raw(`ALTER TABLE flags DROP COLUMN IF EXISTS review_label`);
}
