import { describe, expect, it } from 'vitest';
import { blur, invert, pixelShuffle, shrink } from '../../../benchmarks/image-ood/proxies.js';
import { Rng } from '../../../src/engine/random.js';

const D = 784;
function randomImages(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n * D }, () => Math.floor(rng.uniform() * 256));
}

describe('image-ood validation proxies', () => {
  const x = randomImages(3, 7);

  it('blur keeps a constant image constant and averages a single bright pixel over 5×5', () => {
    const c = new Float32Array(D).fill(100);
    for (const v of blur(c, 1)) expect(v).toBeCloseTo(100, 4);
    const dot = new Float32Array(D);
    dot[14 * 28 + 14] = 81 * 9;
    const b = blur(dot, 1);
    // two 3×3 box passes = a 5×5 kernel with weights (1,2,3,2,1)²/81
    expect(b[14 * 28 + 14]).toBeCloseTo(9 * 9, 3);
    expect(b[12 * 28 + 12]).toBeCloseTo(9, 3);
    expect(b[11 * 28 + 14]).toBe(0);
    expect(b.reduce((a, v) => a + v, 0)).toBeCloseTo(81 * 9, 2);
  });

  it('pixel-shuffle is a permutation of each image (same multiset), seeded', () => {
    const p = pixelShuffle(x, 3, 5);
    for (let i = 0; i < 3; i++) {
      const a = Array.from(x.subarray(i * D, (i + 1) * D)).sort((u, v) => u - v);
      const b = Array.from(p.subarray(i * D, (i + 1) * D)).sort((u, v) => u - v);
      expect(b).toEqual(a);
    }
    expect(pixelShuffle(x, 3, 5)).toEqual(p);
    expect(pixelShuffle(x, 3, 6)).not.toEqual(p);
  });

  it('invert twice is the identity, and maps 0..255 onto 255..0', () => {
    expect(invert(invert(x))).toEqual(x);
    expect(Array.from(invert(Float32Array.from([0, 255, 10])))).toEqual([255, 0, 245]);
  });

  it('shrink: 2×2 area average in the centre 14×14, black border of 7 pixels', () => {
    const s = shrink(x, 3);
    for (let i = 0; i < 3; i++)
      for (let r = 0; r < 28; r++)
        for (let c = 0; c < 28; c++) {
          const v = s[i * D + r * 28 + c];
          if (r < 7 || r >= 21 || c < 7 || c >= 21) expect(v).toBe(0);
          else {
            const rr = 2 * (r - 7);
            const cc = 2 * (c - 7);
            const px = (a: number, b: number): number => x[i * D + a * 28 + b];
            expect(v).toBeCloseTo((px(rr, cc) + px(rr, cc + 1) + px(rr + 1, cc) + px(rr + 1, cc + 1)) / 4, 4);
          }
        }
    // total mass is a quarter of the original
    const sum = (a: Float32Array): number => a.reduce((u, v) => u + v, 0);
    expect(sum(s.subarray(0, D))).toBeCloseTo(sum(x.subarray(0, D)) / 4, 0);
  });
});
