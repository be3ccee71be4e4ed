import { describe, expect, it } from 'vitest';
import {
  fitMinMax,
  fitStandard,
  applyTransform,
  normalizeImageBytes,
  FeatureError,
  STD_FLOOR,
} from '../../../src/features/index.js';

// 4 rows × 3 features; feature 2 is constant (zero range / zero std).
const train = Float32Array.from([
  1,
  -2,
  5, //
  3,
  0,
  5, //
  2,
  6,
  5, //
  6,
  4,
  5,
]);

describe('fitting (training data only)', () => {
  it('minmax: per-feature min and max', () => {
    expect(fitMinMax(train, 4, 3)).toEqual({ kind: 'minmax', min: [1, -2, 5], max: [6, 6, 5] });
  });
  it('standard: mean and population std (÷n), floored', () => {
    // feature 0: mean (1+3+2+6)/4 = 3; deviations -2,0,-1,3 → ss = 4+0+1+9 = 14; std = √(14/4) = √3.5
    // feature 1: mean (-2+0+6+4)/4 = 2; deviations -4,-2,4,2 → ss = 40; std = √10
    // feature 2: constant → std 0 → floored to STD_FLOOR
    const t = fitStandard(train, 4, 3);
    expect(t.kind).toBe('standard');
    expect(t.mean).toEqual([3, 2, 5]);
    expect(t.std[0]).toBeCloseTo(Math.sqrt(3.5), 14);
    expect(t.std[1]).toBeCloseTo(Math.sqrt(10), 14);
    expect(t.std[2]).toBe(STD_FLOOR);
    expect(fitStandard(train, 4, 3, { stdFloor: 0.5 }).std[2]).toBe(0.5);
  });
  it('rejects bad input with a typed error', () => {
    expect(() => fitMinMax(train, 5, 3)).toThrow(FeatureError);
    expect(() => fitMinMax(new Float32Array(0), 0, 3)).toThrow(FeatureError);
    expect(() => fitMinMax(Float32Array.from([NaN]), 1, 1)).toThrow(FeatureError);
    expect(() => fitStandard(Float32Array.from([Infinity, 1]), 2, 1)).toThrow(FeatureError);
  });
});

describe('applyTransform vs float64 hand computation', () => {
  const raw = Float32Array.from([
    0,
    2,
    5, //   below min on feature 0 → clipped to 0
    3.5,
    10,
    7, // above max on feature 1 → clipped to 1; constant feature → 0 even off-training
    6,
    -2,
    5,
  ]);
  it('minmax: clip((raw - min)/(max - min), 0, 1), zero range → 0', () => {
    const t = fitMinMax(train, 4, 3);
    const y = applyTransform(t, raw, 3, 3);
    // float64: (0-1)/5 = -0.2 → 0; (2+2)/8 = 0.5; const → 0
    //          (3.5-1)/5 = 0.5; (10+2)/8 = 1.5 → 1; const → 0
    //          (6-1)/5 = 1; (-2+2)/8 = 0; const → 0
    const expected = [0, 0.5, 0, 0.5, 1, 0, 1, 0, 0];
    for (let k = 0; k < 9; k++) expect(y[k]).toBeCloseTo(expected[k], 7);
    expect(y.every((v) => v >= 0 && v <= 1)).toBe(true);
  });
  it('minmax on awkward values stays within one float32 ulp of the float64 value', () => {
    const t = { kind: 'minmax' as const, min: [Math.fround(0.1)], max: [Math.fround(0.7)] };
    const xs = Float32Array.from([0.1, 0.2, 0.3, 0.33, 0.5, 0.69999]);
    const y = applyTransform(t, xs, xs.length, 1);
    for (let i = 0; i < xs.length; i++) {
      const ref = (xs[i] - t.min[0]) / (t.max[0] - t.min[0]);
      expect(Math.abs(y[i] - ref)).toBeLessThanOrEqual(2 ** -23 * 2);
    }
  });
  it('minmax reproduces the ONNX op sequence exactly (Sub, Div, Clip in float32)', () => {
    // Reference built op by op with Math.fround, independent of the implementation's loop.
    const t = { kind: 'minmax' as const, min: [-3.3, 0.1], max: [17.9, 0.1000001] };
    const xs = Float32Array.from([1.234567, 0.1, -3.3, 0.10000005, 17.9, 0.2, 5.5555, 0.1]);
    const y = applyTransform(t, xs, 4, 2);
    for (let i = 0; i < 4; i++)
      for (let j = 0; j < 2; j++) {
        const sub = Math.fround(xs[i * 2 + j] - Math.fround(t.min[j]));
        const range = Math.fround(t.max[j] - t.min[j]);
        const div = Math.fround(sub / range);
        expect(y[i * 2 + j]).toBe(Math.min(1, Math.max(0, div)));
      }
  });
  it('standard: (raw - mean)/std', () => {
    const t = fitStandard(train, 4, 3);
    const y = applyTransform(t, raw, 3, 3);
    const expected = [
      (0 - 3) / Math.sqrt(3.5),
      (2 - 2) / Math.sqrt(10),
      0, //
      (3.5 - 3) / Math.sqrt(3.5),
      (10 - 2) / Math.sqrt(10),
      (7 - 5) / 1e-6, //
      (6 - 3) / Math.sqrt(3.5),
      (-2 - 2) / Math.sqrt(10),
      0,
    ];
    for (let k = 0; k < 9; k++)
      expect(Math.abs(y[k] - expected[k])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(expected[k])));
    // the standardised training data has mean 0 and std 1 per (non-constant) feature
    const z = applyTransform(t, train, 4, 3);
    for (const j of [0, 1]) {
      const col = [0, 1, 2, 3].map((i) => z[i * 3 + j]);
      const m = col.reduce((a, b) => a + b, 0) / 4;
      const v = col.reduce((a, b) => a + (b - m) ** 2, 0) / 4;
      expect(m).toBeCloseTo(0, 6);
      expect(v).toBeCloseTo(1, 6);
    }
  });
  it('float64 raw input is rounded to float32 first, like the graph input', () => {
    const t = { kind: 'scale' as const, factor: 1 };
    const y = applyTransform(t, [0.1], 1, 1);
    expect(y[0]).toBe(Math.fround(0.1));
  });
  it('rejects a width mismatch', () => {
    expect(() => applyTransform(fitMinMax(train, 4, 3), new Float32Array(4), 2, 2)).toThrow(FeatureError);
    expect(() =>
      applyTransform({ kind: 'standard', mean: [0], std: [0] }, new Float32Array(1), 1, 1),
    ).toThrow(FeatureError);
  });
});

describe('image normalisation', () => {
  it('bytes → [0,1] with factor 1/255: 0 → 0, 255 → 1, v ≈ v/255', () => {
    const b = Uint8Array.from({ length: 256 }, (_, i) => i);
    const y = normalizeImageBytes(b);
    expect(y[0]).toBe(0);
    expect(y[255]).toBe(1);
    for (let v = 0; v < 256; v++) {
      expect(Math.abs(y[v] - v / 255)).toBeLessThan(1e-7);
      // the graph's math: Mul(float32 x, float32(1/255)) rounded to float32
      expect(y[v]).toBe(Math.fround(v * Math.fround(1 / 255)));
    }
  });
});
