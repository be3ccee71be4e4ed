/**
 * The benchmarks' --quick modes on the REAL data sets (CI smoke): tiny models, few steps, subsets.
 * Asserts only the easy rows (MNIST vs uniform noise, credit AUROC), never exact scores. Training
 * goes to a fresh cache directory, so every run exercises the whole path (build → ONNX → score →
 * report).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { testDataDir } from '../data/datadir.js';

const work = mkdtempSync(join(tmpdir(), 'gensemble-bench-'));
process.env.GENSEMBLE_BENCH_CACHE = join(work, 'cache');
const logs: string[] = [];
const log = (s: string): void => void logs.push(s);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('benchmarks --quick on real data', () => {
  it(
    'image-ood (MNIST): uniform and Gaussian noise are found, report and figures written',
    { timeout: 900_000 },
    async () => {
      const { runImageOod } = await import('../../../benchmarks/image-ood/run.js');
      const out = join(work, 'image');
      const res = await runImageOod({
        quick: true,
        train: ['mnist'],
        out,
        dataDir: testDataDir,
        seed: 0,
        log,
      });
      const r = res.results[0];
      expect(r.sets.uniform.metrics.neg_logp.auroc).toBeGreaterThan(0.95);
      expect(r.sets.gaussian.metrics.neg_logp.auroc).toBeGreaterThan(0.95);
      expect(r.sets.uniform.metrics.default.auroc).toBeGreaterThan(0.95);
      expect(r.sets.notmnist.metrics.neg_logp.auroc).toBeGreaterThan(0.8);
      for (const set of Object.values(r.sets))
        for (const m of Object.values(set.metrics)) {
          expect(Number.isFinite(m.auroc)).toBe(true);
          expect(m.auroc).toBeGreaterThanOrEqual(0);
          expect(m.auroc).toBeLessThanOrEqual(1);
        }
      // The paper's likelihood columns (single model, WAIC) separate noise from digits too.
      for (const name of ['neg_logp_single', 'neg_waic'])
        for (const set of ['uniform', 'gaussian'])
          expect(r.sets[set].metrics[name]?.auroc, `${set} ${name}`).toBeGreaterThan(0.9);
      // validation (for information): four corruption proxies + the held-out-classes ensemble;
      // score = ½·mean + ½·classes. The default column is the checkpoint's own rule, selected by nothing.
      const v = r.validation;
      expect(Object.keys(v.proxies)).toEqual([
        'blur',
        'pixel-shuffle',
        'invert',
        'shrink',
        'held-out classes 5–9',
      ]);
      for (const [rule, score] of Object.entries(v.meanAuroc)) {
        const corr = ['blur', 'pixel-shuffle', 'invert', 'shrink'].map((p) => v.proxies[p][rule]);
        const want = (corr.reduce((a, b) => a + b, 0) / 4 + v.proxies['held-out classes 5–9'][rule]) / 2;
        expect(score).toBeCloseTo(want, 12);
      }
      expect(r.checkpointScore).toBe('dose');
      expect(r.defaultScore).toBe('dose');
      for (const set of Object.values(r.sets)) expect(set.metrics.default).toEqual(set.metrics.dose);
      const md = readFileSync(res.reportPath, 'utf8');
      expect(md).toContain('paper log p');
      expect(md).toContain('| Uniform |');
      expect(existsSync(join(out, 'roc-mnist-uniform.svg'))).toBe(true);
      expect(existsSync(join(out, 'hist-waic-mnist.svg'))).toBe(true);
      const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as {
        seed: number;
        command: string;
      };
      expect(json.seed).toBe(0);
      expect(json.command).toContain('--quick');
    },
  );

  it(
    "image-ood --family wgan (MNIST): the WGAN critics find uniform noise; the paper's columns reported",
    { timeout: 900_000 },
    async () => {
      const { runImageOodWgan } = await import('../../../benchmarks/image-ood/wgan.js');
      const out = join(work, 'image-wgan');
      const res = await runImageOodWgan({
        quick: true,
        train: ['mnist'],
        out,
        dataDir: testDataDir,
        seed: 0,
        // one adversarial phase, fine-tuned both ways (the shared-phase path of protocol v2)
        fineTuneLosses: ['wasserstein', 'logistic'],
        log,
      });
      expect(res.results.map((x) => x.fineTuneLoss)).toEqual(['wasserstein', 'logistic']);
      for (const x of res.results) {
        expect(Object.keys(x.validation).sort()).toEqual(['blur', 'invert', 'pixel-shuffle', 'shrink']);
        // inverted images are far from every digit: both objectives' critics see it
        expect(x.validation.invert.neg_critic).toBeGreaterThan(0.9);
      }
      const r = res.results[0];
      // the easy row: the critics' mean and their (centred) variance separate noise from digits
      expect(r.sets.uniform.metrics.neg_critic.auroc).toBeGreaterThan(0.9);
      expect(r.sets.uniform.metrics.critic_var.auroc).toBeGreaterThan(0.9);
      for (const set of Object.values(r.sets))
        for (const m of Object.values(set.metrics)) {
          expect(m.auroc).toBeGreaterThanOrEqual(0);
          expect(m.auroc).toBeLessThanOrEqual(1);
          expect(Number.isFinite(m.fpr95)).toBe(true);
        }
      const md = readFileSync(res.reportPath, 'utf8');
      expect(md).toContain('paper Var D');
      expect(md).toContain('| Adversarial |');
      expect(md).toMatch(/Chosen on validation: (wasserstein|logistic) fine-tuning/);
      expect(existsSync(join(out, 'roc-wgan-mnist-wasserstein.svg'))).toBe(true);
      expect(existsSync(join(out, 'roc-wgan-mnist-logistic.svg'))).toBe(true);
    },
  );

  it(
    'credit-fraud: density AUROC > 0.85 over repeated splits, classifier baseline learns',
    { timeout: 900_000 },
    async () => {
      const { runCreditFraud } = await import('../../../benchmarks/credit-fraud/run.js');
      const out = join(work, 'credit');
      const res = await runCreditFraud({
        quick: true,
        data: join(testDataDir, 'creditcard', 'creditcard-subset.csv.gz'),
        seed: 0,
        out,
        log,
      });
      expect(res.splits.length).toBeGreaterThanOrEqual(2);
      expect(res.defaultScore).toBe('dose');
      for (const sp of res.splits) {
        expect(sp.test[res.defaultScore].auroc).toBeGreaterThan(0.85);
        expect(sp.test.neg_waic.auroc).toBeGreaterThan(0.85);
        expect(sp.classifier.auroc).toBeGreaterThan(0.85);
        // test frauds never overlap the validation frauds; both sides balanced
        expect(sp.counts.testNormals).toBe(sp.counts.testFrauds);
        expect(sp.counts.validationFrauds + sp.counts.testFrauds).toBe(473);
      }
      expect(readFileSync(res.reportPath, 'utf8')).toContain('paper AUROC');
    },
  );
});
