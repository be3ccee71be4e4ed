/**
 * Many instances, one group: three `gensemble serve` processes in one consumer group on a 6-partition
 * topic, a replay of 100,000 transactions; one instance SIGKILLed mid-stream and a fourth added later
 * (two more rebalances). Every record is scored once in effect: counters exact, one flag per flagged
 * record and the flagged set equal to the engine's offline scores, the group's committed offsets equal
 * to the end of every partition and to PostgreSQL's high-water marks (offsets are committed only after
 * the database commit), nothing dead-lettered.
 *
 * kafkajs 2.2.4 implements only the eager rebalance protocol (no cooperative-sticky assignor): every
 * rebalance revokes all partitions; correctness here rests on the high-water marks, not on the
 * assignor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { testKafka, createTopic, deleteTopics } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { waitFor, withTimeout } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { TRANSACTION_PCA_FIELDS, type Transaction } from '../../../src/schemas/schemas.js';
import { creditTransactions, counterTotals, flagsOf, offlineScores, produceAll } from './support.js';
import { transactionCodec } from '../../../src/schemas/codec.js';
import { serveEnv, startServe, type ServeProcess } from './serve-process.js';

const N = 100_000;
const PARTITIONS = 6;

describe('scale-out: several serve processes in one consumer group', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let model: TestModel;
  let records: Transaction[];
  let raw: Float32Array;
  const topics: string[] = [];
  const procs: ServeProcess[] = [];

  beforeAll(async () => {
    kafka = testKafka('scale-out');
    let base;
    [pg, model, base] = await Promise.all([
      createIsolatedSchema({ prefix: 'scale_out' }),
      testModel('transactions'),
      creditTransactions(50_000),
    ]);
    // 100,000 records: the subset's first 50,000 rows twice, each with its own id.
    records = new Array<Transaction>(N);
    raw = new Float32Array(N * 30);
    for (let i = 0; i < N; i++) {
      const src = i % base.records.length;
      records[i] = { ...base.records[src], id: `tx-${i}`, event_time: base.records[src].event_time + i };
      raw.set(base.raw.subarray(src * 30, src * 30 + 30), i * 30);
    }
    // The raw row and the record carry the same numbers (time, V1..V28, amount).
    const r = records[N - 1];
    const row = raw.subarray((N - 1) * 30, N * 30);
    expect([r.time_seconds, ...TRANSACTION_PCA_FIELDS.map((f) => r[f]), r.amount]).toEqual(Array.from(row));
  });

  afterAll(async () => {
    for (const p of procs) if (p.running()) p.child.kill('SIGKILL');
    await pg?.drop();
    await deleteTopics(kafka, topics).catch(() => undefined);
  });

  it('100,000 transactions, 6 partitions, 3 instances, one SIGKILLed and one added: exactly once in effect', async () => {
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-scale', partitions: PARTITIONS }),
      createTopic(kafka, { prefix: 'dlq-scale' }),
    ]);
    topics.push(topic, dlq);
    const group = `scale-${Date.now()}`;
    const env = serveEnv({
      schema: pg.schema,
      topic,
      dlq,
      group,
      extra: {
        // Small fetches: many batches per partition, so kills and rebalances land between commits.
        STREAM_MAX_BYTES_PER_PARTITION: '32768',
        STREAM_PARTITIONS_CONCURRENCY: '3',
      },
    });
    const args = ['--kinds', 'transactions', '--model-transactions', model.dir, '--no-http'];
    const start = () => {
      const p = startServe(env, args);
      procs.push(p);
      return p;
    };
    const codec = transactionCodec();
    const t0 = Date.now();
    const [a, b, c] = [start(), start(), start()];
    const joined = (p: ServeProcess) => p.entries().filter((e) => e.msg === 'joined consumer group').length;
    await waitFor(() => [a, b, c].every((p) => joined(p) >= 1), {
      timeoutMs: 90_000,
      what: 'three instances in the group',
    });
    // A replay while the stream runs: 2,500 records every 400 ms (about 6,000 records/s for 16 s).
    const producing = (async () => {
      for (let i = 0; i < N; i += 2500) {
        const slice = records.slice(i, i + 2500);
        await produceAll(
          kafka,
          topic,
          slice.map((r, j) => ({ key: String(i + j), value: codec.encode(r) })),
          2500,
        );
        await new Promise((r) => setTimeout(r, 400));
      }
    })();
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= 20_000, {
      timeoutMs: 120_000,
      intervalMs: 100,
      what: '20,000 records scored before the kill',
    });
    b.child.kill('SIGKILL');
    expect((await withTimeout(b.exited, 10_000, () => 'the killed instance to exit')).signal).toBe('SIGKILL');
    const atKill = (await counterTotals(pg.db, topic)).scored;
    expect(atKill).toBeLessThan(N);
    // The group notices the dead member after its session timeout and hands its partitions over.
    const aJoinsBefore = joined(a);
    await waitFor(() => joined(a) > aJoinsBefore && joined(c) >= 2, {
      timeoutMs: 90_000,
      what: 'the survivors to rebalance after the kill',
    });
    const d = start();
    await waitFor(() => joined(d) >= 1, { timeoutMs: 90_000, what: 'the fourth instance to join' });
    await withTimeout(producing, 120_000, () => 'the replay');
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= N, {
      timeoutMs: 180_000,
      intervalMs: 250,
      what: `all ${N} records scored`,
    });
    const seconds = (Date.now() - t0) / 1000;
    for (const p of [a, c, d]) p.child.kill('SIGTERM');
    for (const p of [a, c, d]) {
      const ex = await withTimeout(p.exited, 60_000, () => 'an instance to exit after SIGTERM');
      expect(ex.code, p.logs.slice(-5).join('\n')).toBe(0);
    }

    // Counters exact: every record scored once in effect.
    const totals = await counterTotals(pg.db, topic);
    expect(totals.scored).toBe(N);
    expect(totals.deadLettered).toBe(0);
    // Flags: one per flagged record, equal to the offline engine's decision.
    const flags = await flagsOf(pg.db, topic);
    expect(flags.length).toBe(totals.flagged);
    const ids = flags.map((f) => f.record_id);
    expect(new Set(ids).size).toBe(ids.length);
    const ref = await offlineScores(model.dir, raw, N);
    const expected = new Set<string>();
    ref.scores.forEach((s, i) => s > ref.threshold && expected.add(`tx-${i}`));
    expect(expected.size).toBeGreaterThan(100);
    expect(new Set(ids)).toEqual(expected);

    // Offsets: committed to the end of every partition, matching PostgreSQL's high-water marks.
    const admin = kafka.admin();
    await admin.connect();
    try {
      const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
      const [committed] = await admin.fetchOffsets({ groupId: `${group}.transactions`, topics: [topic] });
      const marks = await pg
        .db('stream_offsets')
        .where('source_topic', topic)
        .select('source_partition', 'last_offset');
      expect(marks).toHaveLength(PARTITIONS);
      for (const m of marks as { source_partition: number; last_offset: string }[]) {
        const end = ends.get(m.source_partition);
        expect(Number(m.last_offset) + 1).toBe(end);
        expect(Number(committed.partitions.find((p) => p.partition === m.source_partition)?.offset)).toBe(
          end,
        );
      }
      expect([...ends.values()].reduce((s, x) => s + x, 0)).toBe(N);
    } finally {
      await admin.disconnect();
    }
    // Every partition was scored by more than one instance over the run (rebalances happened).
    const scorers = new Map<number, Set<number>>();
    for (const [i, p] of [a, b, c, d].entries())
      for (const e of p.entries())
        if (e.msg === 'joined consumer group') {
          const assignment = (e.assignment as Record<string, number[]> | undefined)?.[topic] ?? [];
          for (const part of assignment)
            (scorers.get(part) ?? scorers.set(part, new Set()).get(part))?.add(i);
        }
    expect([...scorers.values()].some((s) => s.size > 1)).toBe(true);
    console.log(
      `[scale-out] ${N} records, 4 instances over the run, ${seconds.toFixed(1)} s; scored at kill ${atKill}`,
    );
  });
});
