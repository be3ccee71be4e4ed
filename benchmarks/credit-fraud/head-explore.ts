/**
 * Exploration of supervised-head candidates for issue 13 on VALIDATION data only (cross-validation over
 * each split's 95 validation frauds; negatives are the split's validation normals). The test frauds and
 * the held-out normals are never scored here. Reads the cached gaussian-standard ensembles that
 * `benchmarks/credit-fraud/run.ts --seed 0 --steps 5000` builds.
 *
 *   GENSEMBLE_DATA_DIR=../shared/datasets npx tsx benchmarks/credit-fraud/head-explore.ts
 */
import { loadCreditCardCsv } from '../../src/data/credit.js';
import { resolveDataDir } from '../../src/data/datasets.js';
import { permutation, takeRows } from '../../src/data/splits.js';
import { Detector } from '../../src/detector/detector.js';
import { buildSplit } from '../../src/detector/build.js';
import { initBackend } from '../../src/engine/backend.js';
import { doseScores } from '../../src/engine/dose.js';
import {
  columnStats,
  fitLogistic,
  fitTailMap,
  headFeatures,
  logisticLogits,
  quadraticFeatures,
  tailRs,
} from '../../src/engine/supervised-head.js';
import type { ScoreBatch } from '../../src/engine/types.js';
import { auroc, fprAtTpr } from '../../src/metrics/index.js';
import { topK } from './labels.js';
import { benchSplit, v3Ensemble } from './shared.js';
import { join } from 'node:path';

const D = 30;
const COLS = Array.from({ length: D }, (_, j) => j).slice(1);
const FOLDS = 5;
/** The candidate grids: protocol v2's by default; `--lin-l2 a,b --quad-l2 c,d --knn k,…` (empty = none). */
function gridArg(flag: string, dflt: number[]): number[] {
  const i = process.argv.indexOf(flag);
  if (i < 0) return dflt;
  const v = process.argv[i + 1] ?? '';
  return v === '' || v === 'none' ? [] : v.split(',').map(Number);
}
const LIN_L2 = gridArg('--lin-l2', [0.1, 1, 10]);
const QUAD_L2 = gridArg('--quad-l2', [1, 10, 100]);
const KNN_K = gridArg('--knn', [1, 3]);

type Feat = (base: Float64Array, n: number, p: number) => { x: Float64Array; q: number };
const lin: Feat = (b, _n, p) => ({ x: b, q: p });
/** base + squares of base standardised by the reference normals' stats (the engine's expansion) */
function quadOf(ref: { mean: number[]; std: number[] }): Feat {
  return (b, n, p) => ({ x: quadraticFeatures(b, n, p, ref.mean, ref.std), q: 2 * p });
}

/** −log distance to the k-th nearest fraud, standardised by the normals' std. */
function knnScores(
  q: Float64Array,
  nq: number,
  fr: Float64Array,
  nf: number,
  p: number,
  std: number[],
  k: number,
): Float64Array {
  const out = new Float64Array(nq);
  const d = new Float64Array(nf);
  for (let i = 0; i < nq; i++) {
    for (let f = 0; f < nf; f++) {
      let s = 0;
      for (let j = 0; j < p; j++) {
        const t = (q[i * p + j] - fr[f * p + j]) / std[j];
        s += t * t;
      }
      d[f] = s;
    }
    d.sort();
    out[i] = -0.5 * Math.log(d[Math.min(k, nf) - 1] + 1e-12);
  }
  return out;
}

function rows(x: Float64Array, p: number, idx: readonly number[]): Float64Array {
  const o = new Float64Array(idx.length * p);
  idx.forEach((r, i) => o.set(x.subarray(r * p, (r + 1) * p), i * p));
  return o;
}

async function main(): Promise<void> {
  const data = await loadCreditCardCsv(join(resolveDataDir(), 'creditcard', 'creditcard-subset.csv.gz'));
  const labels = data.labels!;
  await initBackend('auto');
  const acc: Record<string, { auroc: number[]; fpr: number[] }> = {};
  const add = (name: string, a: number, f: number): void => {
    (acc[name] ??= { auroc: [], fpr: [] }).auroc.push(a);
    acc[name].fpr.push(f);
  };
  for (let seed = 0; seed < 5; seed++) {
    const sp = benchSplit(labels, seed);
    const trainIdx = sp.train;
    const trainRaw = takeRows(data.features, D, trainIdx);
    const model = await v3Ensemble(seed, trainRaw);
    const det = await Detector.open(model.dir);
    const bs = buildSplit(trainIdx.length, seed);
    const headRows = Array.from(
      permutation(bs.train.length, seed ^ 0x4ead).subarray(0, Math.min(bs.train.length, 20_000)),
      (i) => bs.train[i],
    );
    const sc = (x: Float32Array): Promise<ScoreBatch> => det.scorer.scoreBatch(x, x.length / D);
    const valN = await sc(takeRows(data.features, D, sp.validationNormals));
    const valF = await sc(takeRows(data.features, D, sp.validationFrauds));
    const bval = await sc(takeRows(trainRaw, D, bs.validation));
    const headN = await sc(takeRows(trainRaw, D, Uint32Array.from(headRows)));
    const dose = model.checkpoint.manifest.scoreRule.dose!;
    await det.close();
    const p = COLS.length + 3;
    const fx = (b: ScoreBatch): Float64Array => headFeatures(b.input!, b, D, COLS);
    const XN = fx(valN);
    const XF = fx(valF);
    const XB = fx(bval);
    const XH = fx(headN);
    const dN = doseScores(valN, dose);
    const dF = doseScores(valF, dose);
    const dB = doseScores(bval, dose);
    const refStats = columnStats(XH, headN.n, p);
    const doseTail = fitTailMap(dB);
    const rDN = tailRs(doseTail, dN);
    const rDF = tailRs(doseTail, dF);
    // assign fold by permuted position
    const foldOf = new Int32Array(valF.n);
    Array.from(permutation(valF.n, seed ^ 0xf01d)).forEach((r, pos) => (foldOf[r] = pos % FOLDS));
    for (let f = 0; f < FOLDS; f++) {
      const trF = [...Array(valF.n).keys()].filter((i) => foldOf[i] !== f);
      const teF = [...Array(valF.n).keys()].filter((i) => foldOf[i] === f);
      const fa = topK(dN, 5 * trF.length);
      const faSet = new Set(fa);
      const evalN = [...Array(valN.n).keys()].filter((i) => !faSet.has(i));
      const yEval = new Uint8Array(evalN.length + teF.length);
      yEval.fill(1, evalN.length);
      const pick = (a: ArrayLike<number>, ia: number[], b: ArrayLike<number>, ib: number[]): Float64Array =>
        Float64Array.from([...ia.map((i) => a[i]), ...ib.map((i) => b[i])]);
      const rDose = pick(rDN, evalN, rDF, teF);
      add('dose alone', auroc(rDose, yEval), fprAtTpr(rDose, yEval));
      const trainX = (feat: Feat): { x: Float64Array; y: Uint8Array; q: number } => {
        const parts = [XH, rows(XF, p, trF), rows(XN, p, fa)];
        const base = new Float64Array(parts.reduce((a, b) => a + b.length, 0));
        let o = 0;
        for (const part of parts) {
          base.set(part, o);
          o += part.length;
        }
        const n = base.length / p;
        const { x, q } = feat(base, n, p);
        const y = new Uint8Array(n);
        y.fill(1, headN.n, headN.n + trF.length);
        return { x, y, q };
      };
      const evalHead = (name: string, feat: Feat, l2: number): void => {
        const t = trainX(feat);
        const m = fitLogistic(t.x, t.y, t.q, { l2 });
        const lg = (X: Float64Array, n: number): Float64Array => {
          const { x } = feat(X, n, p);
          return logisticLogits(x, n, m);
        };
        const headTail = fitTailMap(lg(XB, bval.n));
        const hN = lg(XN, valN.n);
        const hF = lg(XF, valF.n);
        const h = pick(tailRs(headTail, hN), evalN, tailRs(headTail, hF), teF);
        const u = h.map((v, i) => Math.max(v, rDose[i]));
        add(`${name} head`, auroc(h, yEval), fprAtTpr(h, yEval));
        add(`${name} union`, auroc(u, yEval), fprAtTpr(u, yEval));
      };
      for (const l2 of LIN_L2) evalHead(`lin l2=${l2}`, lin, l2);
      for (const l2 of QUAD_L2) evalHead(`quad l2=${l2}`, quadOf(refStats), l2);
      // kNN to training-fold frauds over the raw columns (standardised by the head normals' std)
      const c = COLS.length;
      const rawOnly = (X: Float64Array, n: number): Float64Array => {
        const o = new Float64Array(n * c);
        for (let i = 0; i < n; i++) for (let j = 0; j < c; j++) o[i * c + j] = X[i * p + j];
        return o;
      };
      const frX = rawOnly(rows(XF, p, trF), trF.length);
      for (const k of KNN_K) {
        const ks = (X: Float64Array, n: number): Float64Array =>
          knnScores(rawOnly(X, n), n, frX, trF.length, c, refStats.std.slice(0, c), k);
        const tail = fitTailMap(ks(XB, bval.n));
        const h = pick(tailRs(tail, ks(XN, valN.n)), evalN, tailRs(tail, ks(XF, valF.n)), teF);
        const u = h.map((v, i) => Math.max(v, rDose[i]));
        add(`knn k=${k} head`, auroc(h, yEval), fprAtTpr(h, yEval));
        add(`knn k=${k} union`, auroc(u, yEval), fprAtTpr(u, yEval));
      }
    }
    process.stderr.write(`split ${seed} done\n`);
  }
  const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
  console.log('| candidate | CV AUROC | CV FPR95 |\n| --- | ---: | ---: |');
  for (const [k, v] of Object.entries(acc))
    console.log(`| ${k} | ${(100 * mean(v.auroc)).toFixed(2)} | ${(100 * mean(v.fpr)).toFixed(2)} |`);
}

await main();
