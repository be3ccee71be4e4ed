/**
 * The graph of a model's input statistics: the raw records through the model's own feature transform (the
 * same ops as the scoring graph), then either or both of
 *
 * - the input Gaussian's distance (engine/feature-gaussian.ts): minus μ, times W = L⁻¹ (Σ = L Lᵀ), and
 *   the squared norm of each row:
 *
 *       x → Sub μ → MatMul Wᵀ [d, d] → Mul (square) → ReduceSum → feature_maha [N]
 *
 * - the distance to the nearest reference record (engine/feature-knn.ts), with both sides centred on the
 *   reference set's mean c (smaller norms, less cancellation in float32):
 *
 *       u = x − c;  ‖u‖² + ‖r − c‖² − 2 u·(r − c)  → ReduceMin over r → Max 0 → feature_knn [N]
 *
 *   as one [N, d] × [d, R] GEMM.
 *
 * One float32 GEMM per statistic and batch (onnxruntime's MLAS), where a forward substitution in JavaScript
 * cost ~0.7 ms per 784-pixel record. W is inverted from the stored Cholesky factor in float64 and rounded
 * once, and the centred references are rounded once from float64; the tests hold the graph to the float64
 * references.
 */
import { ModelSpecError } from '../errors.js';
import { unpackedFactor, type FeatureGaussian } from '../feature-gaussian.js';
import type { NearestReference } from '../feature-knn.js';
import { invertLower } from '../linalg.js';
import type { FeatureTransform } from '../spec.js';
import { emitTransform } from './export.js';
import { GraphBuilder } from './graph.js';

export const FEATURE_ONNX_INPUT = 'x';
export const FEATURE_ONNX_OUTPUT = 'feature_maha';
export const KNN_ONNX_OUTPUT = 'feature_knn';

/** The input statistics a model carries (at least one). */
export interface InputStatistics {
  gaussian?: FeatureGaussian;
  nearest?: NearestReference;
}

/** Input width of the statistics; throws when they disagree or none is given. */
export function inputStatisticsDim(s: InputStatistics): number {
  const dims = [s.gaussian?.dim, s.nearest?.dim].filter((d): d is number => d !== undefined);
  if (dims.length === 0) throw new ModelSpecError('input statistics: neither a Gaussian nor a reference set');
  if (dims.some((d) => d !== dims[0]))
    throw new ModelSpecError(
      `input statistics: the Gaussian and the reference set differ in width (${dims.join(' vs ')})`,
    );
  return dims[0];
}

/** Builds the graph of these statistics under this transform; returns the serialized ModelProto. */
export function exportInputStatisticsOnnx(s: InputStatistics, transform: FeatureTransform): Uint8Array {
  const p = inputStatisticsDim(s);
  const b = new GraphBuilder();
  const x = emitTransform(b, transform, FEATURE_ONNX_INPUT, p);
  const outputs: Array<{ name: string; dims: Array<string | number> }> = [];
  const g = s.gaussian;
  if (g) {
    const W = invertLower(unpackedFactor(g), p);
    const wt = new Float32Array(p * p);
    for (let a = 0; a < p; a++) for (let c = 0; c <= a; c++) wt[c * p + a] = W[a * p + c];
    const v = b.op('Sub', [x, b.f32('feature.mean', [p], Float32Array.from(g.mean))]);
    const y = b.op('MatMul', [v, b.f32('feature.inverse_factor_t', [p, p], wt)]);
    b.op('ReduceSum', [b.op('Mul', [y, y]), b.ints([1])], { keepdims: { int: 0 } }, FEATURE_ONNX_OUTPUT);
    outputs.push({ name: FEATURE_ONNX_OUTPUT, dims: ['N'] });
  }
  const nn = s.nearest;
  if (nn) {
    const R = nn.size;
    const c = new Float64Array(p);
    for (let r = 0; r < R; r++) for (let a = 0; a < p; a++) c[a] += nn.points[r * p + a];
    for (let a = 0; a < p; a++) c[a] /= R;
    const c32 = Float32Array.from(c);
    // −2 (r − c)ᵀ as [d, R], and ‖r − c‖² [R], both from float64
    const m2rt = new Float32Array(p * R);
    const rr = new Float32Array(R);
    for (let r = 0; r < R; r++) {
      let sq = 0;
      for (let a = 0; a < p; a++) {
        const v = nn.points[r * p + a] - c32[a];
        m2rt[a * R + r] = -2 * v;
        sq += v * v;
      }
      rr[r] = sq;
    }
    const u = b.op('Sub', [x, b.f32('knn.center', [p], c32)]);
    const uu = b.op('ReduceSum', [b.op('Mul', [u, u]), b.ints([1])], { keepdims: { int: 1 } });
    const cross = b.op('MatMul', [u, b.f32('knn.references_t_m2', [p, R], m2rt)]);
    const d2 = b.op('Add', [b.op('Add', [cross, b.f32('knn.reference_sq', [R], rr)]), uu]);
    const best = b.op('ReduceMin', [d2], { axes: { ints: [1] }, keepdims: { int: 0 } });
    b.op('Max', [best, b.scalar(0)], {}, KNN_ONNX_OUTPUT);
    outputs.push({ name: KNN_ONNX_OUTPUT, dims: ['N'] });
  }
  return b.toModel({
    graphName: 'gensemble_input_statistics',
    docString: `gensemble input statistics (${outputs.map((o) => o.name).join(', ')}), d=${p}`,
    metadata: { dim: String(p), ...(nn ? { references: String(nn.size) } : {}) },
    inputs: [{ name: FEATURE_ONNX_INPUT, dims: ['N', p] }],
    outputs,
  });
}

/** The input Gaussian's graph alone (feature_maha). */
export function exportFeatureGaussianOnnx(g: FeatureGaussian, transform: FeatureTransform): Uint8Array {
  return exportInputStatisticsOnnx({ gaussian: g }, transform);
}
