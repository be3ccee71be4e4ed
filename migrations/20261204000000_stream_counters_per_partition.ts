import type { Knex } from 'knex';

/**
 * stream_counters: + source_partition in the key. Every batch upserts its minute's counter row in
 * the batch's own transaction; keyed by (minute, kind, topic, consumer_group) only, all instances of
 * a group updated the SAME row, each holding its lock until its whole batch transaction committed, so
 * batch commits of different partitions serialised on it (the first bottleneck of the capacity model
 * in BENCHMARKS.md). With the partition in the key a counter row has one writer, like the partition's
 * high-water mark. Readers sum over partitions (the flag_rate_per_minute view already sums).
 * Existing rows get source_partition -1 ("counted before per-partition rows"). Down sums the
 * partitions back into one row per key.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE stream_counters
      ADD COLUMN source_partition integer NOT NULL DEFAULT -1,
      DROP CONSTRAINT stream_counters_pkey,
      ADD CONSTRAINT stream_counters_pkey PRIMARY KEY (minute, kind, topic, consumer_group, source_partition)`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TEMP TABLE stream_counters_sum ON COMMIT DROP AS
      SELECT minute, kind, topic, consumer_group, sum(scored) AS scored, sum(flagged) AS flagged,
             sum(dead_lettered) AS dead_lettered
        FROM stream_counters GROUP BY minute, kind, topic, consumer_group`);
  await knex.raw(`DELETE FROM stream_counters`);
  await knex.raw(`
    ALTER TABLE stream_counters
      DROP CONSTRAINT stream_counters_pkey,
      DROP COLUMN source_partition,
      ADD CONSTRAINT stream_counters_pkey PRIMARY KEY (minute, kind, topic, consumer_group)`);
  await knex.raw(`
    INSERT INTO stream_counters (minute, kind, topic, consumer_group, scored, flagged, dead_lettered)
      SELECT minute, kind, topic, consumer_group, scored, flagged, dead_lettered FROM stream_counters_sum`);
}
