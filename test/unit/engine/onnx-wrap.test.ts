/**
 * The wrap of periodic columns (spec.ts WrapColumn) in the ONNX graph: the transform part of the graph
 * (emitTransform, shared by the scoring and critic graphs) equals applyTransform bit for bit, the
 * scores of a wrapped model equal the float64 reference, and a bad wrap is a ModelSpecError.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { emitTransform, exportEnsembleOnnx, validateTransform } from '../../../src/engine/onnx/export.js';
import { CRITIC_ONNX_INPUT, exportCriticEnsembleOnnx } from '../../../src/engine/onnx/critic-export.js';
import { GraphBuilder } from '../../../src/engine/onnx/graph.js';
import { OnnxScorer } from '../../../src/engine/scorer.js';
import { ModelSpecError } from '../../../src/engine/errors.js';
import type { FeatureTransform, WrapColumn } from '../../../src/engine/spec.js';
import { applyTransform } from '../../../src/features/index.js';
import { ensembleScoresF64 } from '../../reference/f64.js';
import { criticEnsembleF64 } from '../../reference/critic-f64.js';
import { TINY, tinyCriticEnsemble, tinyEnsemble } from './fixtures.js';

const DAY = 86400;
const FLT_MAX = 3.4028234663852886e38;

/** Runs a graph holding only the feature transform of [n, d] raw rows. */
async function runTransformGraph(t: FeatureTransform, x: Float32Array, n: number, d: number) {
  const g = new GraphBuilder();
  const y = emitTransform(g, t, 'x', d);
  const out = g.op('Identity', [y], {}, 'y');
  const bytes = g.toModel({
    inputs: [{ name: 'x', dims: ['N', d] }],
    outputs: [{ name: out, dims: ['N', d] }],
    graphName: 'transform',
  });
  const session = await ort.InferenceSession.create(bytes, { graphOptimizationLevel: 'all' });
  try {
    const res = await session.run({ x: new ort.Tensor('float32', x, [n, d]) });
    return (res.y as ort.Tensor).data as Float32Array;
  } finally {
    await session.release();
  }
}

/** The bits of a float32 array (so -0 ≠ +0 and every rounding shows). */
const bits = (a: Float32Array): number[] => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

// 4 columns: 0 = seconds (period one day), 1 = unwrapped, 2 = day of week (period 7), 3 = unwrapped.
// Negative values, exact multiples of the period (±0), values beyond float32's integer precision, and
// unwrapped extremes (±FLT_MAX, ±Infinity) that the wrap must leave untouched.
const D = 4;
const X = Float32Array.from([
  ...[0, 1.5, 0, 0],
  ...[DAY, -2.25, 7, FLT_MAX],
  ...[2 * DAY, 3, 14, -FLT_MAX],
  ...[-1, 1e6, -0.5, Infinity],
  ...[-DAY, -1e6, -7, -Infinity],
  ...[90061.5, 0.1, 6.999, 12],
  ...[123456789, 7, 1e9, -3],
  ...[172799.99, -0, -13.25, 0.33],
]);
const N = X.length / D;
const WRAP: WrapColumn[] = [
  { column: 0, period: DAY },
  { column: 2, period: 7 },
];

describe('ONNX graph: wrap of periodic columns', () => {
  const transforms: Array<[string, FeatureTransform]> = [
    ['minmax', { kind: 'minmax', min: [0, -3, 0, -5], max: [DAY, 3, 7, 5], wrap: WRAP }],
    ['minmax with a zero range', { kind: 'minmax', min: [0, 1, -7, 0], max: [DAY, 1, 7, 0], wrap: WRAP }],
    [
      'minmax with a zero range, constant: indicator',
      { kind: 'minmax', min: [0, 1, -7, 0], max: [DAY, 1, 7, 0], wrap: WRAP, constant: 'indicator' },
    ],
    [
      'minmax with a zero wrapped range, constant: indicator',
      { kind: 'minmax', min: [0, -3, 6.999, -5], max: [0, 3, 6.999, 5], wrap: WRAP, constant: 'indicator' },
    ],
    ['standard', { kind: 'standard', mean: [43200, 0.5, 3, 0], std: [24941.3, 2, 2.0, 1.5], wrap: WRAP }],
    [
      'standard with constant columns, constant: indicator (runs of columns)',
      {
        kind: 'standard',
        mean: [43200, 0.5, 3, 0],
        std: [24941.3, 1e-6, 2.0, 1e-6],
        wrap: WRAP,
        constant: 'indicator',
      },
    ],
    [
      'standard with a constant wrapped column first, constant: indicator',
      {
        kind: 'standard',
        mean: [0, -2.25, 0, 12],
        std: [1e-6, 1e-6, 2.0, 1.5],
        wrap: WRAP,
        constant: 'indicator',
      },
    ],
    [
      'standard, every column wrapped (Mod alone)',
      {
        kind: 'standard',
        mean: [43200, 0, 3, 0],
        std: [24941.3, 1, 2, 1],
        wrap: [
          { column: 3, period: 2.5 },
          { column: 1, period: 0.75 },
          { column: 0, period: DAY },
          { column: 2, period: 7 },
        ],
      },
    ],
  ];
  for (const [name, t] of transforms)
    it(`${name}: the graph's transform equals applyTransform bit for bit`, async () => {
      // the all-wrapped case has no unwrapped column for the ±Infinity rows: fmod(±Inf) is NaN
      const all = t.kind !== 'scale' && t.wrap?.length === D;
      const rows = all ? [0, 1, 2, 5, 6, 7] : [...Array(N).keys()];
      // repeated, so that the kernels' vectorised loops run too (not only their scalar tails)
      const tiled = Array.from({ length: 16 }, () => rows).flat();
      const x = Float32Array.from(tiled.flatMap((i) => Array.from(X.subarray(i * D, (i + 1) * D))));
      const n = tiled.length;
      const got = await runTransformGraph(t, x, n, D);
      const want = applyTransform(t, x, n, D);
      expect(bits(got)).toEqual(bits(want));
    });

  it('keeps unwrapped columns bit for bit (no dummy period): ±FLT_MAX, ±Infinity and −0 pass through', async () => {
    const t: FeatureTransform = { kind: 'standard', mean: [0, 0, 0, 0], std: [1, 1, 1, 1], wrap: WRAP };
    const got = await runTransformGraph(t, X, N, D);
    expect(bits(got)).toEqual(bits(applyTransform(t, X, N, D)));
    for (let i = 0; i < N; i++) {
      expect(Object.is(got[i * D + 1], X[i * D + 1])).toBe(true);
      expect(Object.is(got[i * D + 3], X[i * D + 3])).toBe(true);
    }
    // fmod keeps the sign of the dividend and maps multiples of the period to ±0
    expect(Array.from(got.subarray(0, 5 * D)).filter((_, k) => k % D === 0)).toEqual([0, 0, 0, -1, -0]);
    expect(Object.is(got[7 * D + 1], -0)).toBe(true);
    expect(got[5 * D]).toBe(90061.5 - DAY);
  });

  it('scores of a wrapped model equal the float64 reference (which wraps too)', async () => {
    const wrap6: WrapColumn[] = [
      { column: 0, period: DAY },
      { column: 4, period: 10 },
    ];
    const cases: FeatureTransform[] = [
      { kind: 'minmax', min: [0, -1, -1, -1, 0, -1], max: [DAY, 1, 1, 1, 10, 1], wrap: wrap6 },
      { kind: 'standard', mean: [43200, 0, 0, 0, 5, 0], std: [25000, 1, 1, 1, 3, 1], wrap: wrap6 },
    ];
    const rows = [
      [3 * DAY + 3600, 0.2, -0.3, 0.5, 23, 0.1],
      [-7200, -0.9, 0.4, 0.0, -4, 0.7],
      [DAY, 0.5, 0.5, -0.5, 30, -0.2],
      [1e8 + 12345, 0.1, 0.9, 0.3, 9.5, 0.6],
    ];
    const x = Float32Array.from(rows.flat());
    for (const transform of cases) {
      const spec = tinyEnsemble(TINY.mlpGaussian, { transform });
      const scorer = await OnnxScorer.create(exportEnsembleOnnx(spec));
      const got = await scorer.scoreBatch(x, rows.length);
      await scorer.close();
      // the reference does wrap: without it, rows 0 and 3 (days after the training day) score otherwise
      const unwrapped = { ...spec, transform: { ...transform, wrap: [] } as FeatureTransform };
      for (let i = 0; i < rows.length; i++) {
        const xi = x.subarray(i * 6, (i + 1) * 6);
        const ref = ensembleScoresF64(spec, xi).logpMean;
        expect(Math.abs(got.logpMean[i] - ref)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(ref)));
        if (i === 0 || i === 3) expect(ensembleScoresF64(unwrapped, xi).logpMean).not.toBeCloseTo(ref, 3);
      }
    }
  });

  it('the critic graph (same emitTransform) wraps too: D(x) equals the float64 reference', async () => {
    const transform: FeatureTransform = {
      kind: 'minmax',
      min: [0, -1, -1, -1, 0, -1],
      max: [DAY, 1, 1, 1, 10, 1],
      wrap: [
        { column: 0, period: DAY },
        { column: 4, period: 10 },
      ],
    };
    const spec = tinyCriticEnsemble(transform, 40);
    const x = Float32Array.from([3 * DAY + 3600, 0.2, -0.3, 0.5, 23, 0.1, -7200, -0.9, 0.4, 0, -4, 0.7]);
    const session = await ort.InferenceSession.create(exportCriticEnsembleOnnx(spec));
    try {
      const res = await session.run({ [CRITIC_ONNX_INPUT]: new ort.Tensor('float32', x, [2, 6]) });
      const critic = (res.critic as ort.Tensor).data as Float32Array;
      for (let i = 0; i < 2; i++) {
        const ref = criticEnsembleF64(spec, x.subarray(i * 6, (i + 1) * 6)).critic;
        for (let m = 0; m < 2; m++)
          expect(Math.abs(critic[i * 2 + m] - ref[m])).toBeLessThanOrEqual(
            1e-5 * Math.max(1, Math.abs(ref[m])),
          );
      }
    } finally {
      await session.release();
    }
    const bad = { ...spec, transform: { ...transform, wrap: [{ column: 9, period: DAY }] } };
    expect(() => exportCriticEnsembleOnnx(bad)).toThrow(ModelSpecError);
  });

  it('rejects a bad wrap with ModelSpecError (validateTransform and the export)', () => {
    const bad: Array<[WrapColumn[], RegExp]> = [
      [[{ column: 6, period: DAY }], /column must be an integer in \[0, 6\), got 6/],
      [[{ column: -1, period: DAY }], /column must be an integer/],
      [[{ column: 1.5, period: DAY }], /column must be an integer/],
      [
        [
          { column: 2, period: DAY },
          { column: 2, period: 7 },
        ],
        /names column 2 more than once/,
      ],
      [[{ column: 0, period: 0 }], /period of column 0 must be finite and > 0/],
      [[{ column: 0, period: -DAY }], /period of column 0 must be finite and > 0/],
      [[{ column: 0, period: NaN }], /period of column 0 must be finite and > 0/],
      [[{ column: 0, period: Infinity }], /period of column 0 must be finite and > 0/],
      [[{ column: 0, period: 1e-50 }], /also in float32/], // rounds to 0 in float32
      [[{ column: 0, period: 1e39 }], /also in float32/], // overflows float32
    ];
    const base = { min: [0, 0, 0, 0, 0, 0], max: [1, 1, 1, 1, 1, 1] };
    for (const [wrap, re] of bad) {
      const t: FeatureTransform = { kind: 'minmax', ...base, wrap };
      expect(() => validateTransform(t, 6)).toThrow(ModelSpecError);
      expect(() => validateTransform(t, 6)).toThrow(re);
      const s: FeatureTransform = { kind: 'standard', mean: base.min, std: base.max, wrap };
      expect(() => exportEnsembleOnnx(tinyEnsemble(TINY.mlpBernoulli, { transform: s }))).toThrow(re);
    }
    // valid: none, empty, several columns
    validateTransform({ kind: 'minmax', ...base }, 6);
    validateTransform({ kind: 'minmax', ...base, wrap: [] }, 6);
    validateTransform(
      {
        kind: 'minmax',
        ...base,
        wrap: [
          { column: 5, period: 0.5 },
          { column: 0, period: DAY },
        ],
      },
      6,
    );
  });
});
