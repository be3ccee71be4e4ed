/**
 * Engine throughput benchmark: IWAE-K scoring of random-weight M-member ensembles with
 * onnxruntime-node (through OnnxScorer, default chunk size) and with gensemble's fused native kernel
 * (NativeScorer, where `npm run build:native` built it), beside the same workload in PyTorch
 * (torch_peer.py, run in the same invocation, interleaved round by round) and the machine's
 * measured sgemm peak (2048² MatMul in both runtimes).
 *
 *   npx tsx benchmarks/engine-throughput/run.ts [--seconds S] [--rounds R] [--no-torch] [--md FILE]
 *
 * Shapes (M=5, K=16, Bernoulli, standard prior):
 *   credit: MLP 30 → [32] → Dz 4 → [30] → 30
 *   mnist:  MLP 784 → [512] → Dz 16 → [512] → 784
 *
 * Every cell is measured in wall time and in process CPU time (best round of each): on a
 * shared machine wall time depends on the other jobs, while CPU time per record of a 1-thread run
 * is close to what an idle core would give. The load average is printed with the table.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ortPeak, SLOW_BLAS_GFLOPS, timeIt } from '../lib/timing.js';
import { exportEnsembleOnnx } from '../../src/engine/onnx/export.js';
import { makeEps, randomParams, Rng } from '../../src/engine/random.js';
import { OnnxScorer } from '../../src/engine/scorer.js';
import { loadNativeAddon, NativeScorer } from '../../src/engine/native-scorer.js';
import type { Scorer } from '../../src/engine/types.js';
import type { EnsembleSpec, MlpArch } from '../../src/engine/spec.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const SECONDS = Number(opt('--seconds') ?? 2);
const ROUNDS = Number(opt('--rounds') ?? 3);
const M = 5;
const K = 16;
const BATCHES = [256, 4096];
const THREADS = [1, 2];

interface Shape {
  name: 'credit' | 'mnist';
  arch: MlpArch;
}
const SHAPES: Shape[] = [
  {
    name: 'credit',
    arch: { kind: 'mlp', inputDim: 30, encoderHidden: [32], decoderHidden: [30], latentDim: 4 },
  },
  {
    name: 'mnist',
    arch: { kind: 'mlp', inputDim: 784, encoderHidden: [512], decoderHidden: [512], latentDim: 16 },
  },
];

function ensembleOf(arch: MlpArch): EnsembleSpec {
  const member = { arch, likelihood: 'bernoulli' as const, prior: { kind: 'standard' as const } };
  return {
    specVersion: 1,
    member,
    transform: { kind: 'scale', factor: 1 },
    inputDim: arch.inputDim,
    k: K,
    members: Array.from({ length: M }, (_, m) => ({
      seed: m,
      params: randomParams(member, m),
      eps: makeEps(m, K, arch.latentDim),
    })),
  };
}

/** Multiply-adds ×2 of the dense layers: encoder + heads once, decoder K times, per member. */
function flopsPerRecord(a: MlpArch): number {
  const dense = (dims: number[]): number => dims.slice(1).reduce((s, d, i) => s + 2 * dims[i] * d, 0);
  const enc =
    dense([a.inputDim, ...a.encoderHidden]) + 2 * (a.encoderHidden.at(-1) ?? a.inputDim) * 2 * a.latentDim;
  const dec = dense([a.latentDim, ...a.decoderHidden, a.inputDim]);
  return M * (enc + K * dec);
}

/** Seconds per call: [wall, process CPU], after one warm-up call. */

async function rssChild(): Promise<void> {
  const spec = ensembleOf(SHAPES[1].arch);
  const scorer = await OnnxScorer.create(exportEnsembleOnnx(spec), { intraOpNumThreads: 2 });
  const rng = new Rng(3);
  const x = new Float32Array(4096 * 784).map(() => rng.uniform());
  for (let i = 0; i < 2; i++) await scorer.scoreBatch(x, 4096);
  await scorer.close();
  process.stdout.write(
    JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS, chunk: scorer.chunkSize }) + '\n',
  );
}

interface Cell {
  shape: string;
  batch: number;
  threads: number;
  rps: number;
  rpsCpu: number;
}

async function main(): Promise<void> {
  if (args.includes('--rss-child')) return rssChild();
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
  console.log(
    `engine throughput: M=${M}, K=${K}, ${SECONDS}s per cell, ${ROUNDS} rounds, ${cpu}, ${cpus().length} logical CPUs, load ${loadavg()[0].toFixed(1)}`,
  );
  const loads: number[] = [loadavg()[0]];
  const peaks: Record<string, [number, number][]> = {};
  const addPeak = (k: string, v: [number, number]): void => void (peaks[k] ??= []).push(v);

  const models = SHAPES.map((sh) => exportEnsembleOnnx(ensembleOf(sh.arch)));
  const scorers = new Map<string, OnnxScorer>();
  for (const [si, sh] of SHAPES.entries())
    for (const threads of THREADS)
      scorers.set(
        `${sh.name}/${threads}`,
        await OnnxScorer.create(models[si], { intraOpNumThreads: threads, interOpNumThreads: 1 }),
      );
  const native = loadNativeAddon();
  const natives = new Map<string, NativeScorer>();
  if (native.addon)
    for (const sh of SHAPES)
      for (const threads of THREADS)
        natives.set(`${sh.name}/${threads}`, NativeScorer.create(ensembleOf(sh.arch), { threads }));
  const nativeNote = native.addon
    ? 'native = NativeScorer (native/gensemble_native.cc, built by npm run build:native: -O3 -march=native; threads = the batch split over a persistent worker pool)'
    : `native scorer not measured: ${native.error}`;
  const chunks = SHAPES.map((sh) => `${sh.name} ${scorers.get(`${sh.name}/1`)?.chunkSize}`).join(', ');
  const inputs = new Map<string, Float32Array>();
  for (const sh of SHAPES)
    for (const batch of BATCHES) {
      const rng = new Rng(batch);
      inputs.set(
        `${sh.name}/${batch}`,
        new Float32Array(batch * sh.arch.inputDim).map(() => rng.uniform()),
      );
    }

  const ortCells: Cell[] = [];
  const nativeCells: Cell[] = [];
  const torchCells: Cell[] = [];
  const py = '/usr/bin/python3';
  const useTorch = !args.includes('--no-torch') && existsSync(py);
  let torchNote = 'PyTorch: not run';
  let blasLibs: string[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const t of THREADS) addPeak(`ort-${t}`, await ortPeak(t));
    for (const sh of SHAPES)
      for (const batch of BATCHES)
        for (const threads of THREADS) {
          const scorer = scorers.get(`${sh.name}/${threads}`) as OnnxScorer;
          const x = inputs.get(`${sh.name}/${batch}`) as Float32Array;
          const [w, c] = await timeIt(() => scorer.scoreBatch(x, batch), SECONDS);
          ortCells.push({ shape: sh.name, batch, threads, rps: batch / w, rpsCpu: batch / c });
          console.log(
            `  round ${round} ort   ${sh.name} batch ${batch} threads ${threads}: ${(batch / w).toFixed(0)} rec/s wall, ${(batch / c).toFixed(0)} rec/CPU-s`,
          );
          const nat: Scorer | undefined = natives.get(`${sh.name}/${threads}`);
          if (nat) {
            const [nw, nc] = await timeIt(() => nat.scoreBatch(x, batch), SECONDS);
            nativeCells.push({ shape: sh.name, batch, threads, rps: batch / nw, rpsCpu: batch / nc });
            console.log(
              `  round ${round} native ${sh.name} batch ${batch} threads ${threads}: ${(batch / nw).toFixed(0)} rec/s wall, ${(batch / nc).toFixed(0)} rec/CPU-s`,
            );
          }
        }
    loads.push(loadavg()[0]);
    if (useTorch) {
      const cfg = {
        shapes: SHAPES.map((s) => ({
          name: s.name,
          d: s.arch.inputDim,
          enc: s.arch.encoderHidden,
          dec: s.arch.decoderHidden,
          dz: s.arch.latentDim,
          k: K,
          m: M,
        })),
        batches: BATCHES,
        threads: THREADS,
        seconds: SECONDS,
      };
      const r = spawnSync(py, [join(here, 'torch_peer.py'), JSON.stringify(cfg)], {
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      });
      if (r.status === 0) {
        for (const line of r.stdout.trim().split('\n')) {
          const o = JSON.parse(line) as {
            kind: string;
            threads: number;
            gflops?: number;
            gflopsCpu?: number;
            shape?: string;
            batch?: number;
            rps?: number;
            rpsCpu?: number;
          };
          if (o.kind === 'blas') blasLibs = (o as unknown as { libs: string[] }).libs;
          else if (o.kind === 'peak')
            addPeak(`torch-${o.threads}`, [o.gflops as number, o.gflopsCpu as number]);
          else {
            torchCells.push({
              shape: o.shape as string,
              batch: o.batch as number,
              threads: o.threads,
              rps: o.rps as number,
              rpsCpu: o.rpsCpu as number,
            });
            console.log(
              `  round ${round} torch ${o.shape} batch ${o.batch} threads ${o.threads}: ${(o.rps as number).toFixed(0)} rec/s wall, ${(o.rpsCpu as number).toFixed(0)} rec/CPU-s`,
            );
          }
        }
        const ver = execFileSync(
          py,
          ['-c', 'import torch; print(torch.__version__, torch.__config__.parallel_info().splitlines()[0])'],
          { encoding: 'utf8' },
        ).trim();
        torchNote = `PyTorch ${ver} (Debian python3-torch), torch.set_num_threads(1|2), set_num_interop_threads(1), inference_mode; best thread setting per cell; BLAS loaded: ${blasLibs.join(', ') || 'none found'}`;
      } else torchNote = `PyTorch failed: ${r.stderr.split('\n').slice(-3).join(' ')}`;
      loads.push(loadavg()[0]);
    }
  }
  // a peer on a slow BLAS (no OpenBLAS) would make every ratio meaningless: drop it, say why
  const torchPeakCpu = Math.max(0, ...(peaks['torch-1'] ?? []).map((p) => p[1]));
  if (
    torchCells.length > 0 &&
    (torchPeakCpu < SLOW_BLAS_GFLOPS || blasLibs.every((l) => !/openblas|mkl/i.test(l)))
  ) {
    torchCells.length = 0;
    torchNote = `PyTorch runs on a slow BLAS (${blasLibs.join(', ') || 'no BLAS library found'}; sgemm ${torchPeakCpu.toFixed(1)} GFLOP/s per CPU-s, OpenBLAS gives > ${SLOW_BLAS_GFLOPS}): no ratio printed. apt-get install libopenblas0-pthread`;
  }
  for (const s of scorers.values()) await s.close();
  for (const s of natives.values()) await s.close();

  const rss = spawnSync(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(import.meta.url), '--rss-child'],
    { encoding: 'utf8' },
  );
  const rssOut =
    rss.status === 0
      ? (JSON.parse(rss.stdout.trim().split('\n').at(-1) as string) as { maxRssKb: number; chunk: number })
      : null;

  // Peaks: best wall GFLOP/s over rounds; best CPU-time GFLOP/s of the 1-thread runs over rounds.
  const bestCpu = (k: string): number => Math.max(0, ...(peaks[k] ?? []).map((p) => p[1]));
  const peakWall = Object.fromEntries(
    Object.entries(peaks).map(([k, v]) => [k, Math.max(...v.map((p) => p[0]))]),
  );
  const peakCpu1 = Math.max(bestCpu('ort-1'), bestCpu('torch-1'));
  const peak = Math.max(...Object.values(peakWall));
  /**
   * Best wall rps over threads and rounds; best CPU-time rps of the 1-thread runs over rounds (the
   * 2 logical CPUs may be SMT siblings, so a CPU-second is worth less while a neighbour is busy:
   * the least-disturbed round is the comparable one, for both runtimes alike).
   */
  const summary = (
    cells: Cell[],
    shape: string,
    batch: number,
  ): { rps: number; threads: number; rpsCpu1: number } | undefined => {
    const cs = cells.filter((c) => c.shape === shape && c.batch === batch);
    if (cs.length === 0) return undefined;
    const b = cs.reduce((a, c) => (c.rps > a.rps ? c : a));
    return {
      rps: b.rps,
      threads: b.threads,
      rpsCpu1: Math.max(...cs.filter((c) => c.threads === 1).map((c) => c.rpsCpu)),
    };
  };
  const lines: string[] = [];
  lines.push(
    '| shape | batch | ORT rec/s wall (threads) | PyTorch rec/s wall (threads) | ORT/PyTorch wall | ORT rec/CPU-s 1 thr | PyTorch rec/CPU-s 1 thr | ORT/PyTorch CPU | GFLOP/rec | ORT GFLOP/s wall | % of peak wall | % of peak per CPU-s |',
  );
  lines.push('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const sh of SHAPES) {
    const f = flopsPerRecord(sh.arch) / 1e9;
    for (const batch of BATCHES) {
      const o = summary(ortCells, sh.name, batch) as { rps: number; threads: number; rpsCpu1: number };
      const t = summary(torchCells, sh.name, batch);
      lines.push(
        `| ${sh.name} | ${batch} | ${o.rps.toFixed(0)} (${o.threads}) | ${t ? `${t.rps.toFixed(0)} (${t.threads})` : 'n/a'} | ${t ? (o.rps / t.rps).toFixed(2) + '×' : 'n/a'} | ${o.rpsCpu1.toFixed(0)} | ${t ? t.rpsCpu1.toFixed(0) : 'n/a'} | ${t ? (o.rpsCpu1 / t.rpsCpu1).toFixed(2) + '×' : 'n/a'} | ${f.toFixed(5)} | ${(o.rps * f).toFixed(1)} | ${((100 * o.rps * f) / peak).toFixed(0)}% | ${((100 * o.rpsCpu1 * f) / peakCpu1).toFixed(0)}% |`,
      );
    }
  }
  const peakLine =
    `sgemm peak (2048² MatMul, best wall GFLOP/s over rounds): ${Object.entries(peakWall)
      .map(([k, v]) => `${k} thr ${v.toFixed(1)}`)
      .join(', ')}; wall peak used = ${peak.toFixed(1)}. ` +
    `Per CPU-second, 1 thread (best round): ort ${bestCpu('ort-1').toFixed(1)}, torch ${bestCpu('torch-1').toFixed(1)}; CPU peak used = ${peakCpu1.toFixed(1)}`;
  const rssLine = `peak RSS scoring the MNIST-shape ensemble (4096 records per scoreBatch, default chunk ${rssOut?.chunk ?? '?'}, 2 threads, separate process): ${rssOut ? (rssOut.maxRssKb / 1024).toFixed(0) : 'n/a'} MB`;
  const loadLine = `load average (1 min) during the run: ${loads.map((l) => l.toFixed(1)).join(' → ')} on ${cpus().length} CPUs; ORT default chunk sizes: ${chunks}; ORT intra-op spinning off`;
  const nl: string[] = [];
  if (nativeCells.length > 0) {
    nl.push(
      '| shape | batch | native rec/s wall (threads) | ORT rec/s wall (threads) | PyTorch rec/s wall (threads) | native/PyTorch wall | native/ORT wall | native rec/CPU-s 1 thr | native/PyTorch CPU | native GFLOP/s wall | % of peak wall |',
    );
    nl.push('|---|---|---|---|---|---|---|---|---|---|---|');
    for (const sh of SHAPES) {
      const f = flopsPerRecord(sh.arch) / 1e9;
      for (const batch of BATCHES) {
        const n = summary(nativeCells, sh.name, batch) as { rps: number; threads: number; rpsCpu1: number };
        const o = summary(ortCells, sh.name, batch) as { rps: number; threads: number; rpsCpu1: number };
        const t = summary(torchCells, sh.name, batch);
        nl.push(
          `| ${sh.name} | ${batch} | ${n.rps.toFixed(0)} (${n.threads}) | ${o.rps.toFixed(0)} (${o.threads}) | ${t ? `${t.rps.toFixed(0)} (${t.threads})` : 'n/a'} | ${t ? (n.rps / t.rps).toFixed(2) + '×' : 'n/a'} | ${(n.rps / o.rps).toFixed(2)}× | ${n.rpsCpu1.toFixed(0)} | ${t ? (n.rpsCpu1 / t.rpsCpu1).toFixed(2) + '×' : 'n/a'} | ${(n.rps * f).toFixed(1)} | ${((100 * n.rps * f) / peak).toFixed(0)}% |`,
        );
      }
    }
  }
  console.log(['', ...lines, '', ...nl, '', peakLine, rssLine, torchNote, nativeNote, loadLine].join('\n'));
  const md = opt('--md');
  if (md)
    writeFileSync(
      md,
      [
        lines.join('\n'),
        '',
        nl.join('\n'),
        '',
        peakLine,
        '',
        rssLine,
        '',
        torchNote,
        '',
        nativeNote,
        '',
        loadLine,
        '',
      ].join('\n'),
    );
}

await main();
