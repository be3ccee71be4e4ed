/**
 * Cost of the input complexity L(x) on the frames path: OnnxScorer.scoreBatch on real MNIST test
 * frames with and without `inputComplexity` (the frames default rule needs it), interleaved rounds,
 * median and best; plus inputComplexity() alone. MNIST-shape ensemble (M = 5, K = 16, random
 * weights: the speed does not depend on them).
 *
 *   npx tsx benchmarks/engine-throughput/input-complexity.ts [--frames 5000] [--rounds 6]
 */
import { inputComplexity } from '../../src/engine/complexity.js';
import { exportEnsembleOnnx } from '../../src/engine/onnx/export.js';
import { makeEps, randomParams } from '../../src/engine/random.js';
import { OnnxScorer } from '../../src/engine/scorer.js';
import type { EnsembleSpec, MlpArch } from '../../src/engine/spec.js';
import { loadMnist, resolveDataDir } from '../../src/data/datasets.js';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  const v = i >= 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer`);
  return v;
};
const N = arg('--frames', 5000);
const ROUNDS = arg('--rounds', 6);

const arch: MlpArch = {
  kind: 'mlp',
  inputDim: 784,
  encoderHidden: [512],
  decoderHidden: [512],
  latentDim: 16,
};
const member = { arch, likelihood: 'bernoulli' as const, prior: { kind: 'standard' as const } };
const spec: EnsembleSpec = {
  specVersion: 1,
  member,
  transform: { kind: 'scale', factor: 1 / 255 },
  inputDim: 784,
  k: 16,
  members: Array.from({ length: 5 }, (_, m) => ({
    seed: m,
    params: randomParams(member, m),
    eps: makeEps(m, 16, 16),
  })),
};

const mnist = await loadMnist(resolveDataDir(), 'test');
const n = Math.min(N, mnist.images.count);
const x = Float32Array.from(mnist.images.pixels.subarray(0, n * 784));
const bytes = exportEnsembleOnnx(spec);
const scorers = {
  without: await OnnxScorer.create(bytes),
  with: await OnnxScorer.create(bytes, { inputComplexity: true }),
};
const rates: Record<'without' | 'with' | 'alone', number[]> = { without: [], with: [], alone: [] };
await scorers.without.scoreBatch(x.subarray(0, 784 * 256), 256);
await scorers.with.scoreBatch(x.subarray(0, 784 * 256), 256);
for (let r = 0; r < ROUNDS; r++) {
  for (const k of ['without', 'with'] as const) {
    const t = performance.now();
    await scorers[k].scoreBatch(x, n);
    rates[k].push(n / ((performance.now() - t) / 1000));
  }
  const t = performance.now();
  inputComplexity(x, n, 784);
  rates.alone.push(n / ((performance.now() - t) / 1000));
}
await Promise.all([scorers.without.close(), scorers.with.close()]);
const med = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const best = (v: number[]): number => Math.max(...v);
const row = (name: string, v: number[]): string =>
  `| ${name} | ${med(v).toFixed(0)} | ${best(v).toFixed(0)} | ${(1e6 / med(v)).toFixed(0)} |`;
process.stdout.write(
  [
    `MNIST test frames: ${n} per scoreBatch, ${ROUNDS} interleaved rounds; M = 5, K = 16, chunk ${scorers.with.chunkSize}`,
    '| measurement | median frames/s | best frames/s | µs/frame (median) |',
    '| --- | ---: | ---: | ---: |',
    row('scoreBatch', rates.without),
    row('scoreBatch + inputComplexity', rates.with),
    row('inputComplexity() alone', rates.alone),
    `overhead of the complexity on scoreBatch (medians): ${(100 * (1 - med(rates.with) / med(rates.without))).toFixed(1)}%`,
  ].join('\n') + '\n',
);
