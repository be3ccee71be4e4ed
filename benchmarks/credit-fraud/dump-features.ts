/**
 * Writes each credit split's feature-mapped records (the 29 columns other than Time, Amount as log1p,
 * standardised on the split's training normals: `featureMap` of shared.ts) for a peer diagnostic
 * outside TypeScript (hetero-diagnostic.py). Training normals, validation normals and validation frauds
 * only: the test frauds and held-out normals are never written. Float64, row-major [n, 29], one file per
 * split and part: DIR/s{seed}-{train,valn,valf}.f64.
 *
 *   GENSEMBLE_DATA_DIR=../shared/datasets npx tsx benchmarks/credit-fraud/dump-features.ts DIR
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCreditCardCsv } from '../../src/data/credit.js';
import { takeRows } from '../../src/data/splits.js';
import { benchSplit, CREDIT_D as D, featureMap, fitFeatureScaler } from './shared.js';

const dir = process.argv[2];
if (!dir) throw new Error('usage: dump-features.ts DIR');
const MAX_TRAIN = 40_000;
mkdirSync(dir, { recursive: true });
const dataDir = process.env.GENSEMBLE_DATA_DIR ?? '../shared/datasets';
const data = await loadCreditCardCsv(join(dataDir, 'creditcard/creditcard-subset.csv.gz'));
if (!data.labels) throw new Error('the credit file has no Class column');
for (let seed = 0; seed < 5; seed++) {
  const sp = benchSplit(data.labels, seed);
  const tr = takeRows(data.features, D, sp.train.slice(0, MAX_TRAIN));
  const sc = fitFeatureScaler(tr);
  const write = (part: string, a: Float64Array) =>
    writeFileSync(join(dir, `s${seed}-${part}.f64`), Buffer.from(a.buffer, a.byteOffset, a.byteLength));
  write('train', featureMap(tr, sc));
  write('valn', featureMap(takeRows(data.features, D, sp.validationNormals), sc));
  write('valf', featureMap(takeRows(data.features, D, sp.validationFrauds), sc));
  console.error(
    `split ${seed}: ${Math.min(sp.train.length, MAX_TRAIN)} training normals, ${sp.validationNormals.length} validation normals, ${sp.validationFrauds.length} validation frauds`,
  );
}
