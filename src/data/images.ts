/**
 * Grayscale image sets, stored as one row-major array [count, height, width] (no channel axis;
 * single channel).
 *
 * Two pixel representations are used across the project:
 * - {@link ByteImages}: Uint8Array, 0..255, ink = 255 (MNIST convention). What the loaders return.
 * - {@link FloatImages}: Float32Array in [0, 1]. What the OoD generators return and the models see.
 * {@link toFloatImages} converts bytes → [0,1] with exactly the float32 math of the ONNX graph's
 * `scale` transform (x · fround(1/255)), so 0 → 0 and 255 → 1 exactly.
 */
import { DataError } from './errors.js';

export type PixelArray = Uint8Array | Float32Array;

export interface ImageSet<P extends PixelArray = PixelArray> {
  count: number;
  height: number;
  width: number;
  /** Values per pixel, interleaved (row-major HWC); absent = 1 (grayscale). */
  channels?: number;
  /** Row-major [count, height, width(, channels)]. */
  pixels: P;
}

export type ByteImages = ImageSet<Uint8Array>;
export type FloatImages = ImageSet<Float32Array>;

/** The pixel scale factor for 8-bit images (the `scale` FeatureTransform's factor). */
export const BYTE_TO_UNIT = 1 / 255;

export function checkImageSet(images: ImageSet): void {
  const { count, height, width, pixels } = images;
  const channels = images.channels ?? 1;
  for (const [k, v] of [
    ['count', count],
    ['height', height],
    ['width', width],
  ] as const)
    if (!Number.isInteger(v) || v < 0)
      throw new DataError('DATA_BAD_ARGUMENT', `image ${k} must be a non-negative integer, got ${v}`);
  if (!Number.isInteger(channels) || channels < 1)
    throw new DataError('DATA_BAD_ARGUMENT', `image channels must be a positive integer, got ${channels}`);
  const size = count * height * width * channels;
  if (pixels.length !== size)
    throw new DataError(
      'DATA_SHAPE_MISMATCH',
      `image set says ${count}×${height}×${width}${channels > 1 ? `×${channels}` : ''} = ${size} values but holds ${pixels.length}`,
    );
}

/** Bytes 0..255 → float32 in [0, 1]: fround(b · fround(1/255)), the ONNX `scale` transform's math. */
export function toFloatImages(images: ByteImages): FloatImages {
  checkImageSet(images);
  const f = Math.fround(BYTE_TO_UNIT);
  const src = images.pixels;
  const out = new Float32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i] * f; // float32 store rounds like the graph's Mul
  return { count: images.count, height: images.height, width: images.width, pixels: out };
}

/**
 * Float [0,1] → bytes: round(clamp(x, 0, 1) · 255) (half away from zero, i.e. Math.round for
 * non-negatives). NaN maps to 0. Inverts {@link toFloatImages} exactly for every byte value.
 */
export function toByteImages(images: FloatImages): ByteImages {
  checkImageSet(images);
  const src = images.pixels;
  const out = new Uint8Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    out[i] = v > 0 ? (v >= 1 ? 255 : Math.round(v * 255)) : 0;
  }
  return { count: images.count, height: images.height, width: images.width, pixels: out };
}

/** Sparse 1-D area-averaging weights: for each output index, source indices and weights summing to 1. */
function areaWeights(inSize: number, outSize: number): { idx: Int32Array[]; w: Float64Array[] } {
  const scale = inSize / outSize;
  const idx: Int32Array[] = [];
  const w: Float64Array[] = [];
  for (let o = 0; o < outSize; o++) {
    const start = o * scale;
    const end = (o + 1) * scale;
    const ks: number[] = [];
    const ws: number[] = [];
    for (let k = Math.floor(start); k < Math.min(inSize, Math.ceil(end)); k++) {
      const overlap = Math.min(end, k + 1) - Math.max(start, k);
      if (overlap > 0) {
        ks.push(k);
        ws.push(overlap / scale);
      }
    }
    idx.push(Int32Array.from(ks));
    w.push(Float64Array.from(ws));
  }
  return { idx, w };
}

/**
 * Resizes every image by AREA AVERAGING: output pixel (i, j) is the mean of the source region
 * [i·sy, (i+1)·sy) × [j·sx, (j+1)·sx) (sy = H/outH, sx = W/outW), each source pixel weighted by the
 * fraction of it the region covers. E.g. 105 → 28 (s = 3.75): output row 1 covers source rows 3.75..7.5,
 * i.e. row 3 with weight 0.25, rows 4–6 with weight 1 and row 7 with weight 0.5, divided by 3.75.
 * The same as OpenCV's INTER_AREA / PIL's BOX filter for downscaling. Works separably in float64;
 * byte images are rounded to the nearest integer (Math.round), float images stored as float32.
 * A constant image stays exactly constant (weights sum to 1; rounding of a constant is exact).
 */
export function resizeArea<P extends PixelArray>(
  images: ImageSet<P>,
  outHeight: number,
  outWidth: number,
): ImageSet<P> {
  checkImageSet(images);
  if (!Number.isInteger(outHeight) || !Number.isInteger(outWidth) || outHeight < 1 || outWidth < 1)
    throw new DataError(
      'DATA_BAD_ARGUMENT',
      `resize target must be positive integers, got ${outHeight}×${outWidth}`,
    );
  const { count, height: H, width: W, pixels } = images;
  if (H < 1 || W < 1) throw new DataError('DATA_BAD_ARGUMENT', `cannot resize empty ${H}×${W} images`);
  const rows = areaWeights(H, outHeight);
  const cols = areaWeights(W, outWidth);
  const isBytes = pixels instanceof Uint8Array;
  const out = (
    isBytes ? new Uint8Array(count * outHeight * outWidth) : new Float32Array(count * outHeight * outWidth)
  ) as P;
  const tmp = new Float64Array(outHeight * W); // rows resized, columns not yet
  for (let n = 0; n < count; n++) {
    const base = n * H * W;
    tmp.fill(0);
    for (let i = 0; i < outHeight; i++) {
      const ri = rows.idx[i];
      const rw = rows.w[i];
      const t0 = i * W;
      for (let a = 0; a < ri.length; a++) {
        const s0 = base + ri[a] * W;
        const wa = rw[a];
        for (let x = 0; x < W; x++) tmp[t0 + x] += wa * pixels[s0 + x];
      }
    }
    const obase = n * outHeight * outWidth;
    for (let i = 0; i < outHeight; i++) {
      const t0 = i * W;
      for (let j = 0; j < outWidth; j++) {
        const cj = cols.idx[j];
        const cw = cols.w[j];
        let acc = 0;
        for (let b = 0; b < cj.length; b++) acc += cw[b] * tmp[t0 + cj[b]];
        out[obase + i * outWidth + j] = isBytes ? Math.min(255, Math.max(0, Math.round(acc))) : acc;
      }
    }
  }
  return { count, height: outHeight, width: outWidth, pixels: out };
}

/** A subset of images (and nothing else) by index, in the given order. */
export function selectImages<P extends PixelArray>(
  images: ImageSet<P>,
  indices: ArrayLike<number>,
): ImageSet<P> {
  checkImageSet(images);
  const size = images.height * images.width;
  const Ctor = images.pixels.constructor as { new (n: number): P };
  const out = new Ctor(indices.length * size);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!Number.isInteger(i) || i < 0 || i >= images.count)
      throw new DataError('DATA_BAD_ARGUMENT', `image index ${i} out of range 0..${images.count - 1}`);
    out.set(images.pixels.subarray(i * size, (i + 1) * size), k * size);
  }
  return { count: indices.length, height: images.height, width: images.width, pixels: out };
}
