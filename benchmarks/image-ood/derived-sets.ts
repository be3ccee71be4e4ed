/**
 * The derived OoD sets of benchmarks/image-ood/other-sets.ts (BENCHMARKS.md, "Image OoD: sets outside the
 * table"): each made from n 28×28 byte images, seeded where random.
 */
import { Rng } from '../../src/engine/random.js';

export const SIDE = 28;
export const D = SIDE * SIDE;
/** Images per set. */
export const N = 2000;

/** The derived sets, made from `src` (n images of 28×28 bytes); seeded where random. */
export const DERIVED = {
  rot90: (src: Uint8Array, n: number): Uint8Array => {
    const out = new Uint8Array(n * D);
    // clockwise: out[r][c] = in[SIDE − 1 − c][r]
    for (let k = 0; k < n; k++)
      for (let r = 0; r < SIDE; r++)
        for (let c = 0; c < SIDE; c++) out[k * D + r * SIDE + c] = src[k * D + (SIDE - 1 - c) * SIDE + r];
    return out;
  },
  shift6: (src: Uint8Array, n: number): Uint8Array => {
    const out = new Uint8Array(n * D);
    for (let k = 0; k < n; k++)
      for (let r = 6; r < SIDE; r++)
        for (let c = 6; c < SIDE; c++) out[k * D + r * SIDE + c] = src[k * D + (r - 6) * SIDE + (c - 6)];
    return out;
  },
  'salt-pepper': (src: Uint8Array, n: number): Uint8Array => {
    const out = src.slice(0, n * D);
    const rng = new Rng(31);
    for (let i = 0; i < out.length; i++) {
      const u = rng.uniform();
      if (u < 0.025) out[i] = 0;
      else if (u < 0.05) out[i] = 255;
    }
    return out;
  },
  noisy: (src: Uint8Array, n: number): Uint8Array => {
    const out = new Uint8Array(n * D);
    const rng = new Rng(37);
    for (let i = 0; i < out.length; i++)
      out[i] = Math.min(255, Math.max(0, Math.round(src[i] + 40 * rng.normal())));
    return out;
  },
  occlusion: (src: Uint8Array, n: number): Uint8Array => {
    const out = src.slice(0, n * D);
    const rng = new Rng(41);
    for (let k = 0; k < n; k++) {
      const r0 = Math.floor(rng.uniform() * (SIDE - 10 + 1));
      const c0 = Math.floor(rng.uniform() * (SIDE - 10 + 1));
      for (let r = r0; r < r0 + 10; r++) for (let c = c0; c < c0 + 10; c++) out[k * D + r * SIDE + c] = 255;
    }
    return out;
  },
  dim: (src: Uint8Array, n: number): Uint8Array => src.slice(0, n * D).map((v) => Math.round(v * 0.5)),
  blank: (_src: Uint8Array, n: number): Uint8Array => new Uint8Array(n * D),
  saturated: (_src: Uint8Array, n: number): Uint8Array => new Uint8Array(n * D).fill(255),
} as const;
