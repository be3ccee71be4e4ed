/**
 * The paper's conv VAE with a learned MAF prior in the stream (real broker + PostgreSQL): a tiny
 * conv + MAF ensemble built by the production pipeline (buildModel → ONNX → dose rule fitted on its
 * validation normals), 300 mixed frames produced with our codec, the frames consumer in-process.
 * The flags in PostgreSQL must be exactly the frames whose offline score (OnnxScorer, no Kafka)
 * exceeds the manifest's threshold, with the same scores; and the stored scores of a sample of
 * flagged frames must equal the float64 brute-force ensemble (test/reference/f64.ts: conv layers,
 * MADE bijectors, IWAE-16) followed by a brute-force kernel-density dose score.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { testKafka, createTopic, deleteTopics } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { waitFor } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { imageFrameCodec } from '../../../src/schemas/codec.js';
import { loadCheckpoint } from '../../../src/engine/checkpoint.js';
import { inputComplexity } from '../../../src/engine/complexity.js';
import { doseScoreF64, ensembleScoresF64 } from '../../reference/f64.js';
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

describe('stream with a conv VAE + MAF prior (real Kafka + PostgreSQL)', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let txModel: TestModel;
  let convModel: TestModel;
  let txTopic: string;
  let frameTopic: string;
  let dlq: string;
  let frames: FrameInput;
  const running = new InProcessConsumers();

  beforeAll(async () => {
    kafka = testKafka('stream-conv');
    [pg, txModel, convModel, txTopic, frameTopic, dlq] = await Promise.all([
      createIsolatedSchema({ prefix: 'stream_conv' }),
      testModel('transactions'),
      testModel('frames', { arch: 'conv' }),
      createTopic(kafka, { prefix: 'tx-conv' }),
      createTopic(kafka, { prefix: 'frames-conv' }),
      createTopic(kafka, { prefix: 'dlq-conv' }),
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
      groupId: `conv-${Date.now()}`,
      transactions: { dir: txModel.dir, topic: txTopic },
      frames: { dir: convModel.dir, topic: frameTopic },
    });
  }, 400_000);

  afterAll(async () => {
    await running.stop();
    await pg?.drop();
    await deleteTopics(kafka, [txTopic, frameTopic, dlq].filter(Boolean)).catch(() => undefined);
  });

  it('flags equal the offline engine and the float64 reference; the default rule is dose', async () => {
    const { manifest, spec } = await loadCheckpoint(convModel.dir);
    expect(manifest.member.arch.kind).toBe('conv');
    expect(manifest.member.prior.kind).toBe('maf');
    expect(manifest.scoreRule.score).toBe('dose');

    await waitFor(async () => (await counterTotals(pg.db, frameTopic)).scored >= N, {
      timeoutMs: 180_000,
      intervalMs: 250,
      what: 'every frame scored',
    });
    const totals = await counterTotals(pg.db, frameTopic);
    expect(totals).toMatchObject({ scored: N, deadLettered: 0 });

    const ref = await offlineScores(convModel.dir, frames.raw, N);
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
      expect(f.threshold).toBe(ref.threshold);
    }
    // the model is real: uniform noise is flagged far more often than MNIST digits
    const noiseFlagged = flags.filter((f) => {
      const i = Number(f.record_id.slice(6));
      return i >= N_MNIST && i < N_MNIST + N_NOISE;
    }).length;
    expect(noiseFlagged).toBeGreaterThan(N_NOISE / 2);

    // float64 brute force on a sample of flagged frames (conv layers and MADEs in plain loops)
    const D = 784;
    const densities = manifest.scoreRule.dose!.densities;
    const sample = flags.slice(0, 6);
    expect(sample.length).toBeGreaterThan(0);
    for (const f of sample) {
      const i = Number(f.record_id.slice(6));
      const raw = frames.raw.subarray(i * D, (i + 1) * D);
      const r = ensembleScoresF64(spec, raw);
      const lx = inputComplexity(raw, 1, D)[0];
      const s = doseScoreF64(densities, {
        neg_logp: -r.logpMean,
        rate: r.rate,
        logp_var: r.logpVar,
        neg_logp_ic: -r.logpMean - lx,
      });
      expect(Math.abs(f.score - s), `${f.record_id}: stream ${f.score}, f64 ${s}`).toBeLessThanOrEqual(
        2e-3 * Math.max(1, Math.abs(s)),
      );
    }
  }, 400_000);
});
