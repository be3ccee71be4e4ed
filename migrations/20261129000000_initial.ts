import type { Knex } from 'knex';

/**
 * The initial gensemble schema.
 *
 * - model_versions: every trained model that may score a stream; at most one active per kind.
 * - flags: one row per flagged record, keyed by its Kafka source (topic, partition, offset) so that a
 *   replayed batch inserts nothing twice (`ON CONFLICT DO NOTHING`).
 * - stream_counters: per-minute volume (scored / flagged / dead-lettered) per kind and topic; writers
 *   add to a row with `ON CONFLICT (minute, kind, topic) DO UPDATE SET scored = stream_counters.scored
 *   + excluded.scored, ...`.
 * - views recent_flags (last 24 h, newest first) and flag_rate_per_minute.
 *
 * All names are unqualified, so the schema lands in the first schema of the search_path (tests
 * migrate into a private schema per file).
 */

const KINDS = `('transactions', 'frames')`;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('model_versions', (t) => {
    t.increments('id').primary();
    t.text('version').notNullable().unique();
    t.text('kind').notNullable();
    t.text('checkpoint_path').notNullable();
    t.jsonb('manifest').notNullable().defaultTo(knex.raw(`'{}'::jsonb`));
    t.double('threshold').notNullable();
    t.text('score_name').notNullable();
    t.boolean('active').notNullable().defaultTo(false);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.check(`kind IN ${KINDS}`, [], 'model_versions_kind_check');
  });
  // At most one active model per kind.
  await knex.raw(
    `CREATE UNIQUE INDEX model_versions_one_active_per_kind ON model_versions (kind) WHERE active`,
  );

  await knex.schema.createTable('flags', (t) => {
    t.bigIncrements('id').primary();
    t.text('source_topic').notNullable();
    t.integer('source_partition').notNullable();
    t.bigInteger('source_offset').notNullable();
    t.text('record_id').notNullable();
    t.text('kind').notNullable();
    /** The value compared with the threshold (the model's score_name, higher = more anomalous). */
    t.double('score').notNullable();
    t.double('waic').notNullable();
    t.double('logp_mean').notNullable();
    t.double('logp_var').notNullable();
    t.double('rate').notNullable();
    t.double('threshold').notNullable();
    t.text('model_version').notNullable();
    t.timestamp('event_time', { useTz: true }).nullable();
    t.timestamp('flagged_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.jsonb('payload').notNullable().defaultTo(knex.raw(`'{}'::jsonb`));
    t.unique(['source_topic', 'source_partition', 'source_offset'], {
      indexName: 'flags_source_unique',
    });
    t.check(`kind IN ${KINDS}`, [], 'flags_kind_check');
    t.check(`source_partition >= 0 AND source_offset >= 0`, [], 'flags_source_check');
  });
  await knex.raw(`CREATE INDEX flags_flagged_at_idx ON flags (flagged_at DESC)`);
  await knex.raw(`CREATE INDEX flags_kind_flagged_at_idx ON flags (kind, flagged_at DESC)`);
  await knex.raw(`CREATE INDEX flags_score_idx ON flags (score DESC)`);

  await knex.schema.createTable('stream_counters', (t) => {
    t.timestamp('minute', { useTz: true }).notNullable();
    t.text('kind').notNullable();
    t.text('topic').notNullable();
    t.bigInteger('scored').notNullable().defaultTo(0);
    t.bigInteger('flagged').notNullable().defaultTo(0);
    t.bigInteger('dead_lettered').notNullable().defaultTo(0);
    t.primary(['minute', 'kind', 'topic'], { constraintName: 'stream_counters_pkey' });
    t.check(`kind IN ${KINDS}`, [], 'stream_counters_kind_check');
    t.check(`scored >= 0 AND flagged >= 0 AND dead_lettered >= 0`, [], 'stream_counters_nonnegative_check');
    // Rows are whole minutes (UTC), so adding to a row really aggregates one minute.
    t.check(
      `minute = date_trunc('minute', minute AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'`,
      [],
      'stream_counters_minute_check',
    );
  });

  await knex.raw(`
    CREATE VIEW recent_flags AS
    SELECT id, kind, record_id, score, threshold, waic, logp_mean, logp_var, rate, model_version,
           source_topic, source_partition, source_offset, event_time, flagged_at, payload
      FROM flags
     WHERE flagged_at >= now() - interval '24 hours'
     ORDER BY flagged_at DESC, id DESC`);

  await knex.raw(`
    CREATE VIEW flag_rate_per_minute AS
    SELECT minute, kind,
           sum(scored)::bigint AS scored,
           sum(flagged)::bigint AS flagged,
           sum(dead_lettered)::bigint AS dead_lettered,
           CASE WHEN sum(scored) > 0
                THEN sum(flagged)::double precision / sum(scored)::double precision
           END AS flag_rate
      FROM stream_counters
     GROUP BY minute, kind
     ORDER BY minute DESC, kind`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP VIEW IF EXISTS flag_rate_per_minute`);
  await knex.raw(`DROP VIEW IF EXISTS recent_flags`);
  await knex.schema.dropTableIfExists('stream_counters');
  await knex.schema.dropTableIfExists('flags');
  await knex.schema.dropTableIfExists('model_versions');
}
