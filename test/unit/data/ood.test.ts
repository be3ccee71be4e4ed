import { describe, expect, it } from 'vitest';
import {
  uniformNoiseImages,
  gaussianNoiseImages,
  hflipImages,
  vflipImages,
  type ByteImages,
  type FloatImages,
} from '../../../src/data/index.js';

function stats(a: Float32Array): { mean: number; std: number; min: number; max: number } {
  let s = 0;
  let min = Infinity;
  let max = -Infinity;
  for (const v of a) {
    s += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const mean = s / a.length;
  let ss = 0;
  for (const v of a) ss += (v - mean) ** 2;
  return { mean, std: Math.sqrt(ss / a.length), min, max };
}

describe('noise images', () => {
  it('uniform: shape, range [0,1), mean ½, std 1/√12, seeded', () => {
    const u = uniformNoiseImages(200, 28, 28, 42);
    expect([u.count, u.height, u.width, u.pixels.length]).toEqual([200, 28, 28, 200 * 784]);
    const st = stats(u.pixels);
    expect(st.min).toBeGreaterThanOrEqual(0);
    expect(st.max).toBeLessThan(1);
    expect(st.mean).toBeCloseTo(0.5, 2);
    expect(st.std).toBeCloseTo(1 / Math.sqrt(12), 2);
    expect(uniformNoiseImages(200, 28, 28, 42).pixels).toEqual(u.pixels);
    expect(uniformNoiseImages(200, 28, 28, 43).pixels).not.toEqual(u.pixels);
  });

  it('gaussian clipped: range [0,1], P(0)≈½, P(1)≈0.1587, mean≈0.3156, std≈0.398', () => {
    // Z ~ N(0,1), X = clip(Z, 0, 1). P(X=0) = Φ(0) = 0.5; P(X=1) = 1 - Φ(1) = 0.158655.
    // E[X] = ∫0^1 zφ(z)dz + P(Z>1) = (φ(0) - φ(1)) + 0.158655 = (0.398942 - 0.241971) + 0.158655 = 0.315626.
    // E[X²] = ∫0^1 z²φ dz + P(Z>1) = (Φ(1) - Φ(0) - φ(1)) + 0.158655 = (0.341345 - 0.241971) + 0.158655 = 0.258029.
    // Var = 0.258029 - 0.315626² = 0.158409 → std = 0.398006.
    const g = gaussianNoiseImages(200, 28, 28, 7);
    const st = stats(g.pixels);
    expect(st.min).toBe(0);
    expect(st.max).toBe(1);
    const n = g.pixels.length;
    let zeros = 0;
    let ones = 0;
    for (const v of g.pixels) {
      if (v === 0) zeros++;
      if (v === 1) ones++;
    }
    expect(zeros / n).toBeCloseTo(0.5, 2);
    expect(ones / n).toBeCloseTo(0.158655, 2);
    expect(st.mean).toBeCloseTo(0.315626, 2);
    expect(st.std).toBeCloseTo(0.398006, 2);
    expect(gaussianNoiseImages(200, 28, 28, 7).pixels).toEqual(g.pixels);
  });
});

describe('flips', () => {
  const W = 5;
  const H = 3;
  const bytes: ByteImages = {
    count: 2,
    height: H,
    width: W,
    pixels: Uint8Array.from({ length: 2 * H * W }, (_, i) => i),
  };
  it('hflip moves column c to W-1-c, keeps rows and images', () => {
    const f = hflipImages(bytes);
    expect(f.pixels).toBeInstanceOf(Uint8Array);
    for (let n = 0; n < 2; n++)
      for (let r = 0; r < H; r++)
        for (let c = 0; c < W; c++)
          expect(f.pixels[(n * H + r) * W + (W - 1 - c)]).toBe(bytes.pixels[(n * H + r) * W + c]);
    // first row of image 0 was 0,1,2,3,4
    expect(Array.from(f.pixels.subarray(0, 5))).toEqual([4, 3, 2, 1, 0]);
  });
  it('vflip moves row r to H-1-r', () => {
    const f = vflipImages(bytes);
    expect(Array.from(f.pixels.subarray(0, 15))).toEqual([10, 11, 12, 13, 14, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4]);
    expect(Array.from(f.pixels.subarray(15, 20))).toEqual([25, 26, 27, 28, 29]);
  });
  it('flipping twice is the identity, for bytes and floats', () => {
    const fl: FloatImages = uniformNoiseImages(3, 28, 28, 1);
    expect(hflipImages(hflipImages(bytes)).pixels).toEqual(bytes.pixels);
    expect(vflipImages(vflipImages(bytes)).pixels).toEqual(bytes.pixels);
    const h2 = hflipImages(hflipImages(fl));
    expect(h2.pixels).toBeInstanceOf(Float32Array);
    expect(h2.pixels).toEqual(fl.pixels);
    expect(vflipImages(vflipImages(fl)).pixels).toEqual(fl.pixels);
    expect(hflipImages(fl).pixels).not.toEqual(fl.pixels);
    // h and v flips commute (both = 180° rotation)
    expect(hflipImages(vflipImages(fl)).pixels).toEqual(vflipImages(hflipImages(fl)).pixels);
  });
});
