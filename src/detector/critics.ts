/**
 * Detector, fit side, the WGAN family: M critic ensembles trained on the same transformed normal
 * records as the VAE members (engine/wgan-train.ts: Wasserstein loss with weight clipping, then the
 * generator frozen and the critic fine-tuned as a logistic classifier of data vs generator samples, as
 * in the authors' code), exported as one ONNX graph (critic, mean, Var). Used by
 * {@link buildModel} for family 'vae+wgan' and by the image benchmark's WGAN columns, so both score
 * the same graph.
 */
import { memberSeed, type ReusedMember } from '../engine/ensemble-train.js';
import type { MemberStore } from '../engine/member-store.js';
import { exportCriticEnsembleOnnx } from '../engine/onnx/critic-export.js';
import { SPEC_VERSION, dataDim, type Arch, type FeatureTransform, type MemberSpec } from '../engine/spec.js';
import type { JsonValue } from '../engine/checkpoint.js';
import {
  trainWganEnsemble,
  wganTrainDefaults,
  type WganFineTuneLoss,
  type WganInit,
  type WganMemberProgress,
  type CriticSchedule,
  type WganTrainOptions,
} from '../engine/wgan-train.js';
import { wganSpecFor, type CriticNormalization, type WganEnsembleSpec } from '../engine/wgan.js';
import { InputError } from '../errors.js';

/** How the critic ensemble of a 'vae+wgan' model is trained. */
export interface CriticBuildOptions {
  /**
   * Architecture of critic (the VAE encoder's + a linear projection) and generator (the VAE decoder's).
   * Default: the VAE member's own, as in the paper. It must read the same number of values.
   */
  arch?: Arch;
  /** Critics in the ensemble. Default: as many as VAE members. */
  members?: number;
  /** Generator iterations of the adversarial phase. Default 2000 (engine default). */
  steps?: number;
  /** Critic-only steps against the frozen generator. Default 4000 (the paper). */
  fineTuneSteps?: number;
  batchSize?: number;
  nCritic?: number;
  /** Critic updates per generator iteration: 'fixed' (engine default) or 'arjovsky' (engine/wgan-train.ts). */
  criticSchedule?: CriticSchedule;
  lipschitz?: 'clip' | 'gp';
  /** Default: the engine's (RMSProp with clipping, Adam with the gradient penalty). */
  optimizer?: 'rmsprop' | 'adam';
  learningRate?: number;
  /** Objective of the fine-tuning phase (engine/wgan-train.ts). Default: the engine's. */
  fineTuneLoss?: WganFineTuneLoss;
  /**
   * How member values are put on a common origin before the mean and Var. Default 'center' (each
   * critic minus its mean on training data): a WGAN critic is defined up to a constant, so raw values
   * of different members differ by arbitrary offsets. Chosen on the 2-D toy with Wasserstein-fine-tuned
   * critics (benchmarks/toy-2d: raw Var D leaked 12.8 % of the far region, centred 0 %), never on the
   * OoD tables; with the logistic fine-tuning it still wins on the image validation proxies (WGAN
   * protocol v2: e.g. Fashion-MNIST pixel-shuffle 68.0 vs 42.5 raw, invert 92.1 vs 77.8).
   */
  normalization?: CriticNormalization;
}

export const DEFAULT_CRITIC_NORMALIZATION: CriticNormalization = 'center';

export interface TrainCriticsInput {
  /** The VAE member spec (its arch and likelihood give the WGAN's defaults). */
  member: MemberSpec;
  transform: FeatureTransform;
  /** TRANSFORMED training records [n, d]. */
  data: Float32Array;
  n: number;
  /** Base seed of the build; critics use their own salted member seeds. */
  seed: number;
  /** Default member count when options.members is absent. */
  defaultMembers: number;
  options?: CriticBuildOptions;
  /** Member m starts from inits[m] (a finished adversarial phase, fine-tuned here). */
  inits?: WganInit[];
  /** Return each member's generator too (to fine-tune the same adversarial phase again). Default false. */
  keepGenerators?: boolean;
  concurrency?: number;
  onProgress?: (member: number, event: WganMemberProgress) => void;
  onBackend?: (member: number, detail: string) => void;
  /** Keeps finished critics so that a build that stopped resumes (engine/member-store.ts). */
  store?: MemberStore;
  onReused?: (reused: ReusedMember) => void;
}

export interface TrainedCritics {
  spec: WganEnsembleSpec;
  onnxBytes: Uint8Array;
  /** Stored as manifest.critics.trainingConfig. */
  trainingConfig: Record<string, JsonValue>;
  /** Each member's critic and generator, when keepGenerators was set. */
  inits?: WganInit[];
  elapsedMs: number;
}

/** Critic seeds are salted so they never coincide with the VAE members' (memberSeed(seed, m)). */
export const CRITIC_SEED_SALT = 0x6a11;

export async function trainCritics(i: TrainCriticsInput): Promise<TrainedCritics> {
  const o = i.options ?? {};
  const base = wganSpecFor(i.member);
  const wgan = { ...base, arch: o.arch ?? base.arch };
  const d = dataDim(i.member.arch);
  if (dataDim(wgan.arch) !== d)
    throw new InputError(
      'BUILD_SHAPE',
      `the critic architecture reads ${dataDim(wgan.arch)} values per record, the records have ${d}`,
    );
  const members = o.members ?? i.defaultMembers;
  const train: Omit<WganTrainOptions, 'onProgress' | 'signal' | 'seed'> = {
    ...(o.steps !== undefined ? { steps: o.steps } : {}),
    ...(o.fineTuneSteps !== undefined ? { fineTuneSteps: o.fineTuneSteps } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.nCritic !== undefined ? { nCritic: o.nCritic } : {}),
    ...(o.criticSchedule !== undefined ? { criticSchedule: o.criticSchedule } : {}),
    ...(o.lipschitz !== undefined ? { lipschitz: o.lipschitz } : {}),
    ...(o.optimizer !== undefined ? { optimizer: o.optimizer } : {}),
    ...(o.learningRate !== undefined ? { learningRate: o.learningRate } : {}),
    ...(o.fineTuneLoss !== undefined ? { fineTuneLoss: o.fineTuneLoss } : {}),
    keepGenerator: i.keepGenerators === true,
  };
  const seed = (i.seed ^ CRITIC_SEED_SALT) >>> 0;
  const trained = await trainWganEnsemble(wgan, i.data, i.n, {
    members,
    seed,
    train,
    ...(i.inits !== undefined ? { inits: i.inits } : {}),
    ...(i.concurrency !== undefined ? { concurrency: i.concurrency } : {}),
    ...(i.onProgress ? { onProgress: i.onProgress } : {}),
    ...(i.onBackend ? { onBackend: (m: number, detail: string) => i.onBackend?.(m, detail) } : {}),
    ...(i.store ? { store: i.store } : {}),
    ...(i.onReused ? { onReused: i.onReused } : {}),
  });
  const normalization = o.normalization ?? DEFAULT_CRITIC_NORMALIZATION;
  const spec: WganEnsembleSpec = {
    specVersion: SPEC_VERSION,
    wgan,
    transform: i.transform,
    inputDim: d,
    normalization,
    members: trained.members.map((m) => ({ seed: m.seed, critic: m.critic, stats: m.stats })),
  };
  const r = wganTrainDefaults({ ...train, seed });
  const trainingConfig: Record<string, JsonValue> = {
    members,
    seed,
    memberSeeds: trained.members.map((_, m) => memberSeed(seed, m)),
    steps: r.steps,
    fineTuneSteps: r.fineTuneSteps,
    batchSize: r.batchSize,
    nCritic: r.nCritic,
    lipschitz: r.lipschitz,
    clip: r.lipschitz === 'clip' ? r.clip : null,
    optimizer: r.optimizer,
    learningRate: r.learningRate,
    fineTuneLoss: r.fineTuneLoss,
    startedFromGivenParams: i.inits !== undefined,
    normalization,
    stoppedEarly: trained.histories.map((h) => h.stoppedEarly),
    trainMs: Math.round(trained.elapsedMs),
  };
  const inits =
    i.keepGenerators === true
      ? trained.members.map((m): WganInit => {
          if (m.generator === undefined)
            throw new Error('internal: a member came back without its generator');
          return { critic: m.critic, generator: m.generator };
        })
      : undefined;
  return {
    spec,
    onnxBytes: exportCriticEnsembleOnnx(spec),
    trainingConfig,
    elapsedMs: trained.elapsedMs,
    ...(inits ? { inits } : {}),
  };
}
