/**
 * Feature transforms (raw record → model input), fitted on TRAINING data only and stored in the
 * checkpoint as the {@link FeatureTransform} of src/engine/spec.ts. The ONNX graph applies the same
 * transform, so {@link applyTransform} reproduces its float32 math operation by operation
 * (src/engine/onnx/export.ts, emitTransform):
 *
 * - minmax:   y = clip(f32(f32(raw - f32(min)) / f32(max - min)), 0, 1); a zero range (max == min)
 *             divides by 1 and then multiplies by 0, so the feature is 0. (max - min is formed in
 *             float64 from the stored numbers and then rounded to float32, as the exporter does.)
 * - standard: y = f32(f32(raw - f32(mean)) / f32(std))
 * - scale:    y = f32(raw · f32(factor)); images use factor 1/255 (0 → 0, 255 → 1 exactly).
 *
 * f32(·) = rounding to float32 (Math.fround); each ONNX op on float32 tensors rounds its result once.
 * Raw values given as float64 (number[], Float64Array) are first rounded to float32, as the graph's
 * float32 input would be.
 * NaN inputs propagate as NaN (the scorer is responsible for rejecting them).
 */
import type { FeatureTransform } from '../engine/spec.js';
import { GensembleError } from '../errors.js';

export class FeatureError extends GensembleError {
  constructor(message: string) {
    super('FEATURE_INVALID', message);
  }
}

/**
 * Default floor for the fitted standard deviation: std_used = max(std, STD_FLOOR). Keeps a
 * (near-)constant training feature from dividing by zero; such a feature then maps its training value
 * to 0 and any other value to ±(difference · 1e6), i.e. far out of distribution, which is intended.
 */
export const STD_FLOOR = 1e-6;

function checkMatrix(x: ArrayLike<number>, n: number, d: number): void {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(d) || d < 1)
    throw new FeatureError(`n must be a non-negative integer and d a positive integer, got n=${n}, d=${d}`);
  if (x.length !== n * d)
    throw new FeatureError(`matrix of ${n}×${d} needs ${n * d} values, got ${x.length}`);
}

/** Per-feature minimum and maximum over n training rows of a row-major [n, d] matrix. */
export function fitMinMax(
  x: Float32Array,
  n: number,
  d: number,
): Extract<FeatureTransform, { kind: 'minmax' }> {
  checkMatrix(x, n, d);
  if (n === 0) throw new FeatureError('cannot fit a min-max scaler on 0 rows');
  const min = new Array<number>(d).fill(Infinity);
  const max = new Array<number>(d).fill(-Infinity);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const v = x[i * d + j];
      if (Number.isNaN(v)) throw new FeatureError(`training value at row ${i}, feature ${j} is NaN`);
      if (v < min[j]) min[j] = v;
      if (v > max[j]) max[j] = v;
    }
  for (let j = 0; j < d; j++)
    if (!Number.isFinite(min[j]) || !Number.isFinite(max[j]))
      throw new FeatureError(`feature ${j} has an infinite training value`);
  return { kind: 'minmax', min, max };
}

/**
 * Per-feature mean and POPULATION standard deviation (divide by n, as sklearn's StandardScaler),
 * computed in float64 (two passes), std floored at `stdFloor` (default {@link STD_FLOOR}).
 */
export function fitStandard(
  x: Float32Array,
  n: number,
  d: number,
  options: { stdFloor?: number } = {},
): Extract<FeatureTransform, { kind: 'standard' }> {
  checkMatrix(x, n, d);
  if (n === 0) throw new FeatureError('cannot fit a standard scaler on 0 rows');
  const floor = options.stdFloor ?? STD_FLOOR;
  if (!(floor > 0)) throw new FeatureError(`stdFloor must be > 0, got ${floor}`);
  const mean = new Array<number>(d).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j];
  for (let j = 0; j < d; j++) {
    mean[j] /= n;
    if (!Number.isFinite(mean[j]))
      throw new FeatureError(`feature ${j} has a NaN or infinite training value`);
  }
  const ss = new Array<number>(d).fill(0);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const t = x[i * d + j] - mean[j];
      ss[j] += t * t;
    }
  const std = ss.map((s) => Math.max(Math.sqrt(s / n), floor));
  return { kind: 'standard', mean, std };
}

/** Number of features a transform expects, or undefined for `scale` (any width). */
export function transformDim(t: FeatureTransform): number | undefined {
  if (t.kind === 'minmax') return t.min.length;
  if (t.kind === 'standard') return t.mean.length;
  return undefined;
}

/** Applies a transform to n raw rows [n, d] → float32, with exactly the ONNX graph's float32 math. */
export function applyTransform(
  t: FeatureTransform,
  raw: ArrayLike<number>,
  n: number,
  d: number,
): Float32Array {
  checkMatrix(raw, n, d);
  const td = transformDim(t);
  if (td !== undefined && td !== d) throw new FeatureError(`transform is for ${td} features, input has ${d}`);
  const out = new Float32Array(n * d);
  const f = Math.fround;
  if (t.kind === 'scale') {
    const s = f(t.factor);
    for (let i = 0; i < out.length; i++) out[i] = f(raw[i]) * s;
    return out;
  }
  if (t.kind === 'standard') {
    const m = t.mean.map(f);
    const s = t.std.map(f);
    if (s.some((v) => !(v > 0))) throw new FeatureError('standard transform needs every std > 0');
    for (let i = 0; i < n; i++)
      for (let j = 0; j < d; j++) {
        const k = i * d + j;
        out[k] = f(f(raw[k]) - m[j]) / s[j];
      }
    return out;
  }
  const lo = t.min.map(f);
  const zero = t.max.map((mx, j) => mx - t.min[j] === 0);
  const range = t.max.map((mx, j) => (zero[j] ? 1 : f(mx - t.min[j])));
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const k = i * d + j;
      const y = f(f(f(raw[k]) - lo[j]) / range[j]);
      // clip, then the zero-range mask (Mul by 0); NaN propagates (Math.min/max of NaN is NaN)
      const c = Math.min(Math.max(y, 0), 1);
      out[k] = zero[j] ? c * 0 : c;
    }
  return out;
}

/** Bytes 0..255 → [0, 1] float32 with factor 1/255 (the `scale` transform; same math as the graph). */
export function normalizeImageBytes(pixels: Uint8Array): Float32Array {
  return applyTransform(IMAGE_TRANSFORM, pixels, pixels.length, 1);
}

/** The feature transform of image models: raw bytes 0..255 scaled by 1/255. */
export const IMAGE_TRANSFORM: FeatureTransform = { kind: 'scale', factor: 1 / 255 };
