/**
 * Credit protocol v5 (BENCHMARKS.md, registered before its run): does a feature-space statistic, the
 * Mahalanobis distance of the record under one Gaussian fitted to the model's training normals, help
 * as one more density of the `dose` rule? Choice on validation frauds only; test figures computed in
 * the same run for information.
 *
 * Reads (or rebuilds, deterministically) the cached gaussian-standard ensembles of credit protocol v3,
 * the ones `benchmarks/credit-fraud/run.ts --seed 0 --steps 5000` and head-explore.ts use.
 *
 * --product (detection protocol v5): the statistic as the product defines it for every kind
 * (engine/feature-gaussian.ts): the model's own input representation (its feature transform: the 30
 * standardised columns, Time wrapped to time of day), a Ledoit–Wolf Gaussian fitted on build.ts's
 * training split of the model's training normals.
 *
 * --knn (detection protocol v7, with --product): the incumbent is v6's `dose+maha+typ`, the candidate adds
 * the distance to the nearest of ≤ 4,096 training normals (engine/feature-knn.ts, `feature_knn`) in the
 * model's input representation, the reference drawn from build.ts's training split and its density fitted
 * on build.ts's validation normals, as the product's build does.
 *
 *   GENSEMBLE_DATA_DIR=../shared/datasets npx tsx benchmarks/credit-fraud/feature-stat.ts [--product] [--typicality | --knn] [--md out.md]
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCreditCardCsv } from '../../src/data/credit.js';
import { resolveDataDir } from '../../src/data/datasets.js';
import { permutation, takeRows } from '../../src/data/splits.js';
import { Detector } from '../../src/detector/detector.js';
import { buildSplit } from '../../src/detector/build.js';
import { initBackend } from '../../src/engine/backend.js';
import { doseScores } from '../../src/engine/dose.js';
import { fitTypicalityRule, typicalityScores } from '../../src/engine/score-rules.js';
import type { ScoreBatch } from '../../src/engine/types.js';
import {
  featureMahalanobis,
  fitFeatureGaussian as fitInputGaussian,
} from '../../src/engine/feature-gaussian.js';
import {
  KNN_REFERENCE_MAX,
  KNN_SEED_SALT,
  nearestDistance,
  nearestReference,
} from '../../src/engine/feature-knn.js';
import { applyTransform } from '../../src/features/transform.js';
import { densityTerm, meanStd, metrics, type Metrics } from '../lib/evaluate.js';
import {
  benchSplit,
  CREDIT_D as D,
  featureMap,
  fitFeatureGaussian,
  fitFeatureScaler,
  mahalanobis,
  v3Ensemble,
} from './shared.js';

const mdIdx = process.argv.indexOf('--md');
const MD = mdIdx >= 0 ? process.argv[mdIdx + 1] : undefined;
const PRODUCT = process.argv.includes('--product');

const TYPICALITY = process.argv.includes('--typicality');
const KNN = process.argv.includes('--knn');
if (KNN && !PRODUCT) throw new Error('--knn compares against the product rule: pass --product too');
type Rule = 'dose' | 'dose+maha' | 'maha' | 'dose+maha+typ' | 'typ' | 'dose+maha+typ+knn' | 'knn';
/**
 * Incumbent, candidate, and the new statistic alone. --typicality (detection protocol v6): the members'
 * joint typicality (score-rules.ts, logp_rate, shrinkage 0.01) as one more density beside v5's rule;
 * its Gaussian and density are fitted on build.ts's validation normals, as the product would.
 */
const RULES: readonly Rule[] = KNN
  ? ['dose+maha+typ', 'dose+maha+typ+knn', 'knn']
  : TYPICALITY
    ? ['dose+maha', 'dose+maha+typ', 'typ']
    : ['dose', 'dose+maha', 'maha'];

async function main(): Promise<void> {
  const data = await loadCreditCardCsv(join(resolveDataDir(), 'creditcard', 'creditcard-subset.csv.gz'));
  const labels = data.labels!;
  await initBackend('auto');
  const val = Object.fromEntries(RULES.map((r) => [r, [] as Metrics[]])) as Record<Rule, Metrics[]>;
  const test = Object.fromEntries(RULES.map((r) => [r, [] as Metrics[]])) as Record<Rule, Metrics[]>;
  for (let seed = 0; seed < 5; seed++) {
    const sp = benchSplit(labels, seed);
    const trainRaw = takeRows(data.features, D, sp.train);
    const model = await v3Ensemble(seed, trainRaw);
    const det = await Detector.open(model.dir);
    const dose = model.checkpoint.manifest.scoreRule.dose;
    if (!dose) throw new Error('the cached checkpoint has no dose rule');
    const bs = buildSplit(sp.train.length, seed);
    const scaler = fitFeatureScaler(trainRaw);
    const g = fitFeatureGaussian(featureMap(trainRaw, scaler));
    const tf = model.checkpoint.spec.transform;
    const input = (x: Float32Array): Float32Array => applyTransform(tf, x, x.length / D, D);
    const gp = PRODUCT
      ? fitInputGaussian(input(takeRows(trainRaw, D, bs.train)), bs.train.length, D)
      : undefined;
    const distance = (x: Float32Array): Float64Array =>
      gp ? featureMahalanobis(gp, input(x), x.length / D) : mahalanobis(g, featureMap(x, scaler));
    const refRows = permutation(bs.train.length, seed ^ KNN_SEED_SALT).subarray(
      0,
      Math.min(KNN_REFERENCE_MAX, bs.train.length),
    );
    const refIdx = Array.from(refRows, (r) => bs.train[r]);
    const ref = nearestReference(input(takeRows(trainRaw, D, refIdx)), refIdx.length, D);
    const sets = {
      bval: takeRows(trainRaw, D, bs.validation),
      valN: takeRows(data.features, D, sp.validationNormals),
      valF: takeRows(data.features, D, sp.validationFrauds),
      testN: takeRows(data.features, D, sp.testNormals),
      testF: takeRows(data.features, D, sp.testFrauds),
    };
    type Scored = { b: ScoreBatch; m: Float64Array; k: Float64Array };
    const scored: Record<keyof typeof sets, Scored> = {} as never;
    for (const [k, x] of Object.entries(sets) as Array<[keyof typeof sets, Float32Array]>)
      scored[k] = {
        b: await det.scorer.scoreBatch(x, x.length / D),
        m: distance(x),
        k: KNN ? nearestDistance(ref, input(x), x.length / D) : new Float64Array(x.length / D),
      };
    await det.close();
    const term = densityTerm(scored.bval.m);
    const typ = fitTypicalityRule(scored.bval.b, { features: 'logp_rate', shrinkage: 0.01 });
    const typTerm = densityTerm(typicalityScores(scored.bval.b, typ));
    const knnTerm = densityTerm(scored.bval.k);
    const rule = (s: Scored, r: Rule): Float64Array => {
      if (r === 'maha') return s.m;
      if (r === 'knn') return s.k;
      if (r === 'typ') return typicalityScores(s.b, typ);
      const d = doseScores(s.b, dose);
      if (r === 'dose') return d;
      const t = term(s.m);
      if (r === 'dose+maha') return d.map((v, i) => v + t[i]);
      const tt = typTerm(typicalityScores(s.b, typ));
      if (r === 'dose+maha+typ') return d.map((v, i) => v + t[i] + tt[i]);
      const kt = knnTerm(s.k);
      return d.map((v, i) => v + t[i] + tt[i] + kt[i]);
    };
    for (const r of RULES) {
      val[r].push(metrics(rule(scored.valN, r), rule(scored.valF, r)));
      test[r].push(metrics(rule(scored.testN, r), rule(scored.testF, r)));
    }
    process.stderr.write(
      `[feature-stat] split ${seed}: validation AUROC ${RULES.map((r) => `${r} ${(100 * val[r][seed].auroc).toFixed(2)}`).join(', ')}\n`,
    );
  }
  // metrics are fractions; the tables print %, mean ± sample std over splits as run.ts's reports do
  const mean = (v: number[]): number => 100 * meanStd(v).mean;
  const ms = (v: number[]): string => {
    const { mean: m, std } = meanStd(v);
    return `${(100 * m).toFixed(1)} ± ${(100 * std).toFixed(1)}`;
  };
  const p = (v: number, digits: number): string => (100 * v).toFixed(digits);
  const out: string[] = [];
  out.push('### Validation (split validation normals vs 95 validation frauds), AUROC %\n');
  out.push('| rule | per split | mean |\n| --- | --- | ---: |');
  for (const r of RULES)
    out.push(
      `| ${r} | ${val[r].map((m) => p(m.auroc, 2)).join(' / ')} | ${mean(val[r].map((m) => m.auroc)).toFixed(2)} |`,
    );
  const [incumbent, candidate] = RULES;
  const gain = mean(val[candidate].map((m) => m.auroc)) - mean(val[incumbent].map((m) => m.auroc));
  out.push(
    PRODUCT
      ? `\nGain of ${candidate} over ${incumbent}, mean validation AUROC: ${gain >= 0 ? '+' : ''}${gain.toFixed(2)} points (detection protocol ${KNN ? 'v7' : TYPICALITY ? 'v6' : 'v5'} weighs it with the image models' gains).\n`
      : `\nDecision (registered: dose+maha must beat dose by ≥ 0.2 points of mean validation AUROC): ${gain >= 0.2 ? 'MET' : 'not met'} (${gain >= 0 ? '+' : ''}${gain.toFixed(2)}).\n`,
  );
  out.push(
    '### Test (validated protocol: 378 test frauds vs 378 test normals per split), for information, %\n',
  );
  out.push('| rule | FPR@95%TPR ↓ | AUROC ↑ | AP ↑ | FPR95 per split |\n| --- | ---: | ---: | ---: | --- |');
  for (const r of RULES)
    out.push(
      `| ${r} | ${ms(test[r].map((m) => m.fpr95))} | ${ms(test[r].map((m) => m.auroc))} | ${ms(test[r].map((m) => m.ap))} | ${test[r].map((m) => p(m.fpr95, 1)).join(' / ')} |`,
    );
  if (PRODUCT)
    out.push(
      "\nStatistic: the product's feature_maha (the model's input representation, Ledoit–Wolf Gaussian on build.ts's training split).",
    );
  const text = out.join('\n') + '\n';
  console.log(text);
  if (MD) writeFileSync(MD, text);
}

await main();
