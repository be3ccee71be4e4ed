/**
 * The benchmarks' second metric convention (the paper's authors' code for its log p and WAIC rows):
 * FPR@95%TPR and AP with the NORMAL class as positive, ranked by −score. Checked against a brute force
 * written from the definition (every distinct threshold, counted by hand) and against hand-worked cases.
 */
import { describe, expect, it } from 'vitest';
import { metrics } from '../../../benchmarks/lib/evaluate.js';
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
