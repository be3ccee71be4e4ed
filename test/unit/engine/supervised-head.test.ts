/**
 * The supervised head and the 'dose_or_known' union: against independent float64 references — the
 * penalised log-likelihood written out again here and differentiated by central differences (its
 * gradient must vanish at the fitted coefficients), a one-feature case solved by bisection, a
 * separable toy case, hand-worked tail maps and the brute-force empirical survival function.
 */
import { describe, expect, it } from 'vitest';
import {
  HEAD_DEFAULTS,
  balancedWeights,
  fitLogistic,
  fitSupervisedHead,
  fitTailMap,
  headLogits,
  tailR,
  tailRs,
  unionScores,
  type LabelledRule,
} from '../../../src/engine/supervised-head.js';
import { anomalyScores, missingRule, needsComplexity } from '../../../src/engine/score-rules.js';
import { calibrateThreshold, flaggedFraction } from '../../../src/engine/calibrate.js';
import { fitDoseRule, doseScores } from '../../../src/engine/dose.js';
import type { ScoreBatch } from '../../../src/engine/types.js';

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
}
function gauss(u: () => number): number {
  return Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

/** The objective, written independently: standardise, weight classes, sum log-likelihoods, penalise. */
function refObjective(x: number[][], y: number[], beta: number[], l2: number): number {
  const n = x.length;
  const p = x[0].length;
  const mean = Array.from({ length: p }, (_, j) => x.reduce((a, r) => a + r[j], 0) / n);
  const std = Array.from({ length: p }, (_, j) => {
    const s = Math.sqrt(x.reduce((a, r) => a + (r[j] - mean[j]) ** 2, 0) / n);
    return s > 0 ? s : 1;
  });
  const pos = y.filter((v) => v === 1).length;
  let f = 0;
  for (let i = 0; i < n; i++) {
    let eta = beta[p];
    for (let j = 0; j < p; j++) eta += (beta[j] * (x[i][j] - mean[j])) / std[j];
    const w = y[i] === 1 ? n / (2 * pos) : n / (2 * (n - pos));
    const prob = 1 / (1 + Math.exp(-eta));
    f += w * (y[i] === 1 ? Math.log(prob) : Math.log(1 - prob));
  }
  for (let j = 0; j < p; j++) f -= 0.5 * l2 * beta[j] ** 2;
  return f;
}

function toyData(n: number, p: number, seed: number, shift: number): { x: number[][]; y: number[] } {
  const u = rng(seed);
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const yi = i % 7 === 0 ? 1 : 0; // imbalanced
    x.push(Array.from({ length: p }, (_, j) => gauss(u) * (j + 1) + (yi ? shift * (j % 2 ? -1 : 1) : 0) + j));
    y.push(yi);
  }
  return { x, y };
}

/** A ScoreBatch of given per-record statistics (M = 1: log p and rate of the one member). */
function batchOf(logpMean: number[], rate: number[], logpVar: number[], input?: Float32Array): ScoreBatch {
  const n = logpMean.length;
  const f = (a: number[]) => Float32Array.from(a);
  return {
    n,
    members: 1,
    logp: f(logpMean),
    memberRate: f(rate),
    logpMean: f(logpMean),
    logpVar: f(logpVar),
    waic: f(logpMean.map((v, i) => v - logpVar[i])),
    rate: f(rate),
    ...(input ? { input } : {}),
  };
}

describe('fitLogistic (L2 logistic regression by Newton/IRLS)', () => {
  it('the gradient of the independently written objective vanishes at the solution', () => {
    const { x, y } = toyData(300, 4, 7, 1.5);
    const l2 = 0.5;
    const fit = fitLogistic(Float64Array.from(x.flat()), y, 4, { l2 });
    // back to the standardised coefficients: fit.weights already are
    const beta = [...fit.weights, fit.bias];
    const h = 1e-5;
    for (let j = 0; j < beta.length; j++) {
      const bp = beta.slice();
      const bm = beta.slice();
      bp[j] += h;
      bm[j] -= h;
      const g = (refObjective(x, y, bp, l2) - refObjective(x, y, bm, l2)) / (2 * h);
      expect(Math.abs(g)).toBeLessThan(1e-5);
    }
    // and it is a maximum: any perturbation lowers the objective
    const f0 = refObjective(x, y, beta, l2);
    for (let j = 0; j < beta.length; j++) {
      const b = beta.slice();
      b[j] += 0.01;
      expect(refObjective(x, y, b, l2)).toBeLessThan(f0);
    }
  });

  it('one feature, two records: a = 2(1 − σ(a))/λ, solved by bisection', () => {
    // x = −1 (normal), +1 (fraud): standardised z = ∓1, weights 1 each, b = 0 by symmetry, and the
    // objective 2·log σ(a) − λa²/2 has its maximum where 2(1 − σ(a)) = λa.
    for (const l2 of [0.1, 1, 4]) {
      let lo = 0;
      let hi = 50;
      for (let k = 0; k < 200; k++) {
        const mid = (lo + hi) / 2;
        if (2 * (1 - 1 / (1 + Math.exp(-mid))) - l2 * mid > 0) lo = mid;
        else hi = mid;
      }
      const fit = fitLogistic(Float64Array.from([-1, 1]), [0, 1], 1, { l2 });
      expect(fit.weights[0]).toBeCloseTo(lo, 9);
      expect(fit.bias).toBeCloseTo(0, 9);
      expect(fit.mean).toEqual([0]);
      expect(fit.std).toEqual([1]);
    }
  });

  it('separable classes: finite coefficients, perfect ordering, a larger norm with a smaller penalty', () => {
    const x = Float64Array.from([0, 1, 2, 3, 10, 11, 12]);
    const y = [0, 0, 0, 0, 1, 1, 1];
    const a = fitLogistic(x, y, 1, { l2: 1 });
    const b = fitLogistic(x, y, 1, { l2: 0.01 });
    for (const f of [a, b]) {
      expect(Number.isFinite(f.weights[0]) && Number.isFinite(f.bias)).toBe(true);
      expect(f.weights[0]).toBeGreaterThan(0);
    }
    expect(b.weights[0]).toBeGreaterThan(a.weights[0]);
  });

  it('balances the classes and refuses labels of one class', () => {
    const w = balancedWeights([1, 0, 0, 0]);
    expect(Array.from(w)).toEqual([2, 4 / 6, 4 / 6, 4 / 6]);
    expect(() => fitLogistic(Float64Array.from([1, 2]), [0, 0], 1)).toThrow(/frauds and normals/);
    expect(() => fitLogistic(Float64Array.from([1, NaN]), [0, 1], 1)).toThrow(/not finite/);
  });

  it('is deterministic', () => {
    const { x, y } = toyData(200, 3, 3, 2);
    const a = fitLogistic(Float64Array.from(x.flat()), y, 3);
    const b = fitLogistic(Float64Array.from(x.flat()), y, 3);
    expect(a).toEqual(b);
  });
});

describe('tail maps', () => {
  it('small n: every score stored; r at the scores, between them and beyond the max by hand', () => {
    const s = [5, 1, 2, 3, 4, 6, 7, 8, 9, 10]; // n = 10
    const m = fitTailMap(s);
    expect(m.points).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(m.n).toBe(10);
    // 90th percentile (lower) = 9; excess over it: only 10 → τ = 1
    expect(m.tau).toBe(1);
    // at c_(j): sf = (#{c > c_(j)} + 1)/(n + 1) = (10 − j + 1)/11
    for (let j = 1; j <= 10; j++) expect(tailR(m, j)).toBeCloseTo(-Math.log((11 - j) / 11), 12);
    // halfway between 3 and 4: linear in r
    expect(tailR(m, 3.5)).toBeCloseTo((-Math.log(8 / 11) - Math.log(7 / 11)) / 2, 12);
    // beyond the max: sf = 1/11 · exp(−(s − 10)/τ)
    expect(tailR(m, 12.5)).toBeCloseTo(Math.log(11) + 2.5, 12);
    // below the min: constant
    expect(tailR(m, -100)).toBeCloseTo(-Math.log(10 / 11), 12);
    expect(Number.isNaN(tailR(m, NaN))).toBe(true);
  });

  it('large n: ≤ 1024 points, min and max kept, r at a knot equals the brute-force empirical value', () => {
    const u = rng(11);
    const s = Array.from({ length: 5000 }, () => gauss(u));
    const m = fitTailMap(s);
    const sorted = s.slice().sort((a, b) => a - b);
    expect(m.points.length).toBe(1024);
    expect(m.points[0]).toBe(sorted[0]);
    expect(m.points[1023]).toBe(sorted[4999]);
    for (const k of [1, 100, 500, 1000, 1022]) {
      const v = m.points[k];
      const above = sorted.filter((c) => c > v).length;
      expect(tailR(m, v)).toBeCloseTo(-Math.log((above + 1) / 5001), 10);
    }
    // τ: mean excess over the 90th percentile, by brute force
    const q90 = sorted[Math.ceil(0.9 * 5000) - 1];
    const ex = sorted.filter((c) => c > q90);
    expect(m.tau).toBeCloseTo(ex.reduce((a, c) => a + c - q90, 0) / ex.length, 10);
    // continuous and strictly increasing from the min on
    const grid = Array.from(
      { length: 2001 },
      (_, i) => sorted[0] + ((sorted[4999] + 3 - sorted[0]) * i) / 2000,
    );
    const r = tailRs(m, grid);
    for (let i = 1; i < r.length; i++) expect(r[i]).toBeGreaterThan(r[i - 1]);
    const top = sorted[4999];
    expect(tailR(m, top + 1e-9) - tailR(m, top - 1e-9)).toBeLessThan(1e-3);
  });
});

/**
 * Toy records: 2 raw features around 0 (a fraud's feature 0 shifted by `fraudShift(i)`), ensemble
 * statistics drawn like a normal record's whatever the label.
 */
function toyRecords(
  u: () => number,
  n: number,
  fraudShift: ((i: number) => number) | undefined,
): { raw: Float32Array; batch: ScoreBatch } {
  const d = 2;
  const raw = new Float32Array(n * d);
  const lp: number[] = [];
  const rt: number[] = [];
  const vr: number[] = [];
  for (let i = 0; i < n; i++) {
    raw[i * d] = gauss(u) + (fraudShift ? fraudShift(i) : 0);
    raw[i * d + 1] = gauss(u);
    lp.push(-20 + gauss(u));
    rt.push(5 + 0.5 * gauss(u));
    vr.push(Math.abs(gauss(u)));
  }
  return { raw, batch: batchOf(lp, rt, vr, raw) };
}

describe("'dose_or_known'", () => {
  // normals: 2 raw features around 0; "known frauds": raw feature 0 far out, ensemble statistics normal
  const d = 2;
  const u = rng(5);
  const records = (n: number, fraud: boolean) => toyRecords(u, n, fraud ? () => 6 : undefined);
  const train = records(2000, false);
  const frauds = records(40, true);
  const val = records(1500, false);
  const cal = records(3000, false);
  const test = records(200, true);
  const dose = fitDoseRule(val.batch, ['neg_logp', 'rate', 'logp_var']);
  const head = fitSupervisedHead(
    [
      { raw: train.raw, batch: train.batch, labels: new Uint8Array(2000) },
      { raw: frauds.raw, batch: frauds.batch, labels: new Uint8Array(40).fill(1) },
    ],
    d,
    { features: 'linear' },
  );
  const rule: LabelledRule = {
    head,
    doseTail: fitTailMap(doseScores(val.batch, dose)),
    headTail: fitTailMap(headLogits(val.batch, head)),
  };
  const rules = { dose, labelled: rule };

  it('the head logit equals the brute-force standardised linear predictor', () => {
    const got = headLogits(test.batch, head);
    for (const i of [0, 17, 199]) {
      const f = [
        test.raw[i * d],
        test.raw[i * d + 1],
        -test.batch.logpMean[i],
        test.batch.rate[i],
        test.batch.logpVar[i],
      ];
      let eta = head.bias;
      f.forEach((v, j) => (eta += (head.weights[j] * (v - head.mean[j])) / head.std[j]));
      expect(got[i]).toBeCloseTo(eta, 9);
    }
  });

  it('is max(r_dose, r_head), holds its FPR on fresh normals, and catches known frauds the dose misses', () => {
    const s = anomalyScores(test.batch, 'dose_or_known', rules);
    const rd = tailRs(rule.doseTail, doseScores(test.batch, dose));
    const rh = tailRs(rule.headTail, headLogits(test.batch, head));
    for (let i = 0; i < test.batch.n; i++) expect(s[i]).toBe(Math.max(rd[i], rh[i]));
    expect(Array.from(unionScores(rule, [NaN], [0])).map(Number.isNaN)).toEqual([true]);

    const th = calibrateThreshold(anomalyScores(cal.batch, 'dose_or_known', rules), 0.01, 'dose_or_known');
    const thDose = calibrateThreshold(anomalyScores(cal.batch, 'dose', rules), 0.01, 'dose');
    const fresh = records(20000, false);
    expect(flaggedFraction(anomalyScores(fresh.batch, 'dose_or_known', rules), th.value)).toBeLessThan(0.015);
    // the frauds' ensemble statistics are normal: the dose flags about 1 %, the union nearly all
    expect(flaggedFraction(anomalyScores(test.batch, 'dose', rules), thDose.value)).toBeLessThan(0.1);
    expect(flaggedFraction(s, th.value)).toBeGreaterThan(0.9);
  });

  it('needs the dose rule, the labelled rule and the raw records', () => {
    expect(missingRule('dose_or_known', {})).toBe('dose');
    expect(missingRule('dose_or_known', { dose })).toBe('labelled');
    expect(missingRule('dose_or_known', rules)).toBeUndefined();
    expect(needsComplexity('dose_or_known', rules)).toBe(false);
    const { input: _input, ...noInput } = test.batch;
    expect(() => anomalyScores(noInput, 'dose_or_known', rules)).toThrow(/raw records/);
  });
});

describe('the quadratic head (labels protocol v2)', () => {
  // normals: 2 raw features around 0; frauds far out along feature 0 on EITHER side (half at +5, half
  // at −5), ensemble statistics normal: no linear logit separates them, the squares do
  const d = 2;
  const u = rng(11);
  const records = (n: number, fraud: boolean) =>
    toyRecords(u, n, fraud ? (i) => (i % 2 ? 5 : -5) : undefined);
  const train = records(2000, false);
  const reviewed = records(100, false);
  const frauds = records(40, true);
  const rows = [
    { raw: train.raw, batch: train.batch, labels: new Uint8Array(2000), reference: true },
    { raw: reviewed.raw, batch: reviewed.batch, labels: new Uint8Array(100) },
    { raw: frauds.raw, batch: frauds.batch, labels: new Uint8Array(40).fill(1) },
  ];
  const quad = fitSupervisedHead(rows, d);
  const lin = fitSupervisedHead(rows, d, { features: 'linear' });

  it('is the default, with its λ, and stores center / scale of the reference normals only', () => {
    expect(HEAD_DEFAULTS.features).toBe('quadratic');
    expect(quad.features).toBe('quadratic');
    expect(quad.l2).toBe(HEAD_DEFAULTS.l2.quadratic);
    expect(lin.l2).toBe(HEAD_DEFAULTS.l2.linear);
    expect(quad.weights).toHaveLength(10);
    expect(lin.weights).toHaveLength(5);
    expect(lin.center).toBeUndefined();
    // float64 mean / population std of the 5 base features over the 2,000 reference rows, by hand
    const base = (i: number): number[] => [
      train.raw[i * d],
      train.raw[i * d + 1],
      -train.batch.logpMean[i],
      train.batch.rate[i],
      train.batch.logpVar[i],
    ];
    for (let j = 0; j < 5; j++) {
      let m = 0;
      for (let i = 0; i < 2000; i++) m += base(i)[j];
      m /= 2000;
      let v = 0;
      for (let i = 0; i < 2000; i++) v += (base(i)[j] - m) ** 2;
      expect(quad.center![j]).toBeCloseTo(m, 10);
      expect(quad.scale![j]).toBeCloseTo(Math.sqrt(v / 2000), 10);
    }
  });

  it('the logit equals the brute-force predictor over [b, ((b − center)/scale)²]', () => {
    const test = records(50, true);
    const got = headLogits(test.batch, quad);
    for (const i of [0, 1, 33, 49]) {
      const b = [
        test.raw[i * d],
        test.raw[i * d + 1],
        -test.batch.logpMean[i],
        test.batch.rate[i],
        test.batch.logpVar[i],
      ];
      const f = [...b, ...b.map((v, j) => ((v - quad.center![j]) / quad.scale![j]) ** 2)];
      let eta = quad.bias;
      f.forEach((v, j) => (eta += (quad.weights[j] * (v - quad.mean[j])) / quad.std[j]));
      expect(got[i]).toBeCloseTo(eta, 9);
    }
  });

  it('separates frauds on both sides of the normals, which the linear head cannot', () => {
    const testN = records(2000, false);
    const testF = records(200, true);
    const auc = (h: typeof quad): number => {
      const n = headLogits(testN.batch, h);
      const f = headLogits(testF.batch, h);
      let wins = 0;
      for (const a of f) for (const b of n) wins += a > b ? 1 : a === b ? 0.5 : 0;
      return wins / (f.length * n.length);
    };
    expect(auc(quad)).toBeGreaterThan(0.99);
    expect(auc(lin)).toBeLessThan(0.75);
  });

  it('without a marked reference group, every label-0 row is the reference; bad families are refused', () => {
    const unmarked = fitSupervisedHead(
      rows.map(({ reference: _r, ...r }) => r),
      d,
    );
    const all = [...Array.from(train.raw), ...Array.from(reviewed.raw)];
    const m0 = all.filter((_, k) => k % d === 0).reduce((a, v) => a + v, 0) / 2100;
    expect(unmarked.center![0]).toBeCloseTo(m0, 10);
    expect(unmarked.center![0]).not.toBeCloseTo(quad.center![0], 10);
    expect(() => fitSupervisedHead(rows, d, { features: 'cubic' as 'linear' })).toThrow(
      /feature family 'cubic'/,
    );
  });
});
