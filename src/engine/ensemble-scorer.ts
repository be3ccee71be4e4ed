/**
 * Which scorer serves a VAE ensemble: the fused native kernel (native-scorer.ts) where it is built and
 * the ensemble is of its shape (MLP, standard prior) and the CPU is asked for, else onnxruntime
 * (scorer.ts), which scores every model. Both compute spec.ts's math in float32 (tests hold them to
 * the float64 reference and to each other); the native one is faster on small MLPs (BENCHMARKS.md,
 * "Fused native scorer").
 */
import { ScorerRuntimeError } from './errors.js';
import { loadNativeAddon, NativeScorer, nativeUnsupported } from './native-scorer.js';
import { defaultChunkSize, OnnxScorer, type ScorerOptions } from './scorer.js';
import type { EnsembleSpec } from './spec.js';
import type { Scorer } from './types.js';

export const SCORING_ENGINES = ['auto', 'onnx', 'native'] as const;
export type ScoringEngine = (typeof SCORING_ENGINES)[number];

/**
 * 'auto' takes the native kernel only for MLPs whose widest layer (input included) is at most this.
 * Measured (BENCHMARKS.md, "Fused native scorer"): at the credit shape (widest 32) the kernel is
 * 1.7–2.9× onnxruntime; at the MNIST MLP shape (784 → 512) 0.9×, where onnxruntime's GEMM (MLAS)
 * beats the kernel's register blocking. Only those two shapes were measured; 256 lies between them.
 */
export const NATIVE_AUTO_MAX_WIDTH = 256;

/**
 * Why engine 'native' cannot give the native scorer for this spec and options, or undefined when it can.
 */
export function nativeUnavailable(spec: EnsembleSpec, opts: ScorerOptions = {}): string | undefined {
  if ((opts.executionProvider ?? 'cpu') !== 'cpu')
    return `execution provider ${opts.executionProvider} was asked for`;
  if (opts.memberElbo) return "the members' ELBO (memberElbo) was asked for, which only the ONNX graph gives";
  const why = nativeUnsupported(spec);
  if (why) return `it cannot score ${why}`;
  return loadNativeAddon().error;
}

/** The widest layer of an MLP ensemble (its input width included); 0 for other architectures. */
function widestLayer(spec: EnsembleSpec): number {
  const a = spec.member.arch;
  return a.kind === 'mlp' ? Math.max(a.inputDim, ...a.encoderHidden, ...a.decoderHidden) : 0;
}

/**
 * Floats one decoder sample's widest activation holds: for an MLP its widest layer, for the conv VAE
 * its full-resolution feature maps (H·W·max(base, channels)), 8× the input at base 8.
 */
export function widestActivation(spec: EnsembleSpec): number {
  const a = spec.member.arch;
  return a.kind === 'mlp' ? widestLayer(spec) : a.height * a.width * Math.max(a.base, a.channels);
}

/** Whether 'auto' wants the kernel for this model: CPU, a shape it scores, narrow enough to be faster. */
function autoWantsNative(spec: EnsembleSpec, opts: ScorerOptions): boolean {
  return (
    (opts.executionProvider ?? 'cpu') === 'cpu' &&
    !opts.memberElbo &&
    nativeUnsupported(spec) === undefined &&
    widestLayer(spec) <= NATIVE_AUTO_MAX_WIDTH
  );
}

/** Which engine 'auto' picks for this spec and options: the native kernel where it can and is faster. */
export function autoEngine(spec: EnsembleSpec, opts: ScorerOptions = {}): 'native' | 'onnx' {
  return autoWantsNative(spec, opts) && loadNativeAddon().addon !== undefined ? 'native' : 'onnx';
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
 * {@link engineFromEnv}): 'auto' takes the native scorer where {@link autoEngine} says so (it can, and
 * the model is small enough for it to be the faster), else onnxruntime;
 * 'native' throws {@link ScorerRuntimeError} with the reason when it cannot; 'onnx' always takes
 * onnxruntime. The native scorer takes intraOpNumThreads as its thread count.
 */
export async function createEnsembleScorer(
  spec: EnsembleSpec,
  onnxBytes: Uint8Array | string,
  opts: ScorerOptions = {},
): Promise<Scorer> {
  const engine = opts.engine ?? engineFromEnv();
  const native = (): NativeScorer =>
    NativeScorer.create(spec, {
      ...(opts.intraOpNumThreads !== undefined ? { threads: opts.intraOpNumThreads } : {}),
      ...(opts.inputComplexity !== undefined ? { inputComplexity: opts.inputComplexity } : {}),
    });
  if (engine === 'native') {
    const why = nativeUnavailable(spec, opts);
    if (why !== undefined) throw new ScorerRuntimeError(`the native scorer is unavailable: ${why}`);
    return native();
  }
  if (engine === 'auto') {
    if (autoEngine(spec, opts) === 'native') return native();
    // where the build is required (CI), a model 'auto' wants the kernel for but an addon that did not
    // load is an error, not a silent fallback
    if (process.env.GENSEMBLE_NATIVE === 'require' && autoWantsNative(spec, opts))
      throw new ScorerRuntimeError(
        `GENSEMBLE_NATIVE=require but the native scorer is unavailable: ${loadNativeAddon().error}`,
      );
  }
  // onnxruntime's peak memory grows with the chunk's [chunk·K, widest] temporaries: the conv VAE's
  // feature maps are 8× the input (the default chunk was sized for [chunk·K, inputDim]; 1,280 conv
  // records took 5.6 GB).
  return OnnxScorer.create(onnxBytes, {
    ...opts,
    chunkSize: opts.chunkSize ?? defaultChunkSize(spec.k, widestActivation(spec)),
  });
}
