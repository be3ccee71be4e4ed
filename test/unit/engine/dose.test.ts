/**
 * The density-of-states score ('dose'): against a brute-force float64 kernel density over every
 * support point, hand-worked bandwidths, two-sidedness, the false-positive rate on fresh normals, NaN
 * handling and the manifest schema.
 */
import { describe, expect, it } from 'vitest';
import {
  DOSE_MAX_SUPPORT,
  DOSE_TAIL_MASS,
  doseScores,
  doseTails,
  fitDoseRule,
  logDensityExact,
  silvermanBandwidth,
  type DoseDensity,
  type DoseRule,
} from '../../../src/engine/dose.js';
import { anomalyScores, needsComplexity } from '../../../src/engine/score-rules.js';
import { calibrateThreshold } from '../../../src/engine/calibrate.js';
import { manifestSchema } from '../../../src/engine/checkpoint.js';
import type { ScoreBatch } from '../../../src/engine/types.js';
import { memberTypicalityF64 } from '../../reference/f64.js';
import { withMoments } from './fixtures.js';

/** Deterministic normal samples (Box–Muller over a seeded LCG). */
function normals(n: number, seed: number, mean = 0, sd = 1): Float64Array {
  let s = seed >>> 0 || 1;
  const u = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++)
    out[i] = mean + sd * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

/** A one-member ScoreBatch whose neg_logp, rate and logp_var are the given arrays (complexity optional). */
function batchOf(
  negLogp: ArrayLike<number>,
  rate: ArrayLike<number>,
  v: ArrayLike<number>,
  lx?: ArrayLike<number>,
): ScoreBatch {
  const n = negLogp.length;
  const logp = Float32Array.from({ length: n }, (_, i) => -negLogp[i]);
  return {
    n,
    members: 1,
    logp,
    memberRate: Float32Array.from(rate),
    logpMean: logp,
    logpVar: Float32Array.from(v),
    waic: Float32Array.from({ length: n }, (_, i) => logp[i] - v[i]),
    rate: Float32Array.from(rate),
    ...(lx ? { complexity: Float32Array.from(lx) } : {}),
  };
}

/** −log of the Gaussian KDE at x, summing every support point in float64 (no window, no grid). */
function bruteNegLogDensity(d: DoseDensity, x: number): number {
  const { support, bandwidth: h } = d;
  const terms = support.map((p) => -0.5 * ((x - p) / h) ** 2);
  const m = Math.max(...terms);
  const sum = terms.reduce((a, t) => a + Math.exp(t - m), 0);
  return -(m + Math.log(sum) - Math.log(support.length * h * Math.sqrt(2 * Math.PI)));
}

describe('dose: kernel densities fitted on normal data', () => {
  const cal = batchOf(
    normals(3000, 1, 100, 5),
    normals(3000, 2, 20, 2).map(Math.abs),
    normals(3000, 3, 0, 1).map((x) => x * x),
  );
  const rule = fitDoseRule(cal, ['neg_logp', 'rate', 'logp_var']);

  it("Silverman's bandwidth, hand-worked: 0.9·min(sd, IQR/1.34)·n^(−1/5)", () => {
    // 1..100: sd = sqrt(100·101/12) = 29.0115 (n−1), IQR = 75.25 − 25.75 = 49.5 → 36.94; min = sd
    const v = Float64Array.from({ length: 100 }, (_, i) => i + 1);
    const sd = Math.sqrt((100 * 101) / 12);
    expect(silvermanBandwidth(v)).toBeCloseTo(0.9 * sd * 100 ** -0.2, 12);
    // a heavy outlier inflates sd but not the IQR: the IQR branch wins
    const w = Float64Array.from([...Array.from({ length: 99 }, (_, i) => i + 1), 1e6]).sort();
    expect(silvermanBandwidth(w)).toBeCloseTo(((0.9 * (75.25 - 25.75)) / 1.34) * 100 ** -0.2, 9);
    // a constant statistic still gets a positive width
    expect(silvermanBandwidth(new Float64Array(50).fill(3))).toBeGreaterThan(0);
  });

  it('stores at most DOSE_MAX_SUPPORT sorted order statistics, from the minimum to the maximum', () => {
    expect(rule.fittedOn).toBe(3000);
    for (const d of rule.densities) {
      expect(d.support.length).toBe(DOSE_MAX_SUPPORT);
      for (let i = 1; i < d.support.length; i++)
        expect(d.support[i]).toBeGreaterThanOrEqual(d.support[i - 1]);
    }
    const nl = Array.from(cal.logpMean, (v) => -v);
    expect(rule.densities[0].support[0]).toBeCloseTo(Math.min(...nl), 4);
    expect(rule.densities[0].support.at(-1)).toBeCloseTo(Math.max(...nl), 4);
  });

  it('exact log density = brute force over every support point, near and in the far tails', () => {
    const d = rule.densities[0];
    for (const x of [60, 85, 95, 100, 100.123, 104, 117, 140, 300, -1e3, 1e4]) {
      const want = bruteNegLogDensity(d, x);
      expect(-logDensityExact(d, x), `x=${x}`).toBeCloseTo(want, Math.abs(want) > 1e4 ? 3 : 9);
    }
  });

  it('scores = Σ of the brute-force −log f over the statistics (grid inside, exact outside)', () => {
    const probe = batchOf(
      [...normals(200, 7, 100, 7), 10, 500, 100],
      [...normals(200, 8, 20, 3).map(Math.abs), 0.001, 80, 20],
      [...normals(200, 9, 0, 1.3).map((x) => x * x), 0, 50, 1],
    );
    const got = doseScores(probe, rule);
    const stats = [Array.from(probe.logpMean, (v) => -v), Array.from(probe.rate), Array.from(probe.logpVar)];
    for (let i = 0; i < probe.n; i++) {
      const want = rule.densities.reduce((a, d, j) => a + bruteNegLogDensity(d, stats[j][i]), 0);
      // inside the grid: linear interpolation of a density smooth on the scale h (spacing ≤ h/32)
      expect(Math.abs(got[i] - want), `record ${i}: ${got[i]} vs ${want}`).toBeLessThan(
        2e-3 * Math.max(1, Math.abs(want) / 100),
      );
    }
    // the same through the engine's score dispatch
    expect(Array.from(anomalyScores(probe, 'dose', { dose: rule }))).toEqual(Array.from(got));
  });

  it('two-sided: unusually likely and unusually unlikely records are both atypical', () => {
    const mode = batchOf([100], [20], [0.3]);
    const tooLikely = batchOf([60], [20], [0.3]); // −log p far BELOW the normals' range
    const tooUnlikely = batchOf([140], [20], [0.3]);
    const s0 = doseScores(mode, rule)[0];
    expect(doseScores(tooLikely, rule)[0]).toBeGreaterThan(s0 + 10);
    expect(doseScores(tooUnlikely, rule)[0]).toBeGreaterThan(s0 + 10);
    // quadratic growth in the tails: twice as far ≈ four times the excess
    const far = (x: number): number => doseScores(batchOf([x], [20], [0.3]), rule)[0] - s0;
    expect(far(100 + 80) / far(100 + 40)).toBeGreaterThan(3);
  });

  it('a threshold calibrated at 1 % on fresh normals flags about 1 % of other fresh normals', () => {
    const calib = batchOf(
      normals(5000, 21, 100, 5),
      normals(5000, 22, 20, 2).map(Math.abs),
      normals(5000, 23).map((x) => x * x),
    );
    const fresh = batchOf(
      normals(20000, 31, 100, 5),
      normals(20000, 32, 20, 2).map(Math.abs),
      normals(20000, 33).map((x) => x * x),
    );
    const t = calibrateThreshold(doseScores(calib, rule), 0.01, 'dose');
    const s = doseScores(fresh, rule);
    const fpr = s.filter((v) => v > t.value).length / s.length;
    expect(fpr).toBeGreaterThan(0.006);
    expect(fpr).toBeLessThan(0.016);
  });

  it('NaN statistics give NaN (never typical); an infinite one gives +Infinity', () => {
    const s = doseScores(batchOf([NaN, Infinity, 100], [20, 20, 20], [0.3, 0.3, 0.3]), rule);
    expect(Number.isNaN(s[0])).toBe(true);
    expect(s[1]).toBe(Infinity);
    expect(Number.isFinite(s[2])).toBe(true);
  });

  it('the frames statistic −log p − L(x) needs the input complexity', () => {
    const withLx = batchOf(
      normals(500, 41, 100, 5),
      normals(500, 42, 20, 2).map(Math.abs),
      normals(500, 43).map((x) => x * x),
      normals(500, 44, 300, 20),
    );
    const r: DoseRule = fitDoseRule(withLx, ['neg_logp', 'neg_logp_ic']);
    expect(needsComplexity('dose', { dose: r })).toBe(true);
    expect(needsComplexity('dose', { dose: rule })).toBe(false);
    const noLx = batchOf([100], [20], [0.3]);
    expect(() => doseScores(noLx, r)).toThrow(/input complexity/);
    // −log p − L: record 0's statistic is −logpMean − L
    const x = -withLx.logpMean[0] - (withLx.complexity as Float32Array)[0];
    const want =
      bruteNegLogDensity(r.densities[0], -withLx.logpMean[0]) + bruteNegLogDensity(r.densities[1], x);
    expect(doseScores(withLx, r)[0]).toBeCloseTo(want, 2);
  });

  it('fitting needs finite statistics and at least 10 records', () => {
    expect(() => fitDoseRule(batchOf([1, 2, 3], [1, 1, 1], [0, 0, 0]), ['neg_logp'])).toThrow(/at least 10/);
    const bad = batchOf([...normals(20, 5), NaN], new Float64Array(21).fill(1), new Float64Array(21));
    expect(() => fitDoseRule(bad, ['neg_logp'])).toThrow(/not finite/);
  });

  it('the manifest schema accepts a fitted rule and rejects unsorted support or a zero bandwidth', () => {
    const shape = manifestSchema.shape.scoreRule;
    expect(shape.safeParse({ score: 'dose', dose: rule }).success).toBe(true);
    const unsorted = { ...rule, densities: [{ ...rule.densities[0], support: [3, 1, 2] }] };
    expect(shape.safeParse({ score: 'dose', dose: unsorted }).success).toBe(false);
    const zero = { ...rule, densities: [{ ...rule.densities[0], bandwidth: 0 }] };
    expect(shape.safeParse({ score: 'dose', dose: zero }).success).toBe(false);
    const unknown = { ...rule, densities: [{ ...rule.densities[0], stat: 'neg_waic' }] };
    expect(shape.safeParse({ score: 'dose', dose: unknown }).success).toBe(false);
  });
});

describe("dose with exponential tails ('exponential')", () => {
  const cal = batchOf(
    normals(5000, 61, 100, 5),
    normals(5000, 62, 20, 2).map(Math.abs),
    // a heavy-tailed statistic, like the members' variance: lognormal
    normals(5000, 63, 0, 1).map((x) => Math.exp(1.5 * x)),
  );
  const kde = fitDoseRule(cal, ['neg_logp', 'rate', 'logp_var']);
  const ev = fitDoseRule(cal, ['neg_logp', 'rate', 'logp_var'], { tails: 'exponential' });

  it('the tails are read off the support points: k = 1 % of them per side, scale = mean excess (float64 by hand)', () => {
    expect(ev.tails).toBe('exponential');
    expect(kde.tails).toBeUndefined();
    for (const d of ev.densities) {
      const s = d.support;
      const m = s.length;
      expect(m).toBe(DOSE_MAX_SUPPORT);
      const k = Math.round(DOSE_TAIL_MASS * (m - 1)); // 10
      expect(k).toBe(10);
      let hi = 0;
      let lo = 0;
      for (let j = 1; j <= k; j++) {
        hi += s[m - j] - s[m - 1 - k];
        lo += s[k] - s[j - 1];
      }
      const t = doseTails(d);
      expect(t.upper.threshold).toBe(s[m - 1 - k]);
      expect(t.lower.threshold).toBe(s[k]);
      expect(t.upper.mass).toBeCloseTo(k / (m - 1), 15);
      expect(t.upper.scale).toBeCloseTo(hi / k, 12);
      expect(t.lower.scale).toBeCloseTo(lo / k, 12);
    }
    // a constant statistic has no spread: the bandwidth is the scale
    const flat = fitDoseRule(
      batchOf(new Float64Array(50).fill(3), new Float64Array(50).fill(1), new Float64Array(50)),
      ['neg_logp'],
    );
    expect(doseTails(flat.densities[0]).upper.scale).toBe(flat.densities[0].bandwidth);
  });

  it('equals the kernel density between the tail thresholds and the exponential tail beyond them', () => {
    const d = ev.densities[0];
    const t = doseTails(d);
    const score = (negLogp: number): number => doseScores(batchOf([negLogp], [20], [1]), ev)[0];
    const rest =
      bruteNegLogDensity(ev.densities[1], Math.fround(20)) +
      bruteNegLogDensity(ev.densities[2], Math.fround(1));
    // inside the body: the kernel density, as without tails
    const mid = Math.fround(101);
    expect(score(mid) - rest).toBeCloseTo(bruteNegLogDensity(d, mid), 3);
    expect(score(mid)).toBeCloseTo(doseScores(batchOf([mid], [20], [1]), kde)[0], 9);
    // beyond the upper threshold: −log f = −log(mass/scale) + (x − u)/scale, exactly
    for (const x of [t.upper.threshold + 1, 130, 1e4]) {
      const xf = Math.fround(x);
      const want = -Math.log(t.upper.mass / t.upper.scale) + (xf - t.upper.threshold) / t.upper.scale;
      expect(score(xf) - rest).toBeCloseTo(want, 4);
    }
    const xl = Math.fround(70);
    expect(score(xl) - rest).toBeCloseTo(
      -Math.log(t.lower.mass / t.lower.scale) + (t.lower.threshold - xl) / t.lower.scale,
      4,
    );
    // the penalty grows linearly far out, where the kernel's grows with the square of the distance
    const kdeScore = (x: number): number => doseScores(batchOf([x], [20], [1]), kde)[0];
    expect(score(1e4) - score(5e3)).toBeCloseTo(5e3 / t.upper.scale, 3);
    expect(kdeScore(1e4) - kdeScore(5e3)).toBeGreaterThan(100 * (score(1e4) - score(5e3)));
  });

  it('an in-distribution outlier of a heavy-tailed statistic no longer outranks a record far out on a light-tailed one', () => {
    // fresh normals from the same distributions: the most extreme of them in the heavy-tailed variance
    const fresh = batchOf(
      normals(5000, 71, 100, 5),
      normals(5000, 72, 20, 2).map(Math.abs),
      normals(5000, 73, 0, 1).map((x) => Math.exp(1.5 * x)),
    );
    // an anomaly: log p 20 standard deviations out (far beyond every normal), the rest typical; the
    // worst fresh normal is a 4.8σ draw of the lognormal variance (1,405 where the fit set's largest
    // is 315)
    const anomaly = batchOf([200], [20], [1]);
    const worstNormal = (rule: DoseRule): number => Math.max(...doseScores(fresh, rule));
    // with the kernel's quadratic tails, some fresh normal scores above the anomaly; with exponential
    // tails the anomaly is above every normal
    expect(worstNormal(kde)).toBeGreaterThan(doseScores(anomaly, kde)[0]);
    expect(doseScores(anomaly, ev)[0]).toBeGreaterThan(worstNormal(ev));
    // and the false-positive rate on fresh normals at a threshold calibrated on the fit set holds
    const thr = calibrateThreshold(doseScores(cal, ev), 0.01, 'dose');
    const fp = doseScores(fresh, ev).filter((v) => v > thr.value).length / fresh.n;
    expect(fp).toBeGreaterThan(0.004);
    expect(fp).toBeLessThan(0.02);
  });

  it('NaN stays NaN, +∞ is maximally anomalous; the schema takes the tail model and refuses others', () => {
    const s = doseScores(batchOf([NaN, Infinity], [20, 20], [1, 1]), ev);
    expect(Number.isNaN(s[0])).toBe(true);
    expect(s[1]).toBe(Infinity);
    const shape = manifestSchema.shape.scoreRule;
    expect(shape.safeParse({ score: 'dose', dose: ev }).success).toBe(true);
    expect(shape.safeParse({ score: 'dose', dose: { ...ev, tails: 'gpd' } }).success).toBe(false);
    expect(() => doseScores(batchOf([100], [20], [1]), { ...ev, tails: 'gpd' as 'kde' })).toThrow(
      /unknown tails/,
    );
  });
});

describe("dose with the members' joint typicality ('member_typicality')", () => {
  /** An M-member batch: member m's log p and rate are correlated draws around the record's own level. */
  function members(n: number, M: number, seed: number): ScoreBatch {
    const z = normals(n * (2 * M + 1), seed);
    const logp = new Float32Array(n * M);
    const memberRate = new Float32Array(n * M);
    for (let i = 0; i < n; i++) {
      const level = z[i * (2 * M + 1)];
      for (let m = 0; m < M; m++) {
        logp[i * M + m] = -100 + 5 * level + z[i * (2 * M + 1) + 1 + m];
        memberRate[i * M + m] = 20 + 2 * level + 0.5 * z[i * (2 * M + 1) + 1 + M + m];
      }
    }
    return withMoments(n, M, logp, memberRate);
  }

  /** The f64 reference's typicality of record i (test/reference/f64.ts). */
  function bruteTyp(t: NonNullable<DoseRule['typicality']>, b: ScoreBatch, i: number): number {
    const M = b.members;
    return memberTypicalityF64(
      t,
      Array.from(b.logp.subarray(i * M, i * M + M)),
      Array.from(b.memberRate.subarray(i * M, i * M + M)),
    );
  }

  it('fits the typicality Gaussian on the same normals and adds −log f of its distance (brute force)', () => {
    const fit = members(3000, 3, 5);
    const rule = fitDoseRule(fit, ['neg_logp', 'member_typicality']);
    const t = rule.typicality!;
    expect(t).toMatchObject({ features: 'logp_rate', members: 3, shrinkage: 0.01 });
    // the fitted mean is the normals' mean of the per-member vector
    let m0 = 0;
    for (let i = 0; i < fit.n; i++) m0 += fit.logp[i * 3] / fit.n;
    expect(t.mean[0]).toBeCloseTo(m0, 6);
    const probe = members(200, 3, 77);
    const got = doseScores(probe, rule);
    for (let i = 0; i < probe.n; i++) {
      const want =
        bruteNegLogDensity(rule.densities[0], -probe.logpMean[i]) +
        bruteNegLogDensity(rule.densities[1], bruteTyp(t, probe, i));
      expect(Math.abs(got[i] - want)).toBeLessThan(1e-3 * Math.max(1, Math.abs(want)));
    }
  });

  it('catches members that disagree on the rate though every ensemble-level statistic stays typical', () => {
    const fit = members(3000, 3, 9);
    const withTyp = fitDoseRule(fit, ['neg_logp', 'rate', 'logp_var', 'member_typicality']);
    const without = fitDoseRule(fit, ['neg_logp', 'rate', 'logp_var']);
    const normal = members(500, 3, 21);
    // member 0's rate up by 1.5 nats, members 1 and 2 down by 0.75: the mean rate, mean log p and Var
    // log p are unchanged, only the joint vector sees the disagreement
    const odd = members(500, 3, 22);
    for (let i = 0; i < odd.n; i++) {
      odd.memberRate[i * 3] += 1.5;
      odd.memberRate[i * 3 + 1] -= 0.75;
      odd.memberRate[i * 3 + 2] -= 0.75;
    }
    const auc = (r: DoseRule): number => {
      const a = doseScores(normal, r);
      const b = doseScores(odd, r);
      let wins = 0;
      for (const x of b) for (const y of a) wins += x > y ? 1 : x === y ? 0.5 : 0;
      return wins / (a.length * b.length);
    };
    expect(auc(without)).toBeLessThan(0.6);
    expect(auc(withTyp)).toBeGreaterThan(0.8);
  });

  it('the manifest schema requires the typicality fit when a density uses it', () => {
    const rule = fitDoseRule(members(500, 2, 3), ['neg_logp', 'member_typicality']);
    const base = manifestSchema.shape.scoreRule.shape.dose;
    expect(base.safeParse(JSON.parse(JSON.stringify(rule))).success).toBe(true);
    const { typicality: _t, ...without } = JSON.parse(JSON.stringify(rule)) as DoseRule;
    expect(base.safeParse(without).success).toBe(false);
    expect(() => doseScores(members(5, 2, 4), without)).toThrow(/typicality/);
  });
});
