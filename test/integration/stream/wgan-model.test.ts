/**
 * A 'vae+wgan' model in the stream (real broker + PostgreSQL): a tiny frames model whose checkpoint
 * also carries a WGAN critic ensemble (buildModel --family vae+wgan: VAE members, then critics, the
 * dose rule over both families' statistics), 300 mixed frames produced with our codec, the frames
 * consumer in-process (Detector → VaeWganScorer). The flags must be exactly the frames whose offline
 * score (the engine's scorers, no Kafka, no Detector) exceeds the threshold, each flag's payload must
 * carry the critics' values, and those must equal the float64 reference of the stored critics.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, modelFamily } from '../../../src/engine/checkpoint.js';
import { criticEnsembleF64 } from '../../reference/critic-f64.js';
import { expectFlagsEqualOffline, startFramesStream, type FramesStream } from './support.js';

const N_MNIST = 200;
const N_NOISE = 50;
const N_FLIP = 50;
const N = N_MNIST + N_NOISE + N_FLIP;

describe("stream with a 'vae+wgan' model (real Kafka + PostgreSQL)", () => {
  let stream: FramesStream;

  beforeAll(async () => {
    stream = await startFramesStream(
      'wgan',
      { family: 'vae+wgan' },
      { mnist: N_MNIST, noise: N_NOISE, flip: N_FLIP },
    );
  }, 400_000);

  afterAll(async () => {
    await stream?.stop();
  });

  it('flags equal the offline engine; payloads carry the critic values of the float64 reference', async () => {
    const { manifest, critics } = await loadCheckpoint(stream.model.dir);
    expect(modelFamily(manifest)).toBe('vae+wgan');
    expect(manifest.scoreRule.score).toBe('dose');
    expect(manifest.scoreRule.dose!.densities.map((d) => d.stat)).toContain('critic_var');

    const { flags } = await expectFlagsEqualOffline(stream, N);
    const { pg, frameTopic, frames } = stream;
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
