import { describe, expect, it } from 'vitest';
import {
  resizeArea,
  toFloatImages,
  toByteImages,
  selectImages,
  DataError,
  type ByteImages,
} from '../../../src/data/index.js';

describe('area resize 105 → 28', () => {
  it('a constant image stays constant (bytes and floats)', () => {
    for (const v of [0, 1, 77, 254, 255]) {
      const img: ByteImages = {
        count: 2,
        height: 105,
        width: 105,
        pixels: new Uint8Array(2 * 105 * 105).fill(v),
      };
      const r = resizeArea(img, 28, 28);
      expect(r.count).toBe(2);
      expect(r.height).toBe(28);
      expect(r.width).toBe(28);
      expect(r.pixels.length).toBe(2 * 28 * 28);
      expect(r.pixels.every((p) => p === v)).toBe(true);
    }
    const f = resizeArea(
      { count: 1, height: 105, width: 105, pixels: new Float32Array(105 * 105).fill(0.3) },
      28,
      28,
    );
    for (const p of f.pixels) expect(p).toBeCloseTo(0.3, 6);
  });

  it('a known block pattern averages correctly', () => {
    // Source rows 0..3 are ink (255), the rest 0. Output row 0 covers source rows [0, 3.75): all ink → 255.
    // Output row 1 covers [3.75, 7.5): row 3 with weight 0.25 (ink), rows 4..6 weight 1, row 7 weight 0.5
    // (blank) → 255·0.25/3.75 = 17 exactly. Rows 2.. cover only blank rows → 0.
    const px = new Uint8Array(105 * 105);
    px.fill(255, 0, 4 * 105);
    const r = resizeArea({ count: 1, height: 105, width: 105, pixels: px }, 28, 28);
    for (let j = 0; j < 28; j++) {
      expect(r.pixels[0 * 28 + j]).toBe(255);
      expect(r.pixels[1 * 28 + j]).toBe(17);
      expect(r.pixels[2 * 28 + j]).toBe(0);
    }
    // One ink pixel at (50, 50): source [50, 51) lies inside output cell 13 ([48.75, 52.5)) on both
    // axes, weight 1/3.75² → 255/14.0625 = 18.13 → 18; all other output pixels 0.
    const dot = new Uint8Array(105 * 105);
    dot[50 * 105 + 50] = 255;
    const d = resizeArea({ count: 1, height: 105, width: 105, pixels: dot }, 28, 28);
    expect(d.pixels[13 * 28 + 13]).toBe(18);
    expect(d.pixels.reduce((a, b) => a + b, 0)).toBe(18);
    // One ink pixel at (52, 52): [52, 53) straddles the boundary 52.5 of cells 13 and 14 (half in each)
    // on both axes → four cells each get 255·(0.5·0.5)/14.0625 = 4.53 → 5.
    const edge = new Uint8Array(105 * 105);
    edge[52 * 105 + 52] = 255;
    const e = resizeArea({ count: 1, height: 105, width: 105, pixels: edge }, 28, 28);
    for (const [i, j] of [
      [13, 13],
      [13, 14],
      [14, 13],
      [14, 14],
    ])
      expect(e.pixels[i * 28 + j]).toBe(5);
    expect(e.pixels.reduce((a, b) => a + b, 0)).toBe(20);
  });

  it('float resize equals an independent reference: 4× nearest upsample, then 15×15 block means', () => {
    // 105·4 = 420 = 28·15, so each output pixel is exactly the mean of a 15×15 block of the upsampled image.
    let s = 1;
    const rnd = (): number => (s = (s * 16807) % 2147483647) / 2147483647;
    const src = new Float32Array(105 * 105).map(() => rnd());
    const r = resizeArea({ count: 1, height: 105, width: 105, pixels: src }, 28, 28);
    for (let i = 0; i < 28; i++)
      for (let j = 0; j < 28; j++) {
        let acc = 0;
        for (let a = 0; a < 15; a++)
          for (let b = 0; b < 15; b++) {
            const y = Math.floor((i * 15 + a) / 4);
            const x = Math.floor((j * 15 + b) / 4);
            acc += src[y * 105 + x];
          }
        expect(r.pixels[i * 28 + j]).toBeCloseTo(acc / 225, 6);
      }
  });

  it('integer factors reduce to block means (4×4 → 2×2)', () => {
    const px = Uint8Array.from([0, 4, 8, 12, 16, 20, 24, 28, 100, 100, 0, 0, 100, 101, 0, 1]);
    const r = resizeArea({ count: 1, height: 4, width: 4, pixels: px }, 2, 2);
    // (0+4+16+20)/4 = 10; (8+12+24+28)/4 = 18; (100+100+100+101)/4 = 100.25 → 100; (0+0+0+1)/4 → 0
    expect(Array.from(r.pixels)).toEqual([10, 18, 100, 0]);
  });

  it('rejects bad shapes', () => {
    expect(() => resizeArea({ count: 1, height: 2, width: 2, pixels: new Uint8Array(3) }, 1, 1)).toThrow(
      DataError,
    );
    expect(() => resizeArea({ count: 1, height: 2, width: 2, pixels: new Uint8Array(4) }, 0, 1)).toThrow(
      DataError,
    );
  });
});

describe('byte ↔ float conversion', () => {
  it('0 → 0, 255 → 1, v → v/255 within float32 rounding, and back exactly', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const f = toFloatImages({ count: 1, height: 16, width: 16, pixels: all });
    expect(f.pixels[0]).toBe(0);
    expect(f.pixels[255]).toBe(1);
    for (let v = 0; v < 256; v++) expect(Math.abs(f.pixels[v] - v / 255)).toBeLessThan(1e-7);
    expect(Array.from(toByteImages(f).pixels)).toEqual(Array.from(all));
  });
  it('clamps out-of-range floats and maps NaN to 0', () => {
    const b = toByteImages({ count: 1, height: 1, width: 4, pixels: Float32Array.from([-1, 2, NaN, 0.5]) });
    expect(Array.from(b.pixels)).toEqual([0, 255, 0, 128]);
  });
  it('selectImages picks whole images in order', () => {
    const px = Uint8Array.from([1, 1, 2, 2, 3, 3]);
    const s = selectImages({ count: 3, height: 1, width: 2, pixels: px }, [2, 0]);
    expect(s.count).toBe(2);
    expect(Array.from(s.pixels)).toEqual([3, 3, 1, 1]);
    expect(() => selectImages({ count: 3, height: 1, width: 2, pixels: px }, [3])).toThrow(DataError);
  });
});
