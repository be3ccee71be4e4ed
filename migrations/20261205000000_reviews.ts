import type { Knex } from 'knex';

/**
 * reviews: what an analyst decided about a flag (issue 13), from the console's review queue.
 *
 * Append-only: every decision is a row (who, when, label, note); the flag's review state is its
 * LATEST row (highest reviewed_at, then id). History is kept for audit and for training on labels.
 * - reviews_flag_latest_idx (flag_id, reviewed_at DESC, id DESC): the latest review of a flag, and
 *   the queue's "unreviewed" anti-join, by an index probe per flag.
 * - reviews_label_idx (label, flag_id): the queue filtered by a review state starts from the few
 *   reviewed flags instead of scanning every flag.
 * flags: indexes for the review queue's keyset pagination, newest first or highest score first,
 * with id as the tie-breaker (the order is total, so a page boundary never drops or repeats a row).
 * Deleting a flag deletes its reviews.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('reviews', (t) => {
    t.bigIncrements('id').primary();
    t.bigInteger('flag_id').notNullable().references('id').inTable('flags').onDelete('CASCADE');
    t.text('label').notNullable();
    t.text('note').notNullable().defaultTo('');
    t.text('reviewer').notNullable();
    t.timestamp('reviewed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check(`label IN ('fraud', 'not_fraud', 'unsure')`, [], 'reviews_label_check');
    t.check(`length(note) <= 2000 AND length(reviewer) BETWEEN 1 AND 200`, [], 'reviews_text_check');
  });
  await knex.raw(`CREATE INDEX reviews_flag_latest_idx ON reviews (flag_id, reviewed_at DESC, id DESC)`);
  await knex.raw(`CREATE INDEX reviews_label_idx ON reviews (label, flag_id)`);
  await knex.raw(`CREATE INDEX flags_queue_time_idx ON flags (flagged_at DESC, id DESC)`);
  await knex.raw(`CREATE INDEX flags_queue_kind_time_idx ON flags (kind, flagged_at DESC, id DESC)`);
  await knex.raw(`CREATE INDEX flags_queue_score_idx ON flags (score DESC, id DESC)`);
  await knex.raw(`CREATE INDEX flags_queue_kind_score_idx ON flags (kind, score DESC, id DESC)`);
  await knex.raw(
    `CREATE INDEX flags_queue_model_time_idx ON flags (model_version, flagged_at DESC, id DESC)`,
  );
}

export async function down(knex: Knex): Promise<void> {
  for (const i of [
    'flags_queue_model_time_idx',
    'flags_queue_kind_score_idx',
    'flags_queue_score_idx',
    'flags_queue_kind_time_idx',
    'flags_queue_time_idx',
  ])
    await knex.raw(`DROP INDEX IF EXISTS ??`, [i]);
  await knex.schema.dropTableIfExists('reviews');
}
