/**
 * The labelled rows of the credit benchmark (issue 13, item 3; protocol: BENCHMARKS.md, "Addendum 2"):
 * simulated reviews, the 'dose_or_known' rule fitted on a cached ensemble's scores exactly as
 * buildModel fits it, and the "novel fraud" split (k-means over the split's frauds).
 */
import { calibrateThreshold } from '../../src/engine/calibrate.js';
import { doseScores, type DoseRule } from '../../src/engine/dose.js';
import { anomalyScores } from '../../src/engine/score-rules.js';
import {
  columnStats,
  fitSupervisedHead,
  fitTailMap,
  headLogits,
  type LabelledRule,
} from '../../src/engine/supervised-head.js';
import type { ScoreBatch } from '../../src/engine/types.js';
import { transactionsProfile } from '../../src/kinds/transactions/index.js';
import { auroc } from '../../src/metrics/index.js';

/** Row indices of the `k` largest scores (ties: lower index first), in descending score order. */
export function topK(scores: ArrayLike<number>, k: number): number[] {
  const idx = Array.from({ length: scores.length }, (_, i) => i);
  idx.sort((a, b) => {
    const sa = Number.isNaN(scores[a]) ? Infinity : scores[a];
    const sb = Number.isNaN(scores[b]) ? Infinity : scores[b];
    return sb - sa || a - b;
  });
  return idx.slice(0, Math.min(k, idx.length));
}

/** Rows of a batch (and its raw input) by index. */
export function subBatch(b: ScoreBatch, rows: readonly number[]): ScoreBatch {
  const M = b.members;
  const pick = (a: Float32Array, w: number): Float32Array => {
    const out = new Float32Array(rows.length * w);
    rows.forEach((r, i) => out.set(a.subarray(r * w, (r + 1) * w), i * w));
    return out;
  };
  const d = b.input ? b.input.length / b.n : 0;
  return {
    n: rows.length,
    members: M,
    logp: pick(b.logp, M),
    memberRate: pick(b.memberRate, M),
    logpMean: pick(b.logpMean, 1),
    logpVar: pick(b.logpVar, 1),
    waic: pick(b.waic, 1),
    rate: pick(b.rate, 1),
    ...(b.complexity ? { complexity: pick(b.complexity, 1) } : {}),
    ...(b.input ? { input: pick(b.input, d) } : {}),
    ...(b.featureMaha ? { featureMaha: Float64Array.from(rows, (r) => b.featureMaha![r]) } : {}),
  };
}

function need(b: ScoreBatch, what: string): Float32Array {
  if (!b.input) throw new Error(`${what}: the batch has no raw input (score it with OnnxScorer)`);
  return b.input;
}

/**
 * Simulated reviews: every fraud given (labelled fraud) plus the top `ratio` × as many normals by the
 * default score (the false alarms an analyst would have reviewed; labelled not fraud).
 */
export function simulatedReviews(
  frauds: ScoreBatch,
  normals: ScoreBatch,
  normalDefaultScores: ArrayLike<number>,
  ratio = 5,
): { batch: ScoreBatch; labels: Uint8Array; falseAlarms: number[] } {
  const falseAlarms = topK(normalDefaultScores, ratio * frauds.n);
  const fa = subBatch(normals, falseAlarms);
  const all = Array.from({ length: frauds.n }, (_, i) => i);
  const fr = subBatch(frauds, all);
  const batch = concatBatches([fr, fa]);
  const labels = new Uint8Array(batch.n);
  labels.fill(1, 0, fr.n);
  return { batch, labels, falseAlarms };
}

export function concatBatches(bs: readonly ScoreBatch[]): ScoreBatch {
  const M = bs[0].members;
  const n = bs.reduce((a, b) => a + b.n, 0);
  const cat = (get: (b: ScoreBatch) => Float32Array | undefined): Float32Array => {
    const parts = bs.map(get);
    const out = new Float32Array(parts.reduce((a, p) => a + (p?.length ?? 0), 0));
    let o = 0;
    for (const p of parts) {
      if (!p) continue;
      out.set(p, o);
      o += p.length;
    }
    return out;
  };
  const hasInput = bs.every((b) => b.input);
  const hasFeature = bs.every((b) => b.featureMaha);
  return {
    n,
    members: M,
    logp: cat((b) => b.logp),
    memberRate: cat((b) => b.memberRate),
    logpMean: cat((b) => b.logpMean),
    logpVar: cat((b) => b.logpVar),
    waic: cat((b) => b.waic),
    rate: cat((b) => b.rate),
    ...(hasInput ? { input: cat((b) => b.input) } : {}),
    ...(hasFeature ? { featureMaha: Float64Array.from(bs.flatMap((b) => Array.from(b.featureMaha!))) } : {}),
  };
}

/**
 * The LabelledRule buildModel would fit (head columns: all but Time): head on `headNormals` (label 0) +
 * `reviews`; tail maps of the
 * dose score and of the head logit on `tailNormals` (build.ts's validation normals).
 */
export function fitLabelledRuleOn(
  dose: DoseRule,
  headNormals: ScoreBatch,
  reviews: { batch: ScoreBatch; labels: Uint8Array },
  tailNormals: ScoreBatch,
  d: number,
): LabelledRule {
  const head = fitSupervisedHead(
    [
      {
        raw: need(headNormals, 'head normals'),
        batch: headNormals,
        labels: new Uint8Array(headNormals.n),
        reference: true,
      },
      { raw: need(reviews.batch, 'reviews'), batch: reviews.batch, labels: reviews.labels },
    ],
    d,
    { columns: transactionsProfile.headColumns(d) },
  );
  return {
    head,
    doseTail: fitTailMap(doseScores(tailNormals, dose)),
    headTail: fitTailMap(headLogits(tailNormals, head)),
  };
}

/** Fraction of positives strictly above the threshold calibrated at `fpr` on the calibration scores. */
export function recallAtCalibratedFpr(
  calibration: ArrayLike<number>,
  positives: ArrayLike<number>,
  fpr: number,
): { recall: number; threshold: number } {
  const t = calibrateThreshold(calibration, fpr, 'dose').value;
  let c = 0;
  for (let i = 0; i < positives.length; i++) if (!(positives[i] <= t)) c++; // NaN counts as flagged
  return { recall: positives.length ? c / positives.length : NaN, threshold: t };
}

function rngOf(seed: number): () => number {
  let s = (seed ^ 0x9e3779b9) >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 2 ** 32;
  };
}

/**
 * k-means (k-means++ seeding from `seed`, Lloyd's iterations until no assignment changes, at most
 * `maxIter`) on rows x [n, p]; returns each row's cluster. Deterministic for a seed.
 */
export function kmeans(
  x: Float64Array,
  n: number,
  p: number,
  k: number,
  seed: number,
  maxIter = 300,
): Int32Array {
  if (n < k) throw new Error(`k-means: ${n} rows for ${k} clusters`);
  const u = rngOf(seed);
  const dist2 = (i: number, c: Float64Array, j: number): number => {
    let s = 0;
    for (let t = 0; t < p; t++) s += (x[i * p + t] - c[j * p + t]) ** 2;
    return s;
  };
  const cent = new Float64Array(k * p);
  const first = Math.floor(u() * n);
  cent.set(x.subarray(first * p, (first + 1) * p), 0);
  const dmin = new Float64Array(n).fill(Infinity);
  for (let j = 1; j < k; j++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      dmin[i] = Math.min(dmin[i], dist2(i, cent, j - 1));
      total += dmin[i];
    }
    let r = u() * total;
    let pick = n - 1;
    for (let i = 0; i < n; i++) {
      r -= dmin[i];
      if (r <= 0) {
        pick = i;
        break;
      }
    }
    cent.set(x.subarray(pick * p, (pick + 1) * p), j * p);
  }
  const assign = new Int32Array(n).fill(-1);
  for (let it = 0; it < maxIter; it++) {
    let changed = false;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bd = Infinity;
      for (let j = 0; j < k; j++) {
        const dd = dist2(i, cent, j);
        if (dd < bd) {
          bd = dd;
          best = j;
        }
      }
      if (assign[i] !== best) {
        assign[i] = best;
        changed = true;
      }
    }
    if (!changed) break;
    const cnt = new Float64Array(k);
    const sum = new Float64Array(k * p);
    for (let i = 0; i < n; i++) {
      cnt[assign[i]]++;
      for (let t = 0; t < p; t++) sum[assign[i] * p + t] += x[i * p + t];
    }
    for (let j = 0; j < k; j++)
      if (cnt[j] > 0) for (let t = 0; t < p; t++) cent[j * p + t] = sum[j * p + t] / cnt[j];
    // an empty cluster keeps its centroid
  }
  return assign;
}

export interface NovelSplit {
  /** The held-back cluster. */
  cluster: number;
  /** Cluster of every fraud (validation frauds first, then test frauds). */
  assign: Int32Array;
  /** Indices (into the validation frauds) of the frauds whose labels are used: outside the cluster. */
  labelledValidation: number[];
  /** Indices (into the test frauds) of the novel test frauds: inside the cluster. */
  novelTest: number[];
  /** Per cluster: validation and test frauds. */
  sizes: Array<{ validation: number; test: number }>;
}

/**
 * Which cluster a novel-fraud split holds back: 'fewest-labels' (the first split), or 'most-normal'
 * (the harder one: the cluster whose VALIDATION frauds have the lowest median default score, i.e. the
 * frauds that look most normal to the unsupervised rule; needs their scores).
 */
export type NovelHold = { by: 'fewest-labels' } | { by: 'most-normal'; validationScores: ArrayLike<number> };

/** Clusters need this many validation frauds for 'most-normal' (a median of fewer says little). */
export const MOST_NORMAL_MIN_VALIDATION = 3;

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * The novel-fraud split: k-means over ALL frauds of the split (validation rows then test rows, raw
 * features standardised over those frauds); c* = among the clusters holding at least `minShare` of
 * the split's frauds, the one with the fewest validation frauds (ties: more test frauds, then the
 * lower index). The size floor keeps an outlier cluster of one or two frauds (k-means isolates the
 * extreme ones) from becoming the "novel" test set. With `hold` 'most-normal': among those clusters
 * with ≥ {@link MOST_NORMAL_MIN_VALIDATION} validation frauds, the one whose validation frauds have
 * the lowest median score (ties: the lower index); when none qualifies, the 'fewest-labels' choice.
 */
export function novelFraudSplit(
  validationRaw: Float32Array,
  testRaw: Float32Array,
  d: number,
  seed: number,
  k = 4,
  minShare = 0.1,
  hold: NovelHold = { by: 'fewest-labels' },
): NovelSplit {
  const nV = validationRaw.length / d;
  const nT = testRaw.length / d;
  const n = nV + nT;
  const x = new Float64Array(n * d);
  x.set(validationRaw, 0);
  x.set(testRaw, nV * d);
  const { mean, std } = columnStats(x, n, d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] = (x[i * d + j] - mean[j]) / std[j];
  const assign = kmeans(x, n, d, k, seed);
  const sizes = Array.from({ length: k }, () => ({ validation: 0, test: 0 }));
  for (let i = 0; i < n; i++) {
    if (i < nV) sizes[assign[i]].validation++;
    else sizes[assign[i]].test++;
  }
  const eligible = sizes
    .map((z, j) => ({ j, total: z.validation + z.test }))
    .filter((z) => z.total >= minShare * n)
    .map((z) => z.j);
  // at least one cluster holds ≥ 1/k of the frauds, so with minShare ≤ 1/k the list is never empty
  let cluster = eligible.length > 0 ? eligible[0] : 0;
  for (const j of eligible.length > 0 ? eligible : sizes.map((_, i) => i)) {
    const a = sizes[j];
    const b = sizes[cluster];
    if (a.validation < b.validation || (a.validation === b.validation && a.test > b.test)) cluster = j;
  }
  if (hold.by === 'most-normal') {
    if (hold.validationScores.length !== nV)
      throw new Error(`novel split: ${hold.validationScores.length} scores for ${nV} validation frauds`);
    let best = Infinity;
    for (const j of eligible) {
      const v: number[] = [];
      for (let i = 0; i < nV; i++) if (assign[i] === j) v.push(hold.validationScores[i]);
      if (v.length < MOST_NORMAL_MIN_VALIDATION) continue;
      const m = median(v);
      if (m < best) {
        best = m;
        cluster = j;
      }
    }
  }
  const labelledValidation: number[] = [];
  const novelTest: number[] = [];
  for (let i = 0; i < nV; i++) if (assign[i] !== cluster) labelledValidation.push(i);
  for (let i = 0; i < nT; i++) if (assign[nV + i] === cluster) novelTest.push(i);
  return { cluster, assign, labelledValidation, novelTest, sizes };
}

export interface NovelResult {
  cluster: number;
  sizes: Array<{ validation: number; test: number }>;
  labelledFrauds: number;
  novelTestFrauds: number;
  dose: { recall: number; auroc: number };
  doseOrKnown: { recall: number; auroc: number };
}

/** The novel-fraud rows of one split: recall at the calibrated 1 % FPR threshold and AUROC. */
export function novelFraudResult(o: {
  dose: DoseRule;
  headNormals: ScoreBatch;
  tailNormals: ScoreBatch;
  calibration: ScoreBatch;
  valNormals: ScoreBatch;
  /** The default score of the validation normals (who the simulated false alarms are). */
  valNormalDefault: ArrayLike<number>;
  valFrauds: ScoreBatch;
  testNormals: ScoreBatch;
  testFrauds: ScoreBatch;
  d: number;
  seed: number;
  fpr?: number;
  /** Which cluster to hold back (default 'fewest-labels'); 'most-normal' ranks by the dose score. */
  hold?: NovelHold['by'];
}): NovelResult {
  const fpr = o.fpr ?? 0.01;
  const split = novelFraudSplit(
    need(o.valFrauds, 'validation frauds'),
    need(o.testFrauds, 'test frauds'),
    o.d,
    o.seed,
    4,
    0.1,
    o.hold === 'most-normal'
      ? { by: 'most-normal', validationScores: doseScores(o.valFrauds, o.dose) }
      : { by: 'fewest-labels' },
  );
  const reviews = simulatedReviews(
    subBatch(o.valFrauds, split.labelledValidation),
    o.valNormals,
    o.valNormalDefault,
  );
  const labelled = fitLabelledRuleOn(o.dose, o.headNormals, reviews, o.tailNormals, o.d);
  const rules = { dose: o.dose, labelled };
  const novel = subBatch(o.testFrauds, split.novelTest);
  const row = (name: 'dose' | 'dose_or_known'): { recall: number; auroc: number } => {
    const neg = anomalyScores(o.testNormals, name, rules);
    const pos = anomalyScores(novel, name, rules);
    const s = new Float64Array(neg.length + pos.length);
    s.set(neg);
    s.set(pos, neg.length);
    const y = new Uint8Array(s.length).fill(1, neg.length);
    for (let i = 0; i < s.length; i++) if (Number.isNaN(s[i])) s[i] = Infinity;
    return {
      recall: recallAtCalibratedFpr(anomalyScores(o.calibration, name, rules), pos, fpr).recall,
      auroc: pos.length > 0 ? auroc(s, y) : NaN,
    };
  };
  return {
    cluster: split.cluster,
    sizes: split.sizes,
    labelledFrauds: split.labelledValidation.length,
    novelTestFrauds: split.novelTest.length,
    dose: row('dose'),
    doseOrKnown: row('dose_or_known'),
  };
}
