/**
 * The benchmarks' per-record statistics dump: a ScoreBatch survives the gzipped file bit for bit, and
 * a rule computed on the loaded batch equals the rule on the original (what a later rule study needs).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dumpSet, loadSet, readStatsDump, writeStatsDump } from '../../../benchmarks/lib/stats-dump.js';
import { doseScores, fitDoseRule } from '../../../src/engine/dose.js';
import { studyRules } from '../../../benchmarks/image-ood/rules.js';
import { doseVariant, metrics, scoresOf } from '../../../benchmarks/lib/evaluate.js';
import type { ScoreBatch } from '../../../src/engine/types.js';

function batch(n: number, m: number, seed: number, complexity: boolean): ScoreBatch {
  let s = seed;
  const r = (): number => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32) * 200 - 300;
  const logp = Float32Array.from({ length: n * m }, r);
  const memberRate = Float32Array.from({ length: n * m }, () => Math.abs(r()) / 10);
  const logpMean = new Float32Array(n);
  const logpVar = new Float32Array(n);
  const rate = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let a = 0;
    let b = 0;
    for (let j = 0; j < m; j++) {
      a += logp[i * m + j];
      b += memberRate[i * m + j];
    }
    logpMean[i] = a / m;
    rate[i] = b / m;
    let v = 0;
    for (let j = 0; j < m; j++) v += (logp[i * m + j] - logpMean[i]) ** 2;
    logpVar[i] = v / m;
  }
  const waic = logpMean.map((x, i) => x - logpVar[i]);
  return {
    n,
    members: m,
    logp,
    memberRate,
    logpMean,
    logpVar,
    waic,
    rate,
    ...(complexity
      ? {
          complexity: Float32Array.from({ length: n }, () => -r()),
          memberElbo: logp.map((v) => v - Math.abs(r()) / 50),
        }
      : {}),
  };
}

describe('stats dump', () => {
  let dir = '';
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('round-trips every float32 array and the dose rule, and scores the same', async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-dump-'));
    const a = batch(257, 5, 7, true);
    const b = batch(33, 5, 8, false);
    const rule = fitDoseRule(a, ['neg_logp', 'rate', 'logp_var', 'neg_logp_ic']);
    const path = join(dir, 'stats.json.gz');
    await writeStatsDump(path, { description: 'test', dose: rule, sets: { a: dumpSet(a), b: dumpSet(b) } });
    const back = await readStatsDump(path);
    expect(back.description).toBe('test');
    expect(back.dose).toEqual(rule);
    const la = loadSet(back.sets.a);
    const lb = loadSet(back.sets.b);
    for (const f of [
      'logp',
      'memberRate',
      'logpMean',
      'logpVar',
      'waic',
      'rate',
      'complexity',
      'memberElbo',
    ] as const)
      expect(Array.from(la[f] as Float32Array)).toEqual(Array.from(a[f] as Float32Array));
    expect(lb.complexity).toBeUndefined();
    expect(lb.memberElbo).toBeUndefined();
    expect(lb.n).toBe(33);
    expect(lb.members).toBe(5);
    expect(Array.from(doseScores(la, back.dose!))).toEqual(Array.from(doseScores(a, rule)));
  });

  it('the rule study on a dump reproduces AUROCs computed on the batches directly, test only when asked', async () => {
    const cal = batch(300, 5, 11, true);
    const vn = batch(200, 5, 12, true);
    const px = batch(150, 5, 13, true);
    const te = batch(180, 5, 14, true);
    const ood = batch(120, 5, 15, true);
    const rule = fitDoseRule(cal, ['neg_logp', 'rate', 'logp_var', 'neg_logp_ic']);
    const path = join(dir, 'study.json.gz');
    await writeStatsDump(path, {
      description: 'study',
      dose: rule,
      sets: {
        calibration: dumpSet(cal),
        'validation-normal': dumpSet(vn),
        'proxy-x': dumpSet(px),
        test: dumpSet(te),
        ood: dumpSet(ood),
      },
    });
    const st = await studyRules(path, false);
    expect(st.test).toBeUndefined();
    expect(st.rules).toContain('dose_ev');
    expect(st.rules).not.toContain('combined');
    expect(st.validation['proxy-x'].dose).toBe(metrics(doseScores(vn, rule), doseScores(px, rule)).auroc);
    expect(st.validation.score.rate).toBe(metrics(scoresOf(vn, 'rate'), scoresOf(px, 'rate')).auroc);
    const ev = doseVariant(rule, 'dose_ev');
    const withTest = await studyRules(path, true);
    expect(withTest.test?.ood.dose_ev).toBe(metrics(doseScores(te, ev), doseScores(ood, ev)).auroc);
    expect(Object.keys(withTest.test ?? {})).toEqual(['ood']);
  });
});
