/**
 * Credit protocol v5 (BENCHMARKS.md, registered before its run): does a feature-space statistic, the
 * Mahalanobis distance of the record under one Gaussian fitted to the model's training normals, help
 * as one more density of the `dose` rule? Choice on validation frauds only; test figures computed in
 * the same run for information.
 *
 * Reads (or rebuilds, deterministically) the cached gaussian-standard ensembles of credit protocol v3,
 * the ones `benchmarks/credit-fraud/run.ts --seed 0 --steps 5000` and head-explore.ts use.
 *
 *   GENSEMBLE_DATA_DIR=../shared/datasets npx tsx benchmarks/credit-fraud/feature-stat.ts [--md out.md]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCreditCardCsv } from '../../src/data/credit.js';
import { resolveDataDir } from '../../src/data/datasets.js';
import { creditSplit, takeRows } from '../../src/data/splits.js';
import { Detector } from '../../src/detector/detector.js';
import { buildSplit } from '../../src/detector/build.js';
import { initBackend } from '../../src/engine/backend.js';
import { doseScores, fitDoseRule } from '../../src/engine/dose.js';
import type { ScoreBatch } from '../../src/engine/types.js';
import { auroc, averagePrecision, fprAtTpr } from '../../src/metrics/index.js';
import { buildOrLoad } from '../lib/cache.js';

const D = 30;
const F = D - 1; // Time dropped
const mdIdx = process.argv.indexOf('--md');
const MD = mdIdx >= 0 ? process.argv[mdIdx + 1] : undefined;

/** The fitted feature Gaussian: standardisation, mean and Cholesky factor of the covariance. */
interface FeatureGaussian {
  cMean: Float64Array;
  cSd: Float64Array;
  mu: Float64Array;
  L: Float64Array;
}

const col = (x: Float32Array, i: number, j: number): number =>
  j === D - 1 ? Math.log1p(Math.max(0, x[i * D + j])) : x[i * D + j];

function fitFeatureGaussian(train: Float32Array): FeatureGaussian {
  const n = train.length / D;
  const cMean = new Float64Array(F);
  const cSd = new Float64Array(F);
  for (let j = 1; j < D; j++) {
    let s = 0;
    let q = 0;
    for (let i = 0; i < n; i++) {
      const v = col(train, i, j);
      s += v;
      q += v * v;
    }
    cMean[j - 1] = s / n;
    cSd[j - 1] = Math.sqrt(Math.max(q / n - (s / n) ** 2, 1e-12));
  }
  const z = standardise(train, cMean, cSd);
  const mu = new Float64Array(F);
  for (let t = 0; t < n; t++) for (let a = 0; a < F; a++) mu[a] += z[t * F + a] / n;
  const c = new Float64Array(F * F);
  for (let t = 0; t < n; t++)
    for (let a = 0; a < F; a++) {
      const da = z[t * F + a] - mu[a];
      for (let b = 0; b <= a; b++) c[a * F + b] += (da * (z[t * F + b] - mu[b])) / n;
    }
  for (let a = 0; a < F; a++) c[a * F + a] += 1e-6;
  const L = new Float64Array(F * F);
  for (let a = 0; a < F; a++)
    for (let b = 0; b <= a; b++) {
      let s = c[a * F + b];
      for (let k = 0; k < b; k++) s -= L[a * F + k] * L[b * F + k];
      L[a * F + b] = a === b ? Math.sqrt(s) : s / L[b * F + b];
    }
  return { cMean, cSd, mu, L };
}

function standardise(x: Float32Array, cMean: Float64Array, cSd: Float64Array): Float64Array {
  const n = x.length / D;
  const z = new Float64Array(n * F);
  for (let i = 0; i < n; i++)
    for (let j = 1; j < D; j++) z[i * F + j - 1] = (col(x, i, j) - cMean[j - 1]) / cSd[j - 1];
  return z;
}

/** Squared Mahalanobis distance of each row under the fitted Gaussian (float64). */
function maha(g: FeatureGaussian, x: Float32Array): Float64Array {
  const z = standardise(x, g.cMean, g.cSd);
  const n = x.length / D;
  const out = new Float64Array(n);
  const y = new Float64Array(F);
  for (let i = 0; i < n; i++) {
    let s2 = 0;
    for (let a = 0; a < F; a++) {
      let s = z[i * F + a] - g.mu[a];
      for (let k = 0; k < a; k++) s -= g.L[a * F + k] * y[k];
      y[a] = s / g.L[a * F + a];
      s2 += y[a] * y[a];
    }
    out[i] = s2;
  }
  return out;
}

/**
 * −log f(maha) with f the product's kernel density (fitDoseRule: Silverman bandwidth, ≤ 1,024 support
 * points), fitted on `fitOn`: the statistic is carried in the batch's rate field, which the one-density
 * rule reads.
 */
function mahaTerm(fitOn: {
  b: ScoreBatch;
  m: Float64Array;
}): (b: ScoreBatch, m: Float64Array) => Float64Array {
  const carry = (b: ScoreBatch, m: Float64Array): ScoreBatch => ({ ...b, rate: Float32Array.from(m) });
  const rule = fitDoseRule(carry(fitOn.b, fitOn.m), ['rate']);
  return (b, m) => doseScores(carry(b, m), rule);
}

interface Metrics {
  auroc: number;
  fpr95: number;
  ap: number;
}

function metrics(neg: Float64Array, pos: Float64Array): Metrics {
  const s = new Float64Array(neg.length + pos.length);
  s.set(pos);
  s.set(neg, pos.length);
  const y = new Uint8Array(s.length);
  y.fill(1, 0, pos.length);
  return { auroc: 100 * auroc(s, y), fpr95: 100 * fprAtTpr(s, y, 0.95), ap: 100 * averagePrecision(s, y) };
}

const RULES = ['dose', 'dose+maha', 'maha'] as const;
type Rule = (typeof RULES)[number];

async function main(): Promise<void> {
  const data = await loadCreditCardCsv(join(resolveDataDir(), 'creditcard', 'creditcard-subset.csv.gz'));
  const labels = data.labels!;
  await initBackend('auto');
  const val: Record<Rule, Metrics[]> = { dose: [], 'dose+maha': [], maha: [] };
  const test: Record<Rule, Metrics[]> = { dose: [], 'dose+maha': [], maha: [] };
  for (let seed = 0; seed < 5; seed++) {
    const sp = creditSplit(labels, {
      seed,
      validationFrauds: 0.2,
      heldOutNormals: 0.2,
      validationNormals: 0.1,
    });
    const trainRaw = takeRows(data.features, D, sp.train);
    const model = await buildOrLoad(
      `credit-gaussian-standard-tod-s${seed}`,
      {
        kind: 'transactions',
        raw: trainRaw,
        n: sp.train.length,
        d: D,
        model: { likelihood: 'gaussian', transform: 'standard', wrap: [{ column: 0, period: 86_400 }] },
        members: 5,
        k: 16,
        seed,
        steps: 5000,
        batchSize: 128,
        beta: 1,
        warmupSteps: 1000,
        bootstrap: true,
      },
      { noCache: false, log: (s) => process.stderr.write(s + '\n') },
    );
    const det = await Detector.open(model.dir);
    const dose = model.checkpoint.manifest.scoreRule.dose;
    if (!dose) throw new Error('the cached checkpoint has no dose rule');
    const bs = buildSplit(sp.train.length, seed);
    const g = fitFeatureGaussian(trainRaw);
    const sets = {
      bval: takeRows(trainRaw, D, bs.validation),
      valN: takeRows(data.features, D, sp.validationNormals),
      valF: takeRows(data.features, D, sp.validationFrauds),
      testN: takeRows(data.features, D, sp.testNormals),
      testF: takeRows(data.features, D, sp.testFrauds),
    };
    const scored: Record<keyof typeof sets, { b: ScoreBatch; m: Float64Array }> = {} as never;
    for (const [k, x] of Object.entries(sets) as Array<[keyof typeof sets, Float32Array]>)
      scored[k] = { b: await det.scorer.scoreBatch(x, x.length / D), m: maha(g, x) };
    await det.close();
    const term = mahaTerm(scored.bval);
    const rule = (s: { b: ScoreBatch; m: Float64Array }, r: Rule): Float64Array => {
      if (r === 'maha') return s.m;
      const d = doseScores(s.b, dose);
      if (r === 'dose') return d;
      const t = term(s.b, s.m);
      return d.map((v, i) => v + t[i]);
    };
    for (const r of RULES) {
      val[r].push(metrics(rule(scored.valN, r), rule(scored.valF, r)));
      test[r].push(metrics(rule(scored.testN, r), rule(scored.testF, r)));
    }
    process.stderr.write(
      `[feature-stat] split ${seed}: validation AUROC ${RULES.map((r) => `${r} ${val[r][seed].auroc.toFixed(2)}`).join(', ')}\n`,
    );
  }
  const mean = (v: number[]): number => v.reduce((a, b) => a + b, 0) / v.length;
  const sd = (v: number[]): number => Math.sqrt(mean(v.map((x) => (x - mean(v)) ** 2)));
  const ms = (v: number[]): string => `${mean(v).toFixed(1)} ± ${sd(v).toFixed(1)}`;
  const out: string[] = [];
  out.push('### Validation (split validation normals vs 95 validation frauds), AUROC %\n');
  out.push('| rule | per split | mean |\n| --- | --- | ---: |');
  for (const r of RULES)
    out.push(
      `| ${r} | ${val[r].map((m) => m.auroc.toFixed(2)).join(' / ')} | ${mean(val[r].map((m) => m.auroc)).toFixed(2)} |`,
    );
  const gain = mean(val['dose+maha'].map((m) => m.auroc)) - mean(val.dose.map((m) => m.auroc));
  out.push(
    `\nDecision (registered: dose+maha must beat dose by ≥ 0.2 points of mean validation AUROC): ${gain >= 0.2 ? 'MET' : 'not met'} (${gain >= 0 ? '+' : ''}${gain.toFixed(2)}).\n`,
  );
  out.push(
    '### Test (validated protocol: 378 test frauds vs 378 test normals per split), for information, %\n',
  );
  out.push('| rule | FPR@95%TPR ↓ | AUROC ↑ | AP ↑ | FPR95 per split |\n| --- | ---: | ---: | ---: | --- |');
  for (const r of RULES)
    out.push(
      `| ${r} | ${ms(test[r].map((m) => m.fpr95))} | ${ms(test[r].map((m) => m.auroc))} | ${ms(test[r].map((m) => m.ap))} | ${test[r].map((m) => m.fpr95.toFixed(1)).join(' / ')} |`,
    );
  const text = out.join('\n') + '\n';
  console.log(text);
  if (MD) writeFileSync(MD, text);
}

await main();
