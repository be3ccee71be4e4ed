/**
 * The derived OoD sets of benchmarks/image-ood/other-sets.ts against brute-force definitions on a
 * random 28×28 image: a rotation four times is the identity and moves (r, c) to (c, 27 − r), the shift
 * moves every pixel by (6, 6) with zero fill, the random ones are seeded and change what they say.
 */
import { describe, expect, it } from 'vitest';
import { D, DERIVED, SIDE } from '../../../benchmarks/image-ood/derived-sets.js';

const img = Uint8Array.from({ length: 2 * D }, (_, i) => (i * 7919 + 13) % 251);
const at = (x: Uint8Array, k: number, r: number, c: number): number => x[k * D + r * SIDE + c];

describe('derived OoD sets', () => {
  it('rot90: (r, c) → (c, 27 − r); four turns are the identity', () => {
    const r1 = DERIVED.rot90(img, 2);
    for (let k = 0; k < 2; k++)
      for (let r = 0; r < SIDE; r++)
        for (let c = 0; c < SIDE; c++) expect(at(r1, k, c, SIDE - 1 - r)).toBe(at(img, k, r, c));
    let x: Uint8Array = img;
    for (let i = 0; i < 4; i++) x = DERIVED.rot90(x, 2);
    expect(Array.from(x)).toEqual(Array.from(img));
  });

  it('shift6: every pixel moves by (6, 6), the new rows and columns are 0', () => {
    const s = DERIVED.shift6(img, 2);
    for (let k = 0; k < 2; k++)
      for (let r = 0; r < SIDE; r++)
        for (let c = 0; c < SIDE; c++)
          expect(at(s, k, r, c)).toBe(r < 6 || c < 6 ? 0 : at(img, k, r - 6, c - 6));
  });

  it('salt-pepper, noisy, occlusion: seeded; they change what they say and nothing else', () => {
    const sp = DERIVED['salt-pepper'](img, 2);
    expect(Array.from(DERIVED['salt-pepper'](img, 2))).toEqual(Array.from(sp));
    let changed = 0;
    for (let i = 0; i < sp.length; i++)
      if (sp[i] !== img[i]) {
        changed++;
        expect([0, 255]).toContain(sp[i]);
      }
    expect(changed / sp.length).toBeGreaterThan(0.03);
    expect(changed / sp.length).toBeLessThan(0.07);
    const occ = DERIVED.occlusion(img, 2);
    for (let k = 0; k < 2; k++) {
      // one 10×10 block of 255 inside the frame; elsewhere the image
      let r0 = -1;
      let c0 = -1;
      for (let r = 0; r <= SIDE - 10 && r0 < 0; r++)
        for (let c = 0; c <= SIDE - 10 && r0 < 0; c++) {
          let all = true;
          for (let i = 0; i < 10 && all; i++)
            for (let j = 0; j < 10 && all; j++) all = at(occ, k, r + i, c + j) === 255;
          if (all) [r0, c0] = [r, c];
        }
      expect(r0).toBeGreaterThanOrEqual(0);
      for (let r = 0; r < SIDE; r++)
        for (let c = 0; c < SIDE; c++)
          if (r < r0 || r >= r0 + 10 || c < c0 || c >= c0 + 10)
            expect(at(occ, k, r, c)).toBe(at(img, k, r, c));
    }
    const noisy = DERIVED.noisy(img, 2);
    let sq = 0;
    for (let i = 0; i < noisy.length; i++) sq += (noisy[i] - img[i]) ** 2;
    // σ 40 grey levels, less what clipping to [0, 255] takes
    expect(Math.sqrt(sq / noisy.length)).toBeGreaterThan(25);
    expect(Math.sqrt(sq / noisy.length)).toBeLessThan(41);
  });

  it('dim halves, blank is 0, saturated is 255', () => {
    expect(Array.from(DERIVED.dim(img, 2))).toEqual(Array.from(img, (v) => Math.round(v / 2)));
    expect(DERIVED.blank(img, 2).every((v) => v === 0)).toBe(true);
    expect(DERIVED.saturated(img, 2).every((v) => v === 255)).toBe(true);
  });
});
