/**
 * The stream never stalls: real broker + PostgreSQL, consumer in-process.
 *
 * - A burst of 20,000 records in a writer schema the consumer does not know, interleaved with 1,000
 *   valid ones on 3 partitions: every valid record scored, every bad one dead-lettered, offsets
 *   committed, within a bounded time (the old code produced all dead letters of a batch in one
 *   request above the broker's limit and retried it forever).
 * - A dead-letter topic with a small max.message.bytes: dead letters go out in chunks that fit; an
 *   envelope larger than the limit goes out truncated (length, SHA-256, first bytes); also when the
 *   consumer was told a wrong (too large) limit and the broker answers MESSAGE_TOO_LARGE.
 * - A non-retriable producer error (an invalid dead-letter topic name): the consumer stops with a
 *   fatal error at once, nothing committed.
 * - A stuck partition beside healthy ones: the others are scored; the stuck one is reported by
 *   stalledPartitions(), /readyz (503 with the reason) and the partition_stalled metric; once
 *   unstuck, everything is scored.
 * - A writer schema registered in PostgreSQL while the stream runs: records in it, dead-lettered
 *   before, are scored after.
 */
import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import avro from 'avsc';
import type { Kafka, Message } from 'kafkajs';
import { testKafka, createTopic, deleteTopics } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { waitFor } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { transactionCodec, type RecordCodec } from '../../../src/schemas/codec.js';
import { TRANSACTION_SCHEMA, type Transaction } from '../../../src/schemas/schemas.js';
import { frameSingleObject } from '../../../src/schemas/single-object.js';
import { fingerprintOf, checkWriterSchema } from '../../../src/schemas/writer-schemas.js';
import { ModelSource } from '../../../src/stream/model-source.js';
import { createStreamMetrics } from '../../../src/stream/metrics.js';
import { createTransactionsConsumer } from '../../../consumers/transactions.js';
import type { ScoringConsumer, ScoringConsumerOptions } from '../../../src/stream/consumer.js';
import { parseDeadLetter, type DeadLetterEnvelope } from '../../../src/stream/dlq.js';
import { partitionsReadiness } from '../../../src/stream/service.js';
import { startHttpServer } from '../../../src/http/server.js';
import { GensembleError } from '../../../src/errors.js';
import { WriterSchemaTable } from '../../../src/store/writer-schemas.js';
import { counterTotals, creditTransactions, produceAll, quietLogger, type TxInput } from './support.js';

/** Version 2 of the Transaction schema as an upstream producer might roll it out: one more field. */
const TX_V2: avro.Schema = {
  ...(TRANSACTION_SCHEMA as { fields: unknown[] } & Record<string, unknown>),
  fields: [
    ...(TRANSACTION_SCHEMA as { fields: unknown[] }).fields,
    { name: 'channel', type: 'string', default: 'web' },
  ],
} as avro.Schema;

function encodeV2(r: Transaction): Buffer {
  const t = avro.Type.forSchema(TX_V2);
  return frameSingleObject(fingerprintOf(TX_V2).fingerprint, t.toBuffer({ ...r, channel: 'app' }));
}

async function topicMessageCount(kafka: Kafka, topic: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const offs = await admin.fetchTopicOffsets(topic);
    return offs.reduce((s, o) => s + Number(o.high) - Number(o.low), 0);
  } finally {
    await admin.disconnect();
  }
}

async function committedOffsets(kafka: Kafka, groupId: string, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const [r] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map(r.partitions.map((p) => [p.partition, Number(p.offset)]));
  } finally {
    await admin.disconnect();
  }
}

async function highWatermarks(kafka: Kafka, topic: string): Promise<Map<number, number>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, Number(o.high)]));
  } finally {
    await admin.disconnect();
  }
}

async function readDeadLetters(kafka: Kafka, topic: string, n: number): Promise<DeadLetterEnvelope[]> {
  const c = kafka.consumer({ groupId: `dlq-reader-${Date.now()}-${randomBytes(3).toString('hex')}` });
  const out: DeadLetterEnvelope[] = [];
  await c.connect();
  try {
    await c.subscribe({ topic, fromBeginning: true });
    await c.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) if (m.value) out.push(parseDeadLetter(m.value));
      },
    });
    await waitFor(() => out.length >= n, { timeoutMs: 60_000, what: `${n} dead letters read back` });
  } finally {
    await c.disconnect();
  }
  return out;
}

describe('the stream never stalls', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let model: TestModel;
  let tx: TxInput;
  const topics: string[] = [];
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    kafka = testKafka('never-stall');
    [pg, model, tx] = await Promise.all([
      createIsolatedSchema({ prefix: 'never_stall' }),
      testModel('transactions'),
      creditTransactions(2000),
    ]);
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await pg?.drop();
    await deleteTopics(kafka, topics).catch(() => undefined);
  });

  async function startConsumer(
    topic: string,
    dlqTopic: string,
    o: {
      codec?: RecordCodec<Transaction>;
      tuning?: Partial<ScoringConsumerOptions<unknown>>;
      metrics?: ReturnType<typeof createStreamMetrics>;
      codecOptions?: Parameters<typeof transactionCodec>[1];
    } = {},
  ): Promise<{ c: ScoringConsumer<Transaction>; groupId: string; fatal: Error[] }> {
    const models = await ModelSource.open({
      kind: 'transactions',
      dir: model.dir,
      scorer: { intraOpNumThreads: 1 },
    });
    cleanups.push(() => models.close());
    const prefix = `stall-${Date.now()}-${randomBytes(3).toString('hex')}`;
    const c = createTransactionsConsumer({
      kafka,
      db: pg.db,
      models,
      logger: quietLogger(),
      topic,
      dlqTopic,
      groupId: prefix,
      ...(o.metrics ? { metrics: o.metrics } : {}),
      ...(o.codec ? { codec: o.codec } : {}),
      ...(o.codecOptions ? { codecOptions: o.codecOptions } : {}),
      tuning: {
        retry: { initialMs: 100, maxMs: 500 },
        partitionsConsumedConcurrently: 3,
        ...o.tuning,
      },
    });
    const fatal: Error[] = [];
    c.on('fatal', (e) => fatal.push(e));
    cleanups.push(() => c.stop());
    await c.start();
    return { c, groupId: `${prefix}.transactions`, fatal };
  }

  it('a burst of 20,000 unknown-schema records among 1,000 valid ones: all valid scored, all bad dead-lettered, in bounded time', async () => {
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-burst', partitions: 3 }),
      createTopic(kafka, { prefix: 'dlq-burst', partitions: 3 }),
    ]);
    topics.push(topic, dlq);
    const codec = transactionCodec();
    const messages: Message[] = [];
    let valid = 0;
    for (let i = 0; i < 21_000; i++) {
      const r = tx.records[i % tx.records.length];
      if (i % 21 === 0) {
        messages.push({ key: `k${i}`, value: codec.encode({ ...r, id: `valid-${i}` }) });
        valid++;
      } else messages.push({ key: `k${i}`, value: encodeV2({ ...r, id: `v2-${i}` }) });
    }
    expect(valid).toBe(1000);
    await produceAll(kafka, topic, messages, 2000);
    const t0 = Date.now();
    const { groupId, fatal } = await startConsumer(topic, dlq);
    await waitFor(
      async () => {
        const t = await counterTotals(pg.db, topic);
        return t.scored + t.deadLettered >= 21_000 && t;
      },
      { timeoutMs: 120_000, intervalMs: 250, what: 'the burst to be scored and dead-lettered' },
    );
    const seconds = (Date.now() - t0) / 1000;
    expect(fatal).toEqual([]);
    expect(await counterTotals(pg.db, topic)).toMatchObject({ scored: 1000, deadLettered: 20_000 });
    await waitFor(async () => (await topicMessageCount(kafka, dlq)) >= 20_000, {
      timeoutMs: 30_000,
      what: 'dead letters on the DLQ topic',
    });
    expect(await topicMessageCount(kafka, dlq)).toBe(20_000);
    // Offsets committed up to the end of every partition.
    const hw = await highWatermarks(kafka, topic);
    await waitFor(
      async () => {
        const co = await committedOffsets(kafka, groupId, topic);
        return [...hw].every(([p, h]) => co.get(p) === h);
      },
      { timeoutMs: 20_000, what: 'offsets committed to the end' },
    );
    const letters = await readDeadLetters(kafka, dlq, 20_000);
    expect(new Set(letters.map((l) => l.reason))).toEqual(new Set(['UNKNOWN_FINGERPRINT']));
    expect(new Set(letters.map((l) => `${l.source.partition}/${l.source.offset}`)).size).toBe(20_000);
    console.log(`[never-stall] burst: 21,000 records (20,000 dead-lettered) in ${seconds.toFixed(1)} s`);
  });

  it('a DLQ topic with a small max.message.bytes: chunks fit, an oversized envelope goes out truncated', async () => {
    const limit = 16_384;
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-small-dlq', partitions: 2 }),
      createTopic(kafka, {
        prefix: 'dlq-small',
        configEntries: [{ name: 'max.message.bytes', value: String(limit) }],
      }),
    ]);
    topics.push(topic, dlq);
    const codec = transactionCodec();
    const huge = Buffer.concat([Buffer.from([0xc3, 0x01]), randomBytes(200_000)]);
    const messages: Message[] = [{ key: 'huge', value: huge }];
    for (let i = 0; i < 300; i++) messages.push({ key: `bad${i}`, value: randomBytes(400 + (i % 50)) });
    for (let i = 0; i < 200; i++) messages.push({ key: `ok${i}`, value: codec.encode(tx.records[i]) });
    await produceAll(kafka, topic, messages, 100);
    const metrics = createStreamMetrics({ defaultMetrics: false });
    const { fatal } = await startConsumer(topic, dlq, { metrics });
    await waitFor(
      async () => {
        const t = await counterTotals(pg.db, topic);
        return t.scored + t.deadLettered >= 501 && t;
      },
      { timeoutMs: 60_000, what: 'all records accounted for' },
    );
    expect(fatal).toEqual([]);
    expect(await counterTotals(pg.db, topic)).toMatchObject({ scored: 200, deadLettered: 301 });
    const letters = await readDeadLetters(kafka, dlq, 301);
    expect(letters.length).toBe(301);
    const big = letters.filter((l) => l.valueTruncated === true);
    expect(big.length).toBe(1);
    expect(big[0].value).toBeNull();
    expect(big[0].valueLength).toBe(huge.length);
    expect(big[0].valueSha256).toBe(createHash('sha256').update(huge).digest('hex'));
    expect(Buffer.from(big[0].valuePrefix ?? '', 'base64').equals(huge.subarray(0, 256))).toBe(true);
    // The small ones keep their value.
    for (const l of letters.filter((x) => x.valueTruncated !== true)) expect(l.value).not.toBeNull();
    const truncated = await metrics.registry.getSingleMetricAsString(
      'gensemble_dead_letters_truncated_total',
    );
    expect(truncated).toMatch(/gensemble_dead_letters_truncated_total\{[^}]*\} 1$/m);
  });

  it('told a limit above the broker’s, the consumer splits on MESSAGE_TOO_LARGE and truncates, never loops', async () => {
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-wrong-limit' }),
      createTopic(kafka, {
        prefix: 'dlq-wrong-limit',
        configEntries: [{ name: 'max.message.bytes', value: '8192' }],
      }),
    ]);
    topics.push(topic, dlq);
    const messages: Message[] = [{ key: 'huge', value: randomBytes(50_000) }];
    for (let i = 0; i < 200; i++) messages.push({ key: `bad${i}`, value: randomBytes(300) });
    await produceAll(kafka, topic, messages);
    const { fatal } = await startConsumer(topic, dlq, { tuning: { dlqMaxMessageBytes: 1_000_000 } });
    await waitFor(async () => (await counterTotals(pg.db, topic)).deadLettered >= 201, {
      timeoutMs: 60_000,
      what: 'all 201 dead-lettered',
    });
    expect(fatal).toEqual([]);
    const letters = await readDeadLetters(kafka, dlq, 201);
    expect(letters.filter((l) => l.valueTruncated === true).map((l) => l.valueLength)).toEqual([50_000]);
  });

  it('a non-retriable producer error stops the consumer at once with a clear error, nothing committed', async () => {
    const topic = await createTopic(kafka, { prefix: 'tx-bad-dlq' });
    topics.push(topic);
    await produceAll(kafka, topic, [
      { value: Buffer.from('not avro at all') },
      { value: transactionCodec().encode(tx.records[0]) },
    ]);
    const t0 = Date.now();
    const { fatal, groupId } = await startConsumer(topic, 'an invalid topic name!', {
      tuning: { dlqMaxMessageBytes: 100_000 },
    });
    await waitFor(() => fatal.length > 0, { timeoutMs: 60_000, what: 'a fatal error' });
    expect(Date.now() - t0).toBeLessThan(60_000);
    expect(fatal[0].message).toMatch(/dead-letter topic an invalid topic name!.*not retriable/);
    expect(await counterTotals(pg.db, topic)).toMatchObject({ scored: 0, deadLettered: 0 });
    const co = await committedOffsets(kafka, groupId, topic);
    expect([...co.values()].every((o) => o < 0)).toBe(true);
  });

  it('a stuck partition beside healthy ones: the others are scored, the stuck one is reported, then recovers', async () => {
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-stuck', partitions: 3 }),
      createTopic(kafka, { prefix: 'dlq-stuck' }),
    ]);
    topics.push(topic, dlq);
    const inner = transactionCodec();
    const marker = inner.encode({ ...tx.records[0], id: 'stuck-marker' });
    let stuck = true;
    let attempts = 0;
    const codec: RecordCodec<Transaction> = {
      name: inner.name,
      wireFormat: inner.wireFormat,
      encode: (r, o) => inner.encode(r, o),
      decode: (b) => inner.decode(b),
      prepare: async (bufs) => {
        // A dependency of this batch's decoding that keeps failing (retriable), for partition 0 only.
        if (stuck && bufs.some((b) => b !== null && b !== undefined && b.equals(marker))) {
          attempts++;
          throw new GensembleError('TEST_DEPENDENCY_DOWN', 'test dependency unavailable', {
            retriable: true,
          });
        }
      },
    };
    const metrics = createStreamMetrics({ defaultMetrics: false });
    const { c } = await startConsumer(topic, dlq, { codec, metrics, tuning: { stallMs: 1500 } });
    const http = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      registry: metrics.registry,
      readiness: { partitions: () => partitionsReadiness([c]) },
    });
    cleanups.push(() => http.close());
    const enc = transactionCodec();
    const messages: Message[] = [{ partition: 0, value: marker }];
    for (let i = 0; i < 900; i++)
      messages.push({ partition: i % 3, value: enc.encode({ ...tx.records[i], id: `p${i % 3}-${i}` }) });
    await produceAll(kafka, topic, messages, 300);

    // Partitions 1 and 2 (600 records) are scored while partition 0 is stuck.
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= 600, {
      timeoutMs: 60_000,
      what: 'the healthy partitions to be scored',
    });
    const perPartition = await pg
      .db('stream_offsets')
      .where('source_topic', topic)
      .select('source_partition');
    expect(perPartition.map((r: { source_partition: number }) => r.source_partition).sort()).toEqual([1, 2]);
    const stalled = await waitFor(() => c.stalledPartitions().length > 0 && c.stalledPartitions(), {
      timeoutMs: 20_000,
      what: 'partition 0 reported stalled',
    });
    expect(stalled.map((s) => s.partition)).toEqual([0]);
    expect(stalled[0].reason).toMatch(/test dependency unavailable/);
    const ready = await waitFor(
      async () => {
        const r = await fetch(`${http.url}/readyz`);
        return r.status === 503 && ((await r.json()) as { checks: Record<string, string> });
      },
      { timeoutMs: 10_000, what: '/readyz 503' },
    );
    expect(ready.checks.partitions).toMatch(new RegExp(`${topic}\\[0\\].*test dependency unavailable`));
    await waitFor(
      async () =>
        /gensemble_partition_stalled\{[^}]*partition="0"[^}]*\} 1/.test(
          await metrics.registry.getSingleMetricAsString('gensemble_partition_stalled'),
        ),
      { timeoutMs: 10_000, what: 'the stalled metric' },
    );
    expect(attempts).toBeGreaterThan(1);

    // Unstuck: everything is scored, the report clears.
    stuck = false;
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= 901, {
      timeoutMs: 60_000,
      what: 'partition 0 after recovery',
    });
    await waitFor(async () => (await fetch(`${http.url}/readyz`)).status === 200, {
      timeoutMs: 10_000,
      what: '/readyz 200 again',
    });
    expect(c.stalledPartitions()).toEqual([]);
    expect(await counterTotals(pg.db, topic)).toMatchObject({ scored: 901, deadLettered: 0 });
  });

  it('a writer schema registered while the stream runs: its records are dead-lettered before, scored after', async () => {
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-register' }),
      createTopic(kafka, { prefix: 'dlq-register' }),
    ]);
    topics.push(topic, dlq);
    const table = new WriterSchemaTable(pg.db);
    await startConsumer(topic, dlq, {
      codecOptions: {
        lookup: async (fps) =>
          (await table.byFingerprints('transactions', fps)).map((r) => r.schema as avro.Schema),
        lookupMissTtlMs: 200,
      },
    });
    const v2 = (i: number) => ({ value: encodeV2({ ...tx.records[i], id: `v2-${i}` }) });
    await produceAll(
      kafka,
      topic,
      Array.from({ length: 100 }, (_, i) => v2(i)),
    );
    await waitFor(async () => (await counterTotals(pg.db, topic)).deadLettered >= 100, {
      timeoutMs: 60_000,
      what: 'unregistered v2 records dead-lettered',
    });
    expect((await counterTotals(pg.db, topic)).scored).toBe(0);

    const fp = checkWriterSchema('transactions', TX_V2);
    const reg = await table.register({
      kind: 'transactions',
      fingerprint: fp.fingerprint,
      canonicalForm: fp.canonicalForm,
      schema: TX_V2,
      name: fp.name,
    });
    expect(reg.created).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    await produceAll(
      kafka,
      topic,
      Array.from({ length: 200 }, (_, i) => v2(100 + i)),
    );
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= 200, {
      timeoutMs: 60_000,
      what: 'registered v2 records scored',
    });
    expect(await counterTotals(pg.db, topic)).toMatchObject({ scored: 200, deadLettered: 100 });
  });
});
