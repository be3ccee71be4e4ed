/**
 * Hot reload and a database outage, real broker + PostgreSQL, consumer in-process.
 *
 * Hot reload: the consumer scores from a checkpoint directory; a different model (another seed) is
 * copied into that directory while it runs. Batches after the swap carry the new version, and the
 * flags of the records produced after the swap are exactly those the NEW model flags offline (its
 * scores, its threshold); earlier flags keep the old version.
 *
 * Database outage: PostgreSQL is reached through a TCP proxy that the test takes down mid-stream.
 * The consumer must retry the batch (retry events, nothing committed meanwhile), then finish once the
 * proxy is back: every record scored exactly once, flags equal to the offline reference.
 */
import { readdir, copyFile, cp, mkdtemp, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import type { Knex } from 'knex';
import { testKafka, createTopic, deleteTopics } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { databaseUrl } from '../../helpers/services.js';
import { waitFor } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { transactionCodec } from '../../../src/schemas/codec.js';
import { createKnex } from '../../../src/store/knex.js';
import { ModelSource } from '../../../src/stream/model-source.js';
import { versionName } from '../../../src/detector/detector.js';
import { loadCheckpoint } from '../../../src/engine/checkpoint.js';
import { nearestDistance } from '../../../src/engine/feature-knn.js';
import { applyTransform } from '../../../src/features/transform.js';
import { createTransactionsConsumer } from '../../../consumers/transactions.js';
import type { BatchEvent, RetryEvent, ScoringConsumer } from '../../../src/stream/consumer.js';
import type { Transaction } from '../../../src/schemas/schemas.js';
import {
  PgOutageProxy,
  closeScore,
  counterTotals,
  creditTransactions,
  flagsOf,
  offlineScores,
  produceAll,
  quietLogger,
  type TxInput,
} from './support.js';

describe('hot reload and database outage', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let modelA: TestModel;
  let modelB: TestModel;
  let tx: TxInput;
  let tmp: string;
  const topics: string[] = [];
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    kafka = testKafka('stream-resilience');
    [pg, modelA, modelB, tx, tmp] = await Promise.all([
      createIsolatedSchema({ prefix: 'stream_res' }),
      testModel('transactions'),
      // B also carries the opt-in nearest-record statistic: the reload brings a file A does not have
      testModel('transactions', { seed: 1, extraDoseStatistics: ['feature_knn'] }),
      creditTransactions(2000),
      mkdtemp(join(tmpdir(), 'gensemble-reload-')),
    ]);
  });

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await pg?.drop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
    await deleteTopics(kafka, topics).catch(() => undefined);
  });

  async function consumerOn(
    db: Knex,
    models: ModelSource,
    topic: string,
    dlq: string,
  ): Promise<ScoringConsumer<Transaction>> {
    const c = createTransactionsConsumer({
      kafka,
      db,
      models,
      logger: quietLogger(),
      topic,
      dlqTopic: dlq,
      groupId: `res-${Date.now()}`,
      tuning: { retry: { initialMs: 100, maxMs: 400 }, maxBytesPerPartition: 32_768 },
    });
    cleanups.push(() => c.stop());
    await c.start();
    return c;
  }

  const encode = (recs: Transaction[]) => {
    const codec = transactionCodec();
    return recs.map((r) => ({ value: codec.encode(r) }));
  };

  it('a new checkpoint is picked up between batches; later flags carry the new version and its scores', async () => {
    expect(modelB.manifest.scoreRule.dose?.densities.map((d) => d.stat)).toContain('feature_knn');
    expect(modelA.manifest.nearestReference).toBeUndefined();
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-reload' }),
      createTopic(kafka, { prefix: 'dlq' }),
    ]);
    topics.push(topic, dlq);
    const dir = join(tmp, 'model');
    await cp(modelA.dir, dir, { recursive: true });
    const vA = versionName(modelA.manifest);
    const vB = versionName(modelB.manifest);
    expect(vA).not.toBe(vB);
    const models = await ModelSource.open({
      kind: 'transactions',
      dir,
      reloadMs: 100,
      scorer: { intraOpNumThreads: 1 },
    });
    cleanups.push(() => models.close());
    const c = await consumerOn(pg.db, models, topic, dlq);
    const batches: BatchEvent[] = [];
    c.on('batch', (b) => batches.push(b));

    await produceAll(kafka, topic, encode(tx.records.slice(0, 600)));
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= 600, {
      timeoutMs: 60_000,
      what: 'phase 1 scored',
    });

    // Replace the model in place: every other file (weights, graph, input Gaussian) first, the manifest
    // last (atomic rename).
    for (const f of await readdir(modelB.dir))
      if (f !== 'manifest.json') await copyFile(join(modelB.dir, f), join(dir, f));
    await copyFile(join(modelB.dir, 'manifest.json'), join(dir, 'manifest.json.tmp'));
    await rename(join(dir, 'manifest.json.tmp'), join(dir, 'manifest.json'));
    await waitFor(() => models.pendingVersion === vB, {
      timeoutMs: 30_000,
      what: 'the new model to be loaded',
    });

    await produceAll(kafka, topic, encode(tx.records.slice(600, 1200)));
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= 1200, {
      timeoutMs: 60_000,
      what: 'phase 2 scored',
    });

    for (const b of batches)
      expect(b.modelVersion, `batch ${b.firstOffset}..${b.lastOffset}`).toBe(
        Number(b.firstOffset) < 600 ? vA : vB,
      );
    expect(models.current.version).toBe(vB);
    const flags = await flagsOf(pg.db, topic);
    const refA = await offlineScores(modelA.dir, tx.raw.subarray(0, 600 * 30), 600);
    const refB = await offlineScores(modelB.dir, tx.raw.subarray(600 * 30, 1200 * 30), 600);
    const expected = new Map<string, { score: number; version: string; threshold: number }>();
    refA.scores.forEach(
      (s, i) =>
        s > refA.threshold && expected.set(`tx-${i}`, { score: s, version: vA, threshold: refA.threshold }),
    );
    refB.scores.forEach(
      (s, i) =>
        s > refB.threshold &&
        expected.set(`tx-${600 + i}`, { score: s, version: vB, threshold: refB.threshold }),
    );
    expect(new Set(flags.map((f) => f.record_id))).toEqual(new Set(expected.keys()));
    expect(flags.filter((f) => f.model_version === vB).length).toBeGreaterThan(0);
    for (const f of flags) {
      const e = expected.get(f.record_id)!;
      expect(f.model_version).toBe(e.version);
      expect(f.threshold).toBe(e.threshold);
      if (!closeScore(f.score, e.score)) expect.fail(`${f.record_id}: ${f.score} vs ${e.score}`);
    }
    // B's flags carry the distance to its nearest reference record, equal to the float64 brute force
    const { spec, nearestReference } = await loadCheckpoint(modelB.dir);
    const payloads = await pg
      .db('flags')
      .where('source_topic', topic)
      .select<Array<{ record_id: string; model_version: string; payload: { feature_knn?: number } }>>(
        'record_id',
        'model_version',
        'payload',
      );
    // float32 GEMM over centred records: the error scales with the squared norms, not the distance
    const ref = nearestReference!;
    let maxNorm = 0;
    for (let r = 0; r < ref.size; r++) {
      let q = 0;
      for (let a = 0; a < ref.dim; a++) q += ref.points[r * ref.dim + a] ** 2;
      maxNorm = Math.max(maxNorm, q);
    }
    let checked = 0;
    for (const f of payloads) {
      if (f.model_version !== vB) {
        expect(f.payload.feature_knn, f.record_id).toBeUndefined();
        continue;
      }
      const i = Number(f.record_id.slice(3));
      const x = applyTransform(spec.transform, tx.raw.subarray(i * 30, (i + 1) * 30), 1, 30);
      const want = nearestDistance(ref, x, 1)[0];
      const xx = x.reduce((acc, v) => acc + v * v, 0);
      // (the payload keeps 7 significant digits)
      const tol = 2e-6 * (xx + maxNorm) + 1e-6 * want;
      expect(Math.abs(f.payload.feature_knn! - want), f.record_id).toBeLessThanOrEqual(tol);
      checked++;
    }
    expect(checked).toBeGreaterThan(0);
  });

  it('PostgreSQL going away mid-stream: the batch is retried, nothing is lost or duplicated', async () => {
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-outage' }),
      createTopic(kafka, { prefix: 'dlq' }),
    ]);
    topics.push(topic, dlq);
    const u = new URL(databaseUrl());
    const proxy = new PgOutageProxy(u.hostname, Number(u.port || 5432));
    await proxy.up();
    cleanups.push(() => proxy.down());
    u.hostname = '127.0.0.1';
    u.port = String(proxy.port);
    const db = createKnex({ databaseUrl: u.toString(), searchPath: [pg.schema], pool: { min: 0, max: 4 } });
    cleanups.push(() => db.destroy());
    const models = await ModelSource.open({
      kind: 'transactions',
      dir: modelA.dir,
      scorer: { intraOpNumThreads: 1 },
    });
    cleanups.push(() => models.close());
    const c = await consumerOn(db, models, topic, dlq);
    const retries: RetryEvent[] = [];
    c.on('retry', (r) => retries.push(r));

    await produceAll(kafka, topic, encode(tx.records.slice(0, 500)));
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= 500, {
      timeoutMs: 60_000,
      what: 'records before the outage',
    });
    await proxy.down();
    await produceAll(kafka, topic, encode(tx.records.slice(500, 1500)));
    await waitFor(() => retries.length >= 3, { timeoutMs: 30_000, what: 'the consumer retrying the batch' });
    // Nothing moved while the database was unreachable.
    expect((await counterTotals(pg.db, topic)).scored).toBe(500);
    expect(retries[0].stage).toMatch(/^(db|hwm)$/);
    await proxy.up();
    await waitFor(async () => (await counterTotals(pg.db, topic)).scored >= 1500, {
      timeoutMs: 60_000,
      what: 'all records after the outage',
    });

    const totals = await counterTotals(pg.db, topic);
    expect(totals).toMatchObject({ scored: 1500, deadLettered: 0 });
    const flags = await flagsOf(pg.db, topic);
    expect(flags.length).toBe(totals.flagged);
    const ref = await offlineScores(modelA.dir, tx.raw.subarray(0, 1500 * 30), 1500);
    const expected = new Set<string>();
    ref.scores.forEach((s, i) => s > ref.threshold && expected.add(`tx-${i}`));
    expect(new Set(flags.map((f) => f.record_id))).toEqual(expected);
    expect(new Set(flags.map((f) => f.record_id)).size).toBe(flags.length);
  });
});
