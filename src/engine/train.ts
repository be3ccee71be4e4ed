/**
 * Trains one VAE member in tfjs: Adam with cosine learning-rate decay, β-weighted ELBO (or IWAE)
 * objective with a linear β warm-up, validation IWAE every N steps with early stopping that keeps
 * the best parameters, progress events, and full determinism from a seed (initialisation, data
 * order and the reparameterisation noise all come from the seeded {@link Rng}; wasm executes the
 * same ops in the same order, so the same seed gives bit-identical parameters).
 *
 * Data in: a Float32Array [n, D], already in model space (the caller applies the feature transform).
 */
import * as tf from '@tensorflow/tfjs';
import type { MemberParams, MemberSpec } from './spec.js';
import { dataDim } from './spec.js';
import { Rng, makeEps } from './random.js';
import { TfVae } from './vae.js';
import { GensembleError } from '../errors.js';

export class TrainError extends GensembleError {
  declare readonly code: 'E_TRAIN_OPTIONS' | 'E_TRAIN_DATA' | 'E_TRAIN_DIVERGED';
  constructor(code: 'E_TRAIN_OPTIONS' | 'E_TRAIN_DATA' | 'E_TRAIN_DIVERGED', message: string) {
    super(code, message);
  }
}

export interface TrainOptions {
  /** Optimisation steps (one mini-batch each). Default 2000. */
  steps?: number;
  /** Mini-batch size. Default 128. */
  batchSize?: number;
  /** Initial learning rate lr0; lr(t) = lr0·0.5·(1 + cos(π t / steps)). Default 1e-3. */
  learningRate?: number;
  /** Adam moments and epsilon. Defaults 0.9, 0.999, 1e-7 (tfjs defaults). */
  adam?: { beta1?: number; beta2?: number; epsilon?: number };
  /** Final weight of the KL/rate term. Default 1 (the plain ELBO). */
  beta?: number;
  /** β at step 0; β rises linearly to `beta` over `warmupSteps`. Default = beta (no warm-up). */
  betaStart?: number;
  /** Length of the β warm-up in steps. Default 0. */
  warmupSteps?: number;
  /** Training objective: β-ELBO (default) or the IWAE bound with `trainK` samples. */
  objective?: TrainObjective;
  /** Samples per record in the training objective. Default 1 for elbo, 16 for iwae. */
  trainK?: number;
  /** Held-out data [nVal, D] for validation IWAE and early stopping. */
  validation?: { data: Float32Array; n: number };
  /** Validate every this many steps (and at the end). Default 200. */
  validateEvery?: number;
  /** Importance samples of the validation IWAE. Default 16. */
  validationK?: number;
  /** Stop after this many validations without improvement of the best validation IWAE. Default 5. */
  patience?: number;
  /** Seed for initialisation, data order and noise. Default 0. */
  seed?: number;
  /** Start from these parameters instead of a fresh initialisation. */
  initialParams?: MemberParams;
  /** Called every `progressEvery` steps and after every validation. */
  onProgress?: (event: TrainProgress) => void;
  /** Default 10. */
  progressEvery?: number;
  /** Stop early (keeping the best or the current parameters) when aborted. */
  signal?: AbortSignal;
}

export interface TrainProgress {
  step: number;
  steps: number;
  /** Mean training loss (negative β-objective per record) of this step's batch. */
  loss: number;
  lr: number;
  beta: number;
  /** Validation IWAE (mean per record), when this event follows a validation. */
  valIwae?: number;
  bestValIwae?: number;
  elapsedMs: number;
}

export interface TrainResult {
  params: MemberParams;
  /** Progress events in order (the same objects passed to onProgress). */
  history: TrainProgress[];
  /** Steps actually run. */
  steps: number;
  /** Step whose parameters were kept (best validation IWAE, else the last step). */
  bestStep: number;
  bestValIwae: number | null;
  stoppedEarly: boolean;
  elapsedMs: number;
}

/** Cosine decay: lr0·0.5·(1 + cos(π t / T)). */
export function cosineLr(lr0: number, t: number, total: number): number {
  return lr0 * 0.5 * (1 + Math.cos((Math.PI * Math.min(t, total)) / Math.max(1, total)));
}

/** Linear β warm-up from betaStart to beta over warmupSteps. */
export function betaAt(t: number, beta: number, betaStart: number, warmupSteps: number): number {
  if (warmupSteps <= 0 || t >= warmupSteps) return beta;
  return betaStart + ((beta - betaStart) * t) / warmupSteps;
}

/**
 * Adam (Kingma & Ba) with the learning rate given per step. Slots are tf.Variables; every update
 * runs in tf.tidy. Bias correction folded into the step size:
 *   m ← m + (1-β1)(g - m); v ← v + (1-β2)(g² - v); θ ← θ - lr·√(1-β2ᵗ)/(1-β1ᵗ) · m / (√v + ε̂).
 */
export class Adam {
  private readonly m: tf.Variable[];
  private readonly v: tf.Variable[];
  private t = 0;
  constructor(
    private readonly vars: tf.Variable[],
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-7,
  ) {
    this.m = vars.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
    this.v = vars.map((x) => tf.tidy(() => tf.variable(tf.zerosLike(x), false)));
  }

  /** Applies grads (same order as the variables) with learning rate lr. */
  step(grads: tf.Tensor[], lr: number): void {
    this.t += 1;
    const c1 = 1 - this.beta1;
    const c2 = 1 - this.beta2;
    const stepSize = (lr * Math.sqrt(1 - this.beta2 ** this.t)) / (1 - this.beta1 ** this.t);
    const epsHat = this.epsilon * Math.sqrt(1 - this.beta2 ** this.t);
    tf.tidy(() => {
      for (let i = 0; i < this.vars.length; i++) {
        const g = grads[i];
        const m = this.m[i];
        const v = this.v[i];
        const mNew = tf.add(m, tf.mul(tf.sub(g, m), c1));
        const vNew = tf.add(v, tf.mul(tf.sub(tf.square(g), v), c2));
        m.assign(mNew);
        v.assign(vNew);
        this.vars[i].assign(
          tf.sub(this.vars[i], tf.mul(tf.div(mNew, tf.add(tf.sqrt(vNew), epsHat)), stepSize)),
        );
      }
    });
  }

  dispose(): void {
    tf.dispose(this.m);
    tf.dispose(this.v);
  }
}

/** The training objectives of a member: the β-ELBO or the IWAE bound. */
export const TRAIN_OBJECTIVES = ['elbo', 'iwae'] as const;
export type TrainObjective = (typeof TRAIN_OBJECTIVES)[number];

/** Resolved options with defaults (one place to read them). */
export function trainDefaults(
  o: TrainOptions,
): Required<
  Omit<TrainOptions, 'validation' | 'initialParams' | 'onProgress' | 'signal' | 'adam' | 'trainK'>
> & { trainK: number; adam: { beta1: number; beta2: number; epsilon: number } } {
  const beta = o.beta ?? 1;
  const objective = o.objective ?? 'elbo';
  return {
    steps: o.steps ?? 2000,
    batchSize: o.batchSize ?? 128,
    learningRate: o.learningRate ?? 1e-3,
    adam: { beta1: o.adam?.beta1 ?? 0.9, beta2: o.adam?.beta2 ?? 0.999, epsilon: o.adam?.epsilon ?? 1e-7 },
    beta,
    betaStart: o.betaStart ?? beta,
    warmupSteps: o.warmupSteps ?? 0,
    objective,
    trainK: o.trainK ?? (objective === 'iwae' ? 16 : 1),
    validateEvery: o.validateEvery ?? 200,
    validationK: o.validationK ?? 16,
    patience: o.patience ?? 5,
    seed: o.seed ?? 0,
    progressEvery: o.progressEvery ?? 10,
  };
}

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1)
    throw new TrainError('E_TRAIN_OPTIONS', `${name} must be a positive integer, got ${v}`);
}

/**
 * One training step's loss for a batch: mean over records of -(β-objective).
 * β-ELBO: mean_k (log p(x|z_k) - β·(log q - log p(z_k))); β-IWAE: logsumexp_k of the same - log K.
 */
export function trainingLoss(
  vae: TfVae,
  x: tf.Tensor2D,
  eps: tf.Tensor3D,
  beta: number,
  objective: TrainObjective,
): tf.Scalar {
  const { logw, kl } = vae.logWeights(x, eps);
  // logw = log p(x|z) - kl, so the β-weighted log weight is logw + (1 - β)·kl.
  const lw = beta === 1 ? logw : (tf.add(logw, tf.mul(kl, 1 - beta)) as tf.Tensor2D);
  const k = lw.shape[1];
  if (objective === 'elbo' || k === 1) return tf.neg(tf.mean(lw)) as tf.Scalar;
  const lse = tf.logSumExp(lw, 1);
  return tf.neg(tf.sub(tf.mean(lse), Math.log(k))) as tf.Scalar;
}

/** Mean IWAE-K over a data set, with fixed eps (scoring semantics). */
export function meanIwae(vae: TfVae, data: Float32Array, n: number, eps: Float32Array, k: number): number {
  const r = vae.scoreArray(data, n, eps, k, 256);
  let s = 0;
  for (let i = 0; i < n; i++) s += r.iwae[i];
  return s / n;
}

/** Trains one member. Synchronous compute; returns when done (or stopped early / aborted). */
export function trainMember(
  spec: MemberSpec,
  data: Float32Array,
  n: number,
  options: TrainOptions = {},
): TrainResult {
  const o = trainDefaults(options);
  checkPositiveInt('steps', o.steps);
  checkPositiveInt('batchSize', o.batchSize);
  checkPositiveInt('trainK', o.trainK);
  checkPositiveInt('validateEvery', o.validateEvery);
  checkPositiveInt('validationK', o.validationK);
  checkPositiveInt('progressEvery', o.progressEvery);
  if (!(o.learningRate > 0)) throw new TrainError('E_TRAIN_OPTIONS', `learningRate must be > 0`);
  if (!Number.isInteger(o.patience) || o.patience < 1)
    throw new TrainError('E_TRAIN_OPTIONS', `patience must be ≥ 1`);
  const d = dataDim(spec.arch);
  if (!Number.isInteger(n) || n < 1)
    throw new TrainError('E_TRAIN_DATA', `need at least one training record, got n=${n}`);
  if (data.length !== n * d) {
    throw new TrainError(
      'E_TRAIN_DATA',
      `training data holds ${data.length} values, expected ${n}×${d}=${n * d}`,
    );
  }
  const val = options.validation;
  if (val !== undefined && (val.n < 1 || val.data.length !== val.n * d)) {
    throw new TrainError(
      'E_TRAIN_DATA',
      `validation data holds ${val.data.length} values, expected ${val.n}×${d}`,
    );
  }

  const t0 = performance.now();
  const vae =
    options.initialParams !== undefined
      ? TfVae.fromParams(spec, options.initialParams)
      : TfVae.create(spec, o.seed);
  const vars = vae.variables();
  const adam = new Adam(vars, o.adam.beta1, o.adam.beta2, o.adam.epsilon);
  const rng = new Rng((o.seed ^ 0x7a11) >>> 0);
  const dz = spec.arch.latentDim;
  const bs = Math.min(o.batchSize, n);
  const batch = new Float32Array(bs * d);
  const epsBuf = new Float32Array(bs * o.trainK * dz);
  const valEps = makeEps((o.seed + 0x51ed) >>> 0, o.validationK, dz);
  let order = rng.permutation(n);
  let cursor = 0;

  const history: TrainProgress[] = [];
  let best: MemberParams | null = null;
  let bestValIwae: number | null = null;
  let bestStep = 0;
  let sinceBest = 0;
  let stoppedEarly = false;
  let step = 0;
  let lastLoss = NaN;

  const emit = (ev: TrainProgress): void => {
    history.push(ev);
    options.onProgress?.(ev);
  };

  try {
    for (step = 0; step < o.steps; step++) {
      if (options.signal?.aborted) {
        stoppedEarly = true;
        break;
      }
      // Assemble the batch in seeded order (reshuffle each epoch).
      for (let r = 0; r < bs; r++) {
        if (cursor >= n) {
          order = rng.permutation(n);
          cursor = 0;
        }
        const src = order[cursor++];
        batch.set(data.subarray(src * d, (src + 1) * d), r * d);
      }
      for (let i = 0; i < epsBuf.length; i++) epsBuf[i] = rng.normal();
      const lr = cosineLr(o.learningRate, step, o.steps);
      const beta = betaAt(step, o.beta, o.betaStart, o.warmupSteps);
      const lossT = tf.tidy(() => {
        const x = tf.tensor2d(batch, [bs, d]);
        const eps = tf.tensor3d(epsBuf, [bs, o.trainK, dz]);
        const { value, grads } = tf.variableGrads(() => trainingLoss(vae, x, eps, beta, o.objective), vars);
        adam.step(
          vars.map((v) => grads[v.name]),
          lr,
        );
        return value;
      });
      const lossVal = lossT.dataSync()[0];
      lossT.dispose();
      lastLoss = lossVal;
      if (!Number.isFinite(lossVal)) {
        throw new TrainError(
          'E_TRAIN_DIVERGED',
          `training loss became ${lossVal} at step ${step} (try a lower learningRate)`,
        );
      }
      const done = step + 1;
      const isVal = val !== undefined && (done % o.validateEvery === 0 || done === o.steps);
      if (isVal) {
        const v = meanIwae(vae, val.data, val.n, valEps, o.validationK);
        if (bestValIwae === null || v > bestValIwae) {
          bestValIwae = v;
          bestStep = done;
          best = vae.toMemberParams();
          sinceBest = 0;
        } else {
          sinceBest += 1;
        }
        emit({
          step: done,
          steps: o.steps,
          loss: lossVal,
          lr,
          beta,
          valIwae: v,
          bestValIwae,
          elapsedMs: performance.now() - t0,
        });
        if (sinceBest >= o.patience) {
          stoppedEarly = done < o.steps;
          step = done;
          break;
        }
      } else if (done % o.progressEvery === 0 || done === o.steps) {
        emit({
          step: done,
          steps: o.steps,
          loss: lossVal,
          lr,
          beta,
          ...(bestValIwae !== null ? { bestValIwae } : {}),
          elapsedMs: performance.now() - t0,
        });
      }
    }
    if (step > o.steps) step = o.steps;
    let params: MemberParams;
    if (best !== null) {
      params = best;
    } else {
      params = vae.toMemberParams();
      bestStep = step;
    }
    void lastLoss;
    return {
      params,
      history,
      steps: step,
      bestStep,
      bestValIwae,
      stoppedEarly,
      elapsedMs: performance.now() - t0,
    };
  } finally {
    adam.dispose();
    vae.dispose();
  }
}
