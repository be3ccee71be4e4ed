/**
 * The helpers of the credit benchmark's labelled rows (benchmarks/credit-fraud/labels.ts): top-k
 * false alarms, sub-batches, k-means on separated blobs, the novel-fraud split's cluster choice, recall
 * at a calibrated threshold (by hand), the whole novel-fraud row on synthetic batches, and the report
 * table.
 */
import { describe, expect, it } from 'vitest';
import {
  concatBatches,
  kmeans,
  novelFraudResult,
  novelFraudSplit,
  recallAtCalibratedFpr,
  simulatedReviews,
  subBatch,
  topK,
} from '../../../benchmarks/credit-fraud/labels.js';
import { labelTables, type SplitResult } from '../../../benchmarks/credit-fraud/run.js';
import { fitDoseRule } from '../../../src/engine/dose.js';
import type { ScoreBatch } from '../../../src/engine/types.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
}
const u = rng(42);
const gauss = (): number => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());

/** n records of d raw values (centre + noise) with normal-looking ensemble statistics, M = 2. */
function batch(n: number, d: number, centre: (j: number) => number): ScoreBatch {
  const input = new Float32Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) input[i * d + j] = centre(j) + gauss();
  const lp = Float32Array.from({ length: n }, () => -30 + gauss());
  const logp = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) logp.set([lp[i] - 0.1, lp[i] + 0.1], 2 * i);
  const rate = Float32Array.from({ length: n }, () => 4 + 0.3 * gauss());
  const memberRate = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) memberRate.set([rate[i], rate[i]], 2 * i);
  const logpVar = new Float32Array(n).fill(0.01);
  return {
    n,
    members: 2,
    logp,
    memberRate,
    logpMean: lp,
    logpVar,
    waic: lp.map((v) => v - 0.01),
    rate,
    input,
  };
}

describe('credit benchmark: labelled-row helpers', () => {
  it('topK: the k largest, descending, ties by index, NaN first', () => {
    expect(topK([1, 5, 3, 5, 2], 3)).toEqual([1, 3, 2]);
    expect(topK([1, NaN, 3], 2)).toEqual([1, 2]);
    expect(topK([1, 2], 5)).toEqual([1, 0]);
  });

  it('subBatch / concatBatches keep rows, members and the raw input together', () => {
    const b = batch(5, 3, () => 0);
    const s = subBatch(b, [4, 1]);
    expect(s.n).toBe(2);
    expect(Array.from(s.logp)).toEqual([...b.logp.subarray(8, 10), ...b.logp.subarray(2, 4)]);
    expect(Array.from(s.input!)).toEqual([...b.input!.subarray(12, 15), ...b.input!.subarray(3, 6)]);
    const c = concatBatches([s, b]);
    expect(c.n).toBe(7);
    expect(Array.from(c.rate.subarray(2))).toEqual(Array.from(b.rate));
    expect(c.input!.length).toBe(21);
  });

  it('simulatedReviews: all frauds labelled 1, then the top 5 × as many normals labelled 0', () => {
    const f = batch(3, 2, () => 5);
    const nb = batch(40, 2, () => 0);
    const score = Array.from({ length: 40 }, (_, i) => (i * 7) % 40);
    const r = simulatedReviews(f, nb, score);
    expect(r.labels.length).toBe(18);
    expect(Array.from(r.labels.subarray(0, 3))).toEqual([1, 1, 1]);
    expect(r.labels.subarray(3).every((v) => v === 0)).toBe(true);
    const want = topK(score, 15);
    expect(r.falseAlarms).toEqual(want);
    expect(r.batch.logpMean[3]).toBe(nb.logpMean[want[0]]);
  });

  it('kmeans recovers separated blobs and is deterministic for a seed', () => {
    const p = 2;
    const centres = [
      [0, 0],
      [20, 0],
      [0, 20],
      [20, 20],
    ];
    const n = 200;
    const x = new Float64Array(n * p);
    const truth = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      truth[i] = i % 4;
      x[i * p] = centres[i % 4][0] + gauss();
      x[i * p + 1] = centres[i % 4][1] + gauss();
    }
    const a = kmeans(x, n, p, 4, 7);
    expect(kmeans(x, n, p, 4, 7)).toEqual(a);
    // same partition up to a relabelling
    const map = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      if (!map.has(truth[i])) map.set(truth[i], a[i]);
      expect(a[i]).toBe(map.get(truth[i]));
    }
    expect(new Set(map.values()).size).toBe(4);
  });

  /** Rows of far-apart blobs in 3 dimensions, counts[b] rows in blob b centred at `at(b)`. */
  const blobs = (
    counts: number[],
    at = (b: number) => (j: number) => (j === b % 3 ? 40 : 0) + (b === 3 ? -40 : 0),
  ): Float32Array => {
    const d = 3;
    const parts = counts.map((c, b) => batch(c, d, at(b)).input!);
    const out = new Float32Array(parts.reduce((a, q) => a + q.length, 0));
    let o = 0;
    for (const q of parts) {
      out.set(q, o);
      o += q.length;
    }
    return out;
  };

  it('novelFraudSplit holds back the cluster with the fewest validation frauds', () => {
    const d = 3;
    // 4 blobs; validation frauds: 10, 10, 10 in blobs 0–2 and 1 in blob 3; test: 20 in each blob
    const val = blobs([10, 10, 10, 1]);
    const test = blobs([20, 20, 20, 20]);
    const s = novelFraudSplit(val, test, d, 3);
    expect(s.sizes[s.cluster]).toEqual({ validation: 1, test: 20 });
    expect(s.labelledValidation).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(s.novelTest).toEqual(Array.from({ length: 20 }, (_, i) => 60 + i));
  });

  it("novelFraudSplit 'most-normal' holds back the cluster whose validation frauds score lowest (median)", () => {
    const d = 3;
    // validation frauds: 10, 10, 10, 2 in blobs 0–3; test: 20 each
    const val = blobs([10, 10, 10, 2]);
    const test = blobs([20, 20, 20, 20]);
    // scores per blob: blob 1 has the lowest median (5) although blob 2 holds the single lowest
    // value and blob 3 (2 validation frauds, below the floor of 3) the lowest of all
    const perBlob = [
      Array.from({ length: 10 }, (_, i) => 50 + i),
      Array.from({ length: 10 }, (_, i) => (i < 6 ? 5 : 90)),
      Array.from({ length: 10 }, (_, i) => (i === 0 ? -100 : 60)),
      [-500, -500],
    ];
    const scores = perBlob.flat();
    const s = novelFraudSplit(val, test, d, 3, 4, 0.1, { by: 'most-normal', validationScores: scores });
    const blobOfCluster = s.assign[10]; // the 11th validation fraud is in blob 1
    expect(s.cluster).toBe(blobOfCluster);
    expect(s.sizes[s.cluster]).toEqual({ validation: 10, test: 20 });
    expect(s.labelledValidation).toEqual([...Array(32).keys()].filter((i) => i < 10 || i >= 20));
    expect(s.novelTest).toEqual(Array.from({ length: 20 }, (_, i) => 20 + i));
    // the first split on the same data still holds back the fewest-labels cluster (blob 3)
    expect(novelFraudSplit(val, test, d, 3).sizes[novelFraudSplit(val, test, d, 3).cluster]).toEqual({
      validation: 2,
      test: 20,
    });
    expect(() =>
      novelFraudSplit(val, test, d, 3, 4, 0.1, { by: 'most-normal', validationScores: [1, 2] }),
    ).toThrow(/2 scores for 32 validation frauds/);
  });

  it('novelFraudSplit never holds back an outlier cluster smaller than 10 % of the frauds', () => {
    const d = 3;
    const rowsOf = (counts: number[]): Float32Array => blobs(counts, (b) => (j) => (j === b ? 40 : 0));
    const val = rowsOf([10, 12, 3]);
    // one far outlier among the test frauds (its own cluster: 0 validation frauds, 1 of 86 frauds)
    const test = new Float32Array([...rowsOf([20, 20, 20]), 900, -900, 900]);
    const s = novelFraudSplit(val, test, d, 5);
    expect(s.sizes.some((z) => z.validation === 0 && z.test === 1)).toBe(true);
    expect(s.sizes[s.cluster]).toEqual({ validation: 3, test: 20 });
    expect(s.novelTest).toEqual(Array.from({ length: 20 }, (_, i) => 40 + i));
  });

  it('recallAtCalibratedFpr: the threshold of calibrate.ts, positives strictly above it (NaN flagged)', () => {
    const cal = Array.from({ length: 100 }, (_, i) => i); // 1 % → value = 98
    const r = recallAtCalibratedFpr(cal, [97, 98, 98.5, 200, NaN], 0.01);
    expect(r.threshold).toBe(98);
    expect(r.recall).toBeCloseTo(3 / 5, 12);
  });

  it('novelFraudResult on synthetic batches: frauds with normal ensemble statistics are found by the head only', () => {
    const d = 4;
    const normal = () => batch(1500, d, () => 0);
    const headN = batch(3000, d, () => 0);
    const tailN = normal();
    const calib = normal();
    const valN = normal();
    const testN = normal();
    // known frauds: raw features far out in two directions (two blobs); the novel blob elsewhere
    // (column 0 plays the transaction's Time, which the head leaves out)
    const valF = concatBatches([
      batch(30, d, (j) => (j === 1 ? 8 : 0)),
      batch(30, d, (j) => (j === 2 ? 8 : 0)),
    ]);
    const testF = concatBatches([
      batch(50, d, (j) => (j === 1 ? 8 : 0)),
      batch(50, d, (j) => (j === 2 ? 8 : 0)),
      batch(50, d, (j) => (j === 3 ? -8 : 0)),
    ]);
    const dose = fitDoseRule(tailN, ['neg_logp', 'rate', 'logp_var']);
    const r = novelFraudResult({
      dose,
      headNormals: headN,
      tailNormals: tailN,
      calibration: calib,
      valNormals: valN,
      valNormalDefault: Float64Array.from({ length: valN.n }, (_, i) => i),
      valFrauds: valF,
      testNormals: testN,
      testFrauds: testF,
      d,
      seed: 1,
    });
    // the held-back cluster has no validation fraud: the third blob (50 test frauds)
    expect(r.novelTestFrauds).toBe(50);
    expect(r.labelledFrauds).toBe(60);
    expect(r.dose.recall).toBeLessThan(0.1);
    // the head learnt two other directions: the union loses at most a little of the dose's recall
    expect(r.doseOrKnown.recall).toBeGreaterThanOrEqual(r.dose.recall - 0.05);
    expect(Number.isFinite(r.doseOrKnown.auroc)).toBe(true);
    expect(r.dose.auroc).toBeGreaterThan(0.3);
    expect(r.dose.auroc).toBeLessThan(0.7);
  });

  it('labelTables renders the rows, the goals and the novel-fraud table; nothing for older results', () => {
    const m = { auroc: 0.99, ap: 0.98, fpr95: 0.05 };
    const split = (seed: number): SplitResult =>
      ({
        seed,
        test: { dose: { auroc: 0.95, ap: 0.94, fpr95: 0.2 } },
        classifier: m,
        labels: {
          reviews: { frauds: 95, normals: 475 },
          headNormals: 20000,
          doseOrKnown: m,
          novel: {
            cluster: 2,
            sizes: [
              { validation: 40, test: 150 },
              { validation: 30, test: 120 },
              { validation: 5, test: 30 },
              { validation: 20, test: 78 },
            ],
            labelledFrauds: 90,
            novelTestFrauds: 30,
            dose: { recall: 0.5, auroc: 0.9 },
            doseOrKnown: { recall: 0.6, auroc: 0.92 },
          },
        },
      }) as unknown as SplitResult;
    const t = labelTables({ defaultScore: 'dose' }, [split(0), split(1)]);
    expect(t).toContain(
      'dose_or_known (DoSE OR supervised head, simulated reviews) | 5.0 ± 0.0 | 99.0 ± 0.0',
    );
    expect(t).toContain('AUROC 99.0 (goal ≥ 98.5): met');
    expect(t).toContain('FPR@95%TPR 5.0 (goal ≤ 8): met');
    expect(t).toContain('| 0 | 40/150, 30/120, 5/30, 20/78 | 2 | 90 | 30 |');
    expect(t).toContain('mean recall change dose → dose_or_known 10.0 points (claim: no loss): held');
    // no hard split in these results (older runs): its table is left out
    expect(t).not.toContain('Hard novel-fraud split');
    const withHard = (seed: number): SplitResult => {
      const x = split(seed);
      const n = x.labels!.novel;
      x.labels!.novelHard = {
        ...n,
        cluster: 1,
        novelTestFrauds: 120,
        dose: { recall: 0.8, auroc: 0.9 },
        doseOrKnown: { recall: 0.7, auroc: 0.92 },
      };
      return x;
    };
    const th = labelTables({ defaultScore: 'dose' }, [withHard(0), withHard(1)]);
    expect(th).toContain('Hard novel-fraud split');
    expect(th).toContain('| 0 | 40/150, 30/120, 5/30, 20/78 | 1 | 90 | 120 | 80.0 | 70.0 |');
    expect(th).toContain(
      'mean recall change dose → dose_or_known -10.0 points (claim: no loss): **not held**',
    );
    const old = { ...split(0), labels: undefined } as SplitResult;
    expect(labelTables({ defaultScore: 'dose' }, [old])).toBe('');
  });
});
