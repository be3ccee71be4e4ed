/**
 * Report tables: the Markdown tables put the paper's values beside ours, with goal verdicts.
 * (Moved from svg.test.ts when the charts moved to benchmarks/lib/plots.ts; see plots.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { imageTables, type TrainResultJson } from '../../../benchmarks/image-ood/run.js';
import { OOD_NAMES } from '../../../benchmarks/image-ood/paper.js';
import { creditTables, type SplitResult } from '../../../benchmarks/credit-fraud/run.js';
import { metrics, mdTable } from '../../../benchmarks/lib/evaluate.js';

describe('report tables', () => {
  it('mdTable', () => {
    expect(mdTable(['a', 'b'], [['1', '2']])).toBe('| a | b |\n| --- | --- |\n| 1 | 2 |');
  });

  it('image table: paper values beside ours and goal verdicts from the default score', () => {
    const perfect = metrics([0, 0.1], [1, 2]); // AUROC 1
    const coin = metrics([0, 1], [0, 1]); // AUROC 0.5
    const m = {
      neg_logp_single: perfect,
      rate: coin,
      logp_var: coin,
      neg_waic: perfect,
      neg_logp: perfect,
      combined: coin,
      default: perfect,
    };
    const sets = Object.fromEntries(
      OOD_NAMES.map((o) => [
        o,
        { name: o, n: 2, metrics: { ...m, ...(o === 'hflip' ? { default: coin } : {}) }, roc: {} },
      ]),
    );
    const r: TrainResultJson = {
      train: 'fashion',
      checkpoint: '/x',
      cached: true,
      trainMs: null,
      defaultScore: 'neg_logp',
      checkpointScore: 'neg_logp',
      trainingConfig: {},
      inDistribution: { name: 'fashion-mnist/test', n: 2 },
      sets,
      validation: {
        proxies: {
          blur: {
            neg_logp_single: 0.9,
            rate: 0.5,
            logp_var: 0.5,
            neg_waic: 0.8,
            neg_logp: 0.95,
            combined: 0.7,
          },
        },
        meanAuroc: {
          neg_logp_single: 0.9,
          rate: 0.5,
          logp_var: 0.5,
          neg_waic: 0.8,
          neg_logp: 0.95,
          combined: 0.7,
        },
        best: 'neg_logp',
      },
      histograms: {},
    };
    const md = imageTables([r]);
    expect(md).toContain('paper log p');
    expect(md).toContain('paper WAIC');
    // Fashion → MNIST row: paper log p 40.4, Rate 97.1, WAIC 14.2; goal 97.1 met with AUROC 100
    expect(md).toMatch(
      /\| other \| 100\.0 \| 50\.0 \| 50\.0 \| 100\.0 \| 100\.0 \| 40\.4 \| 97\.1 \| 14\.2 \| 97\.1 \| met \|/,
    );
    // HFlip default at 50 misses the 72.4 goal by 22.4
    expect(md).toMatch(/\| hflip \|.*\| 72\.4 \| \*\*missed\*\* \(-22\.4\) \|/);
    // without memberElbo in the run, no ELBO columns
    expect(md).not.toContain('ELBO (single)');

    // a run whose scorer returned memberElbo: the authors' ELBO columns sit before the default
    const withElbo: TrainResultJson = {
      ...r,
      sets: Object.fromEntries(
        Object.entries(sets).map(([o, v]) => [
          o,
          { ...v, metrics: { ...v.metrics, neg_elbo_single: coin, neg_waic_elbo: perfect } },
        ]),
      ),
    };
    const md2 = imageTables([withElbo]);
    expect(md2).toContain(
      '| OoD set | ours log p (single) | ours Rate | ours Var log p | ours WAIC | ours ELBO (single) | ours WAIC (ELBO) | ours default | paper log p |',
    );
    expect(md2).toMatch(
      /\| other \| 100\.0 \| 50\.0 \| 50\.0 \| 100\.0 \| 50\.0 \| 100\.0 \| 100\.0 \| 40\.4 \| 97\.1 \| 14\.2 \| 97\.1 \| met \|/,
    );
    expect(md2).toContain("authors' code from each model's 16-sample ELBO");
  });

  it('credit table: mean ± std over splits with the paper column', () => {
    const mk = (a: number): SplitResult => {
      const good = metrics([0, 0.1, 0.2, a], [0.3, 0.5, 0.6, 0.7]);
      const row = {
        neg_logp_single: good,
        rate: good,
        logp_var: good,
        neg_waic: good,
        neg_logp: good,
        combined: good,
      };
      return {
        seed: 0,
        counts: {
          train: 1,
          validationNormals: 1,
          validationFrauds: 1,
          testFrauds: 4,
          testNormals: 4,
          heldOutNormals: 4,
          paperTest: 10,
        },
        validation: { 'bernoulli-minmax': { neg_logp: 0.9 }, 'gaussian-standard': { neg_logp: 0.8 } },
        chosen: 'bernoulli-minmax',
        test: row,
        realisticAp: {
          neg_logp_single: 0.5,
          rate: 0.5,
          logp_var: 0.5,
          neg_waic: 0.5,
          neg_logp: 0.5,
          combined: 0.5,
        },
        realisticFraudRate: 0.5,
        paper: row,
        classifier: good,
        roc: {},
        hist: { normal: [], fraud: [], normalWaic: [], fraudWaic: [] },
      };
    };
    // split 1: all positives above all negatives (AUROC 1); split 2: one negative above all (AUROC 0.75)
    const md = creditTables({ defaultScore: 'neg_logp' }, [mk(0.25), mk(0.9)]);
    expect(md).toContain('| Single IWAE (log p, one member) |');
    // Frauds positive: split 1 FPR95 0, AP 1; split 2 (a normal at 0.9 above every fraud) FPR95 ¼,
    // AP (½ + ⅔ + ¾ + ⅘)/4. Normals positive (ranked by −score): split 1 FPR95 0, AP 1; split 2 the
    // 0.9 normal ranks last, so passing all 4 normals passes all 4 frauds (FPR95 1) and AP is
    // (1 + 1 + 1 + 4/8)/4 = 0.875. The paper's density rows sit under the normals-positive columns.
    expect(md).toContain(
      '| WAIC | 12.5 ± 17.7 | 87.5 ± 17.7 | 84.0 ± 22.7 | 50.0 ± 70.7 | 93.8 ± 8.8 |  | 94.7 |  | 15.2 | 92.1 |',
    );
    expect(md).toContain(
      '| Classifier (supervised, 2×512) | 12.5 ± 17.7 | 87.5 ± 17.7 | 84.0 ± 22.7 | 50.0 ± 70.7 | 93.8 ± 8.8 | 4 | 99.1 | 99.3 |  |  |',
    );
    expect(md).toContain('AUROC 87.5 (goal ≥ 96): **missed**');
    expect(md).toContain(
      'FPR95 (normals +) 50.0 (goal ≤ 15.2): **missed**; AP (normals +) 93.8 (goal ≥ 92.1): met',
    );
  });
});
