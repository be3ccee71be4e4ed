/**
 * Diagnostic, validation frauds only: is the credit benchmark's shortfall (FPR@95%TPR 33–42 for every
 * density statistic of the VAE ensemble, goal ≤ 15) in the data, or in the model? Two baselines that
 * train nothing, on the same 5 splits as the benchmark (creditSplit, seeds 0–4, 20 % of frauds for
 * validation, 20 % of normals held out, 10 % of the rest for validation):
 *
 * - kNN: distance to the k-th nearest training normal, k ∈ {1, 5, 20}, over the 29 columns other than
 *   Time (Amount as log1p), each standardised on the training normals;
 * - Mahalanobis: the same features under one Gaussian fitted to the training normals.
 *
 * Scored on the split's validation normals and validation frauds, the data the benchmark chooses
 * on; the test frauds are never loaded. Prints AUROC and FPR@95%TPR per split and their mean, beside
 * the `dose` default's validation AUROC from a committed report (results.json of a credit run).
 *
 *   GENSEMBLE_DATA_DIR=../shared/datasets npx tsx benchmarks/credit-fraud/knn-diagnostic.ts \
 *     [--report benchmarks/results/credit-fraud-labels-v3/results.json] [--max-train 40000]
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCreditCardCsv } from '../../src/data/credit.js';
import { takeRows } from '../../src/data/splits.js';
import { metrics as metricsOf, type Metrics } from '../lib/evaluate.js';
import {
  benchSplit,
  CREDIT_D as D,
  FEATURE_DIM as F,
  featureMap,
  fitFeatureGaussian,
  fitFeatureScaler,
  mahalanobis,
} from './shared.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
};
const REPORT = opt('--report', 'benchmarks/results/credit-fraud-labels-v3/results.json');
const MAX_TRAIN = Number(opt('--max-train', '40000'));
const KS = [1, 5, 20];
const dataDir = process.env.GENSEMBLE_DATA_DIR ?? '../shared/datasets';
const data = await loadCreditCardCsv(join(dataDir, 'creditcard/creditcard-subset.csv.gz'));
const labels = data.labels;
if (!labels) throw new Error('the credit file has no Class column');

/** Distance to the k-th nearest reference row, for each k of KS, by brute force in float64. */
function knnDistances(q: Float64Array, ref: Float64Array): Float64Array[] {
  const nq = q.length / F;
  const nr = ref.length / F;
  const kmax = Math.max(...KS);
  const out = KS.map(() => new Float64Array(nq));
  const best = new Float64Array(kmax);
  for (let i = 0; i < nq; i++) {
    best.fill(Infinity);
    for (let t = 0; t < nr; t++) {
      let d = 0;
      for (let j = 0; j < F; j++) {
        const e = q[i * F + j] - ref[t * F + j];
        d += e * e;
      }
      if (d >= best[kmax - 1]) continue;
      let p = kmax - 1;
      while (p > 0 && best[p - 1] > d) {
        best[p] = best[p - 1];
        p--;
      }
      best[p] = d;
    }
    KS.forEach((k, ki) => (out[ki][i] = Math.sqrt(best[k - 1])));
  }
  return out;
}

/** AUROC and FPR@95%TPR in %. */
function metrics(neg: Float64Array, pos: Float64Array): Pick<Metrics, 'auroc' | 'fpr95'> {
  const m = metricsOf(neg, pos);
  return { auroc: 100 * m.auroc, fpr95: 100 * m.fpr95 };
}

let doseValidation: number[] = [];
try {
  const r = JSON.parse(readFileSync(REPORT, 'utf8')) as {
    splits: Array<{ validation: Record<string, Record<string, number>>; chosen: string }>;
  };
  doseValidation = r.splits.map((s) => 100 * s.validation[s.chosen].dose);
} catch {
  doseValidation = [];
}

const names = [...KS.map((k) => `kNN k=${k}`), 'Mahalanobis'];
const rows: Array<Array<{ auroc: number; fpr95: number }>> = [];
for (let seed = 0; seed < 5; seed++) {
  const sp = benchSplit(labels, seed);
  const trainIdx = sp.train.length > MAX_TRAIN ? sp.train.slice(0, MAX_TRAIN) : sp.train;
  const tr = takeRows(data.features, D, trainIdx);
  const scaler = fitFeatureScaler(tr);
  const zt = featureMap(tr, scaler);
  const zn = featureMap(takeRows(data.features, D, sp.validationNormals), scaler);
  const zf = featureMap(takeRows(data.features, D, sp.validationFrauds), scaler);
  const kn = knnDistances(zn, zt);
  const kf = knnDistances(zf, zt);
  const row = KS.map((_, ki) => metrics(kn[ki], kf[ki]));
  const g = fitFeatureGaussian(zt);
  row.push(metrics(mahalanobis(g, zn), mahalanobis(g, zf)));
  rows.push(row);
  console.error(
    `[knn] split ${seed}: ${trainIdx.length} training normals, ${zn.length / F} validation normals, ${zf.length / F} validation frauds; ` +
      names.map((nm, i) => `${nm} ${row[i].auroc.toFixed(1)}/${row[i].fpr95.toFixed(1)}`).join(', '),
  );
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
console.log(
  '| statistic (validation frauds vs validation normals) | AUROC per split | mean AUROC | FPR95 per split | mean FPR95 |',
);
console.log('| --- | --- | ---: | --- | ---: |');
names.forEach((nm, i) => {
  const a = rows.map((r) => r[i].auroc);
  const f = rows.map((r) => r[i].fpr95);
  console.log(
    `| ${nm} | ${a.map((v) => v.toFixed(1)).join(' / ')} | ${mean(a).toFixed(1)} | ${f.map((v) => v.toFixed(1)).join(' / ')} | ${mean(f).toFixed(1)} |`,
  );
});
if (doseValidation.length === 5)
  console.log(
    `| \`dose\` of the VAE ensemble (from ${REPORT}) | ${doseValidation.map((v) => v.toFixed(1)).join(' / ')} | ${mean(doseValidation).toFixed(1)} | (not stored) | |`,
  );
