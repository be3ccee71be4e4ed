import { describe, expect, it } from 'vitest';
import {
  auroc,
  averagePrecision,
  fprAtTpr,
  rocCurve,
  prCurve,
  MetricError,
} from '../../../src/metrics/index.js';

/** A small seeded PRNG (mulberry32) so the random cases are reproducible. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---- independent float64 brute-force references (O(n²)) ----
function bruteAuroc(s: number[], y: number[]): number {
  let num = 0;
  let pairs = 0;
  for (let i = 0; i < s.length; i++) {
    if (y[i] !== 1) continue;
    for (let j = 0; j < s.length; j++) {
      if (y[j] !== 0) continue;
      pairs++;
      if (s[i] > s[j]) num += 1;
      else if (s[i] === s[j]) num += 0.5;
    }
  }
  return num / pairs;
}
/** AP = mean over positives i of precision at threshold s_i (all records with score >= s_i). */
function bruteAp(s: number[], y: number[]): number {
  let sum = 0;
  let p = 0;
  for (let i = 0; i < s.length; i++) {
    if (y[i] !== 1) continue;
    p++;
    let tp = 0;
    let all = 0;
    for (let j = 0; j < s.length; j++)
      if (s[j] >= s[i]) {
        all++;
        tp += y[j];
      }
    sum += tp / all;
  }
  return sum / p;
}
/** FPR at the highest threshold t (among the scores) with TPR(t) >= target. */
function bruteFprAtTpr(s: number[], y: number[], target: number): number {
  const p = y.filter((v) => v === 1).length;
  const n = y.length - p;
  let best = -Infinity;
  for (const t of s) {
    let tp = 0;
    for (let j = 0; j < s.length; j++) if (s[j] >= t && y[j] === 1) tp++;
    if (tp / p >= target && t > best) best = t;
  }
  let fp = 0;
  for (let j = 0; j < s.length; j++) if (s[j] >= best && y[j] === 0) fp++;
  return fp / n;
}

describe('hand-worked cases', () => {
  // sklearn docs example. Pairs (pos, neg): 0.35>0.1 ✓, 0.35<0.4 ✗, 0.8>0.1 ✓, 0.8>0.4 ✓ → 3/4.
  // Descending: 0.8(+) P=1 R=.5 | 0.4(−) P=1/2 R=.5 | 0.35(+) P=2/3 R=1 | 0.1(−) P=1/2 R=1
  // AP = 0.5·1 + 0·½ + 0.5·⅔ + 0·½ = 5/6.
  const s1 = [0.1, 0.4, 0.35, 0.8];
  const y1 = [0, 0, 1, 1];
  it('sklearn docs example', () => {
    expect(auroc(s1, y1)).toBeCloseTo(0.75, 15);
    expect(averagePrecision(s1, y1)).toBeCloseTo(5 / 6, 15);
    // TPR reaches 1 first at threshold 0.35 where FPR = 1/2.
    expect(fprAtTpr(s1, y1)).toBe(0.5);
    expect(rocCurve(s1, y1)).toEqual([
      { fpr: 0, tpr: 0, threshold: Infinity },
      { fpr: 0, tpr: 0.5, threshold: 0.8 },
      { fpr: 0.5, tpr: 0.5, threshold: 0.4 },
      { fpr: 0.5, tpr: 1, threshold: 0.35 },
      { fpr: 1, tpr: 1, threshold: 0.1 },
    ]);
  });

  // Ties: scores [1,1,2,2,3], labels [0,1,0,1,1]; positives {1,2,3}, negatives {1,2}.
  // Pairs: (1 vs 1) tie ½, (1 vs 2) 0, (2 vs 1) 1, (2 vs 2) tie ½, (3 vs 1) 1, (3 vs 2) 1 → 4/6 = 2/3.
  // Thresholds: 3: TP1 FP0 P=1 R=⅓ | 2: TP2 FP1 P=⅔ R=⅔ | 1: TP3 FP2 P=⅗ R=1
  // AP = ⅓·1 + ⅓·⅔ + ⅓·⅗ = 1/3 + 2/9 + 1/5 = 34/45.
  const s2 = [1, 1, 2, 2, 3];
  const y2 = [0, 1, 0, 1, 1];
  it('ties get half credit and are never split', () => {
    expect(auroc(s2, y2)).toBeCloseTo(2 / 3, 15);
    expect(averagePrecision(s2, y2)).toBeCloseTo(34 / 45, 15);
    expect(fprAtTpr(s2, y2, 0.95)).toBe(1); // only threshold 1 gives TPR ≥ .95 (TPR 1, FPR 2/2)
    expect(fprAtTpr(s2, y2, 0.6)).toBe(0.5); // threshold 2: TPR ⅔, FPR ½
    expect(fprAtTpr(s2, y2, 1 / 3)).toBe(0); // threshold 3: TPR exactly ⅓, FPR 0
    expect(rocCurve(s2, y2)).toEqual([
      { fpr: 0, tpr: 0, threshold: Infinity },
      { fpr: 0, tpr: 1 / 3, threshold: 3 },
      { fpr: 0.5, tpr: 2 / 3, threshold: 2 },
      { fpr: 1, tpr: 1, threshold: 1 },
    ]);
    expect(prCurve(s2, y2)).toEqual([
      { precision: 1, recall: 1 / 3, threshold: 3 },
      { precision: 2 / 3, recall: 2 / 3, threshold: 2 },
      { precision: 3 / 5, recall: 1, threshold: 1 },
    ]);
  });

  it('all scores tied: AUROC ½, AP = prevalence, FPR@95 = 1', () => {
    const s = [7, 7, 7, 7, 7];
    const y = [1, 0, 0, 1, 0];
    expect(auroc(s, y)).toBe(0.5);
    expect(averagePrecision(s, y)).toBeCloseTo(2 / 5, 15);
    expect(fprAtTpr(s, y)).toBe(1);
  });

  it('perfect and inverted detectors', () => {
    const y = [0, 0, 0, 1, 1];
    expect(auroc([1, 2, 3, 4, 5], y)).toBe(1);
    expect(averagePrecision([1, 2, 3, 4, 5], y)).toBe(1);
    expect(fprAtTpr([1, 2, 3, 4, 5], y)).toBe(0);
    expect(auroc([5, 4, 3, 2, 1], y)).toBe(0);
    // inverted: positives ranked last; AP = ½·(1/4) + ½·(2/5) = 0.325
    expect(averagePrecision([5, 4, 3, 2, 1], y)).toBeCloseTo(0.5 * 0.25 + 0.5 * 0.4, 15);
    expect(fprAtTpr([5, 4, 3, 2, 1], y)).toBe(1);
  });

  it('±Infinity scores are ordinary extreme scores; booleans and typed arrays are accepted', () => {
    const s = new Float32Array([-Infinity, 0, Infinity, 1]);
    const y = [false, false, true, true];
    expect(auroc(s, y)).toBe(1);
    expect(auroc(new Float64Array([0.5, 0.2]), new Uint8Array([1, 0]))).toBe(1);
  });
});

describe('scikit-learn reference values', () => {
  // Produced once with Debian's python3-sklearn 1.2.1 (`apt-get install python3-sklearn`), script:
  //   roc_auc_score(y, s); average_precision_score(y, s);
  //   fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False); fpr[np.searchsorted(tpr, 0.95, 'left')]
  // rand40: np.random.RandomState(7); s = np.round(rng.rand(40), 1); y = (rng.rand(40) < 0.3)
  const cases: { name: string; s: number[]; y: number[]; auroc: number; ap: number; fpr95: number }[] = [
    {
      name: 'docs',
      s: [0.1, 0.4, 0.35, 0.8],
      y: [0, 0, 1, 1],
      auroc: 0.75,
      ap: 0.83333333333333326,
      fpr95: 0.5,
    },
    {
      name: 'mixed',
      s: [0.9, 0.8, 0.8, 0.7, 0.6, 0.6, 0.6, 0.5, 0.3, 0.2, 0.2, 0.1],
      y: [1, 1, 0, 1, 0, 1, 0, 0, 1, 0, 0, 0],
      auroc: 0.78571428571428581,
      ap: 0.70873015873015877,
      fpr95: 0.5714285714285714,
    },
    {
      name: 'rand40',
      s: [
        0.1, 0.8, 0.4, 0.7, 1.0, 0.5, 0.5, 0.1, 0.3, 0.5, 0.7, 0.8, 0.4, 0.1, 0.3, 0.9, 0.2, 0.5, 0.9, 0.0,
        0.6, 1.0, 0.2, 0.5, 0.9, 0.1, 0.5, 0.8, 0.7, 0.5, 0.2, 0.5, 0.4, 0.5, 0.4, 0.8, 0.8, 0.3, 0.6, 0.3,
      ],
      y: [
        0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0,
        0, 0, 1, 0, 0, 0,
      ],
      auroc: 0.39393939393939392,
      ap: 0.16747776033490322,
      fpr95: 0.96969696969696972,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(auroc(c.s, c.y)).toBeCloseTo(c.auroc, 14);
      expect(averagePrecision(c.s, c.y)).toBeCloseTo(c.ap, 14);
      expect(fprAtTpr(c.s, c.y)).toBeCloseTo(c.fpr95, 14);
    });
  }
});

describe('random data vs O(n²) brute force', () => {
  it('matches on 60 random sets with and without ties', () => {
    const rnd = mulberry32(12345);
    for (let t = 0; t < 60; t++) {
      const n = 5 + Math.floor(rnd() * 150);
      const levels = t % 3 === 0 ? 0 : 2 + Math.floor(rnd() * 10); // 0 = continuous, else few tied levels
      const s: number[] = [];
      const y: number[] = [];
      for (let i = 0; i < n; i++) {
        const lab = rnd() < 0.3 ? 1 : 0;
        let v = rnd() + 0.3 * lab;
        if (levels) v = Math.floor(v * levels) / levels;
        s.push(v);
        y.push(lab);
      }
      if (!y.includes(1)) y[0] = 1;
      if (!y.includes(0)) y[1] = 0;
      expect(auroc(s, y)).toBeCloseTo(bruteAuroc(s, y), 12);
      expect(averagePrecision(s, y)).toBeCloseTo(bruteAp(s, y), 12);
      for (const target of [0.5, 0.9, 0.95, 1])
        expect(fprAtTpr(s, y, target)).toBeCloseTo(bruteFprAtTpr(s, y, target), 15);
      // the ROC curve's trapezoid area equals AUROC (ties contribute diagonal segments)
      const roc = rocCurve(s, y);
      let area = 0;
      for (let k = 1; k < roc.length; k++)
        area += ((roc[k].fpr - roc[k - 1].fpr) * (roc[k].tpr + roc[k - 1].tpr)) / 2;
      expect(area).toBeCloseTo(bruteAuroc(s, y), 12);
    }
  });

  it('Float32Array input gives the same answer as the same values in float64', () => {
    const rnd = mulberry32(9);
    const s = new Float32Array(1000);
    const y = new Uint8Array(1000);
    for (let i = 0; i < 1000; i++) {
      y[i] = rnd() < 0.1 ? 1 : 0;
      s[i] = rnd() + y[i] * 0.5;
    }
    const s64 = Array.from(s);
    const y64 = Array.from(y);
    expect(auroc(s, y)).toBeCloseTo(bruteAuroc(s64, y64), 12);
    expect(averagePrecision(s, y)).toBeCloseTo(bruteAp(s64, y64), 12);
  });
});

describe('curves', () => {
  it('downsamples to at most maxPoints keeping both ends', () => {
    const rnd = mulberry32(3);
    const s = Array.from({ length: 500 }, () => rnd());
    const y = s.map((v, i) => (i % 4 === 0 ? 1 : 0));
    const full = rocCurve(s, y);
    expect(full.length).toBe(501);
    const small = rocCurve(s, y, { maxPoints: 50 });
    expect(small.length).toBeLessThanOrEqual(50);
    expect(small[0]).toEqual(full[0]);
    expect(small[small.length - 1]).toEqual(full[full.length - 1]);
    expect(prCurve(s, y, { maxPoints: 10 }).length).toBeLessThanOrEqual(10);
    expect(() => rocCurve(s, y, { maxPoints: 1 })).toThrow(MetricError);
  });
});

describe('bad input', () => {
  function code(f: () => unknown): string | undefined {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(MetricError);
      return (e as MetricError).code;
    }
    return undefined;
  }
  it('rejects NaN, one class, empty, mismatched lengths, bad labels, bad target', () => {
    expect(code(() => auroc([0.1, NaN], [0, 1]))).toBe('NAN_SCORE');
    expect(code(() => averagePrecision(new Float32Array([NaN, 1]), [0, 1]))).toBe('NAN_SCORE');
    expect(code(() => auroc([0.1, 0.2], [1, 1]))).toBe('ONE_CLASS');
    expect(code(() => fprAtTpr([0.1, 0.2], [0, 0]))).toBe('ONE_CLASS');
    expect(code(() => auroc([], []))).toBe('EMPTY');
    expect(code(() => auroc([1, 2, 3], [0, 1]))).toBe('LENGTH_MISMATCH');
    expect(code(() => auroc([1, 2], [0, 2]))).toBe('BAD_LABEL');
    expect(code(() => fprAtTpr([1, 2], [0, 1], 1.5))).toBe('BAD_ARGUMENT');
  });
});
