import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  FlagStore,
  StoreInputError,
  type BatchRecord,
  type FlagFields,
  type PartitionBatch,
} from '../../../src/store/index.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';

let t: IsolatedSchema;
beforeAll(async () => {
  t = await createIsolatedSchema({ prefix: 'store_flags' });
}, 60_000);
afterAll(async () => {
  await t?.drop();
});

function flag(recordId: string, score: number, over: Partial<FlagFields> = {}): FlagFields {
  return {
    recordId,
    score,
    waic: -score,
    logpMean: -score + 1,
    logpVar: 1,
    rate: 2.5,
    threshold: 100,
    modelVersion: 'tx-v1',
    eventTime: 1_764_000_000_000,
    payload: { amount: 12.5 },
    ...over,
  };
}

/** offsets from..to; every 3rd flagged (score 100 + offset), every 7th dead-lettered. */
function records(from: number, to: number, mv = 'tx-v1'): BatchRecord[] {
  const out: BatchRecord[] = [];
  for (let o = from; o <= to; o++) {
    if (o % 7 === 6) out.push({ offset: String(o), outcome: 'dead_lettered' });
    else if (o % 3 === 0)
      out.push({ offset: String(o), outcome: 'flagged', flag: flag(`r${o}`, 100 + o, { modelVersion: mv }) });
    else out.push({ offset: String(o), outcome: 'scored' });
  }
  return out;
}

/** Independent count of what records(from, to) should add. */
function expected(from: number, to: number) {
  let scored = 0;
  let flagged = 0;
  let dl = 0;
  for (let o = from; o <= to; o++) {
    if (o % 7 === 6) dl++;
    else {
      scored++;
      if (o % 3 === 0) flagged++;
    }
  }
  return { scored, flagged, dl };
}

async function counters(topic: string) {
  const r = await t.db.raw<{ rows: { scored: string; flagged: string; dl: string }[] }>(
    `SELECT coalesce(sum(scored),0) AS scored, coalesce(sum(flagged),0) AS flagged,
            coalesce(sum(dead_lettered),0) AS dl FROM stream_counters WHERE topic = ?`,
    [topic],
  );
  const row = r.rows[0];
  return { scored: Number(row.scored), flagged: Number(row.flagged), dl: Number(row.dl) };
}

async function flagOffsets(topic: string): Promise<number[]> {
  const rows = await t
    .db('flags')
    .select('source_offset')
    .where('source_topic', topic)
    .orderBy('source_offset');
  return rows.map((r: { source_offset: string }) => Number(r.source_offset));
}

async function hwm(topic: string, partition = 0): Promise<string | undefined> {
  const r = await t.db('stream_offsets').where({ source_topic: topic, source_partition: partition }).first();
  return r ? String((r as { last_offset: string }).last_offset) : undefined;
}

describe('writeBatch is exactly-once', () => {
  it('the same batch twice: no duplicate flags, counters counted once', async () => {
    const store = new FlagStore(t.db);
    const topic = 'idem';
    const batch: PartitionBatch = { topic, partition: 0, kind: 'transactions', records: records(0, 20) };
    const e = expected(0, 20);
    const first = await store.writeBatch(batch);
    expect(first.inserted).toBe(e.flagged);
    expect(first.counted).toEqual({ scored: e.scored, flagged: e.flagged, deadLettered: e.dl });
    expect(first.lastOffset).toBe('20');

    const again = await store.writeBatch(batch);
    expect(again).toEqual({
      inserted: 0,
      skipped: 21,
      counted: { scored: 0, flagged: 0, deadLettered: 0 },
      lastOffset: '20',
    });
    expect(await counters(topic)).toEqual(e);
    expect(await flagOffsets(topic)).toEqual([0, 3, 9, 12, 15, 18]); // 6 and 20%7=6 → dead-lettered
    expect(await hwm(topic)).toBe('20');
  });

  it('an overlapping redelivery counts only the new offsets', async () => {
    const store = new FlagStore(t.db);
    const topic = 'overlap';
    await store.writeBatch({ topic, partition: 1, kind: 'transactions', records: records(0, 9) });
    const r = await store.writeBatch({ topic, partition: 1, kind: 'transactions', records: records(5, 30) });
    expect(r.skipped).toBe(5);
    expect(await counters(topic)).toEqual(expected(0, 30));
    const offs = await flagOffsets(topic);
    expect(offs).toEqual([0, 3, 9, 12, 15, 18, 21, 24, 30]); // 27 % 7 === 6 → dead-lettered
    expect(new Set(offs).size).toBe(offs.length);
  });

  it('partitions are independent', async () => {
    const store = new FlagStore(t.db);
    const topic = 'parts';
    await store.writeBatch({ topic, partition: 0, kind: 'frames', records: records(0, 5) });
    const r = await store.writeBatch({ topic, partition: 1, kind: 'frames', records: records(0, 5) });
    expect(r.skipped).toBe(0);
    expect(await counters(topic)).toEqual({
      scored: 2 * expected(0, 5).scored,
      flagged: 2 * expected(0, 5).flagged,
      dl: 2 * expected(0, 5).dl,
    });
    expect((await store.committedOffsets(topic)).get(1)).toBe('5');
  });

  it('ON CONFLICT DO NOTHING still guards flags when the high-water mark is lost', async () => {
    const store = new FlagStore(t.db);
    const topic = 'guard';
    const batch: PartitionBatch = { topic, partition: 0, kind: 'transactions', records: records(0, 9) };
    await store.writeBatch(batch);
    await t.db('stream_offsets').where('source_topic', topic).del();
    const r = await store.writeBatch(batch);
    expect(r.inserted).toBe(0);
    expect((await flagOffsets(topic)).length).toBe(expected(0, 9).flagged);
  });

  it('offsets beyond 2^53 keep their exact value', async () => {
    const store = new FlagStore(t.db);
    const big = '9007199254740993'; // 2^53 + 1
    await store.writeBatch({
      topic: 'bigoff',
      partition: 0,
      kind: 'transactions',
      records: [{ offset: big, outcome: 'flagged', flag: flag('b', 500) }],
    });
    expect(await hwm('bigoff')).toBe(big);
    const rows = await store.queryFlags({ topic: 'bigoff' });
    expect(rows[0].sourceOffset).toBe(big);
  });

  it('bad offsets are a StoreInputError before any SQL', async () => {
    const store = new FlagStore(t.db);
    for (const offset of ['abc', '-1', '1; DROP TABLE flags']) {
      await expect(
        store.writeBatch({
          topic: 'bad',
          partition: 0,
          kind: 'transactions',
          records: [{ offset, outcome: 'scored' }],
        }),
      ).rejects.toBeInstanceOf(StoreInputError);
    }
    await expect(
      store.writeBatch({ topic: 'bad', partition: 0, kind: 'no pe', records: [] }),
    ).rejects.toBeInstanceOf(StoreInputError);
    expect(await hwm('bad')).toBeUndefined();
  });
});

describe('writeBatch is atomic', () => {
  it('batches of different partitions do not wait for each other (no shared counter row)', async () => {
    const store = new FlagStore(t.db);
    const topic = 'parallel-parts';
    // Partition 0's batch transaction stays open (scored, written, not yet committed) …
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    let wrote: () => void = () => undefined;
    const written = new Promise<void>((r) => (wrote = r));
    const first = t.db.transaction(async (trx) => {
      await store.writeBatch({ topic, partition: 0, kind: 'transactions', records: records(0, 20) }, trx);
      wrote();
      await held;
    });
    await written;
    // … while partition 1's batch commits in its own transaction, bounded by a lock timeout: with one
    // counter row per (minute, kind, topic, group) it waited for partition 0's row lock.
    try {
      await t.db.transaction(async (trx) => {
        await trx.raw(`SET LOCAL lock_timeout = '2s'`);
        await store.writeBatch({ topic, partition: 1, kind: 'transactions', records: records(0, 20) }, trx);
      });
    } finally {
      release();
      await first;
    }
    expect(await counters(topic)).toEqual({
      scored: 2 * expected(0, 20).scored,
      flagged: 2 * expected(0, 20).flagged,
      dl: 2 * expected(0, 20).dl,
    });
    const rows = await t.db('stream_counters').where('topic', topic).select('source_partition');
    expect(rows.map((r: { source_partition: number }) => r.source_partition).sort()).toEqual([0, 1]);
  });

  it('a failure after the inserts (in the caller transaction) leaves nothing', async () => {
    const store = new FlagStore(t.db);
    const topic = 'atomic-trx';
    await expect(
      t.db.transaction(async (trx) => {
        const r = await store.writeBatch(
          { topic, partition: 0, kind: 'transactions', records: records(0, 20) },
          trx,
        );
        expect(r.inserted).toBeGreaterThan(0);
        // visible inside the transaction
        const inside = await trx('flags')
          .count<{ count: string }[]>('* as count')
          .where('source_topic', topic);
        expect(Number(inside[0].count)).toBe(r.inserted);
        throw new Error('crash before commit');
      }),
    ).rejects.toThrow('crash before commit');
    expect(await flagOffsets(topic)).toEqual([]);
    expect(await counters(topic)).toEqual({ scored: 0, flagged: 0, dl: 0 });
    expect(await hwm(topic)).toBeUndefined();
  });

  it('a database error in a later insert chunk rolls back the earlier chunks, counters and mark', async () => {
    const store = new FlagStore(t.db, { insertChunk: 2 });
    const topic = 'atomic-chunk';
    await store.writeBatch({ topic, partition: 0, kind: 'transactions', records: records(0, 2) });
    const before = await counters(topic);
    const recs: BatchRecord[] = [];
    for (let o = 3; o < 9; o++) {
      // PostgreSQL rejects NUL in text: the 5th flag (3rd chunk) fails.
      recs.push({ offset: o, outcome: 'flagged', flag: flag(o === 7 ? 'bad\u0000id' : `ok${o}`, 200) });
    }
    await expect(
      store.writeBatch({ topic, partition: 0, kind: 'transactions', records: recs }),
    ).rejects.toThrow();
    expect(await flagOffsets(topic)).toEqual([0]);
    expect(await counters(topic)).toEqual(before);
    expect(await hwm(topic)).toBe('2');
    // the batch, fixed, goes through afterwards
    recs[4] = { offset: 7, outcome: 'flagged', flag: flag('fixed', 200) };
    const r = await store.writeBatch({ topic, partition: 0, kind: 'transactions', records: recs });
    expect(r.inserted).toBe(6);
    expect(await flagOffsets(topic)).toEqual([0, 3, 4, 5, 6, 7, 8]);
  });

  it('concurrent writers of the same batch (e.g. during a rebalance) still write it once', async () => {
    const store = new FlagStore(t.db);
    const topic = 'concurrent';
    const batch: PartitionBatch = { topic, partition: 0, kind: 'transactions', records: records(0, 50) };
    const results = await Promise.all([1, 2, 3, 4].map(() => store.writeBatch(batch)));
    expect(results.reduce((s, r) => s + r.inserted, 0)).toBe(expected(0, 50).flagged);
    expect(await counters(topic)).toEqual(expected(0, 50));
  });
});

describe('queryFlags', () => {
  beforeAll(async () => {
    const store = new FlagStore(t.db);
    await store.writeBatch({
      topic: 'q',
      partition: 0,
      kind: 'transactions',
      records: records(0, 30, 'tx-v1'),
    });
    await store.writeBatch({ topic: 'qf', partition: 0, kind: 'frames', records: records(0, 10, 'fr-v1') });
  });

  it('filters by kind, minScore, modelVersion, topic and limit', async () => {
    const store = new FlagStore(t.db);
    const tx = await store.queryFlags({ topic: 'q', limit: 1000 });
    expect(tx.map((f) => Number(f.sourceOffset)).sort((a, b) => a - b)).toEqual([
      0, 3, 9, 12, 15, 18, 21, 24, 30,
    ]);
    const high = await store.queryFlags({ topic: 'q', minScore: 120 });
    expect(high.map((f) => f.score).sort((a, b) => a - b)).toEqual([121, 124, 130]);
    const highStr = await store.queryFlags({ topic: 'q', minScore: '120' });
    expect(highStr.length).toBe(3);
    const frames = await store.queryFlags({ kind: 'frames', topic: 'qf', limit: 1000 });
    expect(frames.every((f) => f.kind === 'frames' && f.modelVersion === 'fr-v1')).toBe(true);
    expect(frames.length).toBe(3); // 0, 3, 9 (6 dead-lettered)
    expect((await store.queryFlags({ modelVersion: 'fr-v1', limit: 1000 })).length).toBe(3);
    expect((await store.queryFlags({ limit: 2 })).length).toBe(2);
    expect((await store.queryFlags({ since: '1h', topic: 'q' })).length).toBe(9);
    expect((await store.queryFlags({ since: new Date(Date.now() + 3_600_000), topic: 'q' })).length).toBe(0);
    const one = (await store.queryFlags({ topic: 'q', minScore: 130 }))[0];
    expect(one).toMatchObject({
      recordId: 'r30',
      score: 130,
      waic: -130,
      logpMean: -129,
      rate: 2.5,
      payload: { amount: 12.5 },
    });
    expect(one.eventTime?.getTime()).toBe(1_764_000_000_000);
  });

  it('hostile values: typed error or empty result, and no injected SQL runs', async () => {
    const store = new FlagStore(t.db);
    const hostile = ['1; DROP TABLE flags', "' OR 1=1 --", "x'; DELETE FROM flags; --", 'tx-v1" OR "1"="1'];
    for (const h of hostile) {
      expect(await store.queryFlags({ modelVersion: h })).toEqual([]);
      expect(await store.queryFlags({ topic: h })).toEqual([]);
      await expect(store.queryFlags({ kind: h as 'frames' })).rejects.toBeInstanceOf(StoreInputError);
      await expect(store.queryFlags({ minScore: h })).rejects.toBeInstanceOf(StoreInputError);
      await expect(store.queryFlags({ since: h })).rejects.toBeInstanceOf(StoreInputError);
      await expect(store.queryFlags({ limit: h })).rejects.toBeInstanceOf(StoreInputError);
    }
    for (const bad of [
      { minScore: Number.NaN },
      { minScore: Number.POSITIVE_INFINITY },
      { limit: 0 },
      { limit: 10_001 },
      { limit: 1.5 },
      { since: '2026-13-45' },
      { modelVersion: '' },
      { modelVersion: 'a\u0000b' },
      { orderBy: 'id; DROP TABLE flags' } as never,
    ]) {
      await expect(store.queryFlags(bad)).rejects.toBeInstanceOf(StoreInputError);
    }
    const err = await store.queryFlags({ minScore: '1; DROP TABLE flags' }).catch((e: unknown) => e);
    expect((err as StoreInputError).field).toBe('minScore');
    // Everything is still there.
    expect((await store.queryFlags({ topic: 'q', limit: 1000 })).length).toBe(9);
    expect(await t.db.schema.hasTable('flags')).toBe(true);
  });
});
