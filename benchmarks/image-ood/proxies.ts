/**
 * Validation proxies for choosing the default score: synthetic shifts of held-out TRAINING images
 * (never a test OoD set). They cover both directions a likelihood can fail in: inputs the models find
 * less likely (pixel-shuffle: local statistics destroyed; invert: photometric) and inputs that may be
 * MORE likely than the data (blur: smoother; shrink: a smaller, simpler object on more background,
 * the "simpler data looks likelier" failure of Nalisnick et al. 2019), so that a one-sided rule is
 * not favoured just because the proxies are all of one kind.
 *
 * Images are raw 28×28 pixel values (0..255), row-major, n per array.
 */
import { permutation } from '../../src/data/splits.js';

const W = 28;
const D = W * W;

/** Two passes of a 3×3 box filter (edge pixels average over their in-image neighbours). */
export function blur(raw: Float32Array, n: number): Float32Array {
  let cur = raw;
  for (let pass = 0; pass < 2; pass++) {
    const out = new Float32Array(cur.length);
    for (let i = 0; i < n; i++)
      for (let r = 0; r < 28; r++)
        for (let c = 0; c < 28; c++) {
          let s = 0;
          let m = 0;
          for (let dr = -1; dr <= 1; dr++)
            for (let dc = -1; dc <= 1; dc++) {
              const rr = r + dr;
              const cc = c + dc;
              if (rr < 0 || rr >= 28 || cc < 0 || cc >= 28) continue;
              s += cur[i * D + rr * 28 + cc];
              m++;
            }
          out[i * D + r * 28 + c] = s / m;
        }
    cur = out;
  }
  return cur;
}

/** Each image's pixels in a seeded random order (one permutation per image). */
export function pixelShuffle(raw: Float32Array, n: number, seed: number): Float32Array {
  const out = new Float32Array(raw.length);
  for (let i = 0; i < n; i++) {
    const p = permutation(D, seed + i);
    for (let j = 0; j < D; j++) out[i * D + j] = raw[i * D + p[j]];
  }
  return out;
}

/** 255 − v. */
export function invert(raw: Float32Array): Float32Array {
  return raw.map((v) => 255 - v);
}

/**
 * The image at half size (2×2 area average, 28→14) centred on a black 28×28 canvas (offset 7).
 */
export function shrink(raw: Float32Array, n: number): Float32Array {
  const out = new Float32Array(n * D);
  const h = W / 2;
  const off = (W - h) / 2;
  for (let i = 0; i < n; i++)
    for (let r = 0; r < h; r++)
      for (let c = 0; c < h; c++) {
        const b = i * D + 2 * r * W + 2 * c;
        out[i * D + (r + off) * W + (c + off)] = (raw[b] + raw[b + 1] + raw[b + W] + raw[b + W + 1]) / 4;
      }
  return out;
}

/**
 * The four corruption proxies of `n` raw images (the validation sets both image benchmarks select on):
 * blurred, pixel-shuffled (seeded by `seed`), inverted and shrunk copies.
 */
export function corruptionProxies(raw: Float32Array, n: number, seed: number): Record<string, Float32Array> {
  return {
    blur: blur(raw, n),
    'pixel-shuffle': pixelShuffle(raw, n, seed),
    invert: invert(raw),
    shrink: shrink(raw, n),
  };
}
