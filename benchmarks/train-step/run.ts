/**
 * Training-step benchmark (issue 3 target: ≤ 40 ms per Adam step for the MNIST MLP VAE,
 * 784→512→Dz 16→512→784, Bernoulli, batch 128, tfjs). `--arch conv` measures the paper's conv VAE
 * (engine/spec.ts ConvArch, 28×28×1, `--base` filters) instead, `--prior maf` adds the learned MAF
 * prior (6 MADE bijectors, `--maf-hidden` units), `--train-k` the samples of the training objective.
 * Prints median (and min) ms for: forward (β-ELBO loss), forward+backward (gradients), full Adam
 * step, and for comparison the stock tfjs path (tf.layers-style MatMul gradient with transposed
 * operands + tf.train.adam).
 *
 *   npx tsx benchmarks/train-step/run.ts [--batch 128] [--iters 40] [--backend wasm|cpu|auto]
 *     [--arch mlp|conv] [--base 32] [--prior standard|maf] [--maf-hidden 512,512] [--train-k 1]
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { initBackend, type BackendName } from '../../src/engine/backend.js';
import { TfVae } from '../../src/engine/vae.js';
import { Adam, trainingLoss } from '../../src/engine/train.js';
import { Rng } from '../../src/engine/random.js';
import { makeMafPrior } from '../../src/engine/vae.js';
import type { Arch, MemberSpec } from '../../src/engine/spec.js';

const program = new Command()
  .option('--batch <n>', 'batch size', '128')
  .option('--iters <n>', 'timed iterations per measurement', '40')
  .option('--backend <name>', 'auto | wasm | cpu', 'auto')
  .option('--no-stock', 'skip the stock tfjs comparison')
  .option('--arch <a>', 'mlp | conv', 'mlp')
  .option('--base <n>', 'conv: filters of the first layers (the paper: 32)', '32')
  .option('--prior <p>', 'standard | maf', 'standard')
  .option('--maf-hidden <list>', 'MAF: hidden units of each MADE (comma-separated)', '512,512')
  .option('--train-k <k>', 'samples per record in the training objective (1: ELBO, >1: IWAE)', '1')
  .parse();
const opts = program.opts<{
  batch: string;
  iters: string;
  backend: string;
  stock: boolean;
  arch: string;
  base: string;
  prior: string;
  mafHidden: string;
  trainK: string;
}>();
const B = Number(opts.batch);
const iters = Number(opts.iters);
const TK = Number(opts.trainK);
if (!['mlp', 'conv'].includes(opts.arch)) throw new Error(`--arch must be mlp or conv, got ${opts.arch}`);
if (!['standard', 'maf'].includes(opts.prior)) throw new Error(`--prior must be standard or maf`);

const info = await initBackend(opts.backend as BackendName | 'auto');
const arch: Arch =
  opts.arch === 'conv'
    ? { kind: 'conv', height: 28, width: 28, channels: 1, base: Number(opts.base), latentDim: 16 }
    : { kind: 'mlp', inputDim: 784, encoderHidden: [512], decoderHidden: [512], latentDim: 16 };
const mafHidden = opts.mafHidden.split(',').map(Number);
const spec: MemberSpec = {
  arch,
  likelihood: 'bernoulli',
  prior: opts.prior === 'maf' ? makeMafPrior(16, 6, mafHidden, 1) : { kind: 'standard' },
};
const objective = TK > 1 ? 'iwae' : 'elbo';
const modelName =
  opts.arch === 'conv' ? `MNIST conv VAE (base ${opts.base}, Dz 16)` : 'MNIST MLP VAE 784-512-16-512-784';
const priorName = opts.prior === 'maf' ? `MAF prior (6 × MADE ${opts.mafHidden})` : 'N(0, I) prior';
const vae = TfVae.create(spec, 1);
const vars = vae.variables();
const rng = new Rng(7);
const xData = new Float32Array(B * 784).map(() => (rng.uniform() < 0.2 ? 1 : rng.uniform() * 0.1));
const x = tf.tensor2d(xData, [B, 784]);
const epsData = new Float32Array(B * TK * 16).map(() => rng.normal());

/** Wall and process-CPU ms per call (CPU time is the honest figure while other jobs share the cores). */
function measure(
  name: string,
  f: () => void,
): { name: string; median: number; min: number; cpuMedian: number; cpuMin: number } {
  for (let i = 0; i < 5; i++) f();
  const ts: number[] = [];
  const cs: number[] = [];
  for (let i = 0; i < iters; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cs.push((c.user + c.system) / 1000);
  }
  ts.sort((a, b) => a - b);
  cs.sort((a, b) => a - b);
  return {
    name,
    median: ts[Math.floor(ts.length / 2)],
    min: ts[0],
    cpuMedian: cs[Math.floor(cs.length / 2)],
    cpuMin: cs[0],
  };
}

const rows: Array<ReturnType<typeof measure>> = [];
rows.push(
  measure('forward (loss)', () => {
    tf.tidy(() => trainingLoss(vae, x, tf.tensor3d(epsData, [B, TK, 16]), 1, objective).dataSync());
  }),
);
rows.push(
  measure('forward+backward', () => {
    tf.tidy(() => {
      const eps = tf.tensor3d(epsData, [B, TK, 16]);
      const { value, grads } = tf.variableGrads(() => trainingLoss(vae, x, eps, 1, objective), vars);
      value.dataSync();
      void grads;
    });
  }),
);
const adam = new Adam(vars);
{
  const fixed = vars.map((v) => tf.keep(tf.onesLike(v)));
  rows.push(
    measure('Adam update only (fixed grads)', () => {
      adam.step(fixed, 1e-7);
      vars[vars.length - 1].dataSync();
    }),
  );
  tf.dispose(fixed);
}
rows.push(
  measure('full Adam step', () => {
    tf.tidy(() => {
      const eps = tf.tensor3d(epsData, [B, TK, 16]);
      const { value, grads } = tf.variableGrads(() => trainingLoss(vae, x, eps, 1, objective), vars);
      adam.step(
        vars.map((v) => grads[v.name]),
        1e-4,
      );
      value.dataSync();
    });
  }),
);

if (opts.stock && opts.arch === 'mlp' && opts.prior === 'standard' && TK === 1) {
  // The prototype's path: plain tf.matMul (stock gradient: transposed-operand matmuls) + tf.train.adam.
  const w = vars.map((v) => tf.variable(v.clone(), true));
  const [e0w, e0b, muw, mub, sgw, sgb, d0w, d0b, ow, ob] = w;
  const opt = tf.train.adam(1e-4);
  rows.push(
    measure('stock tfjs Adam step (for comparison)', () => {
      tf.tidy(() => {
        const eps = tf.tensor2d(epsData, [B, 16]);
        const cost = opt.minimize(
          () => {
            const h = tf.relu(tf.add(tf.matMul(x, e0w), e0b));
            const mu = tf.add(tf.matMul(h, muw), mub);
            const sigma = tf.add(tf.softplus(tf.add(tf.matMul(h, sgw), sgb)), 1e-4);
            const z = tf.add(mu, tf.mul(sigma, eps));
            const g = tf.relu(tf.add(tf.matMul(z, d0w), d0b));
            const o = tf.add(tf.matMul(g, ow), ob);
            const lpx = tf.sum(tf.sub(tf.mul(x, o), tf.softplus(o)), 1);
            const kl = tf.sum(
              tf.sub(tf.mul(tf.square(z), 0.5), tf.add(tf.mul(tf.square(eps), 0.5), tf.log(sigma))),
              1,
            );
            return tf.neg(tf.mean(tf.sub(lpx, kl))) as tf.Scalar;
          },
          true,
          w,
        );
        cost?.dataSync();
      });
    }),
  );
}

console.log(
  `backend: ${info.detail}; ${modelName}, bernoulli, ${priorName}, ${objective} (${TK} sample${TK > 1 ? 's' : ''}), batch ${B}, ${iters} iterations`,
);
console.log(
  `load average at the end: ${loadavg()
    .map((v) => v.toFixed(1))
    .join(' ')} (2 cores; CPU ms = this process's user+system time)`,
);
console.log(
  `${'measurement (ms per step)'.padEnd(40)} ${'wall med'.padStart(9)} ${'wall min'.padStart(9)} ${'CPU med'.padStart(9)} ${'CPU min'.padStart(9)}`,
);
for (const r of rows)
  console.log(
    `${r.name.padEnd(40)} ${r.median.toFixed(1).padStart(9)} ${r.min.toFixed(1).padStart(9)} ${r.cpuMedian.toFixed(1).padStart(9)} ${r.cpuMin.toFixed(1).padStart(9)}`,
  );
console.log(`tensors alive: ${tf.memory().numTensors}`);
