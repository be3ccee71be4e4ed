/**
 * Engine throughput benchmark: IWAE-K scoring of random-weight M-member ensembles with
 * onnxruntime-node (through OnnxScorer), beside the same workload in PyTorch (torch_peer.py, run in
 * the same invocation) and the machine's measured sgemm peak.
 *
 *   npx tsx benchmarks/engine-throughput/run.ts [--seconds S] [--no-torch] [--md FILE]
 *
 * Shapes (M=5, K=16, Bernoulli, standard prior):
 *   credit: MLP 30 → [32] → Dz 4 → [30] → 30
 *   mnist:  MLP 784 → [512] → Dz 16 → [512] → 784
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { GraphBuilder } from '../../src/engine/onnx/graph.js';
import { exportEnsembleOnnx } from '../../src/engine/onnx/export.js';
import { makeEps, randomParams, Rng } from '../../src/engine/random.js';
import { OnnxScorer } from '../../src/engine/scorer.js';
import type { EnsembleSpec, MlpArch } from '../../src/engine/spec.js';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const SECONDS = Number(opt('--seconds') ?? 3);
const M = 5;
const K = 16;
const BATCHES = [256, 4096];
const THREADS = [1, 2];

interface Shape {
  name: 'credit' | 'mnist';
  arch: MlpArch;
}
const SHAPES: Shape[] = [
  { name: 'credit', arch: { kind: 'mlp', inputDim: 30, encoderHidden: [32], decoderHidden: [30], latentDim: 4 } },
  { name: 'mnist', arch: { kind: 'mlp', inputDim: 784, encoderHidden: [512], decoderHidden: [512], latentDim: 16 } },
];

function ensembleOf(arch: MlpArch): EnsembleSpec {
  const member = { arch, likelihood: 'bernoulli' as const, prior: { kind: 'standard' as const } };
  return { specVersion: 1, member, transform: { kind: 'scale', factor: 1 }, inputDim: arch.inputDim, k: K, members: Array.from({ length: M }, (_, m) => ({ seed: m, params: randomParams(member, m), eps: makeEps(m, K, arch.latentDim) })) };
}

/** Multiply-adds ×2 of the dense layers: encoder + heads once, decoder K times, per member. */
function flopsPerRecord(a: MlpArch): number {
  const dense = (dims: number[]): number => dims.slice(1).reduce((s, d, i) => s + 2 * dims[i] * d, 0);
  const enc = dense([a.inputDim, ...a.encoderHidden]) + 2 * (a.encoderHidden.at(-1) ?? a.inputDim) * 2 * a.latentDim;
  const dec = dense([a.latentDim, ...a.decoderHidden, a.inputDim]);
  return M * (enc + K * dec);
}

async function timeIt(fn: () => Promise<unknown>, seconds: number): Promise<number> {
  await fn();
  const t0 = performance.now();
  let it = 0;
  for (;;) {
    await fn();
    it++;
    const el = (performance.now() - t0) / 1000;
    if (el >= seconds || it >= 10000) return el / it;
  }
}

async function ortPeak(threads: number): Promise<number> {
  const n = 2048;
  const g = new GraphBuilder();
  const rng = new Rng(1);
  g.op('MatMul', ['a', g.f32('b', [n, n], new Float32Array(n * n).map(() => rng.uniform()))], {}, 'y');
  const bytes = g.toModel({ graphName: 'peak', inputs: [{ name: 'a', dims: [n, n] }], outputs: [{ name: 'y', dims: [n, n] }] });
  const s = await ort.InferenceSession.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all' });
  const a = new ort.Tensor('float32', new Float32Array(n * n).map(() => rng.uniform()), [n, n]);
  const sec = await timeIt(() => s.run({ a }), 2);
  await s.release();
  return (2 * n ** 3) / sec / 1e9;
}

async function rssChild(): Promise<void> {
  const spec = ensembleOf(SHAPES[1].arch);
  const scorer = await OnnxScorer.create(exportEnsembleOnnx(spec), { intraOpNumThreads: 2, chunkSize: 4096 });
  const rng = new Rng(3);
  const x = new Float32Array(4096 * 784).map(() => rng.uniform());
  for (let i = 0; i < 3; i++) await scorer.scoreBatch(x, 4096);
  await scorer.close();
  process.stdout.write(JSON.stringify({ maxRssKb: process.resourceUsage().maxRSS }) + '\n');
}

async function main(): Promise<void> {
  if (args.includes('--rss-child')) return rssChild();
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? 'unknown CPU';
  console.log(`engine throughput: M=${M}, K=${K}, ${SECONDS}s per cell, ${cpu}, ${(await import('node:os')).cpus().length} logical CPUs`);
  const peaks: Record<string, number> = {};
  for (const t of THREADS) peaks[`ort-${t}`] = await ortPeak(t);

  interface Cell { shape: string; batch: number; threads: number; rps: number }
  const ortCells: Cell[] = [];
  for (const sh of SHAPES) {
    const spec = ensembleOf(sh.arch);
    const bytes = exportEnsembleOnnx(spec);
    for (const batch of BATCHES) {
      const rng = new Rng(batch);
      const x = new Float32Array(batch * sh.arch.inputDim).map(() => rng.uniform());
      for (const threads of THREADS) {
        const scorer = await OnnxScorer.create(bytes, { intraOpNumThreads: threads, interOpNumThreads: 1, chunkSize: batch });
        const sec = await timeIt(() => scorer.scoreBatch(x, batch), SECONDS);
        await scorer.close();
        ortCells.push({ shape: sh.name, batch, threads, rps: batch / sec });
        console.log(`  ort   ${sh.name} batch ${batch} threads ${threads}: ${(batch / sec).toFixed(0)} rec/s`);
      }
    }
  }

  const torchCells: Cell[] = [];
  const py = '/usr/bin/python3';
  let torchNote = 'PyTorch: not run';
  if (!args.includes('--no-torch') && existsSync(py)) {
    const cfg = { shapes: SHAPES.map((s) => ({ name: s.name, d: s.arch.inputDim, enc: s.arch.encoderHidden, dec: s.arch.decoderHidden, dz: s.arch.latentDim, k: K, m: M })), batches: BATCHES, threads: THREADS, seconds: SECONDS };
    const r = spawnSync(py, [join(here, 'torch_peer.py'), JSON.stringify(cfg)], { encoding: 'utf8', maxBuffer: 1 << 24 });
    if (r.status === 0) {
      for (const line of r.stdout.trim().split('\n')) {
        const o = JSON.parse(line) as { kind: string; threads: number; gflops?: number; shape?: string; batch?: number; rps?: number };
        if (o.kind === 'peak') peaks[`torch-${o.threads}`] = o.gflops as number;
        else torchCells.push({ shape: o.shape as string, batch: o.batch as number, threads: o.threads, rps: o.rps as number });
      }
      const ver = execFileSync(py, ['-c', 'import torch; print(torch.__version__, torch.__config__.parallel_info().splitlines()[0] if hasattr(torch, "__config__") else "")'], { encoding: 'utf8' }).trim();
      torchNote = `PyTorch ${ver} (Debian python3-torch), torch.set_num_threads(1|2), interop threads 1, inference_mode`;
    } else torchNote = `PyTorch failed: ${r.stderr.split('\n').slice(-3).join(' ')}`;
  }

  const rss = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--rss-child'], { encoding: 'utf8' });
  const maxRssMb = rss.status === 0 ? (JSON.parse(rss.stdout.trim().split('\n').at(-1) as string) as { maxRssKb: number }).maxRssKb / 1024 : NaN;

  const peak = Math.max(...Object.values(peaks));
  const best = (cells: Cell[], shape: string, batch: number): Cell | undefined => cells.filter((c) => c.shape === shape && c.batch === batch).sort((a, b) => b.rps - a.rps)[0];
  const lines: string[] = [];
  lines.push(`| shape | batch | ORT rec/s (best threads) | ORT 1 thr | ORT 2 thr | PyTorch rec/s (best threads) | ORT / PyTorch | GFLOP/rec | ORT GFLOP/s | % of sgemm peak |`);
  lines.push(`|---|---|---|---|---|---|---|---|---|---|`);
  for (const sh of SHAPES) {
    const f = flopsPerRecord(sh.arch) / 1e9;
    for (const batch of BATCHES) {
      const o = best(ortCells, sh.name, batch) as Cell;
      const t = best(torchCells, sh.name, batch);
      const o1 = ortCells.find((c) => c.shape === sh.name && c.batch === batch && c.threads === 1)?.rps ?? NaN;
      const o2 = ortCells.find((c) => c.shape === sh.name && c.batch === batch && c.threads === 2)?.rps ?? NaN;
      lines.push(
        `| ${sh.name} | ${batch} | ${o.rps.toFixed(0)} (${o.threads}) | ${o1.toFixed(0)} | ${o2.toFixed(0)} | ${t ? `${t.rps.toFixed(0)} (${t.threads})` : 'n/a'} | ${t ? (o.rps / t.rps).toFixed(2) + '×' : 'n/a'} | ${f.toFixed(5)} | ${(o.rps * f).toFixed(1)} | ${((100 * o.rps * f) / peak).toFixed(1)}% |`,
      );
    }
  }
  const peakLine = `sgemm peak (2048² MatMul, GFLOP/s): ${Object.entries(peaks).map(([k, v]) => `${k} threads ${v.toFixed(1)}`).join(', ')}; peak used = ${peak.toFixed(1)}`;
  const rssLine = `peak RSS scoring the MNIST-shape ensemble (batch 4096, 2 threads, separate process): ${maxRssMb.toFixed(0)} MB`;
  console.log('\n' + lines.join('\n') + '\n\n' + peakLine + '\n' + rssLine + '\n' + torchNote);
  const md = opt('--md');
  if (md) writeFileSync(md, [lines.join('\n'), '', peakLine, '', rssLine, '', torchNote, ''].join('\n'));
}

await main();
