import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';

/**
 * The knex migrations against the real PostgreSQL, inside a private schema (not public): up, the
 * constraints and views of the initial migration, down to nothing, and up again.
 */

const OWN_TABLES = ['flags', 'model_versions', 'stream_counters'];
const OWN_VIEWS = ['flag_rate_per_minute', 'recent_flags'];
/** The flags' uniqueness guard (20261202000000_stream_offsets_per_group). */
const FLAG_KEY = [
  'consumer_group',
  'source_topic',
  'source_partition',
  'source_incarnation',
  'source_offset',
];

async function relations(db: Knex, schema: string): Promise<{ tables: string[]; views: string[] }> {
  const rows = (
    await db.raw<{ rows: Array<{ table_name: string; table_type: string }> }>(
      `SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = ? ORDER BY 1`,
      [schema],
    )
  ).rows;
  return {
    tables: rows.filter((r) => r.table_type === 'BASE TABLE').map((r) => r.table_name),
    views: rows.filter((r) => r.table_type === 'VIEW').map((r) => r.table_name),
  };
}

function flagRow(offset: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    source_topic: 'tx',
    source_partition: 0,
    source_offset: offset,
    record_id: `r${offset}`,
    kind: 'transactions',
    score: 10 + offset,
    waic: -1,
    logp_mean: -2,
    logp_var: 1,
    rate: 3,
    threshold: 9.5,
    model_version: 'v1',
    ...extra,
  };
}

describe('knex migrations on the real PostgreSQL (isolated schema)', () => {
  let iso: IsolatedSchema;
  let db: Knex;

  beforeAll(async () => {
    iso = await createIsolatedSchema({ migrate: false, prefix: 'mig' });
    db = iso.db;
  });
  afterAll(async () => {
    await iso?.drop();
  });

  it('migrates up into the private schema only', async () => {
    const before = await relations(db, iso.schema);
    expect(before.tables).toEqual([]);
    const [, applied] = (await db.migrate.latest()) as [number, string[]];
    expect(applied).toContain('20261129000000_initial');
    const after = await relations(db, iso.schema);
    for (const t of [...OWN_TABLES, 'knex_migrations', 'knex_migrations_lock'])
      expect(after.tables).toContain(t);
    for (const v of OWN_VIEWS) expect(after.views).toContain(v);
    const [current] = (await db.raw<{ rows: Array<{ s: string }> }>('SELECT current_schema() AS s')).rows;
    expect(current!.s).toBe(iso.schema);
    // Running again applies nothing.
    const [, again] = (await db.migrate.latest()) as [number, string[]];
    expect(again).toEqual([]);
  });

  it('keys flags by (group, topic, partition, incarnation, offset): ON CONFLICT DO NOTHING drops a replay', async () => {
    const first = await db('flags')
      .insert([flagRow(1), flagRow(2)])
      .onConflict(FLAG_KEY)
      .ignore()
      .returning('id');
    expect(first).toHaveLength(2);
    const replay = await db('flags')
      .insert([flagRow(2, { score: 999 }), flagRow(3)])
      .onConflict(FLAG_KEY)
      .ignore()
      .returning('id');
    expect(replay).toHaveLength(1);
    const rows = await db('flags')
      .select('source_offset', 'score', 'payload', 'flagged_at')
      .orderBy('source_offset');
    expect(rows.map((r: { source_offset: string }) => Number(r.source_offset))).toEqual([1, 2, 3]);
    expect(rows.map((r: { score: number }) => r.score)).toEqual([11, 12, 13]); // not 999
    expect(rows[0].payload).toEqual({});
    expect(rows[0].flagged_at).toBeInstanceOf(Date);
    // A plain duplicate insert is rejected by the unique constraint.
    await expect(db('flags').insert(flagRow(1))).rejects.toThrow(/flags_source_unique/);
    await expect(db('flags').insert(flagRow(9, { kind: 'Audio files' }))).rejects.toThrow(/flags_kind_check/);
    await expect(db('flags').insert(flagRow(-1))).rejects.toThrow(/flags_source_check/);
    // Another consumer group, or another life of the topic, has flags of its own at the same offset.
    await db('flags').insert(flagRow(1, { consumer_group: 'rescore' }));
    await db('flags').insert(flagRow(1, { source_incarnation: 1 }));
  });

  it('allows at most one active model version per kind', async () => {
    const mv = (version: string, kind: string, active: boolean) => ({
      version,
      kind,
      checkpoint_path: `models/${version}`,
      manifest: JSON.stringify({ members: 5 }),
      threshold: 1.5,
      score_name: 'neg_waic',
      active,
    });
    await db('model_versions').insert([
      mv('t1', 'transactions', true),
      mv('f1', 'frames', true),
      mv('t2', 'transactions', false),
    ]);
    await expect(db('model_versions').insert(mv('t3', 'transactions', true))).rejects.toThrow(
      /model_versions_one_active_per_kind/,
    );
    await expect(db('model_versions').insert(mv('t1', 'frames', false))).rejects.toThrow(/unique/);
    // Switching the active version inside one transaction works.
    await db.transaction(async (trx) => {
      await trx('model_versions').where({ kind: 'transactions', active: true }).update({ active: false });
      await trx('model_versions').where({ version: 't2' }).update({ active: true });
    });
    const active = await db('model_versions')
      .where({ active: true })
      .orderBy('kind')
      .select('kind', 'version');
    expect(active).toEqual([
      { kind: 'frames', version: 'f1' },
      { kind: 'transactions', version: 't2' },
    ]);
    const [row] = await db('model_versions').where({ version: 't2' }).select('manifest', 'created_at');
    expect(row.manifest).toEqual({ members: 5 });
  });

  it('adds per-minute counters on upsert and reports the flag rate per minute', async () => {
    const add = (
      minute: string,
      kind: string,
      topic: string,
      scored: number,
      flagged: number,
      dead: number,
    ) =>
      db('stream_counters')
        .insert({ minute, kind, topic, scored, flagged, dead_lettered: dead })
        .onConflict(['minute', 'kind', 'topic', 'consumer_group', 'source_partition'])
        .merge({
          scored: db.raw('stream_counters.scored + excluded.scored'),
          flagged: db.raw('stream_counters.flagged + excluded.flagged'),
          dead_lettered: db.raw('stream_counters.dead_lettered + excluded.dead_lettered'),
        });
    const m1 = '2026-11-29T10:00:00Z';
    const m2 = '2026-11-29T10:01:00Z';
    await add(m1, 'transactions', 'tx-a', 100, 3, 1);
    await add(m1, 'transactions', 'tx-a', 50, 2, 0); // same row: adds
    await add(m1, 'transactions', 'tx-b', 50, 5, 2); // other topic, same minute and kind
    await add(m1, 'frames', 'img', 10, 1, 0);
    await add(m2, 'frames', 'img', 0, 0, 4);
    const [tx] = await db('stream_counters').where({ minute: m1, kind: 'transactions', topic: 'tx-a' });
    expect([Number(tx.scored), Number(tx.flagged), Number(tx.dead_lettered)]).toEqual([150, 5, 1]);

    // A counter row must be a whole minute.
    await expect(add('2026-11-29T10:00:30Z', 'frames', 'img', 1, 0, 0)).rejects.toThrow(
      /stream_counters_minute_check/,
    );
    await expect(add(m1, 'frames', 'img', -1, 0, 0)).rejects.toThrow(/stream_counters_nonnegative_check/);

    const rate = await db('flag_rate_per_minute').select();
    const simple = rate.map((r: Record<string, unknown>) => ({
      minute: (r.minute as Date).toISOString(),
      kind: r.kind,
      scored: Number(r.scored),
      flagged: Number(r.flagged),
      dead_lettered: Number(r.dead_lettered),
      flag_rate: r.flag_rate,
    }));
    // Hand-computed: newest minute first; transactions at m1 sum both topics: 200 scored, 10 flagged.
    expect(simple).toEqual([
      {
        minute: '2026-11-29T10:01:00.000Z',
        kind: 'frames',
        scored: 0,
        flagged: 0,
        dead_lettered: 4,
        flag_rate: null,
      },
      {
        minute: '2026-11-29T10:00:00.000Z',
        kind: 'frames',
        scored: 10,
        flagged: 1,
        dead_lettered: 0,
        flag_rate: 0.1,
      },
      {
        minute: '2026-11-29T10:00:00.000Z',
        kind: 'transactions',
        scored: 200,
        flagged: 10,
        dead_lettered: 3,
        flag_rate: 0.05,
      },
    ]);
  });

  it('recent_flags shows the last 24 hours, newest first', async () => {
    await db('flags').del();
    const now = Date.now();
    const at = (hoursAgo: number) => new Date(now - hoursAgo * 3600_000).toISOString();
    await db('flags').insert([
      flagRow(10, { flagged_at: at(1) }),
      flagRow(11, { flagged_at: at(30) }), // too old
      flagRow(12, { flagged_at: at(0.5) }),
      flagRow(13, { flagged_at: at(23.9) }),
    ]);
    const recent = await db('recent_flags').select('source_offset');
    expect(recent.map((r: { source_offset: string }) => Number(r.source_offset))).toEqual([12, 10, 13]);
  });

  it('migrates down to nothing and up again', async () => {
    await db.migrate.rollback(undefined, true);
    const down = await relations(db, iso.schema);
    for (const t of OWN_TABLES) expect(down.tables).not.toContain(t);
    expect(down.views).toEqual([]);
    // Only knex's bookkeeping remains, with no applied migrations.
    expect(down.tables.filter((t) => !t.startsWith('knex_migrations'))).toEqual([]);
    expect(await db('knex_migrations').count<{ count: string }[]>('* as count')).toEqual([{ count: '0' }]);
    const types = (
      await db.raw<{ rows: unknown[] }>(
        `SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE n.nspname = ? AND t.typtype = 'e'`,
        [iso.schema],
      )
    ).rows;
    expect(types).toEqual([]);

    await db.migrate.latest();
    const up = await relations(db, iso.schema);
    for (const t of OWN_TABLES) expect(up.tables).toContain(t);
    for (const v of OWN_VIEWS) expect(up.views).toContain(v);
    expect(await db('flags').count<{ count: string }[]>('* as count')).toEqual([{ count: '0' }]);
  });
});
