/**
 * Independent float64 references for 'dose_or_known' (used by the CLI and stream tests): the dose
 * score as a kernel density over every support point, the head's logit from the manifest's numbers,
 * and the tail map r(s) = −log sf(s) written again from its documented formula.
 */
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { memberTypicalityF64 } from '../reference/f64.js';

export interface DensityJson {
  stat: string;
  bandwidth: number;
  support: number[];
}
export interface TailJson {
  points: number[];
  n: number;
  tau: number;
}
export interface HeadJson {
  inputDim: number;
  features?: 'linear' | 'quadratic';
  center?: number[];
  scale?: number[];
  l2: number;
  columns: number[];
  mean: number[];
  std: number[];
  weights: number[];
  bias: number;
  positives: number;
  negatives: number;
}

/** A manifest typicality Gaussian (mean, W = L⁻¹ row-major), as JSON. */
export interface TypicalityJson {
  mean: number[];
  whiten: number[];
}

/** The members' typicality of (log p₁..log p_M, rate₁..rate_M): test/reference/f64.ts's. */
export function bruteTypicality(t: TypicalityJson, v: number[]): number {
  const M = v.length / 2;
  return memberTypicalityF64(t, v.slice(0, M), v.slice(M));
}

export function bruteNegLogKde(d: DensityJson, x: number): number {
  const terms = d.support.map((p) => -0.5 * ((x - p) / d.bandwidth) ** 2);
  const m = Math.max(...terms);
  const sum = terms.reduce((acc, t) => acc + Math.exp(t - m), 0);
  return -(m + Math.log(sum) - Math.log(d.support.length * d.bandwidth * Math.sqrt(2 * Math.PI)));
}

/** Σ −log f_j(s_j) over the dose densities; stats: neg_logp, rate, logp_var. */
export function bruteDose(densities: DensityJson[], stats: Record<string, number>): number {
  return densities.reduce((a, d) => a + bruteNegLogKde(d, stats[d.stat]), 0);
}

/** bias + Σ w_j (f_j − mean_j)/std_j over [raw[columns]..., −log p, rate, Var log p]. */
export function bruteHeadLogit(
  h: HeadJson,
  raw: ArrayLike<number>,
  negLogp: number,
  rate: number,
  v: number,
): number {
  const b = [...h.columns.map((j) => raw[j]), negLogp, rate, v];
  // quadratic family: the base features, then their squares standardised by center / scale
  const f =
    h.features === 'quadratic' ? [...b, ...b.map((x, j) => ((x - h.center![j]) / h.scale![j]) ** 2)] : b;
  if (h.weights.length !== f.length)
    throw new Error(`head: ${h.weights.length} weights, ${f.length} features`);
  let eta = h.bias;
  for (let j = 0; j < f.length; j++) eta += (h.weights[j] * (f[j] - h.mean[j])) / h.std[j];
  return eta;
}

/**
 * r at knot k (1-based rank j of the n normals) = −log((n − j + 1)/(n + 1)); linear between knots;
 * log(n + 1) + (s − max)/τ beyond the max; r of the first knot below it.
 */
export function bruteTailR(t: TailJson, s: number): number {
  const m = t.points.length;
  const rank = (k: number) => (m === t.n ? k + 1 : 1 + Math.round((k * (t.n - 1)) / (m - 1)));
  const r = (k: number) => -Math.log((t.n - rank(k) + 1) / (t.n + 1));
  if (s >= t.points[m - 1]) return Math.log(t.n + 1) + (s - t.points[m - 1]) / t.tau;
  if (s <= t.points[0]) return r(0);
  for (let k = 0; k < m - 1; k++) {
    const a = t.points[k];
    const b = t.points[k + 1];
    if (s >= a && s < b) return r(k) + ((r(k + 1) - r(k)) * (s - a)) / (b - a);
  }
  throw new Error('unreachable');
}

/** Rows of the (optionally gzipped) Kaggle-format credit CSV as written: header and the numeric fields. */
export function readCreditRows(path: string): { header: string; rows: string[][] } {
  const buf = readFileSync(path);
  const text = (buf[0] === 0x1f && buf[1] === 0x8b ? gunzipSync(buf) : buf).toString('utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  return { header: lines[0], rows: lines.slice(1).map((l) => l.split(',')) };
}
