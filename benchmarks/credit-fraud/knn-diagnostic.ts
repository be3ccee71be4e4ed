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
import { creditSplit, takeRows } from '../../src/data/splits.js';
import { auroc, fprAtTpr } from '../../src/metrics/classification.js';

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
const D = 30;
const F = D - 1; // Time dropped

/** Standardised features (V1..V28, log1p Amount) of rows [n, 30] with the training normals' moments. */
function features(x: Float32Array, mean: Float64Array, sd: Float64Array): Float32Array {
  const n = x.length / D;
  const z = new Float32Array(n * F);
  for (let i = 0; i < n; i++)
    for (let j = 1; j < D; j++) {
      const v = j === D - 1 ? Math.log1p(Math.max(0, x[i * D + j])) : x[i * D + j];
      z[i * F + j - 1] = (v - mean[j - 1]) / sd[j - 1];
    }
  return z;
}

/** Distance to the k-th nearest reference row, for each k of KS, by brute force in float64. */
function knnDistances(q: Float32Array, ref: Float32Array): Float64Array[] {
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

/** Squared Mahalanobis distance under the Gaussian of `ref` (Cholesky, float64). */
function mahalanobis(q: Float32Array, ref: Float32Array): Float64Array {
  const nr = ref.length / F;
  const mu = new Float64Array(F);
  for (let t = 0; t < nr; t++) for (let j = 0; j < F; j++) mu[j] += ref[t * F + j] / nr;
  const c = new Float64Array(F * F);
  for (let t = 0; t < nr; t++)
    for (let a = 0; a < F; a++) {
      const da = ref[t * F + a] - mu[a];
      for (let b = 0; b <= a; b++) c[a * F + b] += (da * (ref[t * F + b] - mu[b])) / nr;
    }
  for (let a = 0; a < F; a++) c[a * F + a] += 1e-6;
  const L = new Float64Array(F * F);
  for (let a = 0; a < F; a++)
    for (let b = 0; b <= a; b++) {
      let s = c[a * F + b];
      for (let k = 0; k < b; k++) s -= L[a * F + k] * L[b * F + k];
      L[a * F + b] = a === b ? Math.sqrt(s) : s / L[b * F + b];
    }
  const nq = q.length / F;
  const out = new Float64Array(nq);
  const y = new Float64Array(F);
  for (let i = 0; i < nq; i++) {
    let s2 = 0;
    for (let a = 0; a < F; a++) {
      let s = q[i * F + a] - mu[a];
      for (let k = 0; k < a; k++) s -= L[a * F + k] * y[k];
      y[a] = s / L[a * F + a];
      s2 += y[a] * y[a];
    }
    out[i] = s2;
  }
  return out;
}

function metrics(neg: Float64Array, pos: Float64Array): { auroc: number; fpr95: number } {
  const s = new Float64Array(neg.length + pos.length);
  const y = new Uint8Array(s.length);
  s.set(pos);
  s.set(neg, pos.length);
  y.fill(1, 0, pos.length);
  return { auroc: 100 * auroc(s, y), fpr95: 100 * fprAtTpr(s, y, 0.95) };
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
  const sp = creditSplit(labels, {
    seed,
    validationFrauds: 0.2,
    heldOutNormals: 0.2,
    validationNormals: 0.1,
  });
  const trainIdx = sp.train.length > MAX_TRAIN ? sp.train.slice(0, MAX_TRAIN) : sp.train;
  const tr = takeRows(data.features, D, trainIdx);
  const n = tr.length / D;
  const mean = new Float64Array(F);
  const sd = new Float64Array(F);
  for (let j = 1; j < D; j++) {
    let s = 0;
    let q = 0;
    for (let i = 0; i < n; i++) {
      const v = j === D - 1 ? Math.log1p(Math.max(0, tr[i * D + j])) : tr[i * D + j];
      s += v;
      q += v * v;
    }
    mean[j - 1] = s / n;
    sd[j - 1] = Math.sqrt(Math.max(q / n - (s / n) ** 2, 1e-12));
  }
  const zt = features(tr, mean, sd);
  const zn = features(takeRows(data.features, D, sp.validationNormals), mean, sd);
  const zf = features(takeRows(data.features, D, sp.validationFrauds), mean, sd);
  const kn = knnDistances(zn, zt);
  const kf = knnDistances(zf, zt);
  const row = KS.map((_, ki) => metrics(kn[ki], kf[ki]));
  row.push(metrics(mahalanobis(zn, zt), mahalanobis(zf, zt)));
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
