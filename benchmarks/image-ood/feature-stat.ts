/**
 * Detection protocol v5 (BENCHMARKS.md, registered before its run), the image half: does the input's own
 * Gaussian (engine/feature-gaussian.ts, `feature_maha`) help as one more density of the `dose` rule?
 *
 * Reads the statistic dumps committed beside the detection protocol v4 conv reports (their `dose` rule and
 * every set's member statistics, bit for bit the checkpoint's), regenerates the same raw images with the
 * run's seeds, checks them against the dumped input complexity L(x) record by record, fits the Gaussian
 * on build.ts's training split of the training images and the density of its distance on build.ts's
 * validation split (as the product's build does), and scores:
 *   validation (decides): validation normals vs the four corruption proxies, mean AUROC;
 *   test (information only): the OoD rows but Adversarial (its FGSM images need the weights).
 *
 * --typicality (detection protocol v6): the incumbent is v5's `dose+feat`, the candidate adds the
 * members' joint typicality (score-rules.ts, logp_rate, shrinkage 0.01) as one more density; for want of
 * build.ts's validation split in the dumps, its Gaussian and density are fitted on the dumped calibration
 * normals.
 *
 * --knn (detection protocol v7): the incumbent is v6's `dose+feat+typ`, the candidate adds the distance to
 * the nearest of ≤ 4,096 training images (engine/feature-knn.ts, `feature_knn`), the reference drawn from
 * build.ts's training split and its density fitted on build.ts's validation split, as the product's build
 * does.
 *
 *   GENSEMBLE_DATA_DIR=../shared/datasets npx tsx benchmarks/image-ood/feature-stat.ts [--typicality | --knn] [--md out.md] [--json out.json]
 */
import { writeFileSync } from 'node:fs';
import { permutation, takeRows } from '../../src/data/splits.js';
import { buildSplit } from '../../src/detector/build.js';
import { inputComplexity } from '../../src/engine/complexity.js';
import { doseScores } from '../../src/engine/dose.js';
import { fitTypicalityRule, typicalityScores } from '../../src/engine/score-rules.js';
import {
  featureMahalanobis,
  fitFeatureGaussian,
  type FeatureGaussian,
} from '../../src/engine/feature-gaussian.js';
import {
  KNN_REFERENCE_MAX,
  KNN_SEED_SALT,
  nearestDistance,
  nearestReference,
  type NearestReference,
} from '../../src/engine/feature-knn.js';
import { applyTransform, IMAGE_TRANSFORM } from '../../src/features/transform.js';
import { resolveDataDir } from '../../src/data/datasets.js';
import { densityTerm, metrics, type Metrics } from '../lib/evaluate.js';
import { loadSet, readStatsDump } from '../lib/stats-dump.js';
import { OOD_NAMES, PAPER_TABLE2, type OodName, type TrainSet } from './paper.js';
import { corruptionProxies } from './proxies.js';
import { D, loadImageData, oodSets, rawImages, trainSplit, validationHalves } from './sets.js';

const arg = (f: string): string | undefined => {
  const i = process.argv.indexOf(f);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const MD = arg('--md');
const JSON_OUT = arg('--json');
const TYPICALITY = process.argv.includes('--typicality');
const KNN = process.argv.includes('--knn');

const RUNS: Record<TrainSet, string> = {
  mnist: 'benchmarks/results/image-ood-conv-v4-maf512/stats-mnist.json.gz',
  fashion: 'benchmarks/results/image-ood-conv-fashion-v4-maf512/stats-fashion.json.gz',
};
// the v4 runs' settings (their report's command): seed 0, 5,000 validation + 55,000 training images,
// 2,000 images per evaluated set
const SEED = 0;
const VAL_N = 5000;
const TRAIN_N = 55000;
const MAX_EVAL = 2000;

type Rule =
  | 'dose'
  | 'dose+feat'
  | 'feature_maha'
  | 'dose+feat+typ'
  | 'member_typicality'
  | 'dose+feat+typ+knn'
  | 'feature_knn';
/**
 * v5: dose → dose+feat; v6 (--typicality): dose+feat → dose+feat+typ; v7 (--knn): dose+feat+typ →
 * dose+feat+typ+knn. Incumbent, candidate, "alone".
 */
const RULES: readonly Rule[] = KNN
  ? ['dose+feat+typ', 'dose+feat+typ+knn', 'feature_knn']
  : TYPICALITY
    ? ['dose+feat', 'dose+feat+typ', 'member_typicality']
    : ['dose', 'dose+feat', 'feature_maha'];
const [INCUMBENT, CANDIDATE] = RULES;

function maha(g: FeatureGaussian, raw: Float32Array, n: number): Float64Array {
  return featureMahalanobis(g, applyTransform(IMAGE_TRANSFORM, raw, n * D, 1), n);
}

function knn(ref: NearestReference, raw: Float32Array, n: number): Float64Array {
  return nearestDistance(ref, applyTransform(IMAGE_TRANSFORM, raw, n * D, 1), n);
}

interface TrainResult {
  validation: Record<string, Record<Rule, number>>;
  test: Partial<Record<OodName, Record<Rule, Metrics>>>;
  shrinkage: number;
  complexityMaxDiff: number;
}

async function main(): Promise<void> {
  const data = await loadImageData(resolveDataDir());
  const results: Partial<Record<TrainSet, TrainResult>> = {};
  for (const t of ['mnist', 'fashion'] as TrainSet[]) {
    const dump = await readStatsDump(RUNS[t]);
    if (!dump.dose) throw new Error(`${RUNS[t]} has no dose rule`);
    const dose = dump.dose;
    const split0 = trainSplit(data, t, SEED, VAL_N, TRAIN_N);
    const bs = buildSplit(split0.tr.n, SEED);
    const t0 = Date.now();
    const trainX = applyTransform(
      IMAGE_TRANSFORM,
      takeRows(split0.tr.raw, D, bs.train),
      bs.train.length * D,
      1,
    );
    const g = fitFeatureGaussian(trainX, bs.train.length, D);
    process.stderr.write(
      `[feature-stat] ${t}: Gaussian on ${bs.train.length} training images in ${((Date.now() - t0) / 1000).toFixed(1)} s, Ledoit–Wolf ρ ${g.shrinkage.toExponential(3)}\n`,
    );
    const term = densityTerm(
      maha(g, takeRows(split0.tr.raw, D, bs.validation), bs.validation.length),
      dose.tails,
    );
    const refRows = permutation(bs.train.length, SEED ^ KNN_SEED_SALT).subarray(
      0,
      Math.min(KNN_REFERENCE_MAX, bs.train.length),
    );
    const refIdx = Array.from(refRows, (r) => bs.train[r]);
    const ref = nearestReference(
      applyTransform(IMAGE_TRANSFORM, takeRows(split0.tr.raw, D, refIdx), refIdx.length * D, 1),
      refIdx.length,
      D,
    );
    const knnTerm = KNN
      ? densityTerm(knn(ref, takeRows(split0.tr.raw, D, bs.validation), bs.validation.length), dose.tails)
      : undefined;
    const cal = loadSet(dump.sets.calibration);
    const typ = fitTypicalityRule(cal, { features: 'logp_rate', shrinkage: 0.01 });
    const typTerm = densityTerm(typicalityScores(cal, typ), dose.tails);
    const { normal: vNorm, source: vSrc } = validationHalves(split0);
    const test = rawImages(split0.testSet, null, MAX_EVAL);
    const dummy = { raw: new Float32Array(0), n: 0 };
    const oods = oodSets(data, split0, test, MAX_EVAL, SEED, dummy);
    const proxies = corruptionProxies(vSrc.raw, vSrc.n, SEED + 404);
    const sets: Record<string, { raw: Float32Array; n: number }> = {
      test,
      'validation-normal': vNorm,
      ...Object.fromEntries(OOD_NAMES.filter((o) => o !== 'adversarial').map((o) => [o, oods[o]])),
      ...Object.fromEntries(Object.entries(proxies).map(([k, v]) => [`proxy-${k}`, { raw: v, n: vSrc.n }])),
    };
    let complexityMaxDiff = 0;
    const scores: Record<string, Record<Rule, Float64Array>> = {};
    for (const [name, s] of Object.entries(sets)) {
      const dumped = dump.sets[name];
      if (!dumped || dumped.n !== s.n)
        throw new Error(`${t}/${name}: dump has ${dumped?.n} records, regenerated ${s.n}`);
      const b = loadSet(dumped);
      const lx = inputComplexity(s.raw, s.n, D);
      for (let i = 0; i < s.n; i++)
        complexityMaxDiff = Math.max(complexityMaxDiff, Math.abs(lx[i] - b.complexity![i]));
      const m = maha(g, s.raw, s.n);
      const d = doseScores(b, dose);
      const f = term(m);
      const ty = typicalityScores(b, typ);
      const tt = typTerm(ty);
      const kd = knnTerm ? knn(ref, s.raw, s.n) : new Float64Array(s.n);
      const kt = knnTerm ? knnTerm(kd) : new Float64Array(s.n);
      scores[name] = {
        dose: d,
        'dose+feat': d.map((v, i) => v + f[i]),
        feature_maha: m,
        'dose+feat+typ': d.map((v, i) => v + f[i] + tt[i]),
        member_typicality: ty,
        'dose+feat+typ+knn': d.map((v, i) => v + f[i] + tt[i] + kt[i]),
        feature_knn: kd,
      };
    }
    if (complexityMaxDiff > 1e-3)
      throw new Error(
        `${t}: regenerated images differ from the dumped ones (L(x) off by ${complexityMaxDiff})`,
      );
    const validation: TrainResult['validation'] = {};
    for (const p of Object.keys(proxies)) {
      validation[p] = Object.fromEntries(
        RULES.map((r) => [r, metrics(scores['validation-normal'][r], scores[`proxy-${p}`][r]).auroc]),
      ) as Record<Rule, number>;
    }
    const testRes: TrainResult['test'] = {};
    for (const o of OOD_NAMES)
      if (o !== 'adversarial')
        testRes[o] = Object.fromEntries(
          RULES.map((r) => [r, metrics(scores.test[r], scores[o][r])]),
        ) as Record<Rule, Metrics>;
    results[t] = { validation, test: testRes, shrinkage: g.shrinkage, complexityMaxDiff };
  }

  const p1 = (v: number): string => (100 * v).toFixed(1);
  const p2 = (v: number): string => (100 * v).toFixed(2);
  const out: string[] = [];
  const gains: number[] = [];
  out.push('### Validation (decides): held-out training images vs corruption proxies, AUROC %\n');
  out.push(
    `| trained on | proxy | ${INCUMBENT} | ${CANDIDATE} | ${RULES[2]} alone |\n| --- | --- | ---: | ---: | ---: |`,
  );
  for (const [t, r] of Object.entries(results) as Array<[TrainSet, TrainResult]>) {
    const mean = Object.fromEntries(RULES.map((x) => [x, 0])) as Record<Rule, number>;
    const ps = Object.keys(r.validation);
    for (const p of ps) {
      out.push(`| ${t} | ${p} | ${RULES.map((x) => p2(r.validation[p][x])).join(' | ')} |`);
      for (const x of RULES) mean[x] += r.validation[p][x] / ps.length;
    }
    out.push(`| ${t} | **mean** | ${RULES.map((x) => `**${p2(mean[x])}**`).join(' | ')} |`);
    gains.push(100 * (mean[CANDIDATE] - mean[INCUMBENT]));
  }
  out.push(
    `\nGain of ${CANDIDATE} over ${INCUMBENT}, mean proxy AUROC (points): ${Object.keys(results)
      .map((t, i) => `${t} ${gains[i] >= 0 ? '+' : ''}${gains[i].toFixed(2)}`)
      .join(', ')}.\n`,
  );
  out.push(`### Test (information only; Adversarial not recomputed), AUROC % (AP, FPR95 of ${CANDIDATE})\n`);
  out.push(
    `| trained on → OoD | ${INCUMBENT} | **${CANDIDATE}** | ${RULES[2]} alone | goal (paper best) | AP ${CANDIDATE} | FPR95 ${CANDIDATE} |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |`,
  );
  for (const [t, r] of Object.entries(results) as Array<[TrainSet, TrainResult]>)
    for (const o of OOD_NAMES) {
      const m = r.test[o];
      if (!m) continue;
      const best = PAPER_TABLE2[t][o].goal;
      out.push(
        `| ${t} → ${o} | ${p1(m[INCUMBENT].auroc)} | **${p1(m[CANDIDATE].auroc)}** | ${p1(m[RULES[2]].auroc)} | ${best} | ${p1(m[CANDIDATE].ap)} | ${p1(m[CANDIDATE].fpr95)} |`,
      );
    }
  out.push(
    `\nLedoit–Wolf ρ: ${Object.entries(results)
      .map(([t, r]) => `${t} ${r!.shrinkage.toExponential(3)}`)
      .join(', ')}; regenerated images vs dump, max |ΔL(x)|: ${Object.entries(results)
      .map(([t, r]) => `${t} ${r!.complexityMaxDiff}`)
      .join(', ')}.`,
  );
  const text = out.join('\n') + '\n';
  console.log(text);
  if (MD) writeFileSync(MD, text);
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify({ gains, results }, null, 1));
}

await main();
