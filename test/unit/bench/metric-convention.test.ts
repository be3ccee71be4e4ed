/**
 * The benchmarks' second metric convention (the paper's authors' code for its log p and WAIC rows):
 * FPR@95%TPR and AP with the NORMAL class as positive, ranked by −score. Checked against a brute force
 * written from the definition (every distinct threshold, counted by hand) and against hand-worked cases;
 * and the paper's log p / WAIC columns computed from the members' ELBO as its authors' code does.
 */
import { describe, expect, it } from 'vitest';
import { elboColumns, metrics, negMemberEstimate, negWaicOf } from '../../../benchmarks/lib/evaluate.js';
import type { ScoreBatch } from '../../../src/engine/types.js';
import { Rng } from '../../../src/engine/random.js';

/** Brute force: normals pass when −score ≥ t; the first t (from the top) that passes ≥ 95 % of them. */
function bruteFpr95Normal(neg: number[], pos: number[]): number {
  const ts = [...new Set([...neg, ...pos].map((v) => -v))].sort((a, b) => b - a);
  for (const t of ts) {
    const normalsPass = neg.filter((v) => -v >= t).length / neg.length;
    if (normalsPass >= 0.95) return pos.filter((v) => -v >= t).length / pos.length;
  }
  throw new Error('unreachable');
}

/** Brute force: step-wise AP, Σ (R_k − R_{k−1})·P_k over distinct thresholds, normals positive. */
function bruteApNormal(neg: number[], pos: number[]): number {
  const ts = [...new Set([...neg, ...pos].map((v) => -v))].sort((a, b) => b - a);
  let ap = 0;
  let prevR = 0;
  for (const t of ts) {
    const tp = neg.filter((v) => -v >= t).length;
    const fp = pos.filter((v) => -v >= t).length;
    const r = tp / neg.length;
    ap += (r - prevR) * (tp / (tp + fp));
    prevR = r;
  }
  return ap;
}

describe('metrics: the normals-positive convention', () => {
  it('hand-worked: a normal ranked above every anomaly', () => {
    // −score order: normals 0, −0.1, −0.2 first, then the 4 anomalies, then the normal at 0.9.
    const m = metrics([0, 0.1, 0.2, 0.9], [0.3, 0.5, 0.6, 0.7]);
    expect(m.fpr95).toBe(0.25); // frauds positive: all 4 frauds at threshold 0.3 flag 1 of 4 normals
    expect(m.fpr95Normal).toBe(1); // passing all 4 normals (95 % of 4 rounds up to 4) passes every anomaly
    expect(m.apNormal).toBeCloseTo((1 + 1 + 1 + 4 / 8) / 4, 15);
    expect(m.auroc).toBe(0.75);
  });

  it('is the miss rate at a 5 % false-alarm rate when the 5 % falls on a record', () => {
    // 20 normals at 0..19 (the anomaly score), 10 anomalies at 10.5..19.5: passing 19 of 20 normals
    // (95 %) means the threshold passes every normal with score ≤ 18, and the anomalies below 18.
    const neg = Array.from({ length: 20 }, (_, i) => i);
    const pos = Array.from({ length: 10 }, (_, i) => 10.5 + i);
    const m = metrics(neg, pos);
    expect(m.fpr95Normal).toBe(8 / 10); // 10.5 … 17.5 pass
  });

  it('equals the brute force on random scores with ties', () => {
    const rng = new Rng(7);
    const r = (): number => rng.uniform();
    for (let trial = 0; trial < 60; trial++) {
      const nNeg = 5 + Math.floor(r() * 60);
      const nPos = 3 + Math.floor(r() * 40);
      // rounding to 1 decimal makes ties common; anomalies are shifted up by a random margin
      const shift = r() * 2;
      const neg = Array.from({ length: nNeg }, () => Math.round(10 * r() * 3) / 10);
      const pos = Array.from({ length: nPos }, () => Math.round(10 * (r() * 3 + shift)) / 10);
      const m = metrics(neg, pos);
      expect(m.fpr95Normal).toBe(bruteFpr95Normal(neg, pos));
      expect(m.apNormal).toBeCloseTo(bruteApNormal(neg, pos), 12);
    }
  });
});

describe('the paper columns from the ELBO (elboColumns)', () => {
  it('−ELBO of member 0 and −(mean − population variance) of the members’ ELBOs, hand-computed', () => {
    // 2 records × 3 members
    const memberElbo = Float32Array.from([-10, -12, -14, -1, -1, -4]);
    const b: ScoreBatch = {
      n: 2,
      members: 3,
      logp: Float32Array.from([-9, -11, -13, -0.5, -0.5, -3.5]),
      memberRate: new Float32Array(6),
      logpMean: new Float32Array(2),
      logpVar: new Float32Array(2),
      waic: new Float32Array(2),
      rate: new Float32Array(2),
      memberElbo,
    };
    const c = elboColumns(b);
    expect(Array.from(c.neg_elbo_single)).toEqual([10, 1]);
    // record 0: mean −12, population variance 8/3 → −WAIC = 12 + 8/3; record 1: mean −2, var 2 → 4
    expect(c.neg_waic_elbo[0]).toBeCloseTo(12 + 8 / 3, 12);
    expect(c.neg_waic_elbo[1]).toBeCloseTo(4, 12);
    // the IWAE estimate reads logp instead
    expect(Array.from(negMemberEstimate(b, 2, 'iwae'))).toEqual([13, 3.5]);
    expect(negWaicOf(b, 'iwae')[0]).toBeCloseTo(11 + 8 / 3, 5);
    expect(elboColumns({ ...b, memberElbo: undefined })).toEqual({});
  });
});
