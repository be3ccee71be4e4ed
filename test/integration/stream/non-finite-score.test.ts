/**
 * A record the model cannot score (its score comes out NaN) never passes as "not flagged": the stream
 * dead-letters it with reason NON_FINITE_SCORE (counted as dead-lettered, metric by reason), the rest
 * of the batch is scored as usual. The model is a real checkpoint that overflows float32 on large
 * amounts (test/helpers/overflowing-model.ts); which rows come out NaN is decided offline by the
 * engine alone, before the stream runs.
 */
import { rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { testKafka, createTopic, deleteTopics, collectMessages } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { waitFor } from '../../helpers/wait.js';
import { testModel } from '../../helpers/models.js';
import {
  AMOUNT_FEATURE,
  OVERFLOW_AMOUNT,
  overflowingTransactionsModel,
} from '../../helpers/overflowing-model.js';
import { parseDeadLetter } from '../../../src/stream/dlq.js';
import { createStreamMetrics } from '../../../src/stream/metrics.js';
import { ModelSource } from '../../../src/stream/model-source.js';
import { createTransactionsConsumer } from '../../../consumers/transactions.js';
import type { ScoringConsumer } from '../../../src/stream/consumer.js';
import type { Transaction } from '../../../src/schemas/schemas.js';
import {
  counterTotals,
  creditTransactions,
  flagsOf,
  offlineScores,
  produceTransactions,
  quietLogger,
  type TxInput,
} from './support.js';

const N = 400;

describe('non-finite scores (real Kafka + PostgreSQL)', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let modelDir: string;
  let tx: TxInput;
  const topics: string[] = [];
  let consumer: ScoringConsumer<Transaction> | null = null;
  let models: ModelSource | null = null;

  beforeAll(async () => {
    kafka = testKafka('stream-nan');
    // the overflow recipe (Amount's weights × 1e20) is sized for min-max features in [0, 1]
    const base = await testModel('transactions', { likelihood: 'bernoulli' });
    [pg, modelDir, tx] = await Promise.all([
      createIsolatedSchema({ prefix: 'stream_nan' }),
      overflowingTransactionsModel(base.dir),
      creditTransactions(N),
    ]);
    // Every 10th transaction is a large one.
    for (let i = 5; i < N; i += 10) {
      tx.records[i] = { ...tx.records[i], amount: OVERFLOW_AMOUNT };
      tx.raw[i * 30 + AMOUNT_FEATURE] = OVERFLOW_AMOUNT;
    }
  });

  afterAll(async () => {
    await consumer?.stop();
    await models?.close();
    await pg?.drop();
    if (modelDir) await rm(modelDir, { recursive: true, force: true });
    await deleteTopics(kafka, topics).catch(() => undefined);
  });

  it('dead-letters NON_FINITE_SCORE records instead of passing them as not flagged', async () => {
    const ref = await offlineScores(modelDir, tx.raw, N);
    const nonFinite = new Set<string>();
    const flaggedRef = new Set<string>();
    ref.scores.forEach((s, i) => {
      if (!Number.isFinite(s)) nonFinite.add(`tx-${i}`);
      else if (s > ref.threshold) flaggedRef.add(`tx-${i}`);
    });
    // The model really overflows on every large amount, and only on large amounts.
    for (let i = 5; i < N; i += 10) expect(nonFinite.has(`tx-${i}`)).toBe(true);
    for (const id of nonFinite) expect(tx.records[Number(id.slice(3))].amount).toBeGreaterThan(1000);
    expect(nonFinite.size).toBeLessThan(N / 5);

    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-nan' }),
      createTopic(kafka, { prefix: 'dlq-nan' }),
    ]);
    topics.push(topic, dlq);
    await produceTransactions(kafka, topic, tx.records);
    const metrics = createStreamMetrics({ defaultMetrics: false });
    models = await ModelSource.open({
      kind: 'transactions',
      dir: modelDir,
      scorer: { intraOpNumThreads: 1 },
    });
    consumer = createTransactionsConsumer({
      kafka,
      db: pg.db,
      models,
      logger: quietLogger(),
      metrics,
      topic,
      dlqTopic: dlq,
      groupId: `nan-${Date.now()}`,
    });
    await consumer.start();
    await waitFor(
      async () => {
        const t = await counterTotals(pg.db, topic);
        return t.scored + t.deadLettered >= N;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'every record accounted for' },
    );
    const totals = await counterTotals(pg.db, topic);
    expect(totals.deadLettered).toBe(nonFinite.size);
    expect(totals.scored).toBe(N - nonFinite.size);
    const flags = await flagsOf(pg.db, topic);
    expect(new Set(flags.map((f) => f.record_id))).toEqual(flaggedRef);
    for (const f of flags) expect(Number.isFinite(f.score)).toBe(true);

    const reader = kafka.consumer({ groupId: `dlq-reader-${randomBytes(4).toString('hex')}` });
    await reader.connect();
    await reader.subscribe({ topic: dlq, fromBeginning: true });
    try {
      const col = await collectMessages(reader);
      const msgs = await col.waitFor(nonFinite.size, 30_000);
      const letters = msgs.map((m) => parseDeadLetter(m.value as Buffer));
      expect(letters.every((l) => l.reason === 'NON_FINITE_SCORE')).toBe(true);
      const ids = new Set(letters.map((l) => `tx-${l.source.offset}`));
      expect(ids).toEqual(nonFinite);
      expect(letters[0].error).toMatch(/is (NaN|-?Infinity)/);
    } finally {
      await reader.disconnect();
    }
    const text = await metrics.registry.metrics();
    expect(text).toMatch(
      new RegExp(
        `gensemble_records_dead_lettered_total\\{[^}]*reason="NON_FINITE_SCORE"[^}]*\\} ${nonFinite.size}`,
      ),
    );
  });
});
