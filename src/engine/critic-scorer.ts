/**
 * Scores raw records with a WGAN critic-ensemble graph (onnx/critic-export.ts) on onnxruntime-node:
 * one InferenceSession created once from model bytes or a file, big batches cut into chunks, the
 * thread/spinning/execution-provider options of {@link OnnxScorer}.
 *
 * Anomaly scores ("higher = more anomalous", see {@link criticAnomalyScore}):
 *   neg_critic        −mean_m c_m(x)   (a WGAN critic is higher on real data)
 *   neg_critic_single −c_0(x)          (one discriminator, the paper's D(x) column)
 *   critic_var        Var_m c_m(x)     (the paper's ensemble variance of discriminators)
 */
import * as ort from 'onnxruntime-node';
import { ScorerRuntimeError } from './errors.js';
import { CRITIC_ONNX_INPUT, CRITIC_ONNX_OUTPUTS } from './onnx/critic-export.js';
import {
  CHUNK_TEMP_BYTES,
  checkChunkSize,
  checkScoreInput,
  createOrtSession,
  DEFAULT_CHUNK_SIZE,
  modelMetadataInt,
  type ScorerOptions,
} from './scorer.js';

export type CriticScorerOptions = Omit<ScorerOptions, 'inputComplexity'>;

/** Scores of one batch of n records from an M-critic ensemble. All arrays are float32. */
export interface CriticScoreBatch {
  n: number;
  members: number;
  /** Each member's critic value, row-major [n, M]. */
  critic: Float32Array;
  /** Mean over members [n]. */
  mean: Float32Array;
  /** Population variance over members [n]. */
  var: Float32Array;
}

export type CriticScoreName = 'neg_critic' | 'neg_critic_single' | 'critic_var';
export const CRITIC_SCORE_NAMES: readonly CriticScoreName[] = [
  'neg_critic',
  'neg_critic_single',
  'critic_var',
];

/** One anomaly score per record ("higher = more anomalous") from a batch. */
export function criticAnomalyScore(b: CriticScoreBatch, name: CriticScoreName): Float32Array {
  const out = new Float32Array(b.n);
  for (let i = 0; i < b.n; i++)
    out[i] = name === 'critic_var' ? b.var[i] : name === 'neg_critic' ? -b.mean[i] : -b.critic[i * b.members];
  return out;
}

/**
 * Default records per run: the largest multiple of 64 whose widest activation ([chunk, width] float32)
 * stays ≤ {@link CHUNK_TEMP_BYTES}, clamped to [64, {@link DEFAULT_CHUNK_SIZE}] (conv base 32: 640).
 */
export function defaultCriticChunkSize(activationWidth: number): number {
  const c = Math.floor(CHUNK_TEMP_BYTES / (4 * Math.max(1, activationWidth)) / 64) * 64;
  return Math.min(DEFAULT_CHUNK_SIZE, Math.max(64, c));
}

export class CriticScorer {
  private closed = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputDim: number,
    readonly members: number,
    readonly executionProvider: string,
    /** Records per session.run call. */
    readonly chunkSize: number,
  ) {}

  /** Creates the session from serialized model bytes or a file path. */
  static async create(model: Uint8Array | string, opts: CriticScorerOptions = {}): Promise<CriticScorer> {
    const chunkOpt = checkChunkSize(opts.chunkSize);
    const { session, executionProvider: ep } = await createOrtSession(model, opts);
    if (!session.inputNames.includes(CRITIC_ONNX_INPUT))
      throw new ScorerRuntimeError(
        `model has no input '${CRITIC_ONNX_INPUT}' (inputs: ${session.inputNames.join(', ')})`,
      );
    for (const o of CRITIC_ONNX_OUTPUTS)
      if (!session.outputNames.includes(o))
        throw new ScorerRuntimeError(`model lacks output '${o}' (is it a critic-ensemble graph?)`);
    const meta = session.inputMetadata?.[0];
    const outMeta = session.outputMetadata?.find((m) => m.name === 'critic');
    const inputDim = meta && meta.isTensor && typeof meta.shape[1] === 'number' ? meta.shape[1] : NaN;
    const members =
      outMeta && outMeta.isTensor && typeof outMeta.shape[1] === 'number' ? outMeta.shape[1] : NaN;
    if (!Number.isFinite(inputDim) || !Number.isFinite(members))
      throw new ScorerRuntimeError('model input/output shapes do not declare inputDim and member count');
    const chunk =
      chunkOpt ?? defaultCriticChunkSize(modelMetadataInt(model, 'activation_width') ?? 28 * 28 * 32);
    return new CriticScorer(session, inputDim, members, ep, chunk);
  }

  /** `x` holds n raw records of inputDim float32 values each, row-major. */
  async scoreBatch(x: Float32Array, n: number): Promise<CriticScoreBatch> {
    checkScoreInput(this.closed, x, n, this.inputDim);
    const M = this.members;
    const out: CriticScoreBatch = {
      n,
      members: M,
      critic: new Float32Array(n * M),
      mean: new Float32Array(n),
      var: new Float32Array(n),
    };
    for (let start = 0; start < n; start += this.chunkSize) {
      const m = Math.min(this.chunkSize, n - start);
      const view = x.subarray(start * this.inputDim, (start + m) * this.inputDim);
      let res: ort.InferenceSession.OnnxValueMapType;
      try {
        res = await this.session.run(
          { [CRITIC_ONNX_INPUT]: new ort.Tensor('float32', view, [m, this.inputDim]) },
          [...CRITIC_ONNX_OUTPUTS],
        );
      } catch (e) {
        throw new ScorerRuntimeError(`onnxruntime run failed: ${(e as Error).message}`, e);
      }
      const get = (name: string): Float32Array => (res[name] as ort.Tensor).data as Float32Array;
      out.critic.set(get('critic'), start * M);
      out.mean.set(get('critic_mean'), start);
      out.var.set(get('critic_var'), start);
      for (const name of CRITIC_ONNX_OUTPUTS) (res[name] as ort.Tensor).dispose?.();
    }
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}
