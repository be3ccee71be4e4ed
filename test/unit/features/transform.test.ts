import { describe, expect, it } from 'vitest';
import {
  fitMinMax,
  fitStandard,
  applyTransform,
  normalizeImageBytes,
  FeatureError,
  STD_FLOOR,
  checkWrap,
} from '../../../src/features/index.js';
import type { FeatureTransform, WrapColumn } from '../../../src/engine/spec.js';

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
    // feature 2 is constant in training: the fit marks the transform's constant features as indicators
    expect(fitMinMax(train, 4, 3)).toEqual({
      kind: 'minmax',
      min: [1, -2, 5],
      max: [6, 6, 5],
      constant: 'indicator',
    });
    // without a constant feature, no mark (the transform is as before it existed)
    expect(fitMinMax(train.subarray(0, 4), 2, 2)).toEqual({ kind: 'minmax', min: [1, -2], max: [5, 3] });
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
    expect(t.constant).toBe('indicator'); // the floored column is an indicator
    // its training value → 0, another value → 1,024 (not (7 − 5)/1e-6), a deviation of 2^-21 → 0.5
    const y = applyTransform(t, Float32Array.from([3, 2, 5, 3, 2, 7, 3, 2, 5 + 2 ** -21]), 3, 3);
    expect([y[2], y[5], y[8]]).toEqual([0, 1024, 0.5]);
    expect(y[0]).toBe(Math.fround(0 / Math.fround(Math.sqrt(3.5))));
    // no constant column: no mark, as before
    expect(fitStandard(train.subarray(0, 4), 2, 2).constant).toBeUndefined();
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
    7, // above max on feature 1 → clipped to 1; constant feature off its training value → 1 (0 before)
    6,
    -2,
    5,
  ]);
  it('minmax: clip((raw - min)/(max - min), 0, 1); a constant feature is 0 at its training value, 1 elsewhere', () => {
    const t = fitMinMax(train, 4, 3);
    const y = applyTransform(t, raw, 3, 3);
    // float64: (0-1)/5 = -0.2 → 0; (2+2)/8 = 0.5; const 5 at 5 → 0
    //          (3.5-1)/5 = 0.5; (10+2)/8 = 1.5 → 1; const 5 at 7 → |7-5|·2^20 → 1
    //          (6-1)/5 = 1; (-2+2)/8 = 0; const 5 at 5 → 0
    const expected = [0, 0.5, 0, 0.5, 1, 1, 1, 0, 0];
    for (let k = 0; k < 9; k++) expect(y[k]).toBeCloseTo(expected[k], 7);
    expect(y.every((v) => v >= 0 && v <= 1)).toBe(true);
    // below the training value too, and a deviation under 2^-20 proportionally (float64 by hand)
    const below = applyTransform(t, Float32Array.from([1, 0, 3, 1, 0, 5 + 2 ** -21]), 2, 3);
    expect(below[2]).toBe(1);
    expect(below[5]).toBe(0.5);
    // a transform from before the indicators (no `constant`): the feature is 0 whatever its value
    const old = { kind: 'minmax' as const, min: t.min, max: t.max };
    expect(Array.from(applyTransform(old, raw, 3, 3)).filter((_, k) => k % 3 === 2)).toEqual([0, 0, 0]);
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
      1024, // the constant feature off its training value: the indicator (it was (7 − 5)/1e-6)
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

describe('wrap of periodic columns (raw := fmod(f32(raw), f32(period)) before the scaling)', () => {
  const DAY = 86400;
  const f = Math.fround;
  // column 0: seconds (period one day); column 1: unwrapped; column 2: hours (period 24, as 24.5 in
  // float32-awkward form below). Negative values, exact multiples of the period (→ ±0), values beyond
  // float32's integer precision.
  const raw = Float32Array.from([
    ...[0, 1, 5],
    ...[DAY, -2, 24],
    ...[2 * DAY, 3, 48],
    ...[-1, 4, -5],
    ...[-DAY, 5, -24],
    ...[90061.5, 6, 23.999],
    ...[123456789, 7, 1e9],
    ...[172799.99, 8, -0.3],
  ]);
  const n = raw.length / 3;
  const wrap: WrapColumn[] = [
    { column: 2, period: 24 },
    { column: 0, period: DAY },
  ];
  /** The wrapped raw value in float64: fmod is exact, so this is also its float32 value. */
  const wrapped = (i: number, j: number): number =>
    j === 0 ? f(raw[i * 3]) % f(DAY) : j === 2 ? f(raw[i * 3 + 2]) % f(24) : raw[i * 3 + j];

  it('fmod by hand: the sign of the dividend, ±0 at multiples of the period', () => {
    const t: FeatureTransform = { kind: 'standard', mean: [0, 0, 0], std: [1, 1, 1], wrap };
    const y = applyTransform(t, raw, n, 3);
    const col0 = [0, 0, 0, -1, -0, 3661.5, f(123456789) - 1428 * DAY, f(172799.99) - DAY];
    for (let i = 0; i < n; i++) expect(Object.is(y[i * 3], f(col0[i]))).toBe(true);
    expect(Array.from({ length: n }, (_, i) => y[i * 3 + 2])).toEqual([
      5,
      0,
      0,
      -5,
      -0,
      f(23.999),
      f(1e9) % 24,
      f(-0.3),
    ]);
    expect(f(123456789)).toBe(123456792); // the wrap acts on the float32 value, as the graph's input
  });

  it('minmax with wrap equals the float32 op sequence on the wrapped values', () => {
    const t: FeatureTransform = { kind: 'minmax', min: [0, -2, -23.5], max: [DAY - 1, 8, 23.5], wrap };
    const y = applyTransform(t, raw, n, 3);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < 3; j++) {
        const sub = f(wrapped(i, j) - f(t.min[j]));
        const div = f(sub / f(t.max[j] - t.min[j]));
        const clip = div < 0 ? 0 : div > 1 ? 1 : div;
        expect(Object.is(y[i * 3 + j], clip), `row ${i}, column ${j}`).toBe(true);
      }
    // and within float32 rounding of the float64 value
    for (let i = 0; i < n; i++) {
      const ref = Math.min(1, Math.max(0, wrapped(i, 0) / (DAY - 1)));
      expect(Math.abs(y[i * 3] - ref)).toBeLessThanOrEqual(2 ** -22);
    }
  });

  it('standard with wrap equals the float32 op sequence on the wrapped values', () => {
    const t: FeatureTransform = { kind: 'standard', mean: [43200.5, 4, 11.5], std: [24941.3, 3, 6.9], wrap };
    const y = applyTransform(t, raw, n, 3);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < 3; j++) {
        const want = f(f(wrapped(i, j) - f(t.mean[j])) / f(t.std[j]));
        expect(Object.is(y[i * 3 + j], want), `row ${i}, column ${j}`).toBe(true);
        const ref = (wrapped(i, j) - t.mean[j]) / t.std[j];
        expect(Math.abs(y[i * 3 + j] - ref)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(ref)));
      }
  });

  it('no wrap or an empty one changes nothing; unwrapped columns pass as before', () => {
    const t: FeatureTransform = { kind: 'standard', mean: [1, 2, 3], std: [4, 5, 6] };
    const plain = applyTransform(t, raw, n, 3);
    expect(applyTransform({ ...t, wrap: [] }, raw, n, 3)).toEqual(plain);
    const only2 = applyTransform({ ...t, wrap: [{ column: 2, period: 24 }] }, raw, n, 3);
    for (let i = 0; i < n; i++) {
      expect(only2[i * 3]).toBe(plain[i * 3]);
      expect(only2[i * 3 + 1]).toBe(plain[i * 3 + 1]);
    }
  });

  it('fitMinMax fits on the wrapped values and carries the wrap (sorted by column)', () => {
    const t = fitMinMax(raw, n, 3, { wrap });
    const col = (j: number) => Array.from({ length: n }, (_, i) => wrapped(i, j));
    expect(t).toEqual({
      kind: 'minmax',
      min: [Math.min(...col(0)), Math.min(...col(1)), Math.min(...col(2))],
      max: [Math.max(...col(0)), Math.max(...col(1)), Math.max(...col(2))],
      wrap: [
        { column: 0, period: DAY },
        { column: 2, period: 24 },
      ],
    });
    expect(t.min[0]).toBe(-1);
    expect(t.max[0]).toBe(f(172799.99) - DAY);
    // unwrapped, the day count would dominate the range
    expect(fitMinMax(raw, n, 3).max[0]).toBe(f(123456789));
    // no wrap, or an empty one: no `wrap` field (old transforms and manifests compare equal)
    expect('wrap' in fitMinMax(raw, n, 3, { wrap: [] })).toBe(false);
    expect('wrap' in fitMinMax(raw, n, 3)).toBe(false);
  });

  it('fitStandard fits mean and std on the wrapped values and carries the wrap', () => {
    const t = fitStandard(raw, n, 3, { wrap, stdFloor: 1e-3 });
    for (const j of [0, 1, 2]) {
      const col = Array.from({ length: n }, (_, i) => wrapped(i, j));
      const m = col.reduce((a, b) => a + b, 0) / n;
      const sd = Math.sqrt(col.reduce((a, b) => a + (b - m) ** 2, 0) / n);
      expect(t.mean[j]).toBeCloseTo(m, 9);
      expect(t.std[j]).toBeCloseTo(sd, 9);
    }
    expect(t.wrap).toEqual([
      { column: 0, period: DAY },
      { column: 2, period: 24 },
    ]);
    expect('wrap' in fitStandard(raw, n, 3, { wrap: [] })).toBe(false);
    // the fitted transform standardises the wrapped training data to mean 0, std 1
    const z = applyTransform(t, raw, n, 3);
    const c0 = Array.from({ length: n }, (_, i) => z[i * 3]);
    const m0 = c0.reduce((a, b) => a + b, 0) / n;
    expect(m0).toBeCloseTo(0, 5);
    expect(c0.reduce((a, b) => a + (b - m0) ** 2, 0) / n).toBeCloseTo(1, 5);
  });

  it('an infinite training value in a wrapped column is rejected, not fitted as NaN', () => {
    const x = Float32Array.from([1, 2, Infinity, 3]);
    expect(() => fitMinMax(x, 2, 2, { wrap: [{ column: 0, period: 10 }] })).toThrow(/infinite/);
    expect(() => fitStandard(x, 2, 2, { wrap: [{ column: 0, period: 10 }] })).toThrow(/NaN or infinite/);
  });

  it('rejects a bad wrap with FeatureError (fits, applyTransform, checkWrap)', () => {
    const bad: Array<[WrapColumn[], RegExp]> = [
      [[{ column: 3, period: DAY }], /column must be an integer in \[0, 3\), got 3/],
      [[{ column: -1, period: DAY }], /column must be an integer/],
      [[{ column: 0.5, period: DAY }], /column must be an integer/],
      [
        [
          { column: 1, period: 7 },
          { column: 1, period: 7 },
        ],
        /names column 1 more than once/,
      ],
      [[{ column: 0, period: 0 }], /period of column 0 must be finite and > 0/],
      [[{ column: 0, period: -24 }], /period of column 0 must be finite and > 0/],
      [[{ column: 0, period: NaN }], /period of column 0 must be finite and > 0/],
      [[{ column: 0, period: Infinity }], /period of column 0 must be finite and > 0/],
      [[{ column: 0, period: 1e-46 }], /also in float32/],
    ];
    for (const [w, re] of bad) {
      expect(() => checkWrap(w, 3)).toThrow(FeatureError);
      expect(() => checkWrap(w, 3)).toThrow(re);
      expect(() => fitMinMax(raw, n, 3, { wrap: w })).toThrow(re);
      expect(() => fitStandard(raw, n, 3, { wrap: w })).toThrow(re);
      expect(() =>
        applyTransform({ kind: 'minmax', min: [0, 0, 0], max: [1, 1, 1], wrap: w }, raw, n, 3),
      ).toThrow(FeatureError);
      expect(() =>
        applyTransform({ kind: 'standard', mean: [0, 0, 0], std: [1, 1, 1], wrap: w }, raw, n, 3),
      ).toThrow(re);
    }
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
