import type { Knex } from 'knex';

/**
 * stream_offsets: per source partition, the highest Kafka offset whose effects (flags AND counters)
 * are committed. Written in the same transaction as the flags and counters of a batch; a redelivered
 * record (offset <= last_offset, e.g. after a crash between the DB commit and the Kafka offset
 * commit) is skipped entirely, so counters are exactly-once too, not just flags.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('stream_offsets', (t) => {
    t.text('source_topic').notNullable();
    t.integer('source_partition').notNullable();
    t.bigInteger('last_offset').notNullable();
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['source_topic', 'source_partition'], { constraintName: 'stream_offsets_pkey' });
    t.check('source_partition >= 0 AND last_offset >= -1', [], 'stream_offsets_check');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('stream_offsets');
}
