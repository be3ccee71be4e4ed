import { describe, expect, it } from 'vitest';
import { calibrateThreshold, flaggedFraction } from '../../../src/engine/calibrate.js';
import { CalibrationError, ScoringInputError } from '../../../src/engine/errors.js';
import { anomalyScores, fitCombinedRule } from '../../../src/engine/score-rules.js';
import type { ScoreBatch } from '../../../src/engine/types.js';

describe('calibrateThreshold (hand-worked)', () => {
  const s = Array.from({ length: 100 }, (_, i) => i + 1); // 1..100 shuffled below
  const shuffled = [...s].reverse();
  it('1% of 100 distinct scores: value = 99, exactly one record above', () => {
    const t = calibrateThreshold(shuffled, 0.01, 'neg_waic');
    expect(t).toEqual({ score: 'neg_waic', value: 99, targetFpr: 0.01, calibrationSize: 100 });
    expect(flaggedFraction(s, t.value)).toBe(0.01);
  });
  it('5% of 100: value = 95', () => expect(calibrateThreshold(s, 0.05, 'rate').value).toBe(95));
  it('fpr 0 gives the maximum', () => expect(calibrateThreshold(s, 0, 'rate').value).toBe(100));
  it('non-integer position rounds toward fewer flags: 10 scores, fpr 0.15 → 9th smallest (1 above)', () => {
    expect(calibrateThreshold([10, 9, 8, 7, 6, 5, 4, 3, 2, 1], 0.15, 'rate').value).toBe(9);
  });
  it('ties: [1,2,3,3,3,3,3,3,3,3] at fpr 0.5 → 3 and nothing above (FPR 0 ≤ 0.5)', () => {
    const v = [1, 2, 3, 3, 3, 3, 3, 3, 3, 3];
    const t = calibrateThreshold(v, 0.5, 'rate');
    expect(t.value).toBe(3);
    expect(flaggedFraction(v, t.value)).toBe(0);
  });
  it('single score', () => expect(calibrateThreshold([4.5], 0.01, 'rate').value).toBe(4.5));
  it('rejects bad input with CalibrationError', () => {
    expect(() => calibrateThreshold([], 0.01, 'rate')).toThrow(CalibrationError);
    expect(() => calibrateThreshold([1, NaN], 0.01, 'rate')).toThrow(/NaN/);
    expect(() => calibrateThreshold([1], 1, 'rate')).toThrow(/targetFpr/);
    expect(() => calibrateThreshold([1], -0.1, 'rate')).toThrow(/targetFpr/);
  });
});

describe('score rules', () => {
  // 3 records, 2 members.
  const batch: ScoreBatch = {
    n: 3,
    members: 2,
    logp: new Float32Array([-10, -12, -20, -30, -5, -5]),
    memberRate: new Float32Array([1, 3, 2, 2, 0, 1]),
    logpMean: new Float32Array([-11, -25, -5]),
    logpVar: new Float32Array([1, 25, 0]),
    waic: new Float32Array([-12, -50, -5]),
    rate: new Float32Array([2, 2, 0.5]),
  };
  it('component scores', () => {
    expect(Array.from(anomalyScores(batch, 'neg_waic'))).toEqual([12, 50, 5]);
    expect(Array.from(anomalyScores(batch, 'neg_logp'))).toEqual([11, 25, 5]);
    expect(Array.from(anomalyScores(batch, 'neg_logp_single'))).toEqual([10, 20, 5]);
    expect(Array.from(anomalyScores(batch, 'rate'))).toEqual([2, 2, 0.5]);
    expect(Array.from(anomalyScores(batch, 'logp_var'))).toEqual([1, 25, 0]);
  });
  it('combined = Σ w·(s − mean)/std, hand-worked', () => {
    const rule = {
      components: [
        { score: 'neg_logp' as const, weight: 1, mean: 10, std: 2 },
        { score: 'rate' as const, weight: 2, mean: 1, std: 0.5 },
      ],
    };
    // record 0: (11-10)/2 + 2(2-1)/0.5 = 0.5 + 4 = 4.5; record 1: 7.5 + 4 = 11.5; record 2: -2.5 + 2(-0.5)/0.5 = -4.5
    expect(Array.from(anomalyScores(batch, 'combined', { combined: rule }))).toEqual([4.5, 11.5, -4.5]);
  });
  it('fitCombinedRule measures population mean/std; constant component gets std 1', () => {
    const rule = fitCombinedRule(batch);
    const negLogp = rule.components.find((c) => c.score === 'neg_logp')!;
    expect(negLogp.mean).toBeCloseTo(41 / 3, 12);
    const m = 41 / 3;
    expect(negLogp.std).toBeCloseTo(Math.sqrt(((11 - m) ** 2 + (25 - m) ** 2 + (5 - m) ** 2) / 3), 12);
    const flat = fitCombinedRule({ ...batch, rate: new Float32Array([1, 1, 1]) }, [
      { score: 'rate', weight: 1 },
    ]);
    expect(flat.components[0]).toEqual({ score: 'rate', weight: 1, mean: 1, std: 1 });
  });
  it('combined without a rule is a typed error', () => {
    expect(() => anomalyScores(batch, 'combined')).toThrow(ScoringInputError);
  });
});
