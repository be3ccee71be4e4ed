/**
 * The per-partition high-water mark must never skip records it has not seen, against the real broker
 * and PostgreSQL:
 *   - a second consumer group reading the same topic (re-scoring with another model version) scores
 *     every record and writes its own flags, next to the first group's;
 *   - a topic deleted and created again under the same name: the same group scores the new records
 *     (offsets restart at 0, below the old mark), and keeps the old topic's flags;
 *   - and a real redelivery (the group's Kafka offsets reset below the mark while the records are the
 *     same) is still skipped: nothing is counted or flagged twice.
 * Every consumer here scores with a registry version whose threshold is below every score, so every
 * scored record is flagged and the flags table shows exactly what was scored, by which version.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { testKafka, createTopic, deleteTopics } from '../../helpers/kafka.js';
import { createTopicsAndWait } from '../../../src/stream/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { waitFor } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { ModelRegistry } from '../../../src/store/model-registry.js';
import { ModelSource } from '../../../src/stream/model-source.js';
import { createTransactionsConsumer } from '../../../consumers/transactions.js';
import type { BatchEvent, ScoringConsumer } from '../../../src/stream/consumer.js';
import type { Transaction } from '../../../src/schemas/schemas.js';
import { transactionCodec } from '../../../src/schemas/codec.js';
import { creditTransactions, produceAll, quietLogger, type TxInput } from './support.js';

const N = 200;

interface Running {
  groupId: string;
  consumer: ScoringConsumer<Transaction>;
  source: ModelSource;
  batches: BatchEvent[];
}

describe('high-water mark per consumer group and topic incarnation (real Kafka + PostgreSQL)', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let model: TestModel;
  let tx: TxInput;
  let registry: ModelRegistry;
  const topics: string[] = [];
  const running: Running[] = [];

  beforeAll(async () => {
    kafka = testKafka('stream-hwm');
    [pg, model, tx] = await Promise.all([
      createIsolatedSchema({ prefix: 'stream_hwm' }),
      testModel('transactions'),
      creditTransactions(N + 50),
    ]);
    registry = new ModelRegistry(pg.db);
    for (const version of ['flag-all-v1', 'flag-all-v2'])
      await registry.register({
        version,
        kind: 'transactions',
        checkpointPath: model.dir,
        threshold: -1e9,
        scoreName: model.manifest.scoreRule.score,
      });
  });

  afterAll(async () => {
    for (const r of running) {
      await r.consumer.stop().catch(() => undefined);
      await r.source.close().catch(() => undefined);
    }
    await pg?.drop();
    await deleteTopics(kafka, topics).catch(() => undefined);
  });

  async function start(
    topic: string,
    dlq: string,
    groupId: string,
    version: string,
    smallFetches = false,
  ): Promise<Running> {
    await registry.activate(version);
    const source = await ModelSource.open({
      kind: 'transactions',
      registry,
      scorer: { intraOpNumThreads: 1 },
    });
    expect(source.current.version).toBe(version);
    const consumer = createTransactionsConsumer({
      kafka,
      db: pg.db,
      models: source,
      logger: quietLogger(),
      topic,
      dlqTopic: dlq,
      groupId,
      // Small fetches: a batch ends long before the mark, so the consumer has to look ahead.
      ...(smallFetches ? { tuning: { maxBytesPerPartition: 2048 } } : {}),
    });
    const r: Running = { groupId: `${groupId}.transactions`, consumer, source, batches: [] };
    consumer.on('batch', (e) => r.batches.push(e));
    running.push(r);
    await consumer.start();
    return r;
  }

  async function stop(r: Running): Promise<void> {
    await r.consumer.stop();
    await r.source.close();
  }

  /**
   * Waits until the consumer's group has committed every record of the topic (scored or skipped) and
   * the consumer has reported the batch that ended there: it emits 'batch' after its offset commit
   * returns, and the admin client can see the commit a moment before that. `reported` false: the
   * commit only.
   */
  async function committedAll(
    r: Running,
    topic: string,
    n: number,
    what: string,
    reported = true,
  ): Promise<void> {
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(
        async () => {
          const [t] = await admin.fetchOffsets({ groupId: r.groupId, topics: [topic] });
          return (
            Number(t.partitions[0].offset) >= n &&
            (!reported || r.batches.some((b) => Number(b.lastOffset) >= n - 1))
          );
        },
        { timeoutMs: 60_000, intervalMs: 100, what },
      );
    } finally {
      await admin.disconnect();
    }
  }
  const sum = (r: Running, k: 'scored' | 'skipped') => r.batches.reduce((s, b) => s + b[k], 0);

  async function produce(topic: string, records: readonly Transaction[]): Promise<void> {
    const codec = transactionCodec();
    await produceAll(
      kafka,
      topic,
      records.map((r, i) => ({ key: String(i), value: codec.encode(r) })),
      100,
    );
  }

  const flagIds = async (topic: string, version: string) =>
    (
      await pg
        .db('flags')
        .where({ source_topic: topic, model_version: version })
        .select<{ record_id: string }[]>('record_id')
    ).map((f) => f.record_id);

  it('a second consumer group re-scores the whole topic with its own model version', async () => {
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-hwm-groups' }),
      createTopic(kafka, { prefix: 'dlq-hwm' }),
    ]);
    topics.push(topic, dlq);
    await produce(topic, tx.records.slice(0, N));
    const g1 = await start(topic, dlq, `hwm-g1-${randomBytes(3).toString('hex')}`, 'flag-all-v1');
    await committedAll(g1, topic, N, 'group 1 to go through the topic');
    expect(sum(g1, 'scored')).toBe(N);
    await stop(g1);

    const g2 = await start(topic, dlq, `hwm-g2-${randomBytes(3).toString('hex')}`, 'flag-all-v2');
    await committedAll(g2, topic, N, 'group 2 to go through the topic');
    expect(sum(g2, 'skipped')).toBe(0);
    expect(sum(g2, 'scored')).toBe(N);
    await stop(g2);
    const want = tx.records
      .slice(0, N)
      .map((r) => r.id)
      .sort();
    expect((await flagIds(topic, 'flag-all-v1')).sort()).toEqual(want);
    expect((await flagIds(topic, 'flag-all-v2')).sort()).toEqual(want);
  });

  it.each([
    { M: 80, smallFetches: false, what: 'fewer records than the mark' },
    { M: N + 50, smallFetches: true, what: 'more records than the mark, small fetches' },
  ])(
    'a topic deleted and created again ($what): the same group scores the new records; a real redelivery is still skipped',
    async ({ M, smallFetches }) => {
      const [topic, dlq] = await Promise.all([
        createTopic(kafka, { prefix: 'tx-hwm-recreate' }),
        createTopic(kafka, { prefix: 'dlq-hwm' }),
      ]);
      topics.push(topic, dlq);
      const group = `hwm-re-${randomBytes(3).toString('hex')}`;
      await produce(topic, tx.records.slice(0, N));
      const first = await start(topic, dlq, group, 'flag-all-v1');
      await committedAll(first, topic, N, 'the first topic');
      await stop(first);

      // A real redelivery: the group's offsets go back to 0, the records are the same.
      const admin = kafka.admin();
      await admin.connect();
      try {
        await admin.setOffsets({
          groupId: `${group}.transactions`,
          topic,
          partitions: [{ partition: 0, offset: '0' }],
        });
        const again = await start(topic, dlq, group, 'flag-all-v1', smallFetches);
        // (a redelivery that is skipped whole may report no batch)
        await committedAll(again, topic, N, 'the redelivery', false);
        expect(sum(again, 'scored')).toBe(0);
        await stop(again);
        expect(await flagIds(topic, 'flag-all-v1')).toHaveLength(N);

        // Recreate the topic under the same name, with fewer, different records.
        await admin.deleteTopics({ topics: [topic], timeout: 30_000 });
        await waitFor(
          async () => {
            try {
              return await createTopicsAndWait(admin, [{ topic, numPartitions: 1 }], { timeoutMs: 30_000 });
            } catch {
              return false; // still being deleted
            }
          },
          { timeoutMs: 60_000, intervalMs: 500, what: 'the topic to be created again' },
        );
      } finally {
        await admin.disconnect();
      }
      const fresh = tx.records.slice(0, M).map((r, i) => ({ ...r, id: `new-${i}` }));
      await produce(topic, fresh);
      const second = await start(topic, dlq, group, 'flag-all-v1', smallFetches);
      await committedAll(second, topic, M, 'the recreated topic');
      expect(sum(second, 'skipped')).toBe(0);
      expect(sum(second, 'scored')).toBe(M);
      await stop(second);
      const ids = await flagIds(topic, 'flag-all-v1');
      expect(ids.filter((id) => id.startsWith('new-')).sort()).toEqual(fresh.map((r) => r.id).sort());
      expect(ids.filter((id) => id.startsWith('tx-'))).toHaveLength(N); // the old topic's flags are kept
    },
  );
});
