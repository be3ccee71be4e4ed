/**
 * The ELBO diagnostic's credit part, validation frauds only (BENCHMARKS.md, "Detection diagnostic: the
 * paper's log p is its authors' K-sample ELBO"). For each of the benchmark's 5 splits, credit protocol
 * v3's ensemble (v3Ensemble: Gaussian likelihood, standardised features, Time as time of day; cached or
 * rebuilt deterministically) scores the split's validation normals and validation frauds through the
 * exported graph (OnnxScorer, which returns both estimates from the same K = 16 samples). Compared:
 * −IWAE against −ELBO, single members (mean over the 5 members of each one's AUROC / FPR@95%TPR) and
 * the 5-member WAIC built from each. The test frauds are never loaded.
 *
 *   GENSEMBLE_DATA_DIR=../shared/datasets npx tsx benchmarks/credit-fraud/elbo-diagnostic.ts
 */
import { join } from 'node:path';
import { loadCreditCardCsv } from '../../src/data/credit.js';
import { takeRows } from '../../src/data/splits.js';
import { initBackend } from '../../src/engine/backend.js';
import { ONNX_FILE } from '../../src/engine/checkpoint.js';
import { OnnxScorer } from '../../src/engine/scorer.js';
import {
  metrics,
  negMemberEstimate as member,
  negWaicOf as negWaic,
  type LogpEstimate,
} from '../lib/evaluate.js';
import { benchSplit, CREDIT_D as D, v3Ensemble } from './shared.js';

type Est = LogpEstimate;

const dataDir = process.env.GENSEMBLE_DATA_DIR ?? '../shared/datasets';
const data = await loadCreditCardCsv(join(dataDir, 'creditcard/creditcard-subset.csv.gz'));
if (!data.labels) throw new Error('the credit file has no Class column');
await initBackend('auto');
type Row = { auroc: number; fpr95: number };
const rows: Record<string, Row[]> = {
  'single member, −IWAE-16': [],
  'single member, −ELBO-16': [],
  'WAIC from IWAE-16': [],
  'WAIC from ELBO-16': [],
};
for (let seed = 0; seed < 5; seed++) {
  const sp = benchSplit(data.labels, seed);
  const model = await v3Ensemble(seed, takeRows(data.features, D, sp.train));
  const scorer = await OnnxScorer.create(join(model.dir, ONNX_FILE), { memberElbo: true });
  const valN = takeRows(data.features, D, sp.validationNormals);
  const valF = takeRows(data.features, D, sp.validationFrauds);
  const n = await scorer.scoreBatch(valN, valN.length / D);
  const f = await scorer.scoreBatch(valF, valF.length / D);
  await scorer.close();
  if (!n.memberElbo || !f.memberElbo) throw new Error('the scorer returned no memberElbo');
  const pct = (neg: Float64Array, pos: Float64Array): Row => {
    const m = metrics(neg, pos);
    return { auroc: 100 * m.auroc, fpr95: 100 * m.fpr95 };
  };
  const avgMembers = (e: Est): Row => {
    const rs = Array.from({ length: n.members }, (_, m) => pct(member(n, m, e), member(f, m, e)));
    return {
      auroc: rs.reduce((a, r) => a + r.auroc, 0) / rs.length,
      fpr95: rs.reduce((a, r) => a + r.fpr95, 0) / rs.length,
    };
  };
  rows['single member, −IWAE-16'].push(avgMembers('iwae'));
  rows['single member, −ELBO-16'].push(avgMembers('elbo'));
  rows['WAIC from IWAE-16'].push(pct(negWaic(n, 'iwae'), negWaic(f, 'iwae')));
  rows['WAIC from ELBO-16'].push(pct(negWaic(n, 'elbo'), negWaic(f, 'elbo')));
  console.error(
    `[elbo] split ${seed}: ${n.n} validation normals, ${f.n} validation frauds; ` +
      Object.entries(rows)
        .map(([k, v]) => `${k} ${v[seed].auroc.toFixed(2)}/${v[seed].fpr95.toFixed(1)}`)
        .join(', '),
  );
}
const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
console.log(
  '| score (validation frauds vs validation normals) | AUROC per split | mean AUROC | FPR95 per split | mean FPR95 |',
);
console.log('| --- | --- | ---: | --- | ---: |');
for (const [k, v] of Object.entries(rows))
  console.log(
    `| ${k} | ${v.map((r) => r.auroc.toFixed(1)).join(' / ')} | ${mean(v.map((r) => r.auroc)).toFixed(2)} | ${v.map((r) => r.fpr95.toFixed(1)).join(' / ')} | ${mean(v.map((r) => r.fpr95)).toFixed(1)} |`,
  );
