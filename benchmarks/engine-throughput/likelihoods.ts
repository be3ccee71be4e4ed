/**
 * Scoring cost of each likelihood on a declared kind's shape, in the same run: the fused native kernel
 * and onnxruntime, 1 thread, records per second (best of the rounds, wall and process CPU time).
 *
 *   npx tsx benchmarks/engine-throughput/likelihoods.ts [--seconds S] [--rounds R]
 *
 * Shape: a declared kind of 40 encoded columns, 7 continuous and 33 binary (a one-hot of 24 categories
 * plus `__other__`, 3 booleans, 5 missing indicators), the declared kinds' default MLP (40 → [64] →
 * Dz 8 → [64] → 40), M = 5, K = 16, batch 1,024, random weights; the inputs have 0/1 in the binary
 * columns. The 'mixed' rows are the declared kinds' default since 2026-12-07; 'gaussian' was before.
 */
import { cpus, loadavg } from 'node:os';
import { timeIt } from '../lib/timing.js';
import { exportEnsembleOnnx } from '../../src/engine/onnx/export.js';
import { makeEps, randomParams, Rng } from '../../src/engine/random.js';
import { OnnxScorer } from '../../src/engine/scorer.js';
import { loadNativeAddon, NativeScorer } from '../../src/engine/native-scorer.js';
import type { EnsembleSpec, Likelihood, MemberSpec } from '../../src/engine/spec.js';
import type { Scorer } from '../../src/engine/types.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const SECONDS = Number(opt('--seconds') ?? 2);
const ROUNDS = Number(opt('--rounds') ?? 3);
const D = 40;
const CONTINUOUS = 7;
const BATCH = 1024;
const M = 5;
const K = 16;
const BINARY = Array.from({ length: D - CONTINUOUS }, (_, i) => CONTINUOUS + i);

function ensemble(likelihood: Likelihood): EnsembleSpec {
  const member: MemberSpec = {
    arch: { kind: 'mlp', inputDim: D, encoderHidden: [64], decoderHidden: [64], latentDim: 8 },
    likelihood,
    prior: { kind: 'standard' },
    ...(likelihood === 'mixed' ? { binaryColumns: BINARY } : {}),
  };
  return {
    specVersion: 1,
    member,
    transform: { kind: 'scale', factor: 1 },
    inputDim: D,
    k: K,
    members: Array.from({ length: M }, (_, m) => ({
      seed: m,
      params: randomParams(member, m),
      eps: makeEps(m, K, 8),
    })),
  };
}

const rng = new Rng(5);
const x = new Float32Array(BATCH * D);
for (let i = 0; i < BATCH; i++)
  for (let d = 0; d < D; d++) x[i * D + d] = d < CONTINUOUS ? rng.normal() : rng.uniform() < 0.2 ? 1 : 0;

const native = loadNativeAddon();
console.log(
  `likelihood scoring cost: D ${D} (${CONTINUOUS} continuous, ${BINARY.length} binary), M ${M}, K ${K}, batch ${BATCH}, 1 thread, ${SECONDS} s × ${ROUNDS} rounds, ${cpus()[0]?.model ?? 'cpu'}, load ${loadavg()[0].toFixed(1)}`,
);
console.log('\n| likelihood | engine | records/s (wall) | records/s (CPU) |');
console.log('| --- | --- | ---: | ---: |');
for (const lik of ['bernoulli', 'gaussian', 'mixed'] as const) {
  const spec = ensemble(lik);
  const engines: Array<[string, Scorer]> = [
    [
      'onnxruntime',
      await OnnxScorer.create(exportEnsembleOnnx(spec), { intraOpNumThreads: 1, interOpNumThreads: 1 }),
    ],
  ];
  if (native.addon) engines.push(['native', NativeScorer.create(spec, { threads: 1 })]);
  for (const [name, scorer] of engines) {
    let best: [number, number] = [Infinity, Infinity];
    for (let r = 0; r < ROUNDS; r++) {
      const [wall, cpu] = await timeIt(() => scorer.scoreBatch(x, BATCH), SECONDS);
      best = [Math.min(best[0], wall), Math.min(best[1], cpu)];
    }
    console.log(`| ${lik} | ${name} | ${Math.round(BATCH / best[0])} | ${Math.round(BATCH / best[1])} |`);
    await scorer.close();
  }
}
console.log(
  `\nload at the end ${loadavg()[0].toFixed(1)}${native.addon ? '' : `; native not measured: ${native.error}`}`,
);
