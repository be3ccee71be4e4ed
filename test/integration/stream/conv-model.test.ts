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
import { loadCheckpoint } from '../../../src/engine/checkpoint.js';
import { inputComplexity } from '../../../src/engine/complexity.js';
import { doseScoreF64, ensembleScoresF64, featureMahaF64, memberTypicalityF64 } from '../../reference/f64.js';
import { expectFlagsEqualOffline, startFramesStream, type FramesStream } from './support.js';

const N_MNIST = 200;
const N_NOISE = 50;
const N_FLIP = 50;
const N = N_MNIST + N_NOISE + N_FLIP;

describe('stream with a conv VAE + MAF prior (real Kafka + PostgreSQL)', () => {
  let stream: FramesStream;

  beforeAll(async () => {
    stream = await startFramesStream(
      'conv',
      { arch: 'conv' },
      { mnist: N_MNIST, noise: N_NOISE, flip: N_FLIP },
    );
  }, 400_000);

  afterAll(async () => {
    await stream?.stop();
  });

  it('flags equal the offline engine and the float64 reference; the default rule is dose', async () => {
    const { manifest, spec, featureGaussian } = await loadCheckpoint(stream.model.dir);
    expect(manifest.member.arch.kind).toBe('conv');
    expect(manifest.member.prior.kind).toBe('maf');
    expect(manifest.scoreRule.score).toBe('dose');

    const { flags } = await expectFlagsEqualOffline(stream, N);
    const frames = stream.frames;
    // the model is real: uniform noise is flagged far more often than MNIST digits
    const noiseFlagged = flags.filter((f) => {
      const i = Number(f.record_id.slice(6));
      return i >= N_MNIST && i < N_MNIST + N_NOISE;
    }).length;
    expect(noiseFlagged).toBeGreaterThan(N_NOISE / 2);

    // float64 brute force on a sample of flagged frames (conv layers and MADEs in plain loops)
    const D = 784;
    const densities = manifest.scoreRule.dose!.densities;
    const typicality = manifest.scoreRule.dose!.typicality;
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
        ...(featureGaussian ? { feature_maha: featureMahaF64(featureGaussian, spec.transform, raw) } : {}),
        ...(typicality ? { member_typicality: memberTypicalityF64(typicality, r.logp, r.memberRate) } : {}),
      });
      expect(Math.abs(f.score - s), `${f.record_id}: stream ${f.score}, f64 ${s}`).toBeLessThanOrEqual(
        2e-3 * Math.max(1, Math.abs(s)),
      );
    }
  }, 400_000);
});
