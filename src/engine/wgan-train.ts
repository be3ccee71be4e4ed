/**
 * Trains WGAN members (engine/wgan.ts) in tfjs, and ensembles of them over worker threads.
 *
 * ## Algorithm (Arjovsky et al. 2017, Algorithm 1; then the paper's fine-tuning)
 * Phase 'gan', for `steps` generator iterations:
 *   nCritic times: x ~ data (seeded epoch order), z ~ N(0, I);
 *     L_D = mean D(G(z)) − mean D(x)  [+ λ·mean(‖∇D(x̂)‖ − 1)² for 'gp'];  update the critic;
 *     'clip': clip every critic parameter to [−c, c]
 *   z ~ N(0, I); L_G = −mean D(G(z)); update the generator.
 * Phase 'finetune' (Choi & Jang section 4: "we freeze the generator and fine-tune the discriminator
 *   for an additional 4k steps on stationary p_θ and p_0"): `fineTuneSteps` critic updates against the
 *   frozen generator, with a fresh optimiser state (the authors' code builds a separate optimiser op for
 *   this phase), and one of two objectives ({@link WganTrainOptions.fineTuneLoss}):
 *   'wasserstein'  the critic loss above, with its Lipschitz constraint;
 *   'logistic'     the default (chosen on validation, WGAN protocol v2 in BENCHMARKS.md): the
 *                  authors' code (hschoi1/rich_latent, vae_wgan/wgan_run.py, "train critic a few more
 *                  steps to make it a discriminative classifier"): sigmoid cross-entropy of D as a
 *                  logit, data labelled 1 and generator samples 0,
 *                  L = ½·[mean softplus(−D(x)) + mean softplus(D(G(z)))],
 *                  with no clipping and no penalty (their extra-training op applies neither).
 * `init` starts a member from given critic and generator parameters instead of a fresh initialisation,
 * so one adversarial phase can be fine-tuned several ways (steps 0, fineTuneSteps > 0).
 * Finally each member's {@link CriticStats} (mean/std of D on a sample of the data and of the frozen
 * generator) are measured for the optional normalisation of engine/wgan.ts.
 *
 * ## Lipschitz constraint: weight clipping by default, gradient penalty as an option
 * The paper's critics are WGANs of Arjovsky et al. (its reference for the WGAN), i.e. weight clipping
 * (c = 0.01, RMSProp, lr 5e-5, n_critic = 5): the default here. The gradient penalty of Gulrajani et
 * al. 2017 ('gp': λ = 10, Adam lr 1e-4, β1 = 0, β2 = 0.9, x̂ = αx + (1−α)G(z), α ~ U(0,1) per record)
 * needs double backprop; tfjs records the ops of a tf.grad run inside tf.variableGrads, and that works
 * on wasm through the engine's custom-gradient dense and conv layers (vae.ts: their backward passes
 * are plain matMul/conv2d/pad/reverse ops, all differentiable) and wgan.ts' leaky_relu (tfjs' own
 * LeakyRelu gradient is not differentiable). test/unit/engine/wgan-train.test.ts checks the penalty's
 * parameter gradients against stock tfjs ops on the cpu backend (MLP and conv). It costs about 4×
 * (MLP) to 9× (conv) a clipped critic update on wasm (benchmarks/train-step/wgan.ts), so it is opt-in.
 *
 * ## Determinism
 * Initialisation, data order, z, α all come from the seeded {@link Rng}; wasm runs the same ops in the
 * same order, so one seed gives bit-identical parameters on the same backend (also across the worker
 * and in-process paths, see {@link trainWganEnsemble}).
 *
 * Data in: Float32Array [n, D], already in model space (the caller applies the feature transform).
 */
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import type { BackendName } from './backend.js';
import {
  EnsembleTrainError,
  memberSeed,
  runMemberWorkers,
  toShared,
  type MemberWorkerMessage,
  type ReusedMember,
} from './ensemble-train.js';
import type { MemberStore } from './member-store.js';
import { Rng } from './random.js';
import { dataDim, WGAN_FINETUNE_LOSSES, type MemberParams, type WganFineTuneLoss } from './spec.js';
import { Adam, TrainError } from './train.js';
import { TfWgan, validateWganSpec, type CriticStats, type WganMember, type WganSpec } from './wgan.js';

export { WGAN_FINETUNE_LOSSES, type WganFineTuneLoss };

export interface WganTrainOptions {
  /** Generator iterations of the adversarial phase (each after `nCritic` critic updates). Default 2000. */
  steps?: number;
  /** Critic-only updates against the frozen generator afterwards (the paper: 4000). Default 4000. */
  fineTuneSteps?: number;
  /** Mini-batch size (real records, and as many generator samples). Default 64. */
  batchSize?: number;
  /** Critic updates per generator update. Default 5. */
  nCritic?: number;
  /**
   * 'fixed' (default): `nCritic` critic updates before every generator update. 'arjovsky': the
   * schedule of Arjovsky et al.'s reference code, which the paper's authors kept (hschoi1/rich_latent,
   * vae_wgan/wgan_run.py: `citers = 100 if g_update < 25 or g_update % 500 == 0 else 5`): 100 critic
   * updates before generator iterations 0–24 and every 500th, `nCritic` otherwise.
   */
  criticSchedule?: CriticSchedule;
  /** Lipschitz constraint: weight clipping (default, the paper's WGAN) or gradient penalty. */
  lipschitz?: 'clip' | 'gp';
  /** Clipping bound c ('clip'). Default 0.01. */
  clip?: number;
  /** Gradient-penalty weight λ ('gp'). Default 10. */
  gpWeight?: number;
  /** Default 'rmsprop' with 'clip', 'adam' with 'gp'. Both networks use the same kind. */
  optimizer?: 'rmsprop' | 'adam';
  /** Constant learning rate of both networks. Default 5e-5 (rmsprop), 1e-4 (adam). */
  learningRate?: number;
  /** Learning rate of the fine-tuning phase. Default `learningRate`. */
  fineTuneLearningRate?: number;
  /**
   * Objective of the fine-tuning phase (see the module comment). Default 'logistic': chosen on
   * validation proxies in WGAN protocol v2 (BENCHMARKS.md; mean Var D AUROC 61.7 vs 21.9 for
   * 'wasserstein' over corrupted held-out training images of MNIST and Fashion-MNIST).
   */
  fineTuneLoss?: WganFineTuneLoss;
  /** Start from these parameters (e.g. a finished adversarial phase) instead of a fresh initialisation. */
  init?: WganInit;
  /** RMSProp: v ← ρv + (1−ρ)g²; θ ← θ − lr·g/(√v + ε). Defaults ρ 0.99, ε 1e-8 (PyTorch, WGAN code). */
  rmsprop?: { decay?: number; epsilon?: number };
  /** Adam moments. Defaults β1 0, β2 0.9, ε 1e-8 (WGAN-GP). */
  adam?: { beta1?: number; beta2?: number; epsilon?: number };
  /** Seed of initialisation, data order and noise. Default 0. */
  seed?: number;
  /** Records (and generator samples) behind the member's {@link CriticStats}. Default 1024. */
  statsSamples?: number;
  /** Return the generator's parameters. Default true. */
  keepGenerator?: boolean;
  /** Progress every this many generator steps ('gan') / critic steps ('finetune'). Default 10. */
  progressEvery?: number;
  onProgress?: (event: WganProgress) => void;
  /** Stops training early (returning the current parameters) when aborted. */
  signal?: AbortSignal;
}

/** Critic and generator parameters a member starts from ({@link WganTrainOptions.init}). */
export interface WganInit {
  critic: MemberParams;
  generator: MemberParams;
}

export interface WganProgress {
  phase: 'gan' | 'finetune';
  /** Generator iterations ('gan') or critic updates ('finetune') done in this phase. */
  step: number;
  steps: number;
  /** Loss of the last critic update (incl. the gradient penalty). */
  criticLoss: number;
  /** Loss of the last generator update; null in 'finetune'. */
  genLoss: number | null;
  /** E D(real) − E D(fake) on the last critic batch (the critic's Wasserstein estimate). */
  wasserstein: number;
  lr: number;
  elapsedMs: number;
}

export interface WganTrainResult {
  critic: MemberParams;
  generator?: MemberParams;
  stats: CriticStats;
  history: WganProgress[];
  /** Generator iterations and fine-tuning steps actually run. */
  steps: number;
  fineTuneSteps: number;
  stoppedEarly: boolean;
  elapsedMs: number;
}

export type CriticSchedule = 'fixed' | 'arjovsky';

/** Critic updates before generator iteration `step` (0-based) under `schedule`. */
export function criticUpdates(step: number, nCritic: number, schedule: CriticSchedule): number {
  return schedule === 'arjovsky' && (step < 25 || step % 500 === 0) ? 100 : nCritic;
}

/** Resolved options (one place to read the defaults). */
export function wganTrainDefaults(o: WganTrainOptions): {
  steps: number;
  fineTuneSteps: number;
  batchSize: number;
  nCritic: number;
  criticSchedule: CriticSchedule;
  lipschitz: 'clip' | 'gp';
  clip: number;
  gpWeight: number;
  optimizer: 'rmsprop' | 'adam';
  learningRate: number;
  fineTuneLearningRate: number;
  fineTuneLoss: WganFineTuneLoss;
  rmsprop: { decay: number; epsilon: number };
  adam: { beta1: number; beta2: number; epsilon: number };
  seed: number;
  statsSamples: number;
  keepGenerator: boolean;
  progressEvery: number;
} {
  const lipschitz = o.lipschitz ?? 'clip';
  const optimizer = o.optimizer ?? (lipschitz === 'clip' ? 'rmsprop' : 'adam');
  const learningRate = o.learningRate ?? (optimizer === 'rmsprop' ? 5e-5 : 1e-4);
  return {
    steps: o.steps ?? 2000,
    fineTuneSteps: o.fineTuneSteps ?? 4000,
    batchSize: o.batchSize ?? 64,
    nCritic: o.nCritic ?? 5,
    criticSchedule: o.criticSchedule ?? 'fixed',
    lipschitz,
    clip: o.clip ?? 0.01,
    gpWeight: o.gpWeight ?? 10,
    optimizer,
    learningRate,
    fineTuneLearningRate: o.fineTuneLearningRate ?? learningRate,
    fineTuneLoss: o.fineTuneLoss ?? 'logistic',
    rmsprop: { decay: o.rmsprop?.decay ?? 0.99, epsilon: o.rmsprop?.epsilon ?? 1e-8 },
    adam: { beta1: o.adam?.beta1 ?? 0, beta2: o.adam?.beta2 ?? 0.9, epsilon: o.adam?.epsilon ?? 1e-8 },
    seed: o.seed ?? 0,
    statsSamples: o.statsSamples ?? 1024,
    keepGenerator: o.keepGenerator ?? true,
    progressEvery: o.progressEvery ?? 10,
  };
}

/** RMSProp (Tieleman & Hinton; PyTorch/Keras form): v ← ρv + (1−ρ)g²; θ ← θ − lr·g/(√v + ε). */
export class RmsProp {
  private readonly v: tf.Variable[];
  constructor(
    private readonly vars: tf.Variable[],
    private readonly decay = 0.99,
    private readonly epsilon = 1e-8,
  ) {
    this.v = vars.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
  }

  /** Applies grads (same order as the variables) with learning rate lr. */
  step(grads: tf.Tensor[], lr: number): void {
    tf.tidy(() => {
      for (let i = 0; i < this.vars.length; i++) {
        const g = grads[i];
        const v = this.v[i];
        const vNew = tf.add(tf.mul(v, this.decay), tf.mul(tf.square(g), 1 - this.decay));
        v.assign(vNew);
        this.vars[i].assign(tf.sub(this.vars[i], tf.mul(tf.div(g, tf.add(tf.sqrt(vNew), this.epsilon)), lr)));
      }
    });
  }

  dispose(): void {
    tf.dispose(this.v);
  }
}

interface Optimizer {
  step(grads: tf.Tensor[], lr: number): void;
  dispose(): void;
}

function makeOptimizer(o: ReturnType<typeof wganTrainDefaults>, vars: tf.Variable[]): Optimizer {
  return o.optimizer === 'rmsprop'
    ? new RmsProp(vars, o.rmsprop.decay, o.rmsprop.epsilon)
    : new Adam(vars, o.adam.beta1, o.adam.beta2, o.adam.epsilon);
}

function checkPositiveInt(name: string, v: number, allowZero = false): void {
  if (!Number.isInteger(v) || v < (allowZero ? 0 : 1))
    throw new TrainError(
      'E_TRAIN_OPTIONS',
      `${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${v}`,
    );
}

function checkOptions(o: ReturnType<typeof wganTrainDefaults>): void {
  checkPositiveInt('steps', o.steps, true);
  checkPositiveInt('fineTuneSteps', o.fineTuneSteps, true);
  checkPositiveInt('batchSize', o.batchSize);
  checkPositiveInt('nCritic', o.nCritic);
  if (o.criticSchedule !== 'fixed' && o.criticSchedule !== 'arjovsky')
    throw new TrainError(
      'E_TRAIN_OPTIONS',
      `criticSchedule must be 'fixed' or 'arjovsky', got ${String(o.criticSchedule)}`,
    );
  checkPositiveInt('statsSamples', o.statsSamples);
  checkPositiveInt('progressEvery', o.progressEvery);
  if (o.lipschitz !== 'clip' && o.lipschitz !== 'gp')
    throw new TrainError('E_TRAIN_OPTIONS', `lipschitz must be 'clip' or 'gp', got ${String(o.lipschitz)}`);
  if (o.optimizer !== 'rmsprop' && o.optimizer !== 'adam')
    throw new TrainError(
      'E_TRAIN_OPTIONS',
      `optimizer must be 'rmsprop' or 'adam', got ${String(o.optimizer)}`,
    );
  if (!(o.learningRate > 0) || !(o.fineTuneLearningRate > 0))
    throw new TrainError('E_TRAIN_OPTIONS', `learning rates must be > 0`);
  if (o.lipschitz === 'clip' && !(o.clip > 0)) throw new TrainError('E_TRAIN_OPTIONS', `clip must be > 0`);
  if (o.lipschitz === 'gp' && !(o.gpWeight >= 0))
    throw new TrainError('E_TRAIN_OPTIONS', `gpWeight must be ≥ 0`);
  if (!(WGAN_FINETUNE_LOSSES as readonly string[]).includes(o.fineTuneLoss))
    throw new TrainError(
      'E_TRAIN_OPTIONS',
      `fineTuneLoss must be one of ${WGAN_FINETUNE_LOSSES.join(', ')}, got ${String(o.fineTuneLoss)}`,
    );
  if (!(o.rmsprop.decay >= 0 && o.rmsprop.decay < 1))
    throw new TrainError('E_TRAIN_OPTIONS', `rmsprop.decay must be in [0, 1)`);
}

/**
 * The critic objective for one batch: mean D(xf) − mean D(xr) (+ λ·mean(‖∇D(x̂)‖₂ − 1)² when
 * `xhat` is given). Real and fake rows go through the critic as ONE batch. `wgap` (if given) receives
 * a kept scalar E D(xr) − E D(xf) that the caller disposes. Call inside tf.variableGrads.
 */
export function criticLoss(
  gan: TfWgan,
  xr: tf.Tensor2D,
  xf: tf.Tensor2D,
  xhat: tf.Tensor2D | null,
  gpWeight: number,
  wgap?: { value: tf.Scalar | null },
): tf.Scalar {
  const b = xr.shape[0];
  const dAll = gan.critic(tf.concat([xr, xf], 0));
  const gap = tf.sub(tf.mean(tf.slice(dAll, [0], [b])), tf.mean(tf.slice(dAll, [b], [xf.shape[0]])));
  if (wgap !== undefined) wgap.value = tf.keep(gap.clone()) as tf.Scalar;
  let loss = tf.neg(gap) as tf.Scalar;
  if (xhat !== null && gpWeight > 0) {
    const gx = tf.grad((xi: tf.Tensor) => tf.sum(gan.critic(xi as tf.Tensor2D, { needInputGrad: true })))(
      xhat,
    );
    const norm = tf.sqrt(tf.add(tf.sum(tf.square(gx), 1), 1e-12));
    loss = tf.add(loss, tf.mul(tf.mean(tf.square(tf.sub(norm, 1))), gpWeight)) as tf.Scalar;
  }
  return loss;
}

/**
 * The logistic fine-tuning objective (the authors' code): sigmoid cross-entropy with D as the logit,
 * data labelled 1 and generator samples 0, averaged over the 2b rows:
 * ½·[mean softplus(−D(xr)) + mean softplus(D(xf))]. `wgap` as in {@link criticLoss}.
 */
export function logisticCriticLoss(
  gan: TfWgan,
  xr: tf.Tensor2D,
  xf: tf.Tensor2D,
  wgap?: { value: tf.Scalar | null },
): tf.Scalar {
  const b = xr.shape[0];
  const dAll = gan.critic(tf.concat([xr, xf], 0));
  const dr = tf.slice(dAll, [0], [b]);
  const df = tf.slice(dAll, [b], [xf.shape[0]]);
  if (wgap !== undefined) wgap.value = tf.keep(tf.sub(tf.mean(dr), tf.mean(df))) as tf.Scalar;
  return tf.mul(tf.add(tf.mean(tf.softplus(tf.neg(dr))), tf.mean(tf.softplus(df))), 0.5) as tf.Scalar;
}

/** The generator objective: −mean D(G(z)). Call inside tf.variableGrads. */
export function generatorLoss(gan: TfWgan, z: tf.Tensor2D): tf.Scalar {
  return tf.neg(tf.mean(gan.critic(gan.generate(z), { needInputGrad: true }))) as tf.Scalar;
}

function meanStd(v: Float32Array): { mean: number; std: number } {
  let s = 0;
  for (const a of v) s += a;
  const mean = s / v.length;
  let q = 0;
  for (const a of v) q += (a - mean) ** 2;
  return { mean, std: Math.sqrt(q / v.length) };
}

/**
 * Mean and standard deviation of D on `samples` training records (all of them when n ≤ samples,
 * else a seeded subset) and on as many samples of the generator.
 */
export function measureCriticStats(
  gan: TfWgan,
  data: Float32Array,
  n: number,
  samples: number,
  seed: number,
): CriticStats {
  const rng = new Rng((seed ^ 0x57a75) >>> 0);
  const d = gan.dataDim;
  let real = data.subarray(0, n * d);
  const m = Math.min(n, samples);
  if (n > samples) {
    const idx = rng.permutation(n).slice(0, m);
    real = new Float32Array(m * d);
    idx.forEach((src, r) => real.set(data.subarray(src * d, (src + 1) * d), r * d));
  }
  const z = new Float32Array(m * gan.latentDim);
  for (let i = 0; i < z.length; i++) z[i] = rng.normal();
  const dr = meanStd(gan.criticArray(real, m));
  const df = meanStd(gan.criticArray(gan.generateArray(z, m), m));
  return { dataMean: dr.mean, dataStd: dr.std, fakeMean: df.mean, fakeStd: df.std, samples: m };
}

/** Trains one WGAN member. Synchronous compute; returns when done (or aborted). */
export function trainWganMember(
  spec: WganSpec,
  data: Float32Array,
  n: number,
  options: WganTrainOptions = {},
): WganTrainResult {
  const o = wganTrainDefaults(options);
  checkOptions(o);
  validateWganSpec(spec);
  const d = dataDim(spec.arch);
  if (!Number.isInteger(n) || n < 1)
    throw new TrainError('E_TRAIN_DATA', `need at least one training record, got n=${n}`);
  if (data.length !== n * d)
    throw new TrainError(
      'E_TRAIN_DATA',
      `training data holds ${data.length} values, expected ${n}×${d}=${n * d}`,
    );

  const t0 = performance.now();
  const init = options.init;
  const gan = init ? TfWgan.fromParams(spec, init.critic, init.generator) : TfWgan.create(spec, o.seed);
  const cVars = gan.criticVariables();
  const gVars = gan.generatorVariables();
  let cOpt = makeOptimizer(o, cVars);
  const gOpt = makeOptimizer(o, gVars);
  const rng = new Rng((o.seed ^ 0x3a6a11) >>> 0);
  const dz = spec.arch.latentDim;
  const bs = Math.min(o.batchSize, n);
  const batch = new Float32Array(bs * d);
  const zBuf = new Float32Array(bs * dz);
  const alphaBuf = new Float32Array(bs);
  const gp = o.lipschitz === 'gp';
  let order = rng.permutation(n);
  let cursor = 0;
  const history: WganProgress[] = [];
  let stoppedEarly = false;

  const fillBatch = (): void => {
    for (let r = 0; r < bs; r++) {
      if (cursor >= n) {
        order = rng.permutation(n);
        cursor = 0;
      }
      const src = order[cursor++];
      batch.set(data.subarray(src * d, (src + 1) * d), r * d);
    }
  };
  const fillZ = (): void => {
    for (let i = 0; i < zBuf.length; i++) zBuf[i] = rng.normal();
  };
  const finite = (v: number, what: string, phase: string, step: number): void => {
    if (!Number.isFinite(v))
      throw new TrainError(
        'E_TRAIN_DIVERGED',
        `${what} became ${v} at ${phase} step ${step} (try a lower learningRate)`,
      );
  };

  /** One critic update; returns [loss, E D(real) − E D(fake)]. */
  const criticStep = (lr: number, objective: WganFineTuneLoss = 'wasserstein'): [number, number] => {
    const logistic = objective === 'logistic';
    fillBatch();
    fillZ();
    if (gp && !logistic) for (let i = 0; i < bs; i++) alphaBuf[i] = rng.uniform();
    const holder: { value: tf.Scalar | null } = { value: null };
    const lossT = tf.tidy(() => {
      const xr = tf.tensor2d(batch, [bs, d]);
      const xf = gan.generate(tf.tensor2d(zBuf, [bs, dz]));
      let xhat: tf.Tensor2D | null = null;
      if (gp && !logistic) {
        const a = tf.tensor2d(alphaBuf, [bs, 1]);
        xhat = tf.add(tf.mul(a, xr), tf.mul(tf.sub(1, a), xf)) as tf.Tensor2D;
      }
      const { value, grads } = tf.variableGrads(
        () =>
          logistic
            ? logisticCriticLoss(gan, xr, xf, holder)
            : criticLoss(gan, xr, xf, xhat, o.gpWeight, holder),
        cVars,
      );
      // a parameter without a path to the loss has no gradient entry (not the case here, but cheap)
      cOpt.step(
        cVars.map((v) => grads[v.name] ?? tf.zerosLike(v)),
        lr,
      );
      return value;
    });
    if (o.lipschitz === 'clip' && !logistic) gan.clipCritic(o.clip);
    const loss = lossT.dataSync()[0];
    lossT.dispose();
    const gap = holder.value === null ? -loss : holder.value.dataSync()[0];
    holder.value?.dispose();
    return [loss, gap];
  };

  const generatorStep = (lr: number): number => {
    fillZ();
    const lossT = tf.tidy(() => {
      const z = tf.tensor2d(zBuf, [bs, dz]);
      const { value, grads } = tf.variableGrads(() => generatorLoss(gan, z), gVars);
      gOpt.step(
        gVars.map((v) => grads[v.name] ?? tf.zerosLike(v)),
        lr,
      );
      return value;
    });
    const loss = lossT.dataSync()[0];
    lossT.dispose();
    return loss;
  };

  const emit = (ev: WganProgress): void => {
    history.push(ev);
    options.onProgress?.(ev);
  };

  let ganDone = 0;
  let ftDone = 0;
  try {
    for (let step = 0; step < o.steps; step++) {
      if (options.signal?.aborted) {
        stoppedEarly = true;
        break;
      }
      let cl = NaN;
      let gap = NaN;
      const nc = criticUpdates(step, o.nCritic, o.criticSchedule);
      for (let c = 0; c < nc; c++) [cl, gap] = criticStep(o.learningRate);
      finite(cl, 'critic loss', 'gan', step);
      const gl = generatorStep(o.learningRate);
      finite(gl, 'generator loss', 'gan', step);
      ganDone = step + 1;
      if (ganDone % o.progressEvery === 0 || ganDone === o.steps)
        emit({
          phase: 'gan',
          step: ganDone,
          steps: o.steps,
          criticLoss: cl,
          genLoss: gl,
          wasserstein: gap,
          lr: o.learningRate,
          elapsedMs: performance.now() - t0,
        });
    }
    if (!stoppedEarly && o.fineTuneSteps > 0) {
      // a fresh optimiser state for the fine-tuning phase (the authors' code: a separate optimiser op)
      cOpt.dispose();
      cOpt = makeOptimizer(o, cVars);
      for (let step = 0; step < o.fineTuneSteps; step++) {
        if (options.signal?.aborted) {
          stoppedEarly = true;
          break;
        }
        const [cl, gap] = criticStep(o.fineTuneLearningRate, o.fineTuneLoss);
        finite(cl, 'critic loss', 'finetune', step);
        ftDone = step + 1;
        if (ftDone % o.progressEvery === 0 || ftDone === o.fineTuneSteps)
          emit({
            phase: 'finetune',
            step: ftDone,
            steps: o.fineTuneSteps,
            criticLoss: cl,
            genLoss: null,
            wasserstein: gap,
            lr: o.fineTuneLearningRate,
            elapsedMs: performance.now() - t0,
          });
      }
    }
    const stats = measureCriticStats(gan, data, n, o.statsSamples, o.seed);
    return {
      critic: gan.criticParams(),
      ...(o.keepGenerator ? { generator: gan.generatorParams() } : {}),
      stats,
      history,
      steps: ganDone,
      fineTuneSteps: ftDone,
      stoppedEarly,
      elapsedMs: performance.now() - t0,
    };
  } finally {
    cOpt.dispose();
    gOpt.dispose();
    gan.dispose();
  }
}

// ---------------------------------------------------------------------------------------------
// Ensembles over worker threads (the pattern of ensemble-train.ts)

export interface WganEnsembleOptions {
  /** Number of members M. Default 5. */
  members?: number;
  /** Base seed; member m trains with memberSeed(seed, m) = seed + 1000·m (as the VAE members). Default 0. */
  seed?: number;
  /** Worker pool size. Default min(M, os.availableParallelism()). */
  concurrency?: number;
  /** Train each member on its own bootstrap resample of the data. Default false. */
  bootstrap?: boolean;
  /** Per-member training options (seed is set per member). */
  train?: Omit<WganTrainOptions, 'onProgress' | 'signal' | 'seed' | 'init'>;
  /** Member m starts from inits[m] (e.g. a finished adversarial phase); one per member when given. */
  inits?: WganInit[];
  /** tfjs backend inside the workers. Default 'auto'. */
  backend?: BackendName | 'auto';
  onProgress?: (member: number, event: WganMemberProgress) => void;
  /** Called once per worker start with the backend it trains on. */
  onBackend?: (member: number, detail: string, warnings: string[]) => void;
  /** Keeps finished members so that a run that stopped resumes (engine/ensemble-train.ts). */
  store?: MemberStore;
  /** A member taken from `store` instead of trained. */
  onReused?: (reused: ReusedMember) => void;
}

export type WganMemberProgress = WganProgress & { member: number };

export interface WganEnsembleResult {
  members: WganMember[];
  histories: WganTrainResult[];
  elapsedMs: number;
}

/**
 * Trains M WGAN members independently (seeds memberSeed(seed, m)) in a pool of worker threads;
 * member m's result is bit-identical to trainWganMember(spec, data, n, {...train, seed: memberSeed(seed, m)})
 * in-process on the same backend. Rejects with {@link EnsembleTrainError} (E_ENSEMBLE_OPTIONS,
 * E_ENSEMBLE_MEMBER) and terminates the other workers when a member fails.
 */
export async function trainWganEnsemble(
  spec: WganSpec,
  data: Float32Array,
  n: number,
  options: WganEnsembleOptions = {},
): Promise<WganEnsembleResult> {
  const m = options.members ?? 5;
  if (!Number.isInteger(m) || m < 1)
    throw new EnsembleTrainError('E_ENSEMBLE_OPTIONS', `members must be ≥ 1, got ${m}`);
  const d = dataDim(spec.arch);
  if (!Number.isInteger(n) || n < 1 || data.length !== n * d)
    throw new EnsembleTrainError(
      'E_ENSEMBLE_OPTIONS',
      `training data holds ${data.length} values, expected ${n}×${d}`,
    );
  if (options.inits !== undefined && options.inits.length !== m)
    throw new EnsembleTrainError(
      'E_ENSEMBLE_OPTIONS',
      `inits holds ${options.inits.length} members' parameters, expected ${m}`,
    );
  const conc = Math.max(1, Math.min(m, options.concurrency ?? os.availableParallelism()));
  const t0 = performance.now();
  const shared = toShared(data);
  const baseSeed = options.seed ?? 0;
  const results = await runMemberWorkers<WganProgress, WganTrainResult>({
    entry: 'wgan-worker',
    members: m,
    concurrency: conc,
    job: (member): WganJob => ({
      member,
      seed: memberSeed(baseSeed, member),
      spec,
      data: shared,
      n,
      bootstrap: options.bootstrap ?? false,
      options: { ...(options.train ?? {}), ...(options.inits ? { init: options.inits[member] } : {}) },
      backend: options.backend ?? 'auto',
    }),
    onProgress: (member, event) => options.onProgress?.(member, { ...event, member }),
    onBackend: (member, detail, warnings) => options.onBackend?.(member, detail, warnings),
    ...(options.store ? { store: options.store } : {}),
    ...(options.onReused ? { onReused: options.onReused } : {}),
  });
  const members: WganMember[] = results.map((r, i) => ({
    seed: memberSeed(baseSeed, i),
    critic: r.critic,
    ...(r.generator !== undefined ? { generator: r.generator } : {}),
    stats: r.stats,
  }));
  return { members, histories: results, elapsedMs: performance.now() - t0 };
}

/** What a worker (wgan-worker.ts) gets: one member's training job. */
export interface WganJob {
  member: number;
  seed: number;
  spec: WganSpec;
  /** Shared training data [n, D]. */
  data: SharedArrayBuffer | ArrayBuffer;
  n: number;
  /** Train on a bootstrap resample (n draws with replacement, seeded) of the data. */
  bootstrap: boolean;
  options: Omit<WganTrainOptions, 'onProgress' | 'signal' | 'seed'>;
  backend: BackendName | 'auto';
}

export type WganWorkerMessage = MemberWorkerMessage<WganProgress, WganTrainResult>;
