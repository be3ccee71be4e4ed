/**
 * `gensemble serve` as a real child process (bin/gensemble.js through tsx), real broker + PostgreSQL.
 *
 * Crash safety: SIGKILL the server in the middle of a 30,000-transaction run (small fetches, so many
 * batches), start it again, and check that nothing was lost or duplicated: counters add up to
 * exactly what was produced, one flag per flagged record, and the flags equal the offline engine's.
 * Graceful shutdown: SIGTERM during a run → exit code 0, and the group's committed Kafka offsets
 * equal the high-water marks PostgreSQL holds (everything written was committed, nothing more).
 * Also /healthz, /readyz and /metrics of the running server.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { testKafka, createTopic, deleteTopics } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { waitFor, withTimeout } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import {
  closeScore,
  decided,
  expectedFlags,
  counterTotals,
  creditTransactions,
  flagsOf,
  offlineScores,
  produceAll,
  produceTransactions,
  type TxInput,
  expectedEngineLabel,
} from './support.js';
import { serveEnv, startServe, type ServeProcess } from './serve-process.js';

function startServer(env: Record<string, string>, modelDir: string): ServeProcess {
  return startServe(env, ['--kinds', 'transactions', '--model-transactions', modelDir]);
}

describe('gensemble serve as a child process', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let model: TestModel;
  let tx: TxInput;
  const topics: string[] = [];
  const running: ServeProcess[] = [];

  beforeAll(async () => {
    kafka = testKafka('stream-process');
    [pg, model, tx] = await Promise.all([
      createIsolatedSchema({ prefix: 'stream_proc' }),
      testModel('transactions'),
      creditTransactions(30_000),
    ]);
  });

  afterAll(async () => {
    for (const s of running)
      if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
    await pg?.drop();
    await deleteTopics(kafka, topics).catch(() => undefined);
  });

  const envFor = (topic: string, dlq: string, group: string, extra: Record<string, string> = {}) =>
    serveEnv({ schema: pg.schema, topic, dlq, group, extra });

  it('SIGKILL mid-run, restart: no lost and no duplicate flags; counters add up', async () => {
    const N = 30_000;
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-crash', partitions: 2 }),
      createTopic(kafka, { prefix: 'dlq' }),
    ]);
    topics.push(topic, dlq);
    await produceTransactions(kafka, topic, tx.records.slice(0, N), 2000);
    // Small fetches: ~150 records per batch, so the kill lands between many batch commits.
    const env = envFor(topic, dlq, `crash-${Date.now()}`, { STREAM_MAX_BYTES_PER_PARTITION: '49152' });

    const first = startServer(env, model.dir);
    running.push(first);
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= 3000, {
      timeoutMs: 60_000,
      intervalMs: 50,
      what: '3,000 records scored before the kill',
    });
    first.child.kill('SIGKILL');
    const ex = await withTimeout(first.exited, 10_000, () => 'the killed server to exit');
    expect(ex.signal).toBe('SIGKILL');
    const atKill = (await counterTotals(pg.db, topic)).scored;
    expect(atKill).toBeLessThan(N); // killed mid-run

    // Make the redelivery certain: a kill between the DB commit and the offset commit is what the
    // high-water marks are for, but where a SIGKILL lands is luck. Once the dead member has left the
    // group, rewind the group's offsets to 0 (the worst case: Kafka remembers nothing), so the
    // restarted server is handed every record the database already holds.
    const group = `${env.KAFKA_GROUP_ID}.transactions`;
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(async () => (await admin.describeGroups([group])).groups[0]?.state === 'Empty', {
        timeoutMs: 60_000,
        intervalMs: 500,
        what: 'the killed member to leave the group',
      });
      await admin.setOffsets({
        groupId: group,
        topic,
        partitions: [0, 1].map((partition) => ({ partition, offset: '0' })),
      });
    } finally {
      await admin.disconnect();
    }
    const inDb = (await counterTotals(pg.db, topic)).scored;
    const marks = (await pg
      .db('stream_offsets')
      .where('source_topic', topic)
      .select('source_partition', 'last_offset')) as {
      source_partition: number;
      last_offset: string;
    }[];

    const second = startServer(env, model.dir);
    running.push(second);
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= N, {
      timeoutMs: 90_000,
      intervalMs: 200,
      what: `all ${N} records scored after the restart`,
    });
    second.child.kill('SIGTERM');
    const ex2 = await withTimeout(second.exited, 30_000, () => 'the second server to exit');
    expect(ex2.code).toBe(0);

    // The restarted server was handed records PostgreSQL already held (offsets rewound to 0) and
    // skipped them at each partition's mark: nothing was counted or flagged twice (totals below).
    expect(inDb).toBeGreaterThan(0);
    expect(marks.length).toBeGreaterThan(0);
    const skips = second
      .entries()
      .filter((e) => e.msg === 'skipping redelivered records already in PostgreSQL');
    for (const m of marks)
      expect(
        skips.some((e) => e.partition === m.source_partition && e.upTo === String(m.last_offset)),
        `partition ${m.source_partition}: no redelivery skipped up to ${m.last_offset}`,
      ).toBe(true);

    const totals = await counterTotals(pg.db, topic);
    const flags = await flagsOf(pg.db, topic);
    expect(flags.length).toBe(totals.flagged);
    const ref = await offlineScores(model.dir, tx.raw.subarray(0, N * 30), N);
    const { flagged: expected, borderline } = expectedFlags(ref.scores, ref.threshold, (i) => `tx-${i}`);
    expect(totals.scored).toBe(N);
    expect(totals.deadLettered).toBe(0);
    const ids = flags.map((f) => f.record_id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(decided(ids, borderline)).toEqual(new Set(expected.keys()));
    expect(totals.flagged - ids.filter((id) => borderline.has(id)).length).toBe(expected.size);
    expect(borderline.size).toBeLessThan(5);
    for (const f of flags) {
      const want = expected.get(f.record_id) ?? ref.scores[Number(f.record_id.slice(3))];
      if (!closeScore(f.score, want)) expect.fail(`${f.record_id}: ${f.score} vs ${want}`);
    }
  });

  it('SIGTERM: exit 0 with offsets committed; /healthz, /readyz, /metrics while running', async () => {
    const N = 20_000;
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-term' }),
      createTopic(kafka, { prefix: 'dlq' }),
    ]);
    topics.push(topic, dlq);
    const group = `term-${Date.now()}`;
    await produceTransactions(kafka, topic, tx.records.slice(0, N), 2000);
    const s = startServer(envFor(topic, dlq, group, { STREAM_MAX_BYTES_PER_PARTITION: '49152' }), model.dir);
    running.push(s);
    const url = await withTimeout(s.url, 60_000, () => 'the HTTP server');
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    await waitFor(async () => (await fetch(`${url}/readyz`)).status === 200, {
      timeoutMs: 60_000,
      what: '/readyz 200',
    });
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= 2000, {
      timeoutMs: 60_000,
      intervalMs: 50,
      what: 'some records scored',
    });
    // The Prometheus counters move right after the DB transaction commits: poll (bounded) rather
    // than race the consumer between its commit and its metrics update.
    const scoredLine = /gensemble_records_scored_total\{kind="transactions",topic="[^"]+"\} \d+/;
    let metrics = '';
    await waitFor(
      async () => {
        metrics = await (await fetch(`${url}/metrics`)).text();
        return scoredLine.test(metrics);
      },
      { timeoutMs: 30_000, intervalMs: 50, what: '/metrics to count scored records' },
    );
    expect(metrics).toMatch(scoredLine);
    expect(metrics).toMatch(/gensemble_batch_duration_seconds_bucket/);
    expect(metrics).toMatch(
      new RegExp(
        `gensemble_model_info\\{kind="transactions",version="[^"]+",execution_provider="${await expectedEngineLabel(model.dir)}"`,
      ),
    );
    expect(metrics).toMatch(/gensemble_process_resident_memory_bytes/);

    s.child.kill('SIGTERM');
    const ex = await withTimeout(s.exited, 30_000, () => 'the server to exit after SIGTERM');
    expect(ex.code).toBe(0);
    expect(s.logs.some((l) => l.includes('"msg":"bye"'))).toBe(true);

    const hwm = await pg.db('stream_offsets').where('source_topic', topic).first<{ last_offset: string }>();
    const admin = kafka.admin();
    await admin.connect();
    try {
      const [committed] = await admin.fetchOffsets({ groupId: `${group}.transactions`, topics: [topic] });
      expect(committed.partitions[0].offset).toBe(String(Number(hwm.last_offset) + 1));
    } finally {
      await admin.disconnect();
    }
    const totals = await counterTotals(pg.db, topic);
    expect(totals.scored).toBe(Number(hwm.last_offset) + 1);
  });

  it('a dead-letter topic that can never take a record: serve exits 1 with a clear error, nothing committed', async () => {
    const topic = await createTopic(kafka, { prefix: 'tx-fatal-dlq' });
    topics.push(topic);
    await produceAll(kafka, topic, [{ value: Buffer.from('not an Avro record') }]);
    await produceTransactions(kafka, topic, tx.records.slice(0, 10));
    const group = `fatal-${Date.now()}`;
    const s = startServer(
      envFor(topic, 'an invalid topic name!', group, { STREAM_DLQ_MAX_MESSAGE_BYTES: '100000' }),
      model.dir,
    );
    running.push(s);
    const ex = await withTimeout(s.exited, 90_000, () => 'serve to exit on the fatal DLQ error');
    expect(ex.code, s.logs.slice(-15).join('\n')).toBe(1);
    const fatal = s.logs.filter((l) => l.includes('stopped after a non-retriable error'));
    expect(fatal.length, s.logs.slice(-20).join('\n')).toBe(1);
    expect(fatal[0]).toMatch(/dead-letter topic an invalid topic name!.*not retriable/);
    expect(await counterTotals(pg.db, topic)).toMatchObject({ scored: 0, deadLettered: 0 });
  });
});
