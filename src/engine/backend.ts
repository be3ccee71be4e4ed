/**
 * Picks the TensorFlow.js backend that trains models, in order of preference:
 *   1. `@tensorflow/tfjs-node-gpu` (native TensorFlow with CUDA) when it loads,
 *   2. `@tensorflow/tfjs-node` (native TensorFlow, CPU) when it loads,
 *   3. `@tensorflow/tfjs-backend-wasm` (XNNPACK, SIMD; one thread in Node),
 *   4. the pure-JS `cpu` backend, with a loud warning (10–50× slower than wasm).
 * The native packages are optional and normally absent; their absence is not an error.
 *
 * The wasm backend lacks a `Conv2DBackpropFilter` kernel (needed to train the convolutional VAE);
 * {@link initBackend} registers one built on the wasm `Conv3DBackpropFilterV2` kernel.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { GensembleError } from '../errors.js';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';

export interface BackendInfo {
  /** What trains: 'tensorflow-gpu' | 'tensorflow' (native bindings) | 'wasm' | 'cpu'. */
  name: BackendName;
  /** tf.getBackend() after initialisation. */
  tfBackend: string;
  /** One human-readable line, e.g. "wasm (SIMD, 1 thread)". */
  detail: string;
  /** Warnings the caller should log (e.g. falling back to the slow pure-JS backend). */
  warnings: string[];
}

export class BackendError extends GensembleError {
  declare readonly code: 'E_BACKEND';
  constructor(message: string, options?: { cause?: unknown }) {
    super('E_BACKEND', message, options?.cause === undefined ? {} : { cause: options.cause });
  }
}

export interface InitBackendOptions {
  /**
   * Preferred backend. 'auto' (default) tries native GPU, native CPU, wasm, cpu in that order.
   * A specific name tries only that one (and falls back to the order above if it cannot load,
   * unless `strict` is set).
   */
  prefer?: BackendName | 'auto';
  /** Fail instead of falling back when `prefer` cannot be initialised. */
  strict?: boolean;
}

let current: BackendInfo | null = null;

/** The backend chosen by the last {@link initBackend}, or null. */
export function currentBackend(): BackendInfo | null {
  return current;
}

/** The optional native tfjs package behind each native backend name. */
const NATIVE_PACKAGES = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
} as const;

async function tryNative(pkg: string): Promise<boolean> {
  try {
    // The native packages register their 'tensorflow' backend on import. They are optional
    // dependencies: not installed here, so a missing module is the normal case.
    await import(/* @vite-ignore */ pkg);
    return tf.findBackend('tensorflow') !== null && (await tf.setBackend('tensorflow'));
  } catch {
    return false;
  }
}

/** Directory (with trailing separator) holding the tfjs-backend-wasm .wasm binaries. */
export function wasmDistDir(): string {
  const require = createRequire(import.meta.url);
  const pkgJson = require.resolve('@tensorflow/tfjs-backend-wasm/package.json');
  return path.join(path.dirname(pkgJson), 'dist') + path.sep;
}

async function tryWasm(): Promise<{ ok: boolean; simd: boolean; threads: boolean; error?: unknown }> {
  try {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    // setWasmPaths throws once the wasm backend has been initialised (by us or anyone else).
    if (tf.findBackend('wasm') === null) {
      try {
        wasm.setWasmPaths(wasmDistDir());
      } catch {
        /* already initialised elsewhere: its paths were good enough */
      }
    }
    const ok = await tf.setBackend('wasm');
    if (!ok) return { ok: false, simd: false, threads: false };
    await tf.ready();
    const simd = (await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')) === true;
    const threads = (await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')) === true;
    registerWasmConv2DBackpropFilter();
    return { ok: true, simd, threads };
  } catch (error) {
    return { ok: false, simd: false, threads: false, error };
  }
}

let convFilterRegistered = false;

/**
 * Conv2DBackpropFilter for wasm, as a depth-1 Conv3DBackpropFilterV2 (which wasm does have).
 * Inputs x [B,H,W,Ci], dy [B,h,w,Co]; attrs strides, pad ('same' | 'valid'), filterShape.
 */
function registerWasmConv2DBackpropFilter(): void {
  if (convFilterRegistered || tf.getKernel('Conv2DBackpropFilter', 'wasm') !== undefined) return;
  const conv3d = tf.getKernel('Conv3DBackpropFilterV2', 'wasm');
  const reshape = tf.getKernel('Reshape', 'wasm');
  if (conv3d === undefined || reshape === undefined) return;
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const a = attrs as unknown as {
        strides: number | [number, number];
        pad: 'same' | 'valid' | number;
        filterShape: [number, number, number, number];
        dataFormat?: string;
        dimRoundingMode?: string;
      };
      if (a.dataFormat !== undefined && a.dataFormat !== 'NHWC') {
        throw new BackendError(
          `Conv2DBackpropFilter (wasm shim): only NHWC is supported, got ${a.dataFormat}`,
        );
      }
      if (typeof a.pad !== 'string') {
        throw new BackendError(`Conv2DBackpropFilter (wasm shim): only 'same'/'valid' padding is supported`);
      }
      const [sh, sw] = typeof a.strides === 'number' ? [a.strides, a.strides] : a.strides;
      const x5 = reshape.kernelFunc({
        inputs: { x },
        backend,
        attrs: { shape: [x.shape[0], 1, x.shape[1], x.shape[2], x.shape[3]] },
      }) as tf.TensorInfo;
      const dy5 = reshape.kernelFunc({
        inputs: { x: dy },
        backend,
        attrs: { shape: [dy.shape[0], 1, dy.shape[1], dy.shape[2], dy.shape[3]] },
      }) as tf.TensorInfo;
      const f5 = conv3d.kernelFunc({
        inputs: { x: x5, dy: dy5 },
        backend,
        attrs: { strides: [1, sh, sw], pad: a.pad, filterShape: [1, ...a.filterShape] },
      }) as tf.TensorInfo;
      const out = reshape.kernelFunc({
        inputs: { x: f5 },
        backend,
        attrs: { shape: a.filterShape },
      }) as tf.TensorInfo;
      // Reshape in wasm shares the data id (reference counted); release our intermediates.
      const b = backend as unknown as { disposeData(id: object): boolean };
      b.disposeData(x5.dataId);
      b.disposeData(dy5.dataId);
      b.disposeData(f5.dataId);
      return out;
    },
  });
  convFilterRegistered = true;
}

/**
 * Initialises the best available tfjs backend (see the module comment) and reports it.
 * Idempotent: a second call returns the same info unless a different `prefer` is given.
 */
export async function initBackend(
  options: InitBackendOptions | BackendName | 'auto' = {},
): Promise<BackendInfo> {
  const opts: InitBackendOptions = typeof options === 'string' ? { prefer: options } : options;
  const prefer = opts.prefer ?? 'auto';
  if (
    current !== null &&
    (prefer === 'auto' || prefer === current.name) &&
    tf.getBackend() === current.tfBackend
  ) {
    return current;
  }
  const order: BackendName[] =
    prefer === 'auto'
      ? ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu']
      : opts.strict
        ? [prefer]
        : [
            prefer,
            ...(['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as BackendName[]).filter((n) => n !== prefer),
          ];
  const warnings: string[] = [];
  let wasmError: unknown;
  for (const name of order) {
    if ((name === 'tensorflow-gpu' || name === 'tensorflow') && (await tryNative(NATIVE_PACKAGES[name]))) {
      current = {
        name,
        tfBackend: tf.getBackend(),
        detail: `tensorflow (native, ${NATIVE_PACKAGES[name]})`,
        warnings,
      };
      return current;
    }
    if (name === 'wasm') {
      const w = await tryWasm();
      if (w.ok) {
        if (!w.simd)
          warnings.push('tfjs-wasm is running WITHOUT SIMD: training will be several times slower');
        current = {
          name,
          tfBackend: tf.getBackend(),
          detail: `wasm (${w.simd ? 'SIMD' : 'no SIMD'}, ${w.threads ? 'multi-threaded' : '1 thread'})`,
          warnings,
        };
        return current;
      }
      wasmError = w.error;
    }
    if (name === 'cpu') {
      const ok = await tf.setBackend('cpu');
      if (ok) {
        await tf.ready();
        warnings.push(
          'WARNING: falling back to the pure-JavaScript tfjs "cpu" backend; training will be 10-50x slower than wasm' +
            (wasmError !== undefined ? ` (wasm failed: ${String(wasmError)})` : ''),
        );
        current = { name, tfBackend: 'cpu', detail: 'cpu (pure JavaScript, slow)', warnings };
        return current;
      }
    }
  }
  throw new BackendError(`no tfjs backend could be initialised (tried ${order.join(', ')})`, {
    cause: wasmError,
  });
}
