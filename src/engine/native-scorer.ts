/**
 * {@link Scorer} over gensemble's fused native kernel (native/gensemble_native.cc, an N-API addon built
 * by `npm run build:native`, which `npm install` runs): MLP VAE ensembles with a standard prior, the
 * tabular shape. Each record goes through a member with its K latent samples, decoder tiles and
 * likelihood kept in cache, instead of onnxruntime's operator-at-a-time passes over [N·K, D] tensors
 * (memory-bound for D ≈ 30). Same math as the ONNX graph (spec.ts), float32 like it; tested against the
 * float64 reference and against onnxruntime.
 *
 * Where the addon is missing (no C++ compiler at install) or the model is not of that shape (conv,
 * MAF prior), {@link createEnsembleScorer} uses onnxruntime, which scores every model.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableParallelism } from 'node:os';
import { inputComplexity } from './complexity.js';
import { ScorerRuntimeError } from './errors.js';
import { checkScoreInput, emptyScoreBatch } from './scorer.js';
import { validateEnsembleSpec } from './onnx/export.js';
import type { EnsembleSpec } from './spec.js';
import type { ScoreBatch, Scorer } from './types.js';

/** The addon's handle to one built model (opaque). */
type NativeModel = object;

interface NativeAddon {
  abiVersion: number;
  create(config: Int32Array, floats: Float32Array, transform: Float64Array): NativeModel;
  score(
    model: NativeModel,
    x: Float32Array,
    n: number,
    threads: number,
    logp: Float32Array,
    rate: Float32Array,
    mean: Float32Array,
    variance: Float32Array,
    waic: Float32Array,
    rateMean: Float32Array,
  ): Promise<void>;
}

/** File name of the built addon, under build/native/ of the package root. */
export const NATIVE_ADDON_FILE = 'gensemble_native.node';
/** 2: the constant-feature indicators (transform codes 3 minmax, 4 standard). */
const ABI_VERSION = 3;

let cached: { addon?: NativeAddon; error?: string } | undefined;

/**
 * Where the addon is looked for: $GENSEMBLE_NATIVE_ADDON when set, else build/native/ in the first
 * directory above this module that has a package.json (src/engine/ and dist/src/engine/ both work).
 */
export function nativeAddonPath(): string {
  const env = process.env.GENSEMBLE_NATIVE_ADDON;
  if (env) return resolve(env);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'build', 'native', NATIVE_ADDON_FILE);
    dir = dirname(dir);
  }
  return join(process.cwd(), 'build', 'native', NATIVE_ADDON_FILE);
}

/** Loads the addon once; `error` says why it is unavailable. GENSEMBLE_NATIVE=off disables it. */
export function loadNativeAddon(): { addon?: NativeAddon; error?: string } {
  if (cached) return cached;
  if (process.env.GENSEMBLE_NATIVE === 'off') return (cached = { error: 'disabled by GENSEMBLE_NATIVE=off' });
  const path = nativeAddonPath();
  if (!existsSync(path))
    return (cached = { error: `${path} is not built (npm run build:native needs a C++ compiler)` });
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    if (addon.abiVersion !== ABI_VERSION)
      return (cached = {
        error: `${path} has ABI ${addon.abiVersion}, this gensemble needs ${ABI_VERSION} (rebuild: npm run build:native)`,
      });
    return (cached = { addon });
  } catch (e) {
    return (cached = { error: `cannot load ${path}: ${(e as Error).message.split('\n')[0]}` });
  }
}

/** Why the fused kernel cannot score this ensemble, or undefined when it can. */
export function nativeUnsupported(spec: EnsembleSpec): string | undefined {
  const arch = spec.member.arch;
  if (arch.kind !== 'mlp') return `the ${arch.kind} architecture (the fused kernel scores MLP VAEs)`;
  if (spec.member.prior.kind !== 'standard')
    return `the ${spec.member.prior.kind} prior (the fused kernel has the standard prior only)`;
  if (arch.latentDim > 256) return `latent size ${arch.latentDim} > 256`;
  return undefined;
}

const LIKELIHOOD_CODE = { bernoulli: 0, gaussian: 1, 'student-t': 2, mixed: 3 } as const;

/** The addon's packed arguments for an MLP ensemble (layout documented in gensemble_native.cc). */
export function packNativeModel(spec: EnsembleSpec): {
  config: Int32Array;
  floats: Float32Array;
  transform: Float64Array;
} {
  const arch = spec.member.arch;
  if (arch.kind !== 'mlp') throw new ScorerRuntimeError('packNativeModel: not an MLP ensemble');
  const t = spec.transform;
  const D = arch.inputDim;
  const config = Int32Array.from([
    D,
    arch.latentDim,
    spec.k,
    spec.members.length,
    LIKELIHOOD_CODE[spec.member.likelihood],
    t.kind === 'scale'
      ? 0
      : t.kind === 'minmax'
        ? t.constant === 'indicator'
          ? 3
          : 1
        : t.constant === 'indicator'
          ? 4
          : 2,
    arch.encoderHidden.length,
    ...arch.encoderHidden,
    arch.decoderHidden.length,
    ...arch.decoderHidden,
    ...(spec.member.likelihood === 'mixed'
      ? [spec.member.binaryColumns?.length ?? 0, ...(spec.member.binaryColumns ?? [])]
      : []),
  ]);
  const names: string[] = [];
  arch.encoderHidden.forEach((_, i) => names.push(`enc.h${i}.w`, `enc.h${i}.b`));
  names.push('enc.mu.w', 'enc.mu.b', 'enc.sigma.w', 'enc.sigma.b');
  arch.decoderHidden.forEach((_, i) => names.push(`dec.h${i}.w`, `dec.h${i}.b`));
  names.push('dec.out.w', 'dec.out.b');
  if (spec.member.likelihood !== 'bernoulli') names.push('dec.scale_raw');
  const parts: Float32Array[] = [];
  for (const m of spec.members) {
    for (const name of names) {
      const p = m.params[name];
      if (!p) throw new ScorerRuntimeError(`packNativeModel: missing parameter ${name}`);
      parts.push(p.data);
    }
    parts.push(m.eps);
  }
  const floats = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    floats.set(p, at);
    at += p.length;
  }
  let transform: Float64Array;
  if (t.kind === 'scale') transform = Float64Array.of(t.factor);
  else {
    transform = new Float64Array(3 * D);
    transform.set(t.kind === 'minmax' ? t.min : t.mean, 0);
    transform.set(t.kind === 'minmax' ? t.max : t.std, D);
    for (const w of t.wrap ?? []) transform[2 * D + w.column] = Math.fround(w.period);
  }
  return { config, floats, transform };
}

export interface NativeScorerOptions {
  /** Threads per scoreBatch (default: the machine's available parallelism). */
  threads?: number;
  /** As ScorerOptions.inputComplexity. */
  inputComplexity?: boolean;
}

/** The fused native scorer (see the module comment). Create with {@link NativeScorer.create}. */
export class NativeScorer implements Scorer {
  readonly executionProvider = 'native';
  private closed = false;
  private inFlight = new Set<Promise<void>>();

  private constructor(
    private readonly addon: NativeAddon,
    private model: NativeModel | undefined,
    readonly inputDim: number,
    readonly members: number,
    readonly threads: number,
    readonly inputComplexity: boolean,
  ) {}

  /** Throws {@link ScorerRuntimeError} when the addon is unavailable or the ensemble unsupported. */
  static create(spec: EnsembleSpec, opts: NativeScorerOptions = {}): NativeScorer {
    validateEnsembleSpec(spec);
    const why = nativeUnsupported(spec);
    if (why) throw new ScorerRuntimeError(`the native scorer cannot score ${why}`);
    const { addon, error } = loadNativeAddon();
    if (!addon) throw new ScorerRuntimeError(`the native scorer is unavailable: ${error}`);
    const threads = opts.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1)
      throw new ScorerRuntimeError(`threads must be a positive integer, got ${threads}`);
    const { config, floats, transform } = packNativeModel(spec);
    let model: NativeModel;
    try {
      model = addon.create(config, floats, transform);
    } catch (e) {
      throw new ScorerRuntimeError(`the native scorer refused the model: ${(e as Error).message}`, e);
    }
    return new NativeScorer(
      addon,
      model,
      spec.inputDim,
      spec.members.length,
      threads,
      opts.inputComplexity ?? false,
    );
  }

  async scoreBatch(x: Float32Array, n: number): Promise<ScoreBatch> {
    checkScoreInput(this.closed, x, n, this.inputDim);
    const M = this.members;
    const out = emptyScoreBatch(n, M);
    if (n > 0) {
      const running = this.addon.score(
        this.model as NativeModel,
        x,
        n,
        this.threads,
        out.logp,
        out.memberRate,
        out.logpMean,
        out.logpVar,
        out.waic,
        out.rate,
      );
      this.inFlight.add(running);
      try {
        // the kernel runs on a libuv worker: the complexity is computed meanwhile
        if (this.inputComplexity) out.complexity = inputComplexity(x, n, this.inputDim);
        await running;
      } catch (e) {
        throw new ScorerRuntimeError(`native scoring failed: ${(e as Error).message}`, e);
      } finally {
        this.inFlight.delete(running);
      }
    } else if (this.inputComplexity) out.complexity = new Float32Array(0);
    out.input = x;
    return out;
  }

  /** Waits for running batches, then drops the model (the addon frees it when collected). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled([...this.inFlight]);
    this.model = undefined;
  }
}
