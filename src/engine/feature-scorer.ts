/**
 * Scoring with a model's input statistics: the input Gaussian (feature-gaussian.ts, `feature_maha`) and
 * the nearest reference record (feature-knn.ts, `feature_knn`). {@link InputDistances} runs their graph
 * (onnx/feature-export.ts) in onnxruntime, and {@link InputStatisticsScorer} adds them to every batch of
 * a model that carries them, so that the dose statistics read them like the others.
 */
import * as ort from 'onnxruntime-node';
import { ScorerRuntimeError, ScoringInputError } from './errors.js';
import type { FeatureGaussian } from './feature-gaussian.js';
import type { NearestReference } from './feature-knn.js';
import {
  exportInputStatisticsOnnx,
  FEATURE_ONNX_INPUT,
  FEATURE_ONNX_OUTPUT,
  inputStatisticsDim,
  KNN_ONNX_OUTPUT,
  type InputStatistics,
} from './onnx/feature-export.js';
import { createOrtSession, type ScorerOptions } from './scorer.js';
import type { FeatureTransform } from './spec.js';
import type { ScoreBatch, Scorer } from './types.js';

/** Records per session.run without a reference set: three [chunk, d] float32 temporaries (25 MB each at 784 pixels). */
const CHUNK = 8192;
/** Most float32 cells of the [chunk, R] distance matrix per session.run (16 MB; the graph holds ~3 such temporaries). */
const KNN_CELLS = 1 << 22;

export type { InputStatistics } from './onnx/feature-export.js';

/**
 * The input statistics a loaded checkpoint carries (loadCheckpoint's `featureGaussian`,
 * `nearestReference`), or undefined when it carries none.
 */
export function carriedInputStatistics(c: {
  featureGaussian?: FeatureGaussian;
  nearestReference?: NearestReference;
}): InputStatistics | undefined {
  if (!c.featureGaussian && !c.nearestReference) return undefined;
  return {
    ...(c.featureGaussian ? { gaussian: c.featureGaussian } : {}),
    ...(c.nearestReference ? { nearest: c.nearestReference } : {}),
  };
}

/** The statistics of n records: each present when the model carries it. */
export interface InputDistanceValues {
  featureMaha?: Float64Array;
  featureKnn?: Float64Array;
}

/** The input statistics of raw records, from their onnxruntime graph. */
export class InputDistances {
  private closed = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly dim: number,
    private readonly hasGaussian: boolean,
    private readonly hasNearest: boolean,
    private readonly chunk: number,
  ) {}

  static async create(
    s: InputStatistics,
    transform: FeatureTransform,
    opts: Omit<ScorerOptions, 'chunkSize' | 'inputComplexity' | 'engine'> = {},
  ): Promise<InputDistances> {
    const dim = inputStatisticsDim(s);
    // small GEMMs: the CPU provider (the CUDA one would copy more than it computes)
    const { executionProvider: _ep, ...cpu } = opts;
    const { session } = await createOrtSession(exportInputStatisticsOnnx(s, transform), cpu);
    const chunk = s.nearest ? Math.max(1, Math.min(CHUNK, Math.floor(KNN_CELLS / s.nearest.size))) : CHUNK;
    return new InputDistances(session, dim, s.gaussian !== undefined, s.nearest !== undefined, chunk);
  }

  /** The statistics of n raw records [n, dim] (float32 graph, widened to float64). */
  async distances(x: Float32Array, n: number): Promise<InputDistanceValues> {
    if (this.closed) throw new ScoringInputError('input statistics are closed');
    if (x.length !== n * this.dim)
      throw new ScoringInputError(`input statistics: expected ${n}×${this.dim} values, got ${x.length}`);
    const maha = this.hasGaussian ? new Float64Array(n) : undefined;
    const knn = this.hasNearest ? new Float64Array(n) : undefined;
    for (let start = 0; start < n; start += this.chunk) {
      const m = Math.min(this.chunk, n - start);
      const view = x.subarray(start * this.dim, (start + m) * this.dim);
      let res: ort.InferenceSession.OnnxValueMapType;
      try {
        res = await this.session.run({
          [FEATURE_ONNX_INPUT]: new ort.Tensor('float32', view, [m, this.dim]),
        });
      } catch (e) {
        throw new ScorerRuntimeError(`onnxruntime run failed (input statistics): ${(e as Error).message}`, e);
      }
      for (const [name, out] of [
        [FEATURE_ONNX_OUTPUT, maha],
        [KNN_ONNX_OUTPUT, knn],
      ] as const) {
        if (!out) continue;
        const t = res[name] as ort.Tensor;
        out.set(t.data as Float32Array, start);
        t.dispose?.();
      }
    }
    return { ...(maha ? { featureMaha: maha } : {}), ...(knn ? { featureKnn: knn } : {}) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}

/**
 * A scorer of a model that carries input statistics: the inner scorer's batch (VAE, or VAE and critics)
 * with `featureMaha` and / or `featureKnn` set. The graph applies the model's own feature transform
 * first, with the scoring graph's ops, so the statistics are taken where they were fitted.
 */
export class InputStatisticsScorer implements Scorer {
  private constructor(
    private readonly inner: Scorer,
    private readonly stats: InputDistances,
  ) {}

  /** Wraps `inner`; closes it when the statistics' graph cannot be opened. */
  static async create(
    inner: Scorer,
    s: InputStatistics,
    transform: FeatureTransform,
    opts: Omit<ScorerOptions, 'chunkSize' | 'inputComplexity' | 'engine'> = {},
  ): Promise<InputStatisticsScorer> {
    try {
      const dim = inputStatisticsDim(s);
      if (inner.inputDim !== dim)
        throw new ScorerRuntimeError(
          `the input statistics are ${dim} wide, the model reads ${inner.inputDim} values per record`,
        );
      return new InputStatisticsScorer(inner, await InputDistances.create(s, transform, opts));
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
    const { featureMaha, featureKnn } = await this.stats.distances(x, n);
    if (featureMaha) batch.featureMaha = featureMaha;
    if (featureKnn) batch.featureKnn = featureKnn;
    return batch;
  }

  async close(): Promise<void> {
    await Promise.all([this.inner.close(), this.stats.close()]);
  }
}
