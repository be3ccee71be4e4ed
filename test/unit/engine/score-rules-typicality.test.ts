import { describe, expect, it } from 'vitest';
import { manifestSchema } from '../../../src/engine/checkpoint.js';
import { ScoringInputError } from '../../../src/engine/errors.js';
import { anomalyScores, fitCombinedRule, type CombinedRule } from '../../../src/engine/score-rules.js';
import type { ScoreBatch } from '../../../src/engine/types.js';

// 3 records, 2 members: neg_logp = [11, 25, 5], rate = [2, 2, 0.5], logp_var = [1, 25, 0].
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

describe("combined rule with transform 'abs' (typicality)", () => {
  it('abs term: w·|s − mean|/std, mixed with a linear term (hand-worked)', () => {
    const rule: CombinedRule = {
      components: [
        { score: 'neg_logp', weight: 1, transform: 'abs', mean: 10, std: 2 },
        { score: 'rate', weight: 2, mean: 1, std: 0.5 },
      ],
    };
    // |11−10|/2 + 2(2−1)/0.5 = 0.5 + 4 = 4.5; |25−10|/2 + 4 = 7.5 + 4 = 11.5;
    // |5−10|/2 + 2(0.5−1)/0.5 = 2.5 − 2 = 0.5 (linear would give −2.5 − 2 = −4.5)
    expect(Array.from(anomalyScores(batch, 'combined', { combined: rule }))).toEqual([4.5, 11.5, 0.5]);
  });
  it('abs with a negative weight: −|s − mean|/std', () => {
    const rule: CombinedRule = {
      components: [{ score: 'rate', weight: -1, transform: 'abs', mean: 1, std: 0.5 }],
    };
    // −|2−1|/0.5 = −2, −2, −|0.5−1|/0.5 = −1
    expect(Array.from(anomalyScores(batch, 'combined', { combined: rule }))).toEqual([-2, -2, -1]);
  });
  it('two-sided: values equally far above and below the mean score the same', () => {
    // neg_logp 11 and 25 around mean 18, std 7: both |·| = 1; 5 → 13/7
    const rule: CombinedRule = {
      components: [{ score: 'neg_logp', weight: 1, transform: 'abs', mean: 18, std: 7 }],
    };
    const s = anomalyScores(batch, 'combined', { combined: rule });
    expect(s[0]).toBe(1);
    expect(s[1]).toBe(1);
    expect(s[2]).toBeCloseTo(13 / 7, 14);
  });
  it('fitCombinedRule keeps the transform and fits mean/std on the raw score', () => {
    const rule = fitCombinedRule(batch, [
      { score: 'rate', weight: 1, transform: 'abs' },
      { score: 'logp_var', weight: 1 },
    ]);
    // rate [2, 2, 0.5]: mean 1.5, population var (0.25 + 0.25 + 1)/3 = 0.5
    expect(rule.components[0].transform).toBe('abs');
    expect(rule.components[0].mean).toBeCloseTo(1.5, 14);
    expect(rule.components[0].std).toBeCloseTo(Math.sqrt(0.5), 14);
    expect('transform' in rule.components[1]).toBe(false);
    // scores: |2−1.5|/√0.5 + (1 − 26/3)/σ_var, ...; check record 2 by hand
    const mv = 26 / 3;
    const sv = Math.sqrt(((1 - mv) ** 2 + (25 - mv) ** 2 + (0 - mv) ** 2) / 3);
    const s = anomalyScores(batch, 'combined', { combined: rule });
    expect(s[2]).toBeCloseTo(1 / Math.sqrt(0.5) + (0 - mv) / sv, 12);
    expect(s[0]).toBeCloseTo(0.5 / Math.sqrt(0.5) + (1 - mv) / sv, 12);
  });
  it('an unknown transform (e.g. from a hand-edited rule) is a typed error', () => {
    const rule = {
      components: [{ score: 'rate', weight: 1, transform: 'sqrt', mean: 0, std: 1 }],
    } as unknown as CombinedRule;
    expect(() => anomalyScores(batch, 'combined', { combined: rule })).toThrow(ScoringInputError);
  });
});

describe('manifest schema: combined component transform', () => {
  const combinedSchema = manifestSchema.shape.scoreRule.shape.combined.unwrap();
  it("accepts transform 'abs'", () => {
    const r = combinedSchema.safeParse({
      components: [{ score: 'neg_logp', weight: 1, transform: 'abs', mean: 1, std: 2 }],
    });
    expect(r.success).toBe(true);
  });
  it('old manifests without transform still load', () => {
    const r = combinedSchema.safeParse({
      components: [{ score: 'neg_logp', weight: 1, mean: 1, std: 2 }],
    });
    expect(r.success).toBe(true);
  });
  it('rejects an unknown transform', () => {
    const r = combinedSchema.safeParse({
      components: [{ score: 'neg_logp', weight: 1, transform: 'sqrt', mean: 1, std: 2 }],
    });
    expect(r.success).toBe(false);
  });
});
