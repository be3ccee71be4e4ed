import type { Knex } from 'knex';

/**
 * Drops the initial migration's three flags indexes that the review queue's indexes (migration
 * 20261205000000) extend with id as the last column: every query they served (`gensemble flags`,
 * the views, the console) is served by the wider one, and the stream's flag inserts maintain three
 * indexes fewer.
 *   flags_flagged_at_idx       (flagged_at DESC)        → flags_queue_time_idx      (flagged_at DESC, id DESC)
 *   flags_kind_flagged_at_idx  (kind, flagged_at DESC)  → flags_queue_kind_time_idx (kind, flagged_at DESC, id DESC)
 *   flags_score_idx            (score DESC)             → flags_queue_score_idx     (score DESC, id DESC)
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX IF EXISTS flags_flagged_at_idx`);
  await knex.raw(`DROP INDEX IF EXISTS flags_kind_flagged_at_idx`);
  await knex.raw(`DROP INDEX IF EXISTS flags_score_idx`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`CREATE INDEX IF NOT EXISTS flags_flagged_at_idx ON flags (flagged_at DESC)`);
  await knex.raw(`CREATE INDEX IF NOT EXISTS flags_kind_flagged_at_idx ON flags (kind, flagged_at DESC)`);
  await knex.raw(`CREATE INDEX IF NOT EXISTS flags_score_idx ON flags (score DESC)`);
}
