/**
 * A slow model does not hold a batch past the group's rebalance timeout (real broker + PostgreSQL,
 * consumers in-process). The conv VAE + MAF prior scores frames hundreds of times slower than the
 * transactions MLP; a 4 MiB fetch of frames was once minutes of work, a rebalance meanwhile expelled
 * the member and its offset commit failed. Now a batch is cut to what the model scores in
 * maxBatchMs (its first batch: FIRST_BATCH_RECORDS) and kafkajs fetches the rest again.
 *
 * - Member A alone on a 2-partition topic of the first 700 frames: its first batch on a partition is
 *   exactly FIRST_BATCH_RECORDS records with the rest left for the next fetch; later batches are cut.
 * - Member B joins mid-stream with a short rebalance timeout (4 s, shorter than A's uncut batch
 *   would take): the rebalance completes, and the other 500 frames, produced once B is in the group,
 *   are scored by both members; no offset commit fails.
 * - Every frame is accounted for exactly once: counters sum to 1,200, one flag row per flagged frame,
 *   no record id twice, and both partitions' committed offsets reach the end.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { createFramesConsumer } from '../../../consumers/frames.js';
import { imageFrameCodec } from '../../../src/schemas/codec.js';
import { ModelSource } from '../../../src/stream/model-source.js';
import { groupFor } from '../../../src/stream/kind-consumer.js';
import { FIRST_BATCH_RECORDS, type BatchEvent, type ScoringConsumer } from '../../../src/stream/consumer.js';
import type { ImageFrame } from '../../../src/schemas/schemas.js';
import { createTopic, deleteTopics, testKafka } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { testModel } from '../../helpers/models.js';
import { waitFor } from '../../helpers/wait.js';
import { counterTotals, flagsOf, mixedFrames, produceAll } from './support.js';

const N = 1200;
const MAX_BATCH_MS = 150;

/** A pino logger that keeps every line (JSON) for the assertions. */
function capturingLogger(lines: string[]): pino.Logger {
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  return pino({ level: 'info' }, sink);
}

describe('a slow (conv) model: batches bounded in scoring time, rebalances complete', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  const topics: string[] = [];
  const sources: ModelSource[] = [];
  const consumers: ScoringConsumer<ImageFrame>[] = [];

  beforeAll(async () => {
    kafka = testKafka('slow-model');
    pg = await createIsolatedSchema({ prefix: 'slow_model' });
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(consumers.map((c) => c.stop()));
    await Promise.allSettled(sources.map((s) => s.close()));
    await pg?.drop();
    await deleteTopics(kafka, topics).catch(() => undefined);
  });

  it('cuts batches, survives a rebalance with a short timeout, scores every frame once', async () => {
    const model = await testModel('frames', { arch: 'conv' });
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'frames-slow', partitions: 2 }),
      createTopic(kafka, { prefix: 'dlq-slow' }),
    ]);
    topics.push(topic, dlq);
    const frames = await mixedFrames(N - 100, 50, 50);
    const fc = imageFrameCodec();
    const messages = frames.records.map((r) => ({ key: r.id, value: fc.encode(r) }));
    // A alone on the first 700; the rest once B has joined (A alone may finish 1,200 frames of this small
    // model before a rebalance completes, and B would have nothing left to score)
    const FIRST = 700;
    await produceAll(kafka, topic, messages.slice(0, FIRST), 200);

    const groupId = `slow-${Date.now()}`;
    const logs: string[] = [];
    const logger = capturingLogger(logs);
    const batches: { member: string; ev: BatchEvent }[] = [];
    const start = async (member: string): Promise<ScoringConsumer<ImageFrame>> => {
      const models = await ModelSource.open({
        kind: 'frames',
        dir: model.dir,
        scorer: { intraOpNumThreads: 1 },
        logger,
      });
      sources.push(models);
      const c = createFramesConsumer({
        kafka,
        db: pg.db,
        models,
        logger: logger.child({ member }),
        dlqTopic: dlq,
        groupId,
        topic,
        tuning: {
          maxBatchMs: MAX_BATCH_MS,
          rebalanceTimeout: 4_000,
          sessionTimeout: 6_000,
          heartbeatInterval: 500,
          partitionsConsumedConcurrently: 2,
        },
      });
      c.on('batch', (ev) => batches.push({ member, ev }));
      consumers.push(c);
      await c.start();
      return c;
    };

    await start('A');
    // B joins once A has committed a few batches (and long before A is done)
    await waitFor(async () => batches.length >= 3, { timeoutMs: 120_000, what: 'A has committed batches' });
    const b = await start('B');
    expect(b.ready).toBe(true);
    await produceAll(kafka, topic, messages.slice(FIRST), 200);
    await waitFor(
      async () => {
        const t = await counterTotals(pg.db, topic);
        return t.scored + t.deadLettered >= N;
      },
      { timeoutMs: 240_000, intervalMs: 250, what: 'every frame accounted for' },
    );

    // A's first batch (the model's speed unknown): exactly FIRST_BATCH_RECORDS, the rest left for the
    // next fetch; the partitions share the model's measured speed after that
    const aFirst = batches.find(({ member }) => member === 'A')!.ev;
    // (a fetch may return fewer records than were produced)
    expect(aFirst.records).toBe(Math.min(FIRST_BATCH_RECORDS, aFirst.records + aFirst.leftForNextFetch));
    // the model's measured speed cuts later batches too (each is far below the fetched 600 frames)
    expect(batches.filter(({ ev }) => ev.leftForNextFetch > 0).length).toBeGreaterThan(2);
    // (each member's ModelSource holds its own model, whose speed is unknown until a batch is scored:
    // with two partitions consumed concurrently, each partition's first batch may start before that
    // and take FIRST_BATCH_RECORDS; every batch after a partition's first is cut to the measured speed)
    const firstOf = (x: (typeof batches)[number]): (typeof batches)[number] | undefined =>
      batches.find(({ member, ev }) => member === x.member && ev.partition === x.ev.partition);
    const laterBatches = batches.filter((x) => x !== firstOf(x));
    expect(Math.max(...batches.map(({ ev }) => ev.records))).toBeLessThanOrEqual(FIRST_BATCH_RECORDS);
    expect(Math.max(...laterBatches.map(({ ev }) => ev.records))).toBeLessThan(FIRST_BATCH_RECORDS);
    // B took part: it scored batches after the rebalance
    expect(batches.some(({ member, ev }) => member === 'B' && ev.scored > 0)).toBe(true);
    // nothing failed to commit (a member expelled mid-batch fails its commit)
    expect(logs.filter((l) => l.includes('offset commit failed'))).toEqual([]);

    // exactly once: counters, flag rows, no duplicates; batch records sum to N
    const totals = await counterTotals(pg.db, topic);
    expect(totals.scored + totals.deadLettered).toBe(N);
    const flags = await flagsOf(pg.db, topic);
    expect(flags.length).toBe(totals.flagged);
    expect(new Set(flags.map((f) => f.record_id)).size).toBe(flags.length);
    const scoredInEvents = batches.reduce((s, { ev }) => s + ev.scored + ev.deadLettered, 0);
    expect(scoredInEvents).toBe(N);

    // offsets reach the end of both partitions
    const admin = kafka.admin();
    await admin.connect();
    try {
      await waitFor(
        async () => {
          const [r] = await admin.fetchOffsets({ groupId: groupFor(groupId, 'frames'), topics: [topic] });
          const ends = await admin.fetchTopicOffsets(topic);
          return ends.every((e) => r.partitions.find((p) => p.partition === e.partition)?.offset === e.high);
        },
        { timeoutMs: 30_000, what: 'offsets committed to the end' },
      );
    } finally {
      await admin.disconnect();
    }
  }, 400_000);
});
