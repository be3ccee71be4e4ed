/**
 * Scoring with the input Gaussian (feature-gaussian.ts): {@link FeatureDistance} runs its distance graph
 * (onnx/feature-export.ts) in onnxruntime, and {@link FeatureGaussianScorer} adds the distance to every
 * batch of a model that carries one, so that the dose statistic 'feature_maha' reads it like the others.
 */
import * as ort from 'onnxruntime-node';
import { ScorerRuntimeError, ScoringInputError } from './errors.js';
import type { FeatureGaussian } from './feature-gaussian.js';
import { exportFeatureGaussianOnnx, FEATURE_ONNX_INPUT, FEATURE_ONNX_OUTPUT } from './onnx/feature-export.js';
import { createOrtSession, type ScorerOptions } from './scorer.js';
import type { FeatureTransform } from './spec.js';
import type { ScoreBatch, Scorer } from './types.js';

/** Records per session.run: three [chunk, d] float32 temporaries (25 MB each at 784 pixels). */
const CHUNK = 8192;

/** The distance of raw records under a Gaussian, from its onnxruntime graph. */
export class FeatureDistance {
  private closed = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly dim: number,
  ) {}

  static async create(
    g: FeatureGaussian,
    transform: FeatureTransform,
    opts: Omit<ScorerOptions, 'chunkSize' | 'inputComplexity' | 'engine'> = {},
  ): Promise<FeatureDistance> {
    // a tiny GEMM: the CPU provider (the CUDA one would copy more than it computes)
    const { executionProvider: _ep, ...cpu } = opts;
    const { session } = await createOrtSession(exportFeatureGaussianOnnx(g, transform), cpu);
    return new FeatureDistance(session, g.dim);
  }

  /** feature_maha of n raw records [n, dim] (float32 graph, widened to float64). */
  async distances(x: Float32Array, n: number): Promise<Float64Array> {
    if (this.closed) throw new ScoringInputError('feature distance is closed');
    if (x.length !== n * this.dim)
      throw new ScoringInputError(`feature_maha: expected ${n}×${this.dim} values, got ${x.length}`);
    const out = new Float64Array(n);
    for (let start = 0; start < n; start += CHUNK) {
      const m = Math.min(CHUNK, n - start);
      const view = x.subarray(start * this.dim, (start + m) * this.dim);
      let res: ort.InferenceSession.OnnxValueMapType;
      try {
        res = await this.session.run({
          [FEATURE_ONNX_INPUT]: new ort.Tensor('float32', view, [m, this.dim]),
        });
      } catch (e) {
        throw new ScorerRuntimeError(`onnxruntime run failed (input Gaussian): ${(e as Error).message}`, e);
      }
      const t = res[FEATURE_ONNX_OUTPUT] as ort.Tensor;
      out.set(t.data as Float32Array, start);
      t.dispose?.();
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}

/**
 * A scorer of a model that carries an input Gaussian: the inner scorer's batch (VAE, or VAE and
 * critics) with `featureMaha` set. The graph applies the model's own feature transform first, with the
 * scoring graph's ops, so the distance is taken where the Gaussian was fitted.
 */
export class FeatureGaussianScorer implements Scorer {
  private constructor(
    private readonly inner: Scorer,
    private readonly distance: FeatureDistance,
  ) {}

  /** Wraps `inner`; closes it when the distance graph cannot be opened. */
  static async create(
    inner: Scorer,
    g: FeatureGaussian,
    transform: FeatureTransform,
    opts: Omit<ScorerOptions, 'chunkSize' | 'inputComplexity' | 'engine'> = {},
  ): Promise<FeatureGaussianScorer> {
    try {
      if (inner.inputDim !== g.dim)
        throw new ScorerRuntimeError(
          `the input Gaussian is ${g.dim} wide, the model reads ${inner.inputDim} values per record`,
        );
      return new FeatureGaussianScorer(inner, await FeatureDistance.create(g, transform, opts));
    } catch (e) {
      await inner.close();
      throw e;
    }
  }

  get inputDim(): number {
    return this.inner.inputDim;
  }

  get members(): number {
    return this.inner.members;
  }

  get executionProvider(): string {
    return this.inner.executionProvider;
  }

  async scoreBatch(x: Float32Array, n: number): Promise<ScoreBatch> {
    // the inner scorer validates x and n: a malformed input is its error
    const batch = await this.inner.scoreBatch(x, n);
    batch.featureMaha = await this.distance.distances(x, n);
    return batch;
  }

  async close(): Promise<void> {
    await Promise.all([this.inner.close(), this.distance.close()]);
  }
}
