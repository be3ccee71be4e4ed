/**
 * Engine throughput for the paper's conv VAE with a learned MAF prior (the shape the detection issue
 * trains: base 8, Dz 16, MAF 6 × (64, 64); M = 5, K = 16), scored by OnnxScorer (onnxruntime-node, CPU)
 * beside the same workload in PyTorch (torch_conv_peer.py), in the same invocation, round by round.
 *
 *   npx tsx benchmarks/engine-throughput/conv.ts [--base 8] [--batch 64] [--seconds 3] [--rounds 2] [--no-torch]
 *
 * Records/s in wall time and per CPU-second (best round of each), the share of the measured sgemm peak
 * (2048² MatMul in onnxruntime) the scorer reaches, and the ratio to PyTorch. The peer must be fair: it
 * reports which BLAS library torch loaded and its own sgemm peak; with Debian's reference BLAS
 * (libblas3, ~2 GFLOP/s) instead of OpenBLAS (`apt-get install libopenblas0-pthread`) PyTorch is many
 * times slower and the ratio would mean nothing, so none is printed then.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ortPeak, SLOW_BLAS_GFLOPS, timeIt } from '../lib/timing.js';
import { exportEnsembleOnnx } from '../../src/engine/onnx/export.js';
import { convDecoderLayers, convEncoderLayers } from '../../src/engine/params.js';
import { makeEps, randomParams, Rng } from '../../src/engine/random.js';
import { OnnxScorer } from '../../src/engine/scorer.js';
import { makeMafPrior } from '../../src/engine/vae.js';
import type { EnsembleSpec, MemberSpec } from '../../src/engine/spec.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, dflt: string): string => {
  const i = args.indexOf(name);
  return i >= 0 ? (args[i + 1] ?? dflt) : dflt;
};
const BASE = Number(opt('--base', '8'));
const BATCH = Number(opt('--batch', '64'));
const SECONDS = Number(opt('--seconds', '3'));
const ROUNDS = Number(opt('--rounds', '2'));
const THREADS = [1, 2];
const M = 5;
const K = 16;
const DZ = 16;
const MAF: [number, number[]] = [6, [64, 64]];

const member: MemberSpec = {
  arch: { kind: 'conv', height: 28, width: 28, channels: 1, base: BASE, latentDim: DZ },
  likelihood: 'bernoulli',
  prior: makeMafPrior(DZ, MAF[0], MAF[1], 1),
};
const spec: EnsembleSpec = {
  specVersion: 1,
  member,
  transform: { kind: 'scale', factor: 1 },
  inputDim: 784,
  k: K,
  members: Array.from({ length: M }, (_, m) => ({
    seed: m,
    params: randomParams(member, m),
    eps: makeEps(m, K, DZ),
  })),
};

/** Multiply-adds ×2 per record: encoder convs + heads once, decoder convs and the MAF K times, M members. */
function flopsPerRecord(): number {
  let enc = 0;
  let size = 28;
  for (const l of convEncoderLayers({ height: 28, width: 28, channels: 1, base: BASE, latentDim: DZ })) {
    size = l.padding === 'same' ? Math.ceil(size / l.stride) : size - l.k + 1;
    enc += 2 * size * size * l.k * l.k * l.cin * l.cout;
  }
  enc += 2 * 4 * DZ * 2 * DZ;
  let dec = 0;
  size = 1;
  for (const l of convDecoderLayers({ height: 28, width: 28, channels: 1, base: BASE, latentDim: DZ })) {
    size = l.padding === 'same' ? size * l.stride : (size - 1) * l.stride + l.k;
    // a transposed conv costs what the conv it is the gradient of costs: input h×w × k² × cin × cout
    dec += 2 * (size / l.stride) * (size / l.stride) * l.k * l.k * l.cin * l.cout;
  }
  dec += 2 * 28 * 28 * 25 * BASE;
  const dims = [DZ, ...MAF[1], 2 * DZ];
  const maf = MAF[0] * dims.slice(1).reduce((s, d, i) => s + 2 * dims[i] * d, 0);
  return M * (enc + K * (dec + maf));
}

interface PeerLine {
  kind: 'blas' | 'peak' | 'score';
  libs?: string[];
  torch?: string;
  threads?: number;
  gflopsCpu?: number;
  rps?: number;
  rpsCpu?: number;
}

function runPeer(threads: number): PeerLine[] {
  const py = '/usr/bin/python3';
  const r = spawnSync(
    py,
    [
      join(here, 'torch_conv_peer.py'),
      JSON.stringify({
        base: BASE,
        dz: DZ,
        maf: MAF,
        m: M,
        k: K,
        batches: [BATCH],
        threads: [threads],
        seconds: SECONDS,
      }),
    ],
    {
      encoding: 'utf8',
      timeout: 600_000,
      // one thread means one: OpenBLAS and OpenMP pools follow the peer's thread count
      env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads), OMP_NUM_THREADS: String(threads) },
    },
  );
  if (r.status !== 0) throw new Error(`torch peer failed: ${r.stderr || r.error?.message}`);
  return r.stdout
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as PeerLine);
}

const cpu = /model name\s*:\s*(.*)/.exec(
  existsSync('/proc/cpuinfo') ? (await import('node:fs')).readFileSync('/proc/cpuinfo', 'utf8') : '',
)?.[1];
console.log(
  `conv engine throughput: conv VAE base ${BASE}, Dz ${DZ}, MAF ${MAF[0]} × (${MAF[1].join(', ')}), M = ${M}, K = ${K}, batch ${BATCH}, ${SECONDS} s per cell, ${ROUNDS} rounds; ${cpu ?? 'unknown CPU'}, ${cpus().length} logical CPUs, load ${loadavg()[0].toFixed(1)}`,
);
const flops = flopsPerRecord();
const bytes = exportEnsembleOnnx(spec);
const rng = new Rng(7);
const x = new Float32Array(BATCH * 784).map(() => rng.uniform());
const useTorch = !args.includes('--no-torch') && existsSync('/usr/bin/python3');
const best = new Map<string, { rps: number; rpsCpu: number }>();
const keep = (key: string, rps: number, rpsCpu: number): void => {
  const b = best.get(key);
  best.set(key, { rps: Math.max(rps, b?.rps ?? 0), rpsCpu: Math.max(rpsCpu, b?.rpsCpu ?? 0) });
};
const peaks = new Map<number, number>();
let blas: PeerLine | undefined;
const torchPeak = new Map<number, number>();
for (let round = 0; round < ROUNDS; round++) {
  for (const t of THREADS) {
    peaks.set(t, Math.max(peaks.get(t) ?? 0, (await ortPeak(t))[1]));
    const scorer = await OnnxScorer.create(bytes, { intraOpNumThreads: t, interOpNumThreads: 1 });
    const [w, c] = await timeIt(() => scorer.scoreBatch(x, BATCH), SECONDS);
    await scorer.close();
    keep(`ort/${t}`, BATCH / w, BATCH / c);
    console.log(
      `  round ${round} onnxruntime ${t} thread(s): ${(BATCH / w).toFixed(1)} rec/s, ${(BATCH / c).toFixed(1)} per CPU-s`,
    );
    if (useTorch) {
      for (const l of runPeer(t)) {
        if (l.kind === 'blas') blas = l;
        if (l.kind === 'peak') torchPeak.set(t, Math.max(torchPeak.get(t) ?? 0, l.gflopsCpu ?? 0));
        if (l.kind === 'score') {
          keep(`torch/${t}`, l.rps ?? 0, l.rpsCpu ?? 0);
          console.log(
            `  round ${round} PyTorch ${t} thread(s): ${(l.rps ?? 0).toFixed(1)} rec/s, ${(l.rpsCpu ?? 0).toFixed(1)} per CPU-s`,
          );
        }
      }
    }
  }
}
console.log(`  ${(flops / 1e9).toFixed(2)} GFLOP per record (multiply-adds ×2, M members, K decoder passes)`);
if (useTorch)
  console.log(
    `  PyTorch ${blas?.torch ?? '?'} loaded BLAS: ${(blas?.libs ?? []).join(', ') || 'none found'}`,
  );
const slowBlas =
  useTorch &&
  ((blas?.libs ?? []).every((l) => !/openblas|mkl/i.test(l)) ||
    [...torchPeak.values()].some((g) => g < SLOW_BLAS_GFLOPS));
if (slowBlas)
  console.log(
    `  PyTorch runs on a slow BLAS (no OpenBLAS/MKL loaded, or sgemm < ${SLOW_BLAS_GFLOPS} GFLOP/s per CPU-s): no ratio is printed. apt-get install libopenblas0-pthread`,
  );
console.log(
  `\n| threads | onnxruntime rec/s (per CPU-s) | % of sgemm peak (per CPU-s) | PyTorch rec/s (per CPU-s) | ratio (per CPU-s) |`,
);
console.log('| ---: | ---: | ---: | ---: | ---: |');
for (const t of THREADS) {
  const o = best.get(`ort/${t}`)!;
  const p = best.get(`torch/${t}`);
  const peak = peaks.get(t)!;
  const pctPeak = ((o.rpsCpu * flops) / 1e9 / peak) * 100;
  const ratio =
    p && !slowBlas ? `${(o.rps / p.rps).toFixed(2)}× (${(o.rpsCpu / p.rpsCpu).toFixed(2)}×)` : 'n/a';
  console.log(
    `| ${t} | ${o.rps.toFixed(1)} (${o.rpsCpu.toFixed(1)}) | ${pctPeak.toFixed(0)} % of ${peak.toFixed(1)} GFLOP/s | ${p ? `${p.rps.toFixed(1)} (${p.rpsCpu.toFixed(1)})` : 'not run'} | ${ratio} |`,
  );
}
console.log(
  `load average at the end: ${loadavg()
    .map((v) => v.toFixed(1))
    .join(' ')}`,
);
