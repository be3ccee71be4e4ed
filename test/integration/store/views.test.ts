/** The SQL views (recent_flags, flag_rate_per_minute) over rows the FlagStore writes. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlagStore, type BatchRecord } from '../../../src/store/index.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';

let t: IsolatedSchema;
beforeAll(async () => {
  t = await createIsolatedSchema({ prefix: 'store_views' });
}, 60_000);
afterAll(async () => {
  await t?.drop();
});

const flagged = (offset: number, score: number): BatchRecord => ({
  offset,
  outcome: 'flagged',
  flag: {
    recordId: `r${offset}`,
    score,
    waic: -score,
    logpMean: -score,
    logpVar: 0,
    rate: 1,
    threshold: 10,
    modelVersion: 'v1',
    eventTime: null,
  },
});

describe('views', () => {
  it('recent_flags: last 24 h only, newest first', async () => {
    const store = new FlagStore(t.db);
    await store.writeBatch({
      topic: 'tx',
      partition: 0,
      kind: 'transactions',
      records: [flagged(0, 11), flagged(1, 12)],
    });
    // An old flag, written directly with an explicit flagged_at.
    await t.db('flags').insert({
      source_topic: 'tx',
      source_partition: 0,
      source_offset: 99,
      record_id: 'old',
      kind: 'transactions',
      score: 50,
      waic: -50,
      logp_mean: -50,
      logp_var: 0,
      rate: 1,
      threshold: 10,
      model_version: 'v0',
      flagged_at: new Date(Date.now() - 2 * 86_400_000),
    });
    // A newer one, one minute in the future relative to the others.
    await t.db('flags').insert({
      source_topic: 'tx',
      source_partition: 0,
      source_offset: 98,
      record_id: 'newest',
      kind: 'transactions',
      score: 13,
      waic: -13,
      logp_mean: -13,
      logp_var: 0,
      rate: 1,
      threshold: 10,
      model_version: 'v1',
      flagged_at: new Date(Date.now() + 60_000),
    });
    const rows = await t.db('recent_flags').select('record_id', 'score');
    expect(rows.map((r: { record_id: string }) => r.record_id)).toEqual(['newest', 'r1', 'r0']);
  });

  it('flag_rate_per_minute sums topics per minute and kind, with the flag rate', async () => {
    const m1 = new Date('2026-11-29T10:00:00Z');
    const m2 = new Date('2026-11-29T10:01:00Z');
    await t.db('stream_counters').insert([
      { minute: m1, kind: 'frames', topic: 'a', scored: 100, flagged: 5, dead_lettered: 1 },
      { minute: m1, kind: 'frames', topic: 'b', scored: 300, flagged: 15, dead_lettered: 2 },
      { minute: m2, kind: 'frames', topic: 'a', scored: 0, flagged: 0, dead_lettered: 4 },
    ]);
    const rows = await t
      .db('flag_rate_per_minute')
      .select('minute', 'kind', 'scored', 'flagged', 'dead_lettered', 'flag_rate')
      .where('kind', 'frames')
      .orderBy('minute');
    expect(
      rows.map(
        (r: {
          minute: Date;
          scored: string;
          flagged: string;
          dead_lettered: string;
          flag_rate: number | null;
        }) => [
          r.minute.toISOString(),
          Number(r.scored),
          Number(r.flagged),
          Number(r.dead_lettered),
          r.flag_rate,
        ],
      ),
    ).toEqual([
      ['2026-11-29T10:00:00.000Z', 400, 20, 3, 0.05],
      ['2026-11-29T10:01:00.000Z', 0, 0, 4, null],
    ]);
    const store = new FlagStore(t.db);
    const api = await store.flagRatePerMinute({ kind: 'frames', since: '2026-11-29T10:00:30Z' });
    expect(api).toEqual([
      { minute: m2, kind: 'frames', scored: 0, flagged: 0, deadLettered: 4, flagRate: null },
    ]);
  });

  it('writeBatch counters land in the current UTC minute', async () => {
    const store = new FlagStore(t.db);
    const before = Date.now();
    await store.writeBatch({
      topic: 'cnt',
      partition: 0,
      kind: 'transactions',
      records: [{ offset: 0, outcome: 'scored' }, flagged(1, 20), { offset: 2, outcome: 'dead_lettered' }],
    });
    const after = Date.now();
    const rows = await t.db('stream_counters').where('topic', 'cnt');
    expect(rows.length).toBe(1);
    const r = rows[0] as { minute: Date; scored: string; flagged: string; dead_lettered: string };
    expect([Number(r.scored), Number(r.flagged), Number(r.dead_lettered)]).toEqual([2, 1, 1]);
    expect(r.minute.getTime() % 60_000).toBe(0);
    expect(r.minute.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 60_000) * 60_000 - 60_000);
    expect(r.minute.getTime()).toBeLessThanOrEqual(after);
  });
});
