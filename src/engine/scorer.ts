/**
 * {@link Scorer} over onnxruntime-node: one InferenceSession created once from model bytes or a
 * file, big batches cut into chunks, thread settings and execution provider from options.
 */
import { readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { onnx } from './onnx/graph.js';
import { ScorerRuntimeError, ScoringInputError } from './errors.js';
import type { ScoreBatch, Scorer } from './types.js';
import { ONNX_INPUT } from './onnx/export.js';
import { inputComplexity } from './complexity.js';

export interface ScorerOptions {
  /**
   * Which implementation scores a VAE ensemble opened through createEnsembleScorer
   * (ensemble-scorer.ts): 'auto' (default: the fused native kernel where it is built and fits the
   * model, else onnxruntime), 'native' (fail when it cannot) or 'onnx'. OnnxScorer itself ignores it.
   */
  engine?: 'auto' | 'onnx' | 'native';
  /**
   * Records per session.run call. Default {@link defaultChunkSize}: bounded so that a [chunk·K, D]
   * float32 temporary stays ≤ 64 MiB (MNIST shape, K=16: 1280 records), at most 4096.
   */
  chunkSize?: number;
  /** Threads inside one operator (onnxruntime default when unset: all physical cores). */
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  /**
   * Let idle intra-op worker threads spin-wait for work (onnxruntime's default). Default false: on a
   * shared or busy machine spinning threads steal the cores the other threads need (measured on
   * this 2-core machine at load ~15, credit shape, 2 threads: 1.6× lower median latency without).
   */
  allowSpinning?: boolean;
  /** 'cpu' (default) or 'cuda'; 'cuda' falls back to 'cpu' with a warning when unavailable. */
  executionProvider?: 'cpu' | 'cuda';
  /** Receives the fallback warning (default: console.warn). */
  warn?: (msg: string) => void;
  /**
   * Also compute each record's input complexity (ScoreBatch.complexity, engine/complexity.ts), which
   * the 'neg_logp_ic' score needs. Default false. See {@link scorerNeedsComplexity}.
   */
  inputComplexity?: boolean;
  /**
   * Also return each member's K-sample ELBO estimate (ScoreBatch.memberElbo, the graph's `member_elbo`
   * output; onnxruntime only, so 'auto' takes onnxruntime and 'native' refuses). Default false: no rule
   * uses it, and the stream does not fetch it.
   */
  memberElbo?: boolean;
}

export const DEFAULT_CHUNK_SIZE = 4096;
/** Bytes one [chunk·K, D] float32 temporary may take with the default chunk size. */
export const CHUNK_TEMP_BYTES = 64 * 1024 * 1024;

/**
 * Default records per run: the largest multiple of 64 with chunk·K·D·4 bytes ≤ {@link CHUNK_TEMP_BYTES},
 * clamped to [64, {@link DEFAULT_CHUNK_SIZE}]. Peak memory grows with the [chunk·K, D] decoder
 * outputs; throughput is flat above a few hundred records (the work is per-record GEMM).
 */
export function defaultChunkSize(k: number, inputDim: number): number {
  const c = Math.floor(CHUNK_TEMP_BYTES / (4 * Math.max(1, k) * Math.max(1, inputDim)) / 64) * 64;
  return Math.min(DEFAULT_CHUNK_SIZE, Math.max(64, c));
}

/**
 * The positive integer stored under `key` in the model's metadata (e.g. the exporter's 'k'), or
 * undefined when absent/unreadable.
 */
export function modelMetadataInt(model: Uint8Array | string, key: string): number | undefined {
  try {
    const bytes = typeof model === 'string' ? readFileSync(model) : model;
    const m = onnx.ModelProto.decode(bytes);
    const v = Number(m.metadataProps.find((p) => p.key === key)?.value);
    return Number.isInteger(v) && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates the onnxruntime session of a scorer from serialized model bytes or a file path, with the
 * {@link ScorerOptions} thread, spinning and execution-provider settings (graph optimisation 'all',
 * sequential execution). 'cuda' falls back to 'cpu' through opts.warn (default console.warn) when
 * the CUDA session cannot be created; a CPU session that fails throws {@link ScorerRuntimeError}.
 * Shared by {@link OnnxScorer} and CriticScorer (critic-scorer.ts).
 */
export async function createOrtSession(
  model: Uint8Array | string,
  opts: Omit<ScorerOptions, 'chunkSize' | 'inputComplexity'> = {},
): Promise<{ session: ort.InferenceSession; executionProvider: 'cpu' | 'cuda' }> {
  const base: ort.InferenceSession.SessionOptions = {
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
    ...(opts.intraOpNumThreads !== undefined ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
    ...(opts.interOpNumThreads !== undefined ? { interOpNumThreads: opts.interOpNumThreads } : {}),
    extra: {
      session: {
        intra_op: { allow_spinning: opts.allowSpinning ? '1' : '0' },
        inter_op: { allow_spinning: opts.allowSpinning ? '1' : '0' },
      },
    },
  };
  const want = opts.executionProvider ?? 'cpu';
  const warn = opts.warn ?? ((m: string) => console.warn(m));
  if (want === 'cuda') {
    try {
      const session = await createSession(model, { ...base, executionProviders: ['cuda'] });
      return { session, executionProvider: 'cuda' };
    } catch (e) {
      warn(
        `onnxruntime CUDA execution provider unavailable (${(e as Error).message.split('\n')[0]}); scoring on CPU`,
      );
    }
  }
  try {
    const session = await createSession(model, { ...base, executionProviders: ['cpu'] });
    return { session, executionProvider: 'cpu' };
  } catch (e) {
    throw new ScorerRuntimeError(`cannot create an onnxruntime session: ${(e as Error).message}`, e);
  }
}

/** Throws {@link ScoringInputError} unless the chunkSize option is unset or a positive integer; returns it. */
export function checkChunkSize(chunkSize: number | undefined): number | undefined {
  if (chunkSize !== undefined && (!Number.isInteger(chunkSize) || chunkSize < 1))
    throw new ScoringInputError(`chunkSize must be a positive integer, got ${chunkSize}`);
  return chunkSize;
}

/**
 * Throws {@link ScoringInputError} unless the scorer is open and `x` is a Float32Array of n records
 * of inputDim values (the checks every scoreBatch makes first).
 */
export function checkScoreInput(closed: boolean, x: Float32Array, n: number, inputDim: number): void {
  if (closed) throw new ScoringInputError('scorer is closed');
  if (!Number.isInteger(n) || n < 0)
    throw new ScoringInputError(`n must be a non-negative integer, got ${n}`);
  if (!(x instanceof Float32Array)) throw new ScoringInputError('x must be a Float32Array');
  if (x.length !== n * inputDim)
    throw new ScoringInputError(
      `x has ${x.length} values; expected n·inputDim = ${n}·${inputDim} = ${n * inputDim}`,
    );
}

/** A zero-filled {@link ScoreBatch} of n records from M members (the arrays every scorer fills). */
export function emptyScoreBatch(n: number, M: number): ScoreBatch {
  return {
    n,
    members: M,
    logp: new Float32Array(n * M),
    memberRate: new Float32Array(n * M),
    logpMean: new Float32Array(n),
    logpVar: new Float32Array(n),
    waic: new Float32Array(n),
    rate: new Float32Array(n),
  };
}

const OUTPUT_NAMES = ['logp', 'member_rate', 'logp_mean', 'logp_var', 'waic', 'rate'] as const;
/** Output fetched when asked (ScorerOptions.memberElbo): each member's K-sample ELBO [N, M]. */
const ELBO_OUTPUT = 'member_elbo';

export class OnnxScorer implements Scorer {
  private closed = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly inputDim: number,
    readonly members: number,
    readonly executionProvider: string,
    /** Records per session.run call. */
    readonly chunkSize: number,
    /** Whether scoreBatch fills ScoreBatch.complexity. */
    readonly inputComplexity: boolean,
    /** Whether scoreBatch fills ScoreBatch.memberElbo (the graph's `member_elbo` output). */
    private readonly withElbo: boolean,
  ) {}

  /** Creates the session from serialized model bytes or a file path. */
  static async create(model: Uint8Array | string, opts: ScorerOptions = {}): Promise<OnnxScorer> {
    const chunkOpt = checkChunkSize(opts.chunkSize);
    const { session, executionProvider: ep } = await createOrtSession(model, opts);
    const meta = session.inputMetadata?.[0];
    if (!session.inputNames.includes(ONNX_INPUT))
      throw new ScorerRuntimeError(
        `model has no input '${ONNX_INPUT}' (inputs: ${session.inputNames.join(', ')})`,
      );
    for (const o of [...OUTPUT_NAMES, ...(opts.memberElbo ? [ELBO_OUTPUT] : [])])
      if (!session.outputNames.includes(o)) throw new ScorerRuntimeError(`model lacks output '${o}'`);
    let inputDim = NaN;
    let members = NaN;
    if (meta && meta.isTensor) {
      const d = meta.shape[1];
      if (typeof d === 'number') inputDim = d;
    }
    const outMeta = session.outputMetadata?.find((m) => m.name === 'logp');
    if (outMeta && outMeta.isTensor && typeof outMeta.shape[1] === 'number') members = outMeta.shape[1];
    if (!Number.isFinite(inputDim) || !Number.isFinite(members))
      throw new ScorerRuntimeError('model input/output shapes do not declare inputDim and member count');
    const chunkSize = chunkOpt ?? defaultChunkSize(modelMetadataInt(model, 'k') ?? 16, inputDim);
    return new OnnxScorer(
      session,
      inputDim,
      members,
      ep,
      chunkSize,
      opts.inputComplexity ?? false,
      opts.memberElbo ?? false,
    );
  }

  async scoreBatch(x: Float32Array, n: number): Promise<ScoreBatch> {
    checkScoreInput(this.closed, x, n, this.inputDim);
    const M = this.members;
    const out = emptyScoreBatch(n, M);
    const complexity = this.inputComplexity ? new Float32Array(n) : undefined;
    const elbo = this.withElbo ? new Float32Array(n * M) : undefined;
    const fetch: string[] = elbo ? [...OUTPUT_NAMES, ELBO_OUTPUT] : [...OUTPUT_NAMES];
    for (let start = 0; start < n; start += this.chunkSize) {
      const m = Math.min(this.chunkSize, n - start);
      const view = x.subarray(start * this.inputDim, (start + m) * this.inputDim);
      let res: ort.InferenceSession.OnnxValueMapType;
      try {
        const running = this.session.run(
          { [ONNX_INPUT]: new ort.Tensor('float32', view, [m, this.inputDim]) },
          fetch,
        );
        // onnxruntime-node runs the graph off the JS thread: the complexity of this chunk is
        // computed meanwhile instead of after the last chunk
        if (complexity) complexity.set(inputComplexity(view, m, this.inputDim), start);
        res = await running;
      } catch (e) {
        throw new ScorerRuntimeError(`onnxruntime run failed: ${(e as Error).message}`, e);
      }
      const get = (name: string): Float32Array => (res[name] as ort.Tensor).data as Float32Array;
      out.logp.set(get('logp'), start * M);
      out.memberRate.set(get('member_rate'), start * M);
      out.logpMean.set(get('logp_mean'), start);
      out.logpVar.set(get('logp_var'), start);
      out.waic.set(get('waic'), start);
      out.rate.set(get('rate'), start);
      if (elbo) elbo.set(get(ELBO_OUTPUT), start * M);
      for (const name of fetch) (res[name] as ort.Tensor).dispose?.();
    }
    if (complexity) out.complexity = complexity;
    if (elbo) out.memberElbo = elbo;
    out.input = x;
    return out;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.session.release();
  }
}

async function createSession(
  model: Uint8Array | string,
  opts: ort.InferenceSession.SessionOptions,
): Promise<ort.InferenceSession> {
  return typeof model === 'string'
    ? ort.InferenceSession.create(model, opts)
    : ort.InferenceSession.create(model, opts);
}

/** Scores n records with any {@link Scorer} (the scorer chunks internally). */
export function scoreAll(scorer: Scorer, x: Float32Array, n: number): Promise<ScoreBatch> {
  return scorer.scoreBatch(x, n);
}
