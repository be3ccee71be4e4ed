/**
 * WGAN training-step benchmark (engine/wgan.ts, wgan-train.ts): ms per critic update (weight
 * clipping + RMSProp, and gradient penalty + Adam), per logistic fine-tuning step (the default
 * fine-tuning objective), per generator update, and per full WGAN iteration
 * (n_critic = 5 critic updates + 1 generator update), for the MNIST MLP shape (critic 784-512-[32]-1,
 * generator 16-512-784 sigmoid) and the paper's conv shape (`--base`, Dz 16). Each update is exactly
 * what trainWganMember runs (generator forward outside the tape, one critic pass over real+fake,
 * optimizer step, clipping).
 *
 *   npx tsx benchmarks/train-step/wgan.ts [--batch 64] [--iters 20] [--base 8] [--backend wasm|cpu|auto]
 *     [--arch mlp,conv] [--no-gp]
 */
import { loadavg } from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { initBackend, type BackendName } from '../../src/engine/backend.js';
import { Rng } from '../../src/engine/random.js';
import { Adam } from '../../src/engine/train.js';
import { RmsProp, criticLoss, generatorLoss, logisticCriticLoss } from '../../src/engine/wgan-train.js';
import { TfWgan, type WganSpec } from '../../src/engine/wgan.js';

const opts = new Command()
  .option('--batch <n>', 'batch size (real records; as many generator samples)', '64')
  .option('--iters <n>', 'timed iterations per measurement', '20')
  .option('--base <n>', 'conv: filters of the first layers', '8')
  .option('--backend <name>', 'auto | wasm | cpu', 'wasm')
  .option('--arch <list>', 'architectures to measure', 'mlp,conv')
  .option('--no-gp', 'skip the gradient-penalty rows')
  .parse()
  .opts<{ batch: string; iters: string; base: string; backend: string; arch: string; gp: boolean }>();
const B = Number(opts.batch);
const iters = Number(opts.iters);
const info = await initBackend(opts.backend as BackendName | 'auto');

function measure(f: () => void, n = iters): { median: number; min: number; cpu: number } {
  for (let i = 0; i < Math.min(3, n); i++) f();
  const ts: number[] = [];
  const cs: number[] = [];
  for (let i = 0; i < n; i++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    f();
    ts.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cs.push((c.user + c.system) / 1000);
  }
  ts.sort((a, b) => a - b);
  cs.sort((a, b) => a - b);
  return { median: ts[Math.floor(n / 2)], min: ts[0], cpu: cs[Math.floor(n / 2)] };
}

const rows: Array<{ model: string; name: string; median: number; min: number; cpu: number }> = [];
for (const archName of opts.arch.split(',')) {
  const spec: WganSpec =
    archName === 'conv'
      ? {
          arch: { kind: 'conv', height: 28, width: 28, channels: 1, base: Number(opts.base), latentDim: 16 },
          output: 'sigmoid',
        }
      : {
          arch: { kind: 'mlp', inputDim: 784, encoderHidden: [512], decoderHidden: [512], latentDim: 16 },
          output: 'sigmoid',
        };
  const model = archName === 'conv' ? `conv base ${opts.base}, Dz 16` : 'MLP 784-512-16';
  const gan = TfWgan.create(spec, 1);
  const cVars = gan.criticVariables();
  const gVars = gan.generatorVariables();
  const rng = new Rng(3);
  const xData = new Float32Array(B * 784).map(() => (rng.uniform() < 0.2 ? 1 : rng.uniform() * 0.1));
  const zData = new Float32Array(B * 16).map(() => rng.normal());
  const aData = new Float32Array(B).map(() => rng.uniform());
  const x = tf.tensor2d(xData, [B, 784]);

  /**
   * One optimiser step of `vars`, as trainWganMember runs it: `prepare` runs inside tf.tidy but outside
   * the tape (the generator's forward pass for a critic step) and returns the loss to differentiate.
   */
  const update = (vars: tf.Variable[], opt: RmsProp | Adam, prepare: () => () => tf.Scalar): void => {
    const lossT = tf.tidy(() => {
      const { value, grads } = tf.variableGrads(prepare(), vars);
      opt.step(
        vars.map((v) => grads[v.name]),
        1e-7,
      );
      return value;
    });
    lossT.dataSync();
    lossT.dispose();
  };
  const fake = (): tf.Tensor2D => gan.generate(tf.tensor2d(zData, [B, 16]));
  const criticUpdate = (opt: RmsProp | Adam, gp: boolean): void => {
    update(cVars, opt, () => {
      const xf = fake();
      let xhat: tf.Tensor2D | null = null;
      if (gp) {
        const a = tf.tensor2d(aData, [B, 1]);
        xhat = tf.add(tf.mul(a, x), tf.mul(tf.sub(1, a), xf)) as tf.Tensor2D;
      }
      return () => criticLoss(gan, x, xf, xhat, 10);
    });
    if (!gp) gan.clipCritic(0.01);
  };
  /** One step of the default fine-tuning: sigmoid cross-entropy, no constraint (wgan-train.ts). */
  const logisticUpdate = (opt: RmsProp): void =>
    update(cVars, opt, () => {
      const xf = fake();
      return () => logisticCriticLoss(gan, x, xf);
    });
  const generatorUpdate = (opt: RmsProp | Adam): void =>
    update(gVars, opt, () => () => generatorLoss(gan, tf.tensor2d(zData, [B, 16])));

  const cRms = new RmsProp(cVars);
  const gRms = new RmsProp(gVars);
  const push = (name: string, r: ReturnType<typeof measure>): void => {
    rows.push({ model, name, ...r });
  };
  push(
    'critic update (clip, RMSProp)',
    measure(() => criticUpdate(cRms, false)),
  );
  push(
    'generator update (RMSProp)',
    measure(() => generatorUpdate(gRms)),
  );
  push(
    'WGAN iteration: 5 critic + 1 generator (clip)',
    measure(
      () => {
        for (let c = 0; c < 5; c++) criticUpdate(cRms, false);
        generatorUpdate(gRms);
      },
      Math.max(3, Math.ceil(iters / 4)),
    ),
  );
  push(
    'critic fine-tuning step (logistic; default)',
    measure(() => logisticUpdate(cRms)),
  );
  if (opts.gp) {
    const cAdam = new Adam(cVars, 0, 0.9, 1e-8);
    push(
      'critic update (gradient penalty, Adam)',
      measure(() => criticUpdate(cAdam, true)),
    );
    cAdam.dispose();
  }
  cRms.dispose();
  gRms.dispose();
  x.dispose();
  gan.dispose();
}

console.log(`backend: ${info.detail}; WGAN, batch ${B} real + ${B} generated, ${iters} iterations`);
console.log(
  `load average at the end: ${loadavg()
    .map((v) => v.toFixed(1))
    .join(' ')} (CPU ms = this process's user+system time)`,
);
console.log(
  `${'model'.padEnd(18)} ${'measurement (ms per step)'.padEnd(46)} ${'wall med'.padStart(9)} ${'wall min'.padStart(9)} ${'CPU med'.padStart(9)}`,
);
for (const r of rows)
  console.log(
    `${r.model.padEnd(18)} ${r.name.padEnd(46)} ${r.median.toFixed(1).padStart(9)} ${r.min.toFixed(1).padStart(9)} ${r.cpu.toFixed(1).padStart(9)}`,
  );
console.log(`tensors alive: ${tf.memory().numTensors}`);
