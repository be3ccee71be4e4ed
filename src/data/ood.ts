/**
 * Generated out-of-distribution image sets (the paper's Uniform, Gaussian, HFlip and VFlip rows).
 *
 * Noise generators return {@link FloatImages}: float32 pixels in [0, 1], the model-input scale
 * (convert with toByteImages if bytes are needed). Flips work on either representation and return
 * the same type they are given. All randomness comes from the project's seeded Rng (sfc32), so a seed
 * gives the same images on every run and platform.
 */
import { Rng } from '../engine/random.js';
import { DataError } from './errors.js';
import { checkImageSet, type FloatImages, type ImageSet, type PixelArray } from './images.js';

function checkShape(count: number, height: number, width: number): void {
  for (const [k, v] of [
    ['count', count],
    ['height', height],
    ['width', width],
  ] as const)
    if (!Number.isInteger(v) || v < 0)
      throw new DataError('DATA_BAD_ARGUMENT', `${k} must be a non-negative integer, got ${v}`);
}

/** `count` images of i.i.d. U(0, 1) pixels (float32, in [0, 1)). */
export function uniformNoiseImages(count: number, height: number, width: number, seed: number): FloatImages {
  checkShape(count, height, width);
  const rng = new Rng(seed);
  const pixels = new Float32Array(count * height * width);
  // fround of a 32-bit-resolution uniform can round up to 1.0 only for u > 1 - 2^-25; keep [0, 1) by clamping.
  const below1 = Math.fround(1 - 2 ** -24);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.min(Math.fround(rng.uniform()), below1);
  return { count, height, width, pixels };
}

/** `count` images of i.i.d. N(0, 1) pixels clipped to [0, 1] (about half the pixels are 0, 16% are 1). */
export function gaussianNoiseImages(count: number, height: number, width: number, seed: number): FloatImages {
  checkShape(count, height, width);
  const rng = new Rng(seed);
  const pixels = new Float32Array(count * height * width);
  for (let i = 0; i < pixels.length; i++) {
    const z = rng.normal();
    pixels[i] = z <= 0 ? 0 : z >= 1 ? 1 : z;
  }
  return { count, height, width, pixels };
}

function flipImages<P extends PixelArray>(images: ImageSet<P>, axis: 'h' | 'v'): ImageSet<P> {
  checkImageSet(images);
  const { count, height: H, width: W, pixels } = images;
  const C = images.channels ?? 1;
  const Ctor = pixels.constructor as { new (n: number): P };
  const out = new Ctor(pixels.length);
  const rowLen = W * C; // a pixel's channels move together
  for (let n = 0; n < count; n++)
    for (let r = 0; r < H; r++) {
      const row = (n * H + r) * rowLen;
      if (axis === 'v') out.set(pixels.subarray(row, row + rowLen), (n * H + H - 1 - r) * rowLen);
      else
        for (let c = 0; c < W; c++)
          for (let k = 0; k < C; k++) out[row + (W - 1 - c) * C + k] = pixels[row + c * C + k];
    }
  return { ...images, pixels: out };
}

/** Mirror every image left–right: column c moves to column W-1-c. */
export function hflipImages<P extends PixelArray>(images: ImageSet<P>): ImageSet<P> {
  return flipImages(images, 'h');
}

/** Mirror every image top–bottom: row r moves to row H-1-r. */
export function vflipImages<P extends PixelArray>(images: ImageSet<P>): ImageSet<P> {
  return flipImages(images, 'v');
}
