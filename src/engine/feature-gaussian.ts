/**
 * The input's own Gaussian: one full-covariance Gaussian fitted to a model's training records in the
 * model's input representation (after its feature transform), and the squared Mahalanobis distance
 *
 *     feature_maha(x) = (x − μ)ᵀ Σ⁻¹ (x − μ)
 *
 * of every scored record under it: a model-free statistic of how far a record lies from the training
 * records' first two moments (detection protocol v5 in BENCHMARKS.md). It enters the `dose` rule as one
 * more density, beside the ensemble's log p, rate and variance.
 *
 * Σ is the Ledoit–Wolf (2004) shrinkage of the sample covariance S towards μ_S·I (μ_S = tr S / p), with
 * the closed-form intensity ρ = min(b̄², d²) / d², d² = ‖S − μ_S I‖²_F / p,
 * b̄² = (Σᵢ ‖xᵢ − x̄‖⁴ / n − ‖S‖²_F) / (n·p) (sklearn's `ledoit_wolf_shrinkage`): nothing is tuned, and a
 * constant input column (a border pixel that is never inked) gets a small but positive variance, so the
 * distance stays finite and a record that inks it is far.
 *
 * Stored with the checkpoint as a binary file (float64 little-endian: μ, then the rows of Σ's lower
 * Cholesky factor L, packed), so a 784-pixel model's 2.5 MB factor stays out of the manifest JSON.
 * {@link featureMahalanobis} is the float64 reference (a forward substitution); the engine scores with
 * the ONNX graph of onnx/feature-export.ts (one float32 GEMM per batch) through feature-scorer.ts.
 */
import { CalibrationError, ScoringInputError } from './errors.js';
import { cholesky, NotPositiveDefiniteError } from './linalg.js';

export interface FeatureGaussian {
  /** Input width p (after the transform). */
  dim: number;
  /** Mean of the fitted records [p]. */
  mean: Float64Array;
  /** Lower Cholesky factor of Σ, rows packed: row a holds L[a][0..a] (p(p+1)/2 values). */
  cholesky: Float64Array;
  /** The Ledoit–Wolf shrinkage intensity ρ ∈ [0, 1] the fit chose. */
  shrinkage: number;
  /** Records it was fitted on. */
  fittedOn: number;
}

/** Offset of row a in the packed lower triangle. */
const rowStart = (a: number): number => (a * (a + 1)) / 2;

/** Relative jitter on Σ's diagonal (× μ_S) that keeps the factorisation defined on exactly singular data. */
const JITTER = 1e-9;

/**
 * Fits the Gaussian to n records of width p, row-major (the model's input representation). Throws
 * {@link CalibrationError} on fewer than 2 records, a non-finite value, or data with no spread at all.
 */
export function fitFeatureGaussian(x: ArrayLike<number>, n: number, p: number): FeatureGaussian {
  if (!(Number.isInteger(n) && Number.isInteger(p) && p > 0 && x.length === n * p))
    throw new CalibrationError(`feature Gaussian: expected ${n}×${p} values, got ${x.length}`);
  if (n < 2) throw new CalibrationError(`feature Gaussian: needs at least 2 records, got ${n}`);
  const mean = new Float64Array(p);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < p; a++) {
      const v = x[i * p + a];
      if (!Number.isFinite(v))
        throw new CalibrationError(`feature Gaussian: record ${i}, column ${a} is ${String(v)}`);
      mean[a] += v;
    }
  for (let a = 0; a < p; a++) mean[a] /= n;
  // S (lower triangle, row-major p×p) and Σ‖xᵢ − x̄‖⁴, one pass over the records
  const s = new Float64Array(p * p);
  const r = new Float64Array(p);
  let fourth = 0;
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let a = 0; a < p; a++) {
      const v = x[i * p + a] - mean[a];
      r[a] = v;
      sq += v * v;
    }
    fourth += sq * sq;
    for (let a = 0; a < p; a++) {
      const ra = r[a];
      if (ra === 0) continue;
      for (let b = 0; b <= a; b++) s[a * p + b] += ra * r[b];
    }
  }
  let trace = 0;
  let frob = 0;
  for (let a = 0; a < p; a++) {
    for (let b = 0; b <= a; b++) {
      s[a * p + b] /= n;
      frob += (a === b ? 1 : 2) * s[a * p + b] * s[a * p + b];
    }
    trace += s[a * p + a];
  }
  const mu = trace / p;
  if (!(mu > 0))
    throw new CalibrationError('feature Gaussian: the records have no spread (every column constant)');
  const delta = (frob - 2 * mu * trace + p * mu * mu) / p;
  const beta = Math.max(0, (fourth / n - frob) / (n * p));
  const shrinkage = delta > 0 ? Math.min(beta, delta) / delta : 1;
  // Σ = (1 − ρ) S + ρ μ I (lower triangle), then its factor, stored packed
  for (let a = 0; a < p; a++) {
    for (let b = 0; b <= a; b++) s[a * p + b] *= 1 - shrinkage;
    s[a * p + a] += shrinkage * mu + JITTER * mu;
  }
  let L: Float64Array;
  try {
    L = cholesky(s, p);
  } catch (e) {
    if (!(e instanceof NotPositiveDefiniteError)) throw e;
    throw new CalibrationError(`feature Gaussian: covariance not positive definite at column ${e.column}`);
  }
  const packed = new Float64Array(rowStart(p));
  for (let a = 0; a < p; a++) packed.set(L.subarray(a * p, a * p + a + 1), rowStart(a));
  return { dim: p, mean, cholesky: packed, shrinkage, fittedOn: n };
}

/**
 * feature_maha of n records [n, p] (the model's input representation), float64. A record with a
 * non-finite value gets NaN (the dose rule then scores it NaN: never typical).
 */
export function featureMahalanobis(g: FeatureGaussian, x: ArrayLike<number>, n: number): Float64Array {
  const p = g.dim;
  if (x.length !== n * p)
    throw new ScoringInputError(`feature_maha: expected ${n}×${p} values, got ${x.length}`);
  const L = g.cholesky;
  const out = new Float64Array(n);
  const y = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    let d2 = 0;
    for (let a = 0; a < p; a++) {
      const o = rowStart(a);
      let v = x[i * p + a] - g.mean[a];
      for (let k = 0; k < a; k++) v -= L[o + k] * y[k];
      v /= L[o + a];
      y[a] = v;
      d2 += v * v;
    }
    out[i] = d2;
  }
  return out;
}

/** Bytes of the stored form: μ then the packed factor, float64 little-endian. */
export function featureGaussianByteLength(p: number): number {
  return 8 * (p + rowStart(p));
}

export function packFeatureGaussian(g: FeatureGaussian): Buffer {
  const buf = Buffer.alloc(featureGaussianByteLength(g.dim));
  for (let a = 0; a < g.dim; a++) buf.writeDoubleLE(g.mean[a], 8 * a);
  const o = 8 * g.dim;
  for (let k = 0; k < g.cholesky.length; k++) buf.writeDoubleLE(g.cholesky[k], o + 8 * k);
  return buf;
}

/** The inverse of {@link packFeatureGaussian}; throws {@link ScoringInputError} on a malformed factor. */
export function unpackFeatureGaussian(
  bytes: Uint8Array,
  meta: { dim: number; shrinkage: number; fittedOn: number },
): FeatureGaussian {
  const p = meta.dim;
  if (bytes.byteLength !== featureGaussianByteLength(p))
    throw new ScoringInputError(
      `feature Gaussian: ${bytes.byteLength} bytes, expected ${featureGaussianByteLength(p)} for width ${p}`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const mean = new Float64Array(p);
  for (let a = 0; a < p; a++) mean[a] = view.getFloat64(8 * a, true);
  const cholesky = new Float64Array(rowStart(p));
  for (let k = 0; k < cholesky.length; k++) cholesky[k] = view.getFloat64(8 * (p + k), true);
  for (let a = 0; a < p; a++)
    if (!(cholesky[rowStart(a) + a] > 0) || !Number.isFinite(mean[a]))
      throw new ScoringInputError(`feature Gaussian: malformed factor at column ${a}`);
  return { dim: p, mean, cholesky, shrinkage: meta.shrinkage, fittedOn: meta.fittedOn };
}

/** The factor L as a full row-major p×p lower-triangular matrix (zeros above the diagonal). */
export function unpackedFactor(g: FeatureGaussian): Float64Array {
  const p = g.dim;
  const L = new Float64Array(p * p);
  for (let a = 0; a < p; a++) L.set(g.cholesky.subarray(rowStart(a), rowStart(a) + a + 1), a * p);
  return L;
}
