/**
 * The nearest reference record (engine/feature-knn.ts, `feature_knn`) against an independent float64
 * reference: every distance written out in full (no partial-sum cut-off) and the minimum taken by
 * sorting; the float32 graph (one GEMM over references centred on their mean) against it on real MNIST
 * digits; the statistic as a dose density, in the scorer, and in a checkpoint.
 */
import { describe, expect, it } from 'vitest';
import { NEIGHBOURS_FILE } from '../../../src/engine/checkpoint.js';
import { CalibrationError, ModelSpecError, ScoringInputError } from '../../../src/engine/errors.js';
import {
  nearestDistance,
  nearestReference,
  packNearestReference,
  unpackNearestReference,
  type NearestReference,
} from '../../../src/engine/feature-knn.js';
import { fitFeatureGaussian, featureMahalanobis } from '../../../src/engine/feature-gaussian.js';
import { InputDistances, InputStatisticsScorer } from '../../../src/engine/feature-scorer.js';
import { doseScores, fitDoseRule } from '../../../src/engine/dose.js';
import { anomalyScores, needsNearestReference } from '../../../src/engine/score-rules.js';
import { applyTransform, IMAGE_TRANSFORM } from '../../../src/features/transform.js';
import { loadMnist } from '../../../src/data/datasets.js';
import { Rng } from '../../../src/engine/random.js';
import { testDataDir } from '../../helpers/models.js';
import { statisticsFileRoundTrip, TINY, tinyEnsemble, zeroStatisticsScorer } from './fixtures.js';

/** Every squared distance from x to the reference records, in float64, sorted ascending. */
function allDistances(ref: NearestReference, x: ArrayLike<number>, i: number): number[] {
  const p = ref.dim;
  const out: number[] = [];
  for (let r = 0; r < ref.size; r++) {
    let s = 0;
    for (let a = 0; a < p; a++) s += (x[i * p + a] - ref.points[r * p + a]) ** 2;
    out.push(s);
  }
  return out.sort((u, v) => u - v);
}

function gaussianRows(n: number, p: number, seed: number): Float32Array {
  const g = new Rng(seed);
  return Float32Array.from({ length: n * p }, () => g.normal());
}

describe('nearestDistance (float64 reference)', () => {
  const p = 40; // > 32: the partial-sum cut-off is exercised
  const ref = nearestReference(gaussianRows(500, p, 1), 500, p);

  it('equals the minimum of every distance written out; an exact copy is at 0; NaN stays NaN', () => {
    const x = gaussianRows(60, p, 2);
    x.set(ref.points.subarray(7 * p, 8 * p), 5 * p); // record 5 is reference record 7
    x[9 * p + 3] = NaN;
    const got = nearestDistance(ref, x, 60);
    for (let i = 0; i < 60; i++) {
      if (i === 9) {
        expect(got[i]).toBeNaN();
        continue;
      }
      expect(got[i]).toBe(allDistances(ref, x, i)[0]);
    }
    expect(got[5]).toBe(0);
    expect(() => nearestDistance(ref, x, 59)).toThrow(ScoringInputError);
  });

  it('refuses an empty or non-finite reference set, and malformed stored bytes', () => {
    expect(() => nearestReference(new Float32Array(0), 0, p)).toThrow(CalibrationError);
    expect(() => nearestReference([1, NaN], 1, 2)).toThrow(/record 0, column 1/);
    expect(() => nearestReference([1, 2, 3], 2, 2)).toThrow(CalibrationError);
    const buf = packNearestReference(ref);
    const back = unpackNearestReference(buf, ref);
    expect(Array.from(back.points)).toEqual(Array.from(ref.points));
    expect(() => unpackNearestReference(buf.subarray(4), ref)).toThrow(/bytes/);
    const bad = Buffer.from(buf);
    bad.writeFloatLE(Infinity, 4 * (3 * p + 2));
    expect(() => unpackNearestReference(bad, ref)).toThrow(/record 3, column 2/);
  });
});

describe('the float32 graph', () => {
  it('matches the float64 reference on MNIST digits and their flips; one graph serves both statistics', async () => {
    const train = await loadMnist(testDataDir(), 'train');
    const D = 784;
    const nRef = 2000;
    const m = 300;
    const raw = Float32Array.from(train.images.pixels.subarray(0, (nRef + m) * D)); // 0..255
    const refX = applyTransform(IMAGE_TRANSFORM, raw.subarray(0, nRef * D), nRef * D, 1);
    const ref = nearestReference(refX, nRef, D);
    const probe = Float32Array.from(raw.subarray(nRef * D));
    probe.set(raw.subarray(11 * D, 12 * D), 4 * D); // a training digit itself: distance 0
    const flipped = probe.map((_, k) => probe[k - (k % 28) + 27 - (k % 28)]);
    const fd = await InputDistances.create({ nearest: ref }, IMAGE_TRANSFORM, { intraOpNumThreads: 1 });
    const g = fitFeatureGaussian(refX, nRef, D);
    const both = await InputDistances.create({ gaussian: g, nearest: ref }, IMAGE_TRANSFORM, {
      intraOpNumThreads: 1,
    });
    for (const x of [probe, flipped]) {
      const xt = applyTransform(IMAGE_TRANSFORM, x, m * D, 1);
      const want = nearestDistance(ref, xt, m);
      const got = await fd.distances(x, m);
      expect(got.featureMaha).toBeUndefined();
      // float32 GEMM over centred records: the error scales with the squared norms, not the distance
      let maxNorm = 0;
      for (let r = 0; r < nRef; r++) {
        let s = 0;
        for (let a = 0; a < D; a++) s += refX[r * D + a] ** 2;
        maxNorm = Math.max(maxNorm, s);
      }
      for (let i = 0; i < m; i++) {
        let xx = 0;
        for (let a = 0; a < D; a++) xx += xt[i * D + a] ** 2;
        expect(Math.abs(got.featureKnn![i] - want[i])).toBeLessThanOrEqual(2e-6 * (xx + maxNorm));
        expect(got.featureKnn![i]).toBeGreaterThanOrEqual(0);
      }
      const b = await both.distances(x, m);
      expect(Array.from(b.featureKnn!)).toEqual(Array.from(got.featureKnn!));
      const maha = featureMahalanobis(g, xt, m);
      for (let i = 0; i < m; i++)
        expect(Math.abs(b.featureMaha![i] - maha[i])).toBeLessThanOrEqual(1e-5 * maha[i]);
    }
    expect((await fd.distances(probe, m)).featureKnn![4]).toBeLessThan(1e-3);
    // flipped digits lie farther from the training digits than the digits themselves
    const mean = (v: Float64Array): number => v.reduce((s, x) => s + x, 0) / v.length;
    expect(mean((await fd.distances(flipped, m)).featureKnn!)).toBeGreaterThan(
      mean((await fd.distances(probe, m)).featureKnn!),
    );
    await expect(fd.distances(probe, m - 1)).rejects.toThrow(ScoringInputError);
    await fd.close();
    await both.close();
    await expect(fd.distances(probe, m)).rejects.toThrow(/closed/);
  }, 60_000);

  it('scores batches larger than one run of the graph (records chunked by the reference size)', async () => {
    const p = 3;
    const R = 4096;
    const ref = nearestReference(gaussianRows(R, p, 3), R, p);
    const n = 9000; // > 8 chunks of 2²² / 4096 = 1,024 records
    const x = gaussianRows(n, p, 4);
    const fd = await InputDistances.create(
      { nearest: ref },
      { kind: 'scale', factor: 1 },
      { intraOpNumThreads: 1 },
    );
    const got = (await fd.distances(x, n)).featureKnn!;
    const want = nearestDistance(ref, x, n);
    for (let i = 0; i < n; i++)
      expect(Math.abs(got[i] - want[i])).toBeLessThanOrEqual(1e-5 * (1 + want[i]) + 1e-4);
    await fd.close();
  }, 60_000);

  it('refuses statistics of different widths, or none', async () => {
    const g = fitFeatureGaussian(gaussianRows(50, 4, 5), 50, 4);
    const ref = nearestReference(gaussianRows(20, 3, 6), 20, 3);
    await expect(InputDistances.create({ gaussian: g, nearest: ref }, IMAGE_TRANSFORM)).rejects.toThrow(
      ModelSpecError,
    );
    await expect(InputDistances.create({ gaussian: g, nearest: ref }, IMAGE_TRANSFORM)).rejects.toThrow(
      /width/,
    );
    await expect(InputDistances.create({}, IMAGE_TRANSFORM)).rejects.toThrow(/neither/);
  });
});

describe('feature_knn as a dose statistic', () => {
  const p = 6;
  const tf = { kind: 'standard' as const, mean: [1, 2, 3, 4, 5, 6], std: [1, 2, 1, 2, 1, 2] };
  const spec = tinyEnsemble(TINY.mlpMaf, { members: 2, k: 4, transform: tf });
  const raw = Float32Array.from(gaussianRows(600, p, 7), (v, i) => v * tf.std[i % p] + tf.mean[i % p]);
  const ref = nearestReference(applyTransform(spec.transform, raw.subarray(0, 300 * p), 300, p), 300, p);
  const held = raw.subarray(300 * p);

  const inner = zeroStatisticsScorer(p);

  it('the scorer adds the distance; a copy of a reference record and a far record are both atypical', async () => {
    const scorer = await InputStatisticsScorer.create(inner, { nearest: ref }, spec.transform, {
      intraOpNumThreads: 1,
    });
    const b = await scorer.scoreBatch(held, 300);
    expect(b.featureMaha).toBeUndefined();
    const want = nearestDistance(ref, applyTransform(spec.transform, held, 300, p), 300);
    for (let i = 0; i < 300; i++)
      expect(Math.abs(b.featureKnn![i] - want[i])).toBeLessThanOrEqual(1e-5 * (1 + want[i]));
    const rule = fitDoseRule(b, ['feature_knn']);
    expect(needsNearestReference('dose', { dose: rule })).toBe(true);
    expect(needsNearestReference('dose', {})).toBe(false);
    const sorted = Float64Array.from(want).sort();
    const med = want.indexOf(sorted[150]);
    const three = new Float32Array(3 * p);
    three.set(held.subarray(med * p, med * p + p), 0);
    three.set(raw.subarray(17 * p, 18 * p), p); // reference record 17: distance 0, unusually close
    three.set(
      Float32Array.from({ length: p }, (_, a) => tf.mean[a] + 30 * tf.std[a]),
      2 * p,
    );
    const s = doseScores(await scorer.scoreBatch(three, 3), rule);
    expect(s[1]).toBeGreaterThan(s[0]);
    expect(s[2]).toBeGreaterThan(s[1]);
    const { featureKnn: _k, ...without } = b;
    expect(() => anomalyScores(without, 'feature_knn')).toThrow(/reference set/);
    expect(() => anomalyScores(without, 'dose', { dose: rule })).toThrow(/reference set/);
    await expect(
      InputStatisticsScorer.create({ ...inner, inputDim: 5 }, { nearest: ref }, spec.transform),
    ).rejects.toThrow(/wide/);
    await scorer.close();
  });

  it('round-trips through neighbours.bin; corruption and a missing reference set are refused', () =>
    statisticsFileRoundTrip({
      spec,
      stat: 'feature_knn',
      file: NEIGHBOURS_FILE,
      withStatistic: { nearestReference: ref },
      check: (loaded) => {
        expect(loaded.manifest.nearestReference).toMatchObject({ file: NEIGHBOURS_FILE, dim: p, size: 300 });
        expect(Array.from(loaded.nearestReference!.points)).toEqual(Array.from(ref.points));
      },
      missing: /no nearestReference/,
    }));
});
