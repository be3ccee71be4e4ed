/**
 * End to end against the real broker and PostgreSQL: 5,000 credit transactions (2 partitions) and
 * 2,000 mixed frames (MNIST test + uniform noise + upside-down digits) are produced with our codecs,
 * the consumers run in-process, and the outcome is compared with two references — the same rows
 * scored offline by the engine (no Kafka, no stream code), and, for transactions, by the float64
 * brute-force implementation of the ensemble in test/reference/f64.ts (no onnxruntime, no tfjs):
 *   - every record scored exactly once (counters sum to what was produced; no dead letters);
 *   - the flags in PostgreSQL are exactly the records whose offline score exceeds the calibrated
 *     threshold, with the same scores to float32 precision, one row per record;
 *   - the high-water marks equal the last offsets; /metrics counts the same totals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { testKafka, createTopic, deleteTopics } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { waitFor } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { imageFrameCodec } from '../../../src/schemas/codec.js';
import { versionName } from '../../../src/detector/detector.js';
import { loadCheckpoint } from '../../../src/engine/checkpoint.js';
import { doseScoreF64, ensembleScoresF64, featureMahaF64, memberTypicalityF64 } from '../../reference/f64.js';
import { createStreamMetrics } from '../../../src/stream/metrics.js';
import {
  InProcessConsumers,
  closeScore,
  decided,
  expectedFlags,
  counterTotals,
  creditTransactions,
  flagsOf,
  mixedFrames,
  offlineScores,
  produceAll,
  produceTransactions,
  quietLogger,
  type FrameInput,
  type TxInput,
  expectedEngineLabel,
} from './support.js';

const N_TX = 5000;
const N_FRAMES = 2000;

describe('stream end to end (real Kafka + PostgreSQL)', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let txModel: TestModel;
  let frameModel: TestModel;
  let txTopic: string;
  let frameTopic: string;
  let dlq: string;
  let tx: TxInput;
  let frames: FrameInput;
  const running = new InProcessConsumers();
  const metrics = createStreamMetrics({ defaultMetrics: false });

  beforeAll(async () => {
    kafka = testKafka('stream-e2e');
    [pg, txModel, frameModel, txTopic, frameTopic, dlq] = await Promise.all([
      createIsolatedSchema({ prefix: 'stream_e2e' }),
      testModel('transactions'),
      testModel('frames'),
      createTopic(kafka, { prefix: 'tx', partitions: 2 }),
      createTopic(kafka, { prefix: 'frames', partitions: 1 }),
      createTopic(kafka, { prefix: 'dlq' }),
    ]);
    [tx, frames] = await Promise.all([creditTransactions(N_TX), mixedFrames(1600, 200, 200)]);
    const fc = imageFrameCodec();
    await produceTransactions(kafka, txTopic, tx.records);
    await produceAll(
      kafka,
      frameTopic,
      frames.records.map((r) => ({ key: r.id, value: fc.encode(r) })),
      250,
    );

    await running.start({
      kafka,
      db: pg.db,
      logger: quietLogger(),
      metrics,
      dlqTopic: dlq,
      groupId: `e2e-${Date.now()}`,
      transactions: { dir: txModel.dir, topic: txTopic },
      frames: { dir: frameModel.dir, topic: frameTopic },
    });
  });

  afterAll(async () => {
    await running.stop();
    await pg?.drop();
    await deleteTopics(kafka, [txTopic, frameTopic, dlq].filter(Boolean)).catch(() => undefined);
  });

  it('scores every record exactly once; flags equal the offline engine reference', async () => {
    await waitFor(
      async () => {
        const [a, b] = await Promise.all([counterTotals(pg.db, txTopic), counterTotals(pg.db, frameTopic)]);
        return a.scored + a.deadLettered >= N_TX && b.scored + b.deadLettered >= N_FRAMES;
      },
      { timeoutMs: 120_000, intervalMs: 250, what: 'all records accounted for in stream_counters' },
    );
    for (const [topic, input, model, n] of [
      [txTopic, tx.raw, txModel, N_TX],
      [frameTopic, frames.raw, frameModel, N_FRAMES],
    ] as const) {
      const totals = await counterTotals(pg.db, topic);
      expect(totals).toMatchObject({ scored: n, deadLettered: 0 });

      const ref = await offlineScores(model.dir, input, n);
      const prefix = topic === txTopic ? 'tx' : 'frame';
      const { flagged: expected, borderline } = expectedFlags(
        ref.scores,
        ref.threshold,
        (i) => `${prefix}-${i}`,
      );
      const flags = await flagsOf(pg.db, topic);
      expect(totals.flagged).toBe(flags.length);
      const ids = flags.map((f) => f.record_id);
      expect(new Set(ids).size).toBe(ids.length); // one flag per record
      expect(decided(ids, borderline)).toEqual(new Set(expected.keys()));
      expect(borderline.size).toBeLessThan(5);
      expect(expected.size).toBeGreaterThan(0);
      for (const f of flags) {
        const want = expected.get(f.record_id) ?? ref.scores[Number(f.record_id.slice(prefix.length + 1))];
        if (!closeScore(f.score, want))
          expect.fail(`${f.record_id}: stream score ${f.score}, offline ${want}`);
        expect(f.threshold).toBe(ref.threshold);
        expect(f.model_version).toBe(versionName(model.manifest));
      }
    }
    // Transactions against the float64 reference: the flag decision of every record not within
    // float32 rounding of the threshold, and the stored scores.
    {
      const { spec, manifest, featureGaussian } = await loadCheckpoint(txModel.dir);
      const typicality = manifest.scoreRule.dose?.typicality;
      const rule = manifest.scoreRule.score;
      expect(['neg_logp', 'neg_waic', 'dose']).toContain(rule);
      const th = manifest.thresholds.find((t) => t.score === rule)?.value as number;
      const stored = new Map((await flagsOf(pg.db, txTopic)).map((f) => [f.record_id, f.score]));
      // (the dose family agrees with float64 to 1e-3 relative, see closeScore; mean log p to 1e-4)
      const margin = 1e-3 * Math.max(1, Math.abs(th));
      let decided = 0;
      for (let i = 0; i < N_TX; i++) {
        const r = ensembleScoresF64(spec, tx.raw.subarray(i * 30, (i + 1) * 30));
        const s =
          rule === 'neg_logp'
            ? -r.logpMean
            : rule === 'neg_waic'
              ? -r.waic
              : doseScoreF64(manifest.scoreRule.dose!.densities, {
                  neg_logp: -r.logpMean,
                  rate: r.rate,
                  logp_var: r.logpVar,
                  ...(featureGaussian
                    ? {
                        feature_maha: featureMahaF64(
                          featureGaussian,
                          spec.transform,
                          tx.raw.subarray(i * 30, (i + 1) * 30),
                        ),
                      }
                    : {}),
                  ...(typicality
                    ? { member_typicality: memberTypicalityF64(typicality, r.logp, r.memberRate) }
                    : {}),
                });
        const got = stored.get(`tx-${i}`);
        if (got !== undefined) expect(closeScore(got, s), `tx-${i}: stream ${got}, f64 ${s}`).toBe(true);
        if (Math.abs(s - th) <= margin) continue;
        decided++;
        if ((got !== undefined) !== s > th)
          expect.fail(`tx-${i}: f64 score ${s}, threshold ${th}, stream flagged ${got !== undefined}`);
      }
      expect(decided).toBeGreaterThan(N_TX - 10);
    }

    // OoD frames are flagged far more often than MNIST digits (the model is real, not a stub).
    const frameFlags = await flagsOf(pg.db, frameTopic);
    const oodFlagged = frameFlags.filter((f) => Number(f.record_id.slice(6)) >= 1600).length;
    const inFlagged = frameFlags.length - oodFlagged;
    expect(oodFlagged / 400).toBeGreaterThan(inFlagged / 1600);

    // High-water marks: the last offset of every partition.
    const hwm = await pg.db('stream_offsets').select('source_topic', 'source_partition', 'last_offset');
    const admin = kafka.admin();
    await admin.connect();
    try {
      for (const topic of [txTopic, frameTopic]) {
        for (const p of await admin.fetchTopicOffsets(topic)) {
          const row = hwm.find(
            (r: { source_topic: string; source_partition: number }) =>
              r.source_topic === topic && r.source_partition === p.partition,
          ) as { last_offset: string } | undefined;
          expect(String(row?.last_offset)).toBe(String(Number(p.high) - 1));
        }
      }
    } finally {
      await admin.disconnect();
    }
    const text = await metrics.registry.metrics();
    expect(text).toMatch(
      new RegExp(`gensemble_records_scored_total\\{kind="transactions",topic="${txTopic}"\\} ${N_TX}`),
    );
    const engine = await expectedEngineLabel(frameModel.dir);
    expect(text).toMatch(
      new RegExp(
        `gensemble_model_info\\{kind="frames",version="[^"]+",execution_provider="${engine}",score="${frameModel.manifest.scoreRule.score}"\\} 1`,
      ),
    );
  });
});
