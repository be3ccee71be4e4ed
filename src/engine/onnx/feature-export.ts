/**
 * The graph of the input Gaussian's distance (engine/feature-gaussian.ts): the raw records through the
 * model's own feature transform (the same ops as the scoring graph), minus μ, times W = L⁻¹ (Σ = L Lᵀ),
 * and the squared norm of each row:
 *
 *     x [N, d] → transform → Sub μ → MatMul Wᵀ [d, d] → Mul (square) → ReduceSum → feature_maha [N]
 *
 * One float32 GEMM per batch (onnxruntime's MLAS), where a forward substitution in JavaScript cost
 * ~0.7 ms per 784-pixel record. W is inverted from the stored Cholesky factor in float64 and rounded
 * once; the tests hold the graph to the float64 forward substitution.
 */
import { unpackedFactor, type FeatureGaussian } from '../feature-gaussian.js';
import { invertLower } from '../linalg.js';
import type { FeatureTransform } from '../spec.js';
import { emitTransform } from './export.js';
import { GraphBuilder } from './graph.js';

export const FEATURE_ONNX_INPUT = 'x';
export const FEATURE_ONNX_OUTPUT = 'feature_maha';

/** Builds the distance graph of this Gaussian under this transform; returns the serialized ModelProto. */
export function exportFeatureGaussianOnnx(g: FeatureGaussian, transform: FeatureTransform): Uint8Array {
  const p = g.dim;
  const W = invertLower(unpackedFactor(g), p);
  const wt = new Float32Array(p * p);
  for (let a = 0; a < p; a++) for (let b = 0; b <= a; b++) wt[b * p + a] = W[a * p + b];
  const b = new GraphBuilder();
  const x = emitTransform(b, transform, FEATURE_ONNX_INPUT, p);
  const v = b.op('Sub', [x, b.f32('feature.mean', [p], Float32Array.from(g.mean))]);
  const y = b.op('MatMul', [v, b.f32('feature.inverse_factor_t', [p, p], wt)]);
  b.op('ReduceSum', [b.op('Mul', [y, y]), b.ints([1])], { keepdims: { int: 0 } }, FEATURE_ONNX_OUTPUT);
  return b.toModel({
    graphName: 'gensemble_feature_gaussian',
    docString: `gensemble input Gaussian: squared Mahalanobis distance, d=${p}`,
    metadata: { dim: String(p) },
    inputs: [{ name: FEATURE_ONNX_INPUT, dims: ['N', p] }],
    outputs: [{ name: FEATURE_ONNX_OUTPUT, dims: ['N'] }],
  });
}
