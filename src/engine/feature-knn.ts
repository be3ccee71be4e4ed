/**
 * The distance to the nearest training record: a model-free, non-parametric statistic of the record's
 * model input (detection protocol v7 in BENCHMARKS.md),
 *
 *     feature_knn(x) = min_r ‖x − r‖²   over a reference set of the model's training records,
 *
 * in the model's input representation (after its feature transform, where `feature_maha` is taken too).
 * Where the input Gaussian (feature-gaussian.ts) reads only the training records' first two moments, this
 * is a 1-nearest-neighbour density estimate: a record inside the Gaussian's ellipsoid but far from every
 * real training record (the space between the clusters of a curved or clustered normal class) is far
 * here. It enters the `dose` rule as one more density, so an exact copy of a training record (distance
 * 0, unusually close) is atypical too.
 *
 * The reference set is at most {@link KNN_REFERENCE_MAX} records of the training split, drawn by the
 * build with a seeded permutation: that bounds the stream's cost to R·d multiply-adds per record.
 * Stored with the checkpoint as float32 (the graph's own precision; the points ARE float32 model inputs).
 * {@link nearestDistance} is the float64 reference; the engine scores with one float32 GEMM per batch
 * (onnx/feature-export.ts, the input-statistics graph).
 */
import { CalibrationError, ScoringInputError } from './errors.js';

/** Most reference records kept (R). */
export const KNN_REFERENCE_MAX = 4096;

/** Salt of the reference set's permutation seed (`seed ^ KNN_SEED_SALT`). */
export const KNN_SEED_SALT = 0x6b6e6e;

export interface NearestReference {
  /** Input width p (after the transform). */
  dim: number;
  /** Reference records R. */
  size: number;
  /** The reference records [R, p], row-major. */
  points: Float32Array;
}

/**
 * A reference set from `size` records [size, p] (already chosen by the caller: the build takes a seeded
 * sample of its training split). Throws {@link CalibrationError} on no record or a non-finite value.
 */
export function nearestReference(x: ArrayLike<number>, size: number, p: number): NearestReference {
  if (!(Number.isInteger(size) && Number.isInteger(p) && p > 0 && x.length === size * p))
    throw new CalibrationError(`nearest reference: expected ${size}×${p} values, got ${x.length}`);
  if (size < 1) throw new CalibrationError('nearest reference: needs at least 1 record');
  const points = Float32Array.from(x);
  for (let k = 0; k < points.length; k++)
    if (!Number.isFinite(points[k]))
      throw new CalibrationError(
        `nearest reference: record ${Math.floor(k / p)}, column ${k % p} is ${String(x[k])}`,
      );
  return { dim: p, size, points };
}

/**
 * feature_knn of n records [n, p] (the model's input representation), float64 brute force over every
 * reference record (a partial sum stops once it exceeds the best so far). A record with a non-finite
 * value gets NaN (the dose rule then scores it NaN: never typical).
 */
export function nearestDistance(ref: NearestReference, x: ArrayLike<number>, n: number): Float64Array {
  const p = ref.dim;
  if (x.length !== n * p)
    throw new ScoringInputError(`feature_knn: expected ${n}×${p} values, got ${x.length}`);
  const pts = ref.points;
  const out = new Float64Array(n);
  const q = new Float64Array(p);
  for (let i = 0; i < n; i++) {
    let finite = true;
    for (let a = 0; a < p; a++) {
      q[a] = x[i * p + a];
      if (!Number.isFinite(q[a])) finite = false;
    }
    if (!finite) {
      out[i] = NaN;
      continue;
    }
    let best = Infinity;
    for (let r = 0; r < ref.size; r++) {
      const o = r * p;
      let s = 0;
      for (let a = 0; a < p; a++) {
        const v = q[a] - pts[o + a];
        s += v * v;
        if ((a & 31) === 31 && s >= best) break;
      }
      if (s < best) best = s;
    }
    out[i] = best;
  }
  return out;
}

/** Bytes of the stored form: the points, float32 little-endian. */
export function nearestReferenceByteLength(size: number, p: number): number {
  return 4 * size * p;
}

export function packNearestReference(ref: NearestReference): Buffer {
  const buf = Buffer.alloc(nearestReferenceByteLength(ref.size, ref.dim));
  for (let k = 0; k < ref.points.length; k++) buf.writeFloatLE(ref.points[k], 4 * k);
  return buf;
}

/** The inverse of {@link packNearestReference}; throws {@link ScoringInputError} on a malformed set. */
export function unpackNearestReference(
  bytes: Uint8Array,
  meta: { dim: number; size: number },
): NearestReference {
  const { dim: p, size } = meta;
  if (!(Number.isInteger(size) && size >= 1 && Number.isInteger(p) && p >= 1))
    throw new ScoringInputError(`nearest reference: bad shape ${size}×${p}`);
  if (bytes.byteLength !== nearestReferenceByteLength(size, p))
    throw new ScoringInputError(
      `nearest reference: ${bytes.byteLength} bytes, expected ${nearestReferenceByteLength(size, p)} for ${size}×${p}`,
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const points = new Float32Array(size * p);
  for (let k = 0; k < points.length; k++) {
    points[k] = view.getFloat32(4 * k, true);
    if (!Number.isFinite(points[k]))
      throw new ScoringInputError(
        `nearest reference: record ${Math.floor(k / p)}, column ${k % p} is not finite`,
      );
  }
  return { dim: p, size, points };
}
