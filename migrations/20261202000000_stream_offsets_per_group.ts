import type { Knex } from 'knex';

/**
 * The high-water mark per consumer group and topic incarnation (issue 12).
 *
 * Before, stream_offsets was keyed by (topic, partition) only: a second consumer group reading the
 * same topic (re-scoring with a new model), or the same group reading a topic deleted and created
 * again under the same name, found the old mark and skipped every record below it, silently.
 *
 * - stream_offsets: + consumer_group (part of the key) + incarnation (bumped when the consumer
 *   finds that the topic was recreated) + mark_fingerprint (SHA-256 of the key, value and timestamp
 *   of the record AT last_offset: a redelivered record matches it, a different record at the same
 *   offset — a recreated topic — does not).
 * - flags: + consumer_group + source_incarnation, in the uniqueness guard, so the flags of a
 *   re-scoring group and those of a recreated topic are not dropped as duplicates.
 * - stream_counters: + consumer_group in the key (each group's counts exactly once).
 * Existing rows get consumer_group '' (claimed by the first group that writes the partition after the
 * upgrade) and incarnation 0. Down collapses back to one row per key (the highest mark, the first
 * flag per source offset, counters summed over groups).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE stream_offsets
      ADD COLUMN consumer_group text NOT NULL DEFAULT '',
      ADD COLUMN incarnation integer NOT NULL DEFAULT 0,
      ADD COLUMN mark_fingerprint text NULL,
      DROP CONSTRAINT stream_offsets_pkey,
      ADD CONSTRAINT stream_offsets_pkey PRIMARY KEY (consumer_group, source_topic, source_partition)`);
  await knex.raw(`
    ALTER TABLE flags
      ADD COLUMN consumer_group text NOT NULL DEFAULT '',
      ADD COLUMN source_incarnation integer NOT NULL DEFAULT 0`);
  await knex.raw(`ALTER TABLE flags DROP CONSTRAINT IF EXISTS flags_source_unique`);
  await knex.raw(`DROP INDEX IF EXISTS flags_source_unique`);
  await knex.raw(`
    ALTER TABLE flags ADD CONSTRAINT flags_source_unique
      UNIQUE (consumer_group, source_topic, source_partition, source_incarnation, source_offset)`);
  await knex.raw(`
    ALTER TABLE stream_counters
      ADD COLUMN consumer_group text NOT NULL DEFAULT '',
      DROP CONSTRAINT stream_counters_pkey,
      ADD CONSTRAINT stream_counters_pkey PRIMARY KEY (minute, kind, topic, consumer_group)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DELETE FROM stream_offsets a USING stream_offsets b
     WHERE a.source_topic = b.source_topic AND a.source_partition = b.source_partition
       AND (a.last_offset < b.last_offset
            OR (a.last_offset = b.last_offset AND a.consumer_group > b.consumer_group))`);
  await knex.raw(`
    ALTER TABLE stream_offsets
      DROP CONSTRAINT stream_offsets_pkey,
      DROP COLUMN consumer_group,
      DROP COLUMN incarnation,
      DROP COLUMN mark_fingerprint,
      ADD CONSTRAINT stream_offsets_pkey PRIMARY KEY (source_topic, source_partition)`);
  await knex.raw(`ALTER TABLE flags DROP CONSTRAINT IF EXISTS flags_source_unique`);
  await knex.raw(`
    DELETE FROM flags a USING flags b
     WHERE a.source_topic = b.source_topic AND a.source_partition = b.source_partition
       AND a.source_offset = b.source_offset AND a.id > b.id`);
  await knex.raw(`ALTER TABLE flags DROP COLUMN consumer_group, DROP COLUMN source_incarnation`);
  await knex.raw(`
    ALTER TABLE flags ADD CONSTRAINT flags_source_unique
      UNIQUE (source_topic, source_partition, source_offset)`);
  await knex.raw(`
    CREATE TEMP TABLE stream_counters_sum ON COMMIT DROP AS
      SELECT minute, kind, topic, sum(scored) AS scored, sum(flagged) AS flagged,
             sum(dead_lettered) AS dead_lettered
        FROM stream_counters GROUP BY minute, kind, topic`);
  await knex.raw(`DELETE FROM stream_counters`);
  await knex.raw(`
    ALTER TABLE stream_counters
      DROP CONSTRAINT stream_counters_pkey,
      DROP COLUMN consumer_group,
      ADD CONSTRAINT stream_counters_pkey PRIMARY KEY (minute, kind, topic)`);
  await knex.raw(`
    INSERT INTO stream_counters (minute, kind, topic, scored, flagged, dead_lettered)
      SELECT minute, kind, topic, scored, flagged, dead_lettered FROM stream_counters_sum`);
}
