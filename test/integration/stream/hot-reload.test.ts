/**
 * Hot reload from the registry (README: "consumers hot-reload the active version of each kind"),
 * against the real broker and PostgreSQL: a consumer whose ModelSource reads the kind's active
 * `model_versions` row scores a first burst with version A; activating version B while it runs
 * makes later batches score with B (its threshold, its name in every flag), without a restart.
 * B is the same checkpoint re-calibrated (a registry row's threshold wins over the manifest's):
 * with a threshold below every score, every record of the second burst is flagged, by B.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { testKafka, createTopic, deleteTopics } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { waitFor } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { ModelRegistry } from '../../../src/store/model-registry.js';
import { ModelSource } from '../../../src/stream/model-source.js';
import { createTransactionsConsumer } from '../../../consumers/transactions.js';
import type { BatchEvent, ScoringConsumer } from '../../../src/stream/consumer.js';
import type { Transaction } from '../../../src/schemas/schemas.js';
import {
  counterTotals,
  creditTransactions,
  flagsOf,
  produceAll,
  quietLogger,
  type TxInput,
} from './support.js';
import { transactionCodec } from '../../../src/schemas/codec.js';

const N = 300;

describe('hot reload of the active registry version (real Kafka + PostgreSQL)', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let model: TestModel;
  let tx: TxInput;
  const topics: string[] = [];
  let consumer: ScoringConsumer<Transaction> | null = null;
  let source: ModelSource | null = null;

  beforeAll(async () => {
    kafka = testKafka('stream-reload');
    [pg, model, tx] = await Promise.all([
      createIsolatedSchema({ prefix: 'stream_reload' }),
      testModel('transactions'),
      creditTransactions(2 * N),
    ]);
  });

  afterAll(async () => {
    await consumer?.stop();
    await source?.close();
    await pg?.drop();
    await deleteTopics(kafka, topics).catch(() => undefined);
  });

  it('activating another version while the consumer runs: later batches carry it', async () => {
    const registry = new ModelRegistry(pg.db);
    const th = model.manifest.thresholds.find((t) => t.score === model.manifest.scoreRule.score);
    expect(th).toBeDefined();
    await registry.register({
      version: 'tx-A',
      kind: 'transactions',
      checkpointPath: model.dir,
      threshold: th!.value,
      scoreName: model.manifest.scoreRule.score,
      activate: true,
    });
    await registry.register({
      version: 'tx-B',
      kind: 'transactions',
      checkpointPath: model.dir,
      threshold: -1e9,
      scoreName: model.manifest.scoreRule.score,
    });
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-reload' }),
      createTopic(kafka, { prefix: 'dlq-reload' }),
    ]);
    topics.push(topic, dlq);
    source = await ModelSource.open({
      kind: 'transactions',
      registry,
      reloadMs: 200,
      scorer: { intraOpNumThreads: 1 },
      logger: quietLogger(),
    });
    expect(source.current.version).toBe('tx-A');
    consumer = createTransactionsConsumer({
      kafka,
      db: pg.db,
      models: source,
      logger: quietLogger(),
      topic,
      dlqTopic: dlq,
      groupId: `reload-${Date.now()}`,
    });
    const batches: BatchEvent[] = [];
    consumer.on('batch', (e) => batches.push(e));
    await consumer.start();

    const codec = transactionCodec();
    const produce = (from: number, to: number) =>
      produceAll(
        kafka,
        topic,
        tx.records.slice(from, to).map((r, i) => ({ key: String(from + i), value: codec.encode(r) })),
      );
    const scored = (n: number) =>
      waitFor(async () => (await counterTotals(pg.db, topic)).scored >= n, {
        timeoutMs: 60_000,
        intervalMs: 100,
        what: `${n} records scored`,
      });

    await produce(0, N);
    await scored(N);
    const before = await flagsOf(pg.db, topic);
    expect(before.length).toBeLessThan(N / 2);
    for (const f of before) {
      expect(f.model_version).toBe('tx-A');
      expect(f.threshold).toBe(th!.value);
    }
    expect(batches.every((b) => b.modelVersion === 'tx-A')).toBe(true);

    await registry.activate('tx-B');
    await waitFor(() => source!.pendingVersion === 'tx-B' || source!.current.version === 'tx-B', {
      timeoutMs: 30_000,
      intervalMs: 50,
      what: 'the consumer to load the newly active version',
    });
    const seen = batches.length;
    await produce(N, 2 * N);
    await scored(2 * N);
    const after = (await flagsOf(pg.db, topic)).filter((f) => Number(f.source_offset) >= N);
    expect(after).toHaveLength(N); // B flags everything
    for (const f of after) {
      expect(f.model_version).toBe('tx-B');
      expect(f.threshold).toBe(-1e9);
    }
    const later = batches.slice(seen);
    expect(later.length).toBeGreaterThan(0);
    expect(later.every((b) => b.modelVersion === 'tx-B')).toBe(true);
    expect(source.current.version).toBe('tx-B');
    expect(await counterTotals(pg.db, topic)).toMatchObject({ scored: 2 * N, deadLettered: 0 });
  });
});
