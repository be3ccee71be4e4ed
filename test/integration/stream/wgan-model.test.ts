/**
 * A 'vae+wgan' model in the stream (real broker + PostgreSQL): a tiny frames model whose checkpoint
 * also carries a WGAN critic ensemble (buildModel --family vae+wgan: VAE members, then critics, the
 * dose rule over both families' statistics), 300 mixed frames produced with our codec, the frames
 * consumer in-process (Detector → VaeWganScorer). The flags must be exactly the frames whose offline
 * score (the engine's scorers, no Kafka, no Detector) exceeds the threshold, each flag's payload must
 * carry the critics' values, and those must equal the float64 reference of the stored critics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { testKafka, createTopic, deleteTopics } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { waitFor } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { imageFrameCodec } from '../../../src/schemas/codec.js';
import { loadCheckpoint, modelFamily } from '../../../src/engine/checkpoint.js';
import { criticEnsembleF64 } from '../../reference/critic-f64.js';
import {
  InProcessConsumers,
  closeScore,
  decided,
  expectedFlags,
  counterTotals,
  flagsOf,
  mixedFrames,
  offlineScores,
  produceAll,
  quietLogger,
  type FrameInput,
} from './support.js';

const N_MNIST = 200;
const N_NOISE = 50;
const N_FLIP = 50;
const N = N_MNIST + N_NOISE + N_FLIP;

describe("stream with a 'vae+wgan' model (real Kafka + PostgreSQL)", () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let txModel: TestModel;
  let model: TestModel;
  let txTopic: string;
  let frameTopic: string;
  let dlq: string;
  let frames: FrameInput;
  const running = new InProcessConsumers();

  beforeAll(async () => {
    kafka = testKafka('stream-wgan');
    [pg, txModel, model, txTopic, frameTopic, dlq] = await Promise.all([
      createIsolatedSchema({ prefix: 'stream_wgan' }),
      testModel('transactions'),
      testModel('frames', { family: 'vae+wgan' }),
      createTopic(kafka, { prefix: 'tx-wgan' }),
      createTopic(kafka, { prefix: 'frames-wgan' }),
      createTopic(kafka, { prefix: 'dlq-wgan' }),
    ]);
    frames = await mixedFrames(N_MNIST, N_NOISE, N_FLIP);
    const fc = imageFrameCodec();
    await produceAll(
      kafka,
      frameTopic,
      frames.records.map((r) => ({ key: r.id, value: fc.encode(r) })),
      100,
    );
    await running.start({
      kafka,
      db: pg.db,
      logger: quietLogger(),
      dlqTopic: dlq,
      groupId: `wgan-${Date.now()}`,
      transactions: { dir: txModel.dir, topic: txTopic },
      frames: { dir: model.dir, topic: frameTopic },
    });
  }, 400_000);

  afterAll(async () => {
    await running.stop();
    await pg?.drop();
    await deleteTopics(kafka, [txTopic, frameTopic, dlq].filter(Boolean)).catch(() => undefined);
  });

  it('flags equal the offline engine; payloads carry the critic values of the float64 reference', async () => {
    const { manifest, critics } = await loadCheckpoint(model.dir);
    expect(modelFamily(manifest)).toBe('vae+wgan');
    expect(manifest.scoreRule.score).toBe('dose');
    expect(manifest.scoreRule.dose!.densities.map((d) => d.stat)).toContain('critic_var');

    await waitFor(async () => (await counterTotals(pg.db, frameTopic)).scored >= N, {
      timeoutMs: 180_000,
      intervalMs: 250,
      what: 'every frame scored',
    });
    const totals = await counterTotals(pg.db, frameTopic);
    expect(totals).toMatchObject({ scored: N, deadLettered: 0 });

    const ref = await offlineScores(model.dir, frames.raw, N);
    const { flagged: expected, borderline } = expectedFlags(ref.scores, ref.threshold, (i) => `frame-${i}`);
    const flags = await flagsOf(pg.db, frameTopic);
    expect(totals.flagged).toBe(flags.length);
    expect(
      decided(
        flags.map((f) => f.record_id),
        borderline,
      ),
    ).toEqual(new Set(expected.keys()));
    for (const f of flags) {
      const want = expected.get(f.record_id) ?? ref.scores[Number(f.record_id.slice(6))];
      if (!closeScore(f.score, want)) expect.fail(`${f.record_id}: stream score ${f.score}, offline ${want}`);
    }
    expect(flags.length).toBeGreaterThan(0);

    // the stored payloads: each critic's value and Var D, equal to the float64 reference
    const D = 784;
    const rows = await pg
      .db('flags')
      .where('source_topic', frameTopic)
      .select<Array<{ record_id: string; payload: Record<string, unknown> }>>('record_id', 'payload')
      .limit(6);
    for (const r of rows) {
      const i = Number(r.record_id.slice(6));
      const want = criticEnsembleF64(critics!.spec, frames.raw.subarray(i * D, (i + 1) * D));
      const got = r.payload.member_critic as number[];
      expect(got).toHaveLength(3);
      got.forEach((v, m) =>
        expect(Math.abs(v - want.critic[m]), `${r.record_id} critic ${m}`).toBeLessThanOrEqual(
          1e-4 * Math.max(1, Math.abs(want.critic[m])),
        ),
      );
      expect(Math.abs((r.payload.critic_var as number) - want.var)).toBeLessThanOrEqual(
        1e-4 * Math.max(1e-6, want.var) + 1e-9,
      );
    }
  }, 400_000);
});
