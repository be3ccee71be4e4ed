/**
 * Per-operator profile of the scoring graph (onnxruntime's built-in profiler), for finding where
 * the time goes.   npx tsx benchmarks/engine-throughput/profile.ts [credit|mnist|conv] [batch] [threads]
 * (conv: the shape of conv.ts, base 8, Dz 16, MAF 6 × (64, 64))
 */
import { readFileSync, unlinkSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { exportEnsembleOnnx } from '../../src/engine/onnx/export.js';
import { makeEps, randomParams, Rng } from '../../src/engine/random.js';
import { dataDim, type Arch, type EnsembleSpec, type MemberSpec } from '../../src/engine/spec.js';
import { makeMafPrior } from '../../src/engine/vae.js';

const [shape = 'credit', batchS = '4096', thrS = '1'] = process.argv.slice(2);
const arch: Arch =
  shape === 'credit'
    ? { kind: 'mlp', inputDim: 30, encoderHidden: [32], decoderHidden: [30], latentDim: 4 }
    : shape === 'conv'
      ? { kind: 'conv', height: 28, width: 28, channels: 1, base: 8, latentDim: 16 }
      : { kind: 'mlp', inputDim: 784, encoderHidden: [512], decoderHidden: [512], latentDim: 16 };
const inputDim = dataDim(arch);
const M = 5,
  K = 16,
  N = Number(batchS);
const member: MemberSpec = {
  arch,
  likelihood: 'bernoulli',
  prior: arch.kind === 'conv' ? makeMafPrior(16, 6, [64, 64], 1) : { kind: 'standard' },
};
const spec: EnsembleSpec = {
  specVersion: 1,
  member,
  transform: { kind: 'scale', factor: 1 },
  inputDim,
  k: K,
  members: Array.from({ length: M }, (_, m) => ({
    seed: m,
    params: randomParams(member, m),
    eps: makeEps(m, K, arch.latentDim),
  })),
};
const bytes = exportEnsembleOnnx(spec);
const s = await ort.InferenceSession.create(bytes, {
  intraOpNumThreads: Number(thrS),
  interOpNumThreads: 1,
  graphOptimizationLevel: 'all',
  enableProfiling: true,
  profileFilePrefix: '/tmp/perf/ortprof',
  optimizedModelFilePath: `/tmp/perf/opt_${shape}.onnx`,
});
const rng = new Rng(1);
const x = new ort.Tensor(
  'float32',
  new Float32Array(N * inputDim).map(() => rng.uniform()),
  [N, inputDim],
);
for (let i = 0; i < 10; i++) await s.run({ x });
s.endProfiling();
await s.release();
const { readdirSync } = await import('node:fs');
const file = readdirSync('/tmp/perf')
  .filter((f) => f.startsWith('ortprof') && f.endsWith('.json'))
  .map((f) => `/tmp/perf/${f}`)
  .sort()
  .at(-1) as string;
const ev = JSON.parse(readFileSync(file, 'utf8')) as Array<{
  cat: string;
  name: string;
  dur: number;
  args?: { op_name?: string };
}>;
if (!process.env.KEEP) unlinkSync(file);
const byOp = new Map<string, { us: number; n: number }>();
const byNode = new Map<string, number>();
let total = 0,
  runs = 0;
for (const e of ev) {
  if (e.cat === 'Session' && e.name === 'model_run') {
    total += e.dur;
    runs++;
  }
  if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
  const op = e.args?.op_name ?? '?';
  const r = byOp.get(op) ?? { us: 0, n: 0 };
  r.us += e.dur;
  r.n++;
  byOp.set(op, r);
  byNode.set(
    `${op} ${e.name.replace('_kernel_time', '')}`,
    (byNode.get(`${op} ${e.name.replace('_kernel_time', '')}`) ?? 0) + e.dur,
  );
}
const sum = [...byOp.values()].reduce((a, b) => a + b.us, 0);
console.log(
  `${shape} N=${N} threads=${thrS}: model_run ${(total / runs / 1000).toFixed(2)} ms/run, kernels ${(sum / runs / 1000).toFixed(2)} ms/run, ${((N * runs) / (total / 1e6)).toFixed(0)} rec/s`,
);
for (const [op, r] of [...byOp].sort((a, b) => b[1].us - a[1].us))
  console.log(
    `  ${op.padEnd(22)} ${(r.us / runs / 1000).toFixed(3).padStart(8)} ms/run  ${(r.n / runs).toFixed(0).padStart(4)} nodes`,
  );
if (process.env.NODES)
  for (const [nm, us] of [...byNode].sort((a, b) => b[1] - a[1]).slice(0, Number(process.env.NODES)))
    console.log(`    ${nm.padEnd(40)} ${(us / runs / 1000).toFixed(3)} ms/run`);
