/**
 * Timing pieces the throughput benchmarks share: a timed loop (wall and CPU seconds per call) and
 * onnxruntime's sgemm peak on this machine (the ceiling the engine's figures are read against).
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/engine/onnx/graph.js';
import { Rng } from '../../src/engine/random.js';

/**
 * Calls `fn` once to warm up, then repeatedly for `seconds` (at most 10,000 calls); returns
 * [wall seconds per call, CPU seconds per call] (CPU of the whole process: all its threads).
 */
export async function timeIt(fn: () => Promise<unknown>, seconds: number): Promise<[number, number]> {
  await fn();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let it = 0;
  for (;;) {
    await fn();
    it++;
    const el = (performance.now() - t0) / 1000;
    if (el >= seconds || it >= 10000) {
      const c = process.cpuUsage(c0);
      return [el / it, (c.user + c.system) / 1e6 / it];
    }
  }
}

/**
 * onnxruntime's float32 MatMul peak, a 2048² × 2048² product with `threads` intra-op threads:
 * [GFLOP/s per wall second, GFLOP/s per CPU second].
 */
export async function ortPeak(threads: number): Promise<[number, number]> {
  const n = 2048;
  const g = new GraphBuilder();
  const rng = new Rng(1);
  g.op(
    'MatMul',
    [
      'a',
      g.f32(
        'b',
        [n, n],
        new Float32Array(n * n).map(() => rng.uniform()),
      ),
    ],
    {},
    'y',
  );
  const bytes = g.toModel({
    graphName: 'peak',
    inputs: [{ name: 'a', dims: [n, n] }],
    outputs: [{ name: 'y', dims: [n, n] }],
  });
  const s = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    extra: { session: { intra_op: { allow_spinning: '0' } } },
  });
  const a = new ort.Tensor(
    'float32',
    new Float32Array(n * n).map(() => rng.uniform()),
    [n, n],
  );
  const [w, c] = await timeIt(() => s.run({ a }), 2);
  await s.release();
  return [(2 * n ** 3) / w / 1e9, (2 * n ** 3) / c / 1e9];
}

/**
 * Below this sgemm rate (GFLOP/s per CPU-second, 2048² MatMul) the PyTorch peer is on a slow BLAS
 * (Debian's reference libblas3 gives ~2; OpenBLAS ~80 here): the benchmarks print no ratio then.
 */
export const SLOW_BLAS_GFLOPS = 20;
