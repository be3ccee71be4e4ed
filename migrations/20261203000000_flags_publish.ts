import type { Knex } from 'knex';

/**
 * The flags topic (TOPIC_FLAGS) as an outbox of the flags table: a flag written while a flags topic
 * is configured has `publish_pending` true until it is on the topic. The consumer publishes a
 * partition's pending flags after each PostgreSQL commit and before committing the Kafka offsets; a
 * publish that fails leaves them pending, and the next batch of that partition (its redelivery,
 * skipped by the high-water mark) publishes them: at least once, never lost. `score_name` is the
 * score the threshold applies to (the Avro `Flag` carries it). Existing rows are not pending.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE flags
      ADD COLUMN score_name text NULL,
      ADD COLUMN publish_pending boolean NOT NULL DEFAULT false`);
  await knex.raw(`
    CREATE INDEX flags_publish_pending_idx
        ON flags (consumer_group, source_topic, source_partition, source_incarnation, source_offset)
     WHERE publish_pending`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP INDEX IF EXISTS flags_publish_pending_idx`);
  await knex.raw(`ALTER TABLE flags DROP COLUMN publish_pending, DROP COLUMN score_name`);
}
