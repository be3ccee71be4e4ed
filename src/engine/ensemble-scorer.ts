/**
 * Which scorer serves a VAE ensemble: the fused native kernel (native-scorer.ts) where it is built and
 * the ensemble is of its shape (MLP, standard prior) and the CPU is asked for, else onnxruntime
 * (scorer.ts), which scores every model. Both compute spec.ts's math in float32 (tests hold them to
 * the float64 reference and to each other); the native one is faster on small MLPs (BENCHMARKS.md,
 * "Fused native scorer").
 */
import { ScorerRuntimeError } from './errors.js';
import { loadNativeAddon, NativeScorer, nativeUnsupported } from './native-scorer.js';
import { OnnxScorer, type ScorerOptions } from './scorer.js';
import type { EnsembleSpec } from './spec.js';
import type { Scorer } from './types.js';

export const SCORING_ENGINES = ['auto', 'onnx', 'native'] as const;
export type ScoringEngine = (typeof SCORING_ENGINES)[number];

/**
 * Why `engine` would not give the native scorer for this spec and options, or undefined when it would.
 */
export function nativeUnavailable(spec: EnsembleSpec, opts: ScorerOptions = {}): string | undefined {
  if ((opts.executionProvider ?? 'cpu') !== 'cpu')
    return `execution provider ${opts.executionProvider} was asked for`;
  const why = nativeUnsupported(spec);
  if (why) return `it cannot score ${why}`;
  return loadNativeAddon().error;
}

/**
 * $SCORING_ENGINE when set (so `gensemble score` and `train` follow the same switch as `serve`), else
 * 'auto'. Throws {@link ScorerRuntimeError} on another value.
 */
export function engineFromEnv(): ScoringEngine {
  const v = process.env.SCORING_ENGINE;
  if (v === undefined || v === '') return 'auto';
  if ((SCORING_ENGINES as readonly string[]).includes(v)) return v as ScoringEngine;
  throw new ScorerRuntimeError(`SCORING_ENGINE must be one of ${SCORING_ENGINES.join(', ')}, got '${v}'`);
}

/**
 * Opens the scorer of an ensemble (its spec and its exported ONNX graph). opts.engine (default
 * {@link engineFromEnv}): 'auto' takes the native scorer when {@link nativeUnavailable} says nothing, else onnxruntime;
 * 'native' throws {@link ScorerRuntimeError} with the reason when it cannot; 'onnx' always takes
 * onnxruntime. The native scorer takes intraOpNumThreads as its thread count.
 */
export async function createEnsembleScorer(
  spec: EnsembleSpec,
  onnxBytes: Uint8Array | string,
  opts: ScorerOptions = {},
): Promise<Scorer> {
  const engine = opts.engine ?? engineFromEnv();
  if (engine !== 'onnx') {
    const why = nativeUnavailable(spec, opts);
    if (why === undefined)
      return NativeScorer.create(spec, {
        ...(opts.intraOpNumThreads !== undefined ? { threads: opts.intraOpNumThreads } : {}),
        ...(opts.inputComplexity !== undefined ? { inputComplexity: opts.inputComplexity } : {}),
      });
    if (engine === 'native') throw new ScorerRuntimeError(`the native scorer is unavailable: ${why}`);
    // where the build is required (CI), a model the kernel fits but an addon that did not load is an error
    if (
      process.env.GENSEMBLE_NATIVE === 'require' &&
      nativeUnsupported(spec) === undefined &&
      (opts.executionProvider ?? 'cpu') === 'cpu'
    )
      throw new ScorerRuntimeError(`GENSEMBLE_NATIVE=require but the native scorer is unavailable: ${why}`);
  }
  return OnnxScorer.create(onnxBytes, opts);
}
