/**
 * TOPIC_FLAGS: every flag is also published on the flags topic as an Avro `gensemble.Flag` record
 * (single-object encoding), keyed by its source "<topic>/<partition>/<offset>", after the PostgreSQL
 * commit and before the Kafka offsets move (at least once). Real broker and PostgreSQL; the topic is
 * read back with an independent kafkajs consumer and compared with the flags table.
 *
 * A retriable publish failure (the flags topic not there yet, and a producer that may not create it:
 * UNKNOWN_TOPIC_OR_PARTITION) defers the partition like a dead-letter outage; the batch's flags
 * are already in PostgreSQL (its redelivery is skipped by the high-water mark), and they still reach
 * the topic once it takes records again.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka, Producer } from 'kafkajs';
import { testKafka, createTopic, deleteTopics, collectMessages, randomName } from '../../helpers/kafka.js';
import { createTopicsAndWait } from '../../../src/stream/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { waitFor } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { flagCodec } from '../../../src/schemas/codec.js';
import type { FlagRecord, Transaction } from '../../../src/schemas/schemas.js';
import { ModelSource } from '../../../src/stream/model-source.js';
import { createTransactionsConsumer } from '../../../consumers/transactions.js';
import type { RetryEvent, ScoringConsumer } from '../../../src/stream/consumer.js';
import {
  counterTotals,
  creditTransactions,
  produceTransactions,
  quietLogger,
  type TxInput,
} from './support.js';

const N = 3000;

interface DbFlagRow {
  record_id: string;
  source_partition: number;
  source_offset: string;
  score: number;
  threshold: number;
  model_version: string;
}

describe('flags topic (real Kafka + PostgreSQL)', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let model: TestModel;
  let tx: TxInput;
  const topics: string[] = [];
  const stops: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    kafka = testKafka('stream-flags-topic');
    [pg, model, tx] = await Promise.all([
      createIsolatedSchema({ prefix: 'stream_flagtopic' }),
      testModel('transactions'),
      creditTransactions(N),
    ]);
  });

  afterAll(async () => {
    for (const s of stops) await s().catch(() => undefined);
    await pg?.drop();
    await deleteTopics(kafka, topics).catch(() => undefined);
  });

  async function startConsumer(
    topic: string,
    dlq: string,
    flagsTopic: string,
    producer?: Producer,
  ): Promise<{
    consumer: ScoringConsumer<Transaction>;
    retries: RetryEvent[];
    fatal: Error[];
    groupId: string;
  }> {
    const groupId = `flags-${randomBytes(4).toString('hex')}`;
    const source = await ModelSource.open({
      kind: 'transactions',
      dir: model.dir,
      scorer: { intraOpNumThreads: 1 },
    });
    const consumer = createTransactionsConsumer({
      kafka,
      ...(producer ? { dlqProducer: producer } : {}),
      db: pg.db,
      models: source,
      logger: quietLogger(),
      topic,
      dlqTopic: dlq,
      flagsTopic,
      groupId,
      tuning: { retry: { initialMs: 100, maxMs: 400 }, dlqRetry: { maxAttempts: 1000 } },
    });
    const retries: RetryEvent[] = [];
    const fatal: Error[] = [];
    consumer.on('retry', (e) => retries.push(e));
    consumer.on('fatal', (e) => fatal.push(e));
    stops.push(async () => {
      await consumer.stop();
      await source.close();
    });
    await consumer.start();
    return { consumer, retries, fatal, groupId };
  }

  async function readFlags(flagsTopic: string, count: number): Promise<Map<string, FlagRecord>> {
    const reader = kafka.consumer({ groupId: `flags-reader-${randomBytes(4).toString('hex')}` });
    await reader.connect();
    await reader.subscribe({ topic: flagsTopic, fromBeginning: true });
    try {
      const msgs = await (await collectMessages(reader)).waitFor(count, 60_000);
      const codec = flagCodec();
      const out = new Map<string, FlagRecord>();
      for (const m of msgs) {
        const f = codec.decode(m.value);
        expect(m.key?.toString()).toBe(`${f.source_topic}/${f.source_partition}/${f.source_offset}`);
        out.set(m.key!.toString(), f); // at least once: a duplicate carries the same key and content
      }
      return out;
    } finally {
      await reader.disconnect();
    }
  }

  async function dbFlags(topic: string): Promise<DbFlagRow[]> {
    return pg
      .db('flags')
      .where('source_topic', topic)
      .select<DbFlagRow[]>(
        'record_id',
        'source_partition',
        'source_offset',
        'score',
        'threshold',
        'model_version',
      );
  }

  function expectSame(topic: string, db: DbFlagRow[], published: Map<string, FlagRecord>): void {
    expect(db.length).toBeGreaterThan(0);
    expect(published.size).toBe(db.length);
    for (const r of db) {
      const f = published.get(`${topic}/${r.source_partition}/${r.source_offset}`);
      if (!f) expect.fail(`flag ${r.record_id} not on the flags topic`);
      expect(f.record_id).toBe(r.record_id);
      expect(f.score).toBe(r.score);
      expect(f.threshold).toBe(r.threshold);
      expect(f.model_version).toBe(r.model_version);
      expect(f.kind).toBe('transactions');
      expect(f.score_name).toBe(model.manifest.scoreRule.score);
    }
  }

  it('publishes every flag of the flags table, keyed by source', async () => {
    const [topic, dlq, flagsTopic] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-flagtopic', partitions: 2 }),
      createTopic(kafka, { prefix: 'dlq' }),
      createTopic(kafka, { prefix: 'flags' }),
    ]);
    topics.push(topic, dlq, flagsTopic);
    await produceTransactions(kafka, topic, tx.records);
    await startConsumer(topic, dlq, flagsTopic);
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= N, {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: 'every record scored',
    });
    const db = await dbFlags(topic);
    expectSame(topic, db, await readFlags(flagsTopic, db.length));
  });

  it('a retriable publish failure defers the partition; the flags reach the topic once it is back', async () => {
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-flagtopic-out' }),
      createTopic(kafka, { prefix: 'dlq' }),
    ]);
    // The flags topic does not exist yet, and this producer may not create it: the broker answers
    // UNKNOWN_TOPIC_OR_PARTITION (retriable), as on a cluster without auto-creation before the topic
    // is provisioned.
    const flagsTopic = randomName('flags-late');
    topics.push(topic, dlq, flagsTopic);
    await produceTransactions(kafka, topic, tx.records);
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      retry: { retries: 1, initialRetryTime: 100 },
    });
    await producer.connect();
    stops.push(() => producer.disconnect());
    const { retries, fatal, groupId } = await startConsumer(topic, dlq, flagsTopic, producer);
    await waitFor(() => retries.filter((r) => r.stage === 'flags').length >= 3, {
      timeoutMs: 60_000,
      intervalMs: 100,
      what: 'the flags publish to be retried',
    });
    expect(fatal).toEqual([]);
    // The batch is in PostgreSQL (flags pending), its offsets are not committed: nothing is lost.
    const during = await counterTotals(pg.db, topic);
    expect(during.flagged).toBeGreaterThan(0);

    const admin = kafka.admin();
    await admin.connect();
    try {
      const [committed] = await admin.fetchOffsets({ groupId: `${groupId}.transactions`, topics: [topic] });
      expect(committed.partitions[0].offset).toBe('-1');
      await createTopicsAndWait(admin, [{ topic: flagsTopic, numPartitions: 1 }]);
    } finally {
      await admin.disconnect();
    }
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= N, {
      timeoutMs: 90_000,
      intervalMs: 200,
      what: 'every record scored',
    });
    const db = await dbFlags(topic);
    expectSame(topic, db, await readFlags(flagsTopic, db.length));
    const pending = await pg
      .db('flags')
      .where({ source_topic: topic, publish_pending: true })
      .count<{ n: string }[]>({ n: '*' });
    expect(Number(pending[0].n)).toBe(0);
    expect(fatal).toEqual([]);
  });
});
