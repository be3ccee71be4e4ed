/**
 * Feature transforms (raw record → model input), fitted on TRAINING data only and stored in the
 * checkpoint as the {@link FeatureTransform} of src/engine/spec.ts. The ONNX graph applies the same
 * transform, so {@link applyTransform} reproduces its float32 math operation by operation
 * (src/engine/onnx/export.ts, emitTransform):
 *
 * - minmax:   y = clip(f32(f32(raw - f32(min)) / f32(max - min)), 0, 1). A zero range (max == min,
 *             a feature constant in training) divides by 1; then with `constant: 'indicator'` (fits
 *             write it when a column is constant) y = clip(f32(|q| · 2^20), 0, 1), q the
 *             difference: the training value → 0, any other value → 1 (a deviation under 2^-20
 *             proportionally); without it the feature is multiplied by 0, so it is 0 (checkpoints
 *             written before). (max - min is formed in float64 from the stored numbers and then
 *             rounded to float32, as the exporter does. The clip is onnxruntime's: a −0, e.g. a
 *             wrapped −86400, stays −0.)
 * - standard: y = f32(f32(raw - f32(mean)) / f32(std)); with `constant: 'indicator'` a column whose std
 *             is ≤ 1e-6 (floored: constant in training) is y = min(f32(|f32(raw - f32(mean))| · 2^20), 2^10)
 *             instead (ONNX Sub, Abs, Mul, Min on that column's run).
 * - scale:    y = f32(raw · f32(factor)); images use factor 1/255 (0 → 0, 255 → 1 exactly).
 *
 * wrap (minmax and standard only, optional): before the scaling, each wrapped column j (periodic,
 * e.g. the credit data's Time in seconds, period 86400 → time of day) becomes
 * raw_j := fmod(f32(raw_j), f32(period_j)), i.e. JavaScript `%` on the float32-rounded values (ONNX
 * Mod with fmod = 1). fmod is exact (its result is representable, no rounding) and keeps the sign of
 * the dividend: -1 wraps to -1, not to period - 1; multiples of the period wrap to (±)0. Columns not
 * wrapped are unchanged; min/max and mean/std are fitted on the wrapped values. A wrap names each
 * column at most once, an integer in [0, d), with a finite period > 0 ({@link FeatureError}
 * otherwise). A transform without wrapped columns has no `wrap` field, as before this option existed.
 *
 * f32(·) = rounding to float32 (Math.fround); each ONNX op on float32 tensors rounds its result once.
 * Raw values given as float64 (number[], Float64Array) are first rounded to float32, as the graph's
 * float32 input would be.
 * NaN inputs propagate as NaN (the scorer is responsible for rejecting them).
 */
import {
  CONSTANT_GAIN,
  constantColumns,
  CONSTANT_STANDARD_CAP,
  CONSTANT_STD,
  wrapProblem,
  type FeatureTransform,
  type WrapColumn,
} from '../engine/spec.js';
import { GensembleError } from '../errors.js';

export class FeatureError extends GensembleError {
  constructor(message: string) {
    super('FEATURE_INVALID', message);
  }
}

/**
 * Default floor for the fitted standard deviation: std_used = max(std, STD_FLOOR). Keeps a
 * (near-)constant training feature from dividing by zero; the fit then marks the transform
 * `constant: 'indicator'`, and such a feature maps its training value to 0 and any other value
 * to 1,024 (spec.ts), far out for the model but finite. (Before the indicator it was
 * ±(difference · 1e6), which overflowed the scoring graph for large differences: the stream then
 * dead-lettered the record as NON_FINITE_SCORE instead of flagging it.)
 */
export const STD_FLOOR = CONSTANT_STD;

function checkMatrix(x: ArrayLike<number>, n: number, d: number): void {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(d) || d < 1)
    throw new FeatureError(`n must be a non-negative integer and d a positive integer, got n=${n}, d=${d}`);
  if (x.length !== n * d)
    throw new FeatureError(`matrix of ${n}×${d} needs ${n * d} values, got ${x.length}`);
}

/**
 * Throws {@link FeatureError} unless `wrap` is valid for d raw columns: every column an integer in
 * [0, d), named at most once, every period finite and > 0.
 */
export function checkWrap(wrap: readonly WrapColumn[], d: number): void {
  const problem = wrapProblem(wrap, d);
  if (problem !== undefined) throw new FeatureError(problem);
}

/**
 * The float32 period of each of d columns (0 = not wrapped, since periods are > 0), after
 * {@link checkWrap}.
 */
function wrapPeriods(wrap: readonly WrapColumn[] | undefined, d: number): Float32Array {
  const per = new Float32Array(d);
  if (!wrap) return per;
  checkWrap(wrap, d);
  for (const w of wrap) per[w.column] = w.period;
  return per;
}

/** The `wrap` field of a fitted transform: a sorted copy, or nothing when no column is wrapped. */
function wrapField(wrap: readonly WrapColumn[] | undefined): { wrap?: WrapColumn[] } {
  if (!wrap || wrap.length === 0) return {};
  return {
    wrap: wrap.map(({ column, period }) => ({ column, period })).sort((a, b) => a.column - b.column),
  };
}

/** Options of the fits: the periodic columns to wrap before fitting (and applying). */
export interface WrapOptions {
  wrap?: readonly WrapColumn[];
}

/**
 * Per-feature minimum and maximum over n training rows of a row-major [n, d] matrix, of the wrapped
 * values for the columns of `options.wrap` (the transform then carries that wrap).
 */
export function fitMinMax(
  x: Float32Array,
  n: number,
  d: number,
  options: WrapOptions = {},
): Extract<FeatureTransform, { kind: 'minmax' }> {
  checkMatrix(x, n, d);
  const per = wrapPeriods(options.wrap, d);
  if (n === 0) throw new FeatureError('cannot fit a min-max scaler on 0 rows');
  const min = new Array<number>(d).fill(Infinity);
  const max = new Array<number>(d).fill(-Infinity);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const raw = x[i * d + j];
      if (Number.isNaN(raw)) throw new FeatureError(`training value at row ${i}, feature ${j} is NaN`);
      // fmod of ±Infinity is NaN: caught as an infinite training value below
      const v = per[j] > 0 ? (Number.isFinite(raw) ? raw % per[j] : raw) : raw;
      if (v < min[j]) min[j] = v;
      if (v > max[j]) max[j] = v;
    }
  for (let j = 0; j < d; j++)
    if (!Number.isFinite(min[j]) || !Number.isFinite(max[j]))
      throw new FeatureError(`feature ${j} has an infinite training value`);
  // a feature constant in training flags any other value (spec.ts); written only when one is, so a
  // transform without constant features is as before
  const constant = min.some((m, j) => max[j] - m === 0) ? { constant: 'indicator' as const } : {};
  return { kind: 'minmax', min, max, ...wrapField(options.wrap), ...constant };
}

/**
 * Per-feature mean and POPULATION standard deviation (divide by n, as sklearn's StandardScaler),
 * computed in float64 (two passes), std floored at `stdFloor` (default {@link STD_FLOOR}); of the
 * wrapped values for the columns of `options.wrap` (the transform then carries that wrap).
 */
export function fitStandard(
  x: Float32Array,
  n: number,
  d: number,
  options: { stdFloor?: number } & WrapOptions = {},
): Extract<FeatureTransform, { kind: 'standard' }> {
  checkMatrix(x, n, d);
  const per = wrapPeriods(options.wrap, d);
  if (n === 0) throw new FeatureError('cannot fit a standard scaler on 0 rows');
  const floor = options.stdFloor ?? STD_FLOOR;
  if (!(floor > 0)) throw new FeatureError(`stdFloor must be > 0, got ${floor}`);
  // fmod of ±Infinity or NaN is NaN, so a bad wrapped value still makes the mean non-finite
  const at = (k: number, j: number): number => (per[j] > 0 ? x[k] % per[j] : x[k]);
  const mean = new Array<number>(d).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += at(i * d + j, j);
  for (let j = 0; j < d; j++) {
    mean[j] /= n;
    if (!Number.isFinite(mean[j]))
      throw new FeatureError(`feature ${j} has a NaN or infinite training value`);
  }
  const ss = new Array<number>(d).fill(0);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const t = at(i * d + j, j) - mean[j];
      ss[j] += t * t;
    }
  const std = ss.map((s) => Math.max(Math.sqrt(s / n), floor));
  // a column constant in training (its std floored at the default floor) becomes an indicator
  // (spec.ts), written only when there is one, so a transform without one is as before
  const constant = std.some((s) => s <= CONSTANT_STD) ? { constant: 'indicator' as const } : {};
  return { kind: 'standard', mean, std, ...wrapField(options.wrap), ...constant };
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
  // the wrap first (ONNX Mod, fmod = 1): exact, so f32 % f32 is already the float32 result
  const per = wrapPeriods(t.wrap, d);
  const x = (k: number, j: number): number => (per[j] > 0 ? f(raw[k]) % per[j] : f(raw[k]));
  if (t.kind === 'standard') {
    const m = t.mean.map(f);
    const s = t.std.map(f);
    if (s.some((v) => !(v > 0))) throw new FeatureError('standard transform needs every std > 0');
    const ind = constantColumns(t);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < d; j++) {
        const k = i * d + j;
        if (ind[j]) {
          // ONNX Abs, Mul by the power-of-two gain (exact, or Infinity), Min against the cap (its operand order)
          const a = f(Math.abs(f(x(k, j) - m[j])) * CONSTANT_GAIN);
          out[k] = a < CONSTANT_STANDARD_CAP ? a : CONSTANT_STANDARD_CAP;
        } else out[k] = f(x(k, j) - m[j]) / s[j];
      }
    return out;
  }
  const lo = t.min.map(f);
  const zero = t.max.map((mx, j) => mx - t.min[j] === 0);
  const range = t.max.map((mx, j) => (zero[j] ? 1 : f(mx - t.min[j])));
  const indicator = t.constant === 'indicator';
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      const k = i * d + j;
      let y = f(f(x(k, j) - lo[j]) / range[j]);
      // a constant feature's indicator: |q| as onnxruntime's Max(q, −q) computes it (q > −q ? q : −q,
      // so the training value's +0 becomes −0, as in the graph), times the power-of-two gain (exact,
      // or Infinity → 1 after the clip)
      if (indicator && zero[j]) y = f((y > -y ? y : -y) * CONSTANT_GAIN);
      // clip as onnxruntime's Clip (std::max/min order: a −0, e.g. a wrapped −86400, stays −0, which
      // Math.max(−0, 0) would not keep), then the zero-range mask (Mul by 0); NaN propagates
      const c = y < 0 ? 0 : y > 1 ? 1 : y;
      out[k] = zero[j] && !indicator ? c * 0 : c;
    }
  return out;
}

/** Bytes 0..255 → [0, 1] float32 with factor 1/255 (the `scale` transform; same math as the graph). */
export function normalizeImageBytes(pixels: Uint8Array): Float32Array {
  return applyTransform(IMAGE_TRANSFORM, pixels, pixels.length, 1);
}

/** The feature transform of image models: raw bytes 0..255 scaled by 1/255. */
export const IMAGE_TRANSFORM: FeatureTransform = { kind: 'scale', factor: 1 / 255 };
