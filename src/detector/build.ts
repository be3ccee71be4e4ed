/**
 * Detector, fit side: from raw normal records to a ready-to-serve checkpoint, the one path used by `gensemble train`,
 * the demo and the benchmarks:
 *   split (train / validation / calibration, seeded) → fit the feature transform on TRAIN only →
 *   train M members in parallel → export the ONNX graph → score the calibration normals through
 *   the very scorer the stream uses → fit the combined-score statistics and a threshold for every
 *   score at the target false-positive rate → save the checkpoint.
 */
import { permutation, takeRows } from '../data/splits.js';
import { dataFingerprint } from '../data/fingerprint.js';
import { fitMinMax, fitStandard, applyTransform, IMAGE_TRANSFORM } from '../features/transform.js';
import { trainEnsemble, type EnsembleTrainOptions, type ReusedMember } from '../engine/ensemble-train.js';
import type { MemberStore } from '../engine/member-store.js';
import { trainDefaults, type TrainObjective, type TrainProgress } from '../engine/train.js';
import { exportEnsembleOnnx } from '../engine/onnx/export.js';
import type { ScorerOptions } from '../engine/scorer.js';
import { createEnsembleScorer } from '../engine/ensemble-scorer.js';
import { CriticScorer } from '../engine/critic-scorer.js';
import { VaeWganScorer } from '../engine/family-scorer.js';
import { fitFeatureGaussian } from '../engine/feature-gaussian.js';
import { InputStatisticsScorer } from '../engine/feature-scorer.js';
import { KNN_REFERENCE_MAX, KNN_SEED_SALT, nearestReference } from '../engine/feature-knn.js';
import type { WganMemberProgress } from '../engine/wgan-train.js';
import {
  saveCheckpoint,
  type CheckpointManifest,
  type JsonValue,
  type ModelFamily,
  type ModelKind,
} from '../engine/checkpoint.js';
import { trainCritics, type CriticBuildOptions, type TrainedCritics } from './critics.js';
import { calibrateThreshold } from '../engine/calibrate.js';
import {
  anomalyScores,
  fitCombinedRule,
  fitTypicalityRule,
  needsComplexity,
  needsCritics,
  needsFeatureGaussian,
  needsNearestReference,
  SCORE_NAMES,
  typicalityDim,
  type CombinedRule,
  type TypicalityRule,
} from '../engine/score-rules.js';
import { makeMafPrior } from '../engine/vae.js';
import {
  fitSupervisedHead,
  fitTailMap,
  headLogits,
  type HeadFeatureFamily,
  type LabelledRule,
} from '../engine/supervised-head.js';
import {
  DOSE_STATISTICS_CRITICS,
  doseScores,
  DOSE_TYPICALITY_RECORDS_PER_DIM,
  fitDoseRule,
  type DoseRule,
  type DoseStatistic,
  type DoseTails,
} from '../engine/dose.js';
import { isCriticScore } from '../engine/statistics.js';
import {
  CONSTANT_STD,
  SPEC_VERSION,
  binaryColumnsProblem,
  dataDim,
  type EnsembleSpec,
  type FeatureTransform,
  type MemberSpec,
  type Prior,
  type WrapColumn,
} from '../engine/spec.js';
import type { ScoreBatch, ScoreName, Scorer, Threshold } from '../engine/types.js';
import type { ModelConfig, ModelProfile, TransformKind } from './profile.js';
import { InputError } from '../errors.js';

export type { ModelConfig, ModelProfile, TransformKind } from './profile.js';

export interface BuildModelOptions {
  /** The kind's name (stored in the manifest and the flags). */
  kind: ModelKind;
  /** The kind's model profile (defaults, statistics of the rule; src/kinds). */
  profile: ModelProfile;
  /** The kind's fitted input encoder, stored in the manifest (user-declared tabular kinds). */
  input?: JsonValue;
  /** Raw NORMAL records, row-major [n, d] (what the stream will hand the scorer). */
  raw: Float32Array;
  n: number;
  d: number;
  model?: Partial<ModelConfig>;
  members?: number;
  k?: number;
  seed?: number;
  steps?: number;
  batchSize?: number;
  learningRate?: number;
  beta?: number;
  warmupSteps?: number;
  /** Each member's training objective: 'elbo' (default) or 'iwae' (the K-sample bound). */
  objective?: TrainObjective;
  /**
   * Posterior samples per record in the training objective. Default 1 for 'elbo', 16 for 'iwae'. The
   * paper's authors average the ELBO over 16 (`n_samples` in hschoi1/rich_latent vae_wgan/vae/model.py);
   * each sample costs one more decoder pass per record.
   */
  trainSamples?: number;
  bootstrap?: boolean;
  /** Fraction of records for validation (early stopping). Default 0.1. */
  validationFraction?: number;
  /** Validation IWAE (early stopping) every this many steps. Default 200 (the trainer's). */
  validateEvery?: number;
  /**
   * Early stopping evaluates at most this many validation records (the first of the seeded split;
   * default: all). The dose densities are still fitted on the whole validation split. A conv VAE's
   * validation IWAE-16 over 5,500 records costs ~100 s per evaluation here.
   */
  earlyStopRecords?: number;
  /** Fraction of records held out for threshold calibration. Default 0.1. */
  calibrationFraction?: number;
  /** Target false-positive rate of the stored thresholds. Default 0.01. */
  targetFpr?: number;
  /**
   * Tails of the dose densities: 'kde' (default; the kernel estimate everywhere) or 'exponential'
   * (exponential tails beyond each statistic's 1 % tail quantiles; detection protocol v3 in
   * BENCHMARKS.md kept 'kde' as the default on validation data).
   */
  doseTails?: DoseTails;
  /**
   * The score the stream flags on. Default: 'neg_logp' for transactions, 'combined' for frames,
   * each chosen on validation data only by the benchmarks (BENCHMARKS.md).
   */
  score?: ScoreName;
  /**
   * Labelled raw records (reviewed flags: frauds and confirmed normals). When given, a supervised head
   * is fitted on them plus training normals, the manifest gets scoreRule.labelled and a threshold for
   * 'dose_or_known', which becomes the model's score unless `score` is given.
   */
  labels?: LabelledRecords;
  /** Most training normals (a seeded subsample) the supervised head is fitted on. Default 20,000. */
  headNormals?: number;
  /** The supervised head's feature family and L2 penalty (default HEAD_DEFAULTS, engine/supervised-head.ts). */
  head?: { features?: HeadFeatureFamily; l2?: number };
  /**
   * 'vae' (default): the VAE ensemble. 'vae+wgan': also a WGAN critic ensemble trained on the same
   * records (the paper's second family); its mean and Var D(x) become scores with thresholds and
   * statistics of the dose rule.
   */
  family?: ModelFamily;
  /** How the critics are trained (family 'vae+wgan'). */
  critics?: CriticBuildOptions;
  /**
   * The dose rule's statistics, replacing the kind's list (profile.doseStatistics). The model's input
   * Gaussian (engine/feature-gaussian.ts) is fitted exactly when the list holds 'feature_maha'; the
   * build drops 'member_typicality' when the fit set is too small for it; the critics' statistics are
   * added for family 'vae+wgan'.
   */
  doseStatistics?: readonly DoseStatistic[];
  concurrency?: number;
  outDir: string;
  scorer?: ScorerOptions;
  onProgress?: (member: number, event: TrainProgress) => void;
  onCriticProgress?: (member: number, event: WganMemberProgress) => void;
  onBackend?: (member: number, detail: string) => void;
  /**
   * Keeps each finished member (VAE members and critics) so that a build that stopped (a crash, a kill)
   * trains only what it had not finished when run again with the same data and options
   * (engine/member-store.ts; `gensemble train` keeps them in `<out>.partial`).
   */
  memberStore?: MemberStore;
  /** A member taken from `memberStore` instead of trained ('vae' member or 'critic'). */
  onReused?: (family: 'vae' | 'critic', reused: ReusedMember) => void;
}

/** Raw records with labels for the supervised head: 1 = fraud, 0 = confirmed normal. */
export interface LabelledRecords {
  raw: Float32Array;
  n: number;
  labels: Uint8Array;
}

export interface BuildModelResult {
  manifest: CheckpointManifest;
  spec: EnsembleSpec;
  thresholds: Threshold[];
  combined: CombinedRule;
  /** Absent when the calibration set is too small for it (fewer than 10 records per dimension). */
  typicality: TypicalityRule | undefined;
  /** The density-of-states rule (the default score), fitted on the calibration normals. */
  dose: DoseRule;
  /** The supervised head and tail maps of 'dose_or_known', when labels were given. */
  labelled: LabelledRule | undefined;
  /** Scores of the calibration normals (for reports). */
  calibration: ScoreBatch;
  /** The critic ensemble (family 'vae+wgan'). */
  critics: TrainedCritics | undefined;
  trainMs: number;
}

/** Fits the configured transform on the training rows, wrapping the configured periodic columns first. */
function fitTransform(
  kind: TransformKind,
  wrap: readonly WrapColumn[] | undefined,
  x: Float32Array,
  n: number,
  d: number,
): FeatureTransform {
  const w = wrap && wrap.length > 0 ? { wrap } : {};
  if (kind === 'minmax') return fitMinMax(x, n, d, w);
  if (kind === 'standard') return fitStandard(x, n, d, w);
  if (w.wrap)
    throw new InputError(
      'BUILD_WRAP',
      'wrapping periodic columns needs the minmax or standard transform, not scale',
    );
  return IMAGE_TRANSFORM;
}

/**
 * The Bernoulli columns of a 'mixed' config (checked), or undefined for the other likelihoods and when
 * none of the 0/1 columns varies in training (the model is then the Gaussian). A 0/1 column that never
 * varies in the training rows stays with the Gaussian columns, where the standard transform makes it an
 * indicator (far out at any other value): a Bernoulli would only learn a logit some nats below 0 for
 * it, and an unseen category would cost a few nats instead of being flagged.
 */
function mixedColumns(config: ModelConfig, d: number, train: Float32Array, n: number): number[] | undefined {
  const bin = config.binaryColumns;
  // an empty list is allowed here: the model is then the Gaussian (below)
  const problem =
    bin && bin.length === 0 && config.likelihood === 'mixed'
      ? undefined
      : binaryColumnsProblem({ ...config, prior: { kind: 'standard' } }, d);
  if (problem) throw new InputError('BUILD_LIKELIHOOD', problem);
  if (config.likelihood !== 'mixed' || !bin) return undefined;
  if (config.transform !== 'standard')
    throw new InputError(
      'BUILD_LIKELIHOOD',
      `the mixed likelihood reads standardised features, not ${config.transform}`,
    );
  const varying = bin.filter((j) => {
    for (let i = 1; i < n; i++) if (train[i * d + j] !== train[j]) return true;
    return false;
  });
  return varying.length > 0 ? varying : undefined;
}

/**
 * The standard transform with `columns` left as they are (mean 0, std 1): the Bernoulli columns of the
 * mixed likelihood stay 0/1. They vary in training ({@link mixedColumns}), so none of them was a
 * constant-feature indicator; the flag is recomputed from the other columns.
 */
function unscaleColumns(t: FeatureTransform, columns: readonly number[]): FeatureTransform {
  if (columns.length === 0 || t.kind !== 'standard') return t;
  const mean = [...t.mean];
  const std = [...t.std];
  for (const j of columns) {
    mean[j] = 0;
    std[j] = 1;
  }
  const { constant: _constant, ...rest } = t;
  return {
    ...rest,
    mean,
    std,
    ...(std.some((s) => s <= CONSTANT_STD) ? { constant: 'indicator' as const } : {}),
  };
}

function resolvePrior(p: ModelConfig['prior'], latentDim: number, seed: number): Prior {
  return p === 'standard' ? { kind: 'standard' } : makeMafPrior(latentDim, p.layers, p.hidden, seed);
}

/**
 * The score the stream flags on when none is given, for every kind: 'dose', the density-of-states
 * rule fitted on this model's own held-out normal records (engine/dose.ts; protocol in BENCHMARKS.md).
 * No OoD data, proxy or sign choice enters it. (Before: mean log p for transactions and a z-score sum
 * with signs chosen on OoD proxies for frames; both remain selectable with --score.)
 */
export const DEFAULT_SCORE: ScoreName = 'dose';

/** Row indices of buildModel's seeded train / validation (early stopping) / calibration split. */
export interface BuildSplit {
  train: Uint32Array;
  validation: Uint32Array;
  calibration: Uint32Array;
}

/**
 * The split {@link buildModel} makes of n records (exported so that a benchmark can fit candidate
 * rules on exactly the calibration normals the engine fits its own rules on).
 */
export function buildSplit(
  n: number,
  seed: number,
  validationFraction = 0.1,
  calibrationFraction = 0.1,
): BuildSplit {
  const nVal = Math.max(1, Math.round(n * validationFraction));
  const nCal = Math.max(2, Math.round(n * calibrationFraction));
  const nTrain = n - nVal - nCal;
  if (nTrain < 2)
    throw new InputError(
      'BUILD_TOO_FEW',
      `need more records: ${n} leave ${nTrain} for training after validation and calibration`,
    );
  const perm = permutation(n, seed ^ 0x5eed);
  return {
    train: perm.subarray(0, nTrain),
    validation: perm.subarray(nTrain, nTrain + nVal),
    calibration: perm.subarray(nTrain + nVal),
  };
}

export async function buildModel(o: BuildModelOptions): Promise<BuildModelResult> {
  const { raw, n, d } = o;
  if (raw.length !== n * d)
    throw new InputError('BUILD_SHAPE', `training data holds ${raw.length} values, expected ${n}×${d}`);
  const config: ModelConfig = { ...o.profile.defaultConfig(d), ...o.model };
  if (dataDim(config.arch) !== d)
    throw new InputError(
      'BUILD_SHAPE',
      `model expects ${dataDim(config.arch)} inputs per record, data has ${d}`,
    );
  const seed = o.seed ?? 0;
  if (o.labels) checkLabels(o.labels, d);
  if (o.score === 'dose_or_known' && !o.labels)
    throw new InputError('BUILD_SCORE', "score 'dose_or_known' needs labels (labelled frauds and normals)");
  const split = buildSplit(n, seed, o.validationFraction, o.calibrationFraction);
  const nTrain = split.train.length;
  const nVal = split.validation.length;
  const nCal = split.calibration.length;
  const members = o.members ?? 5;
  checkBuildable(o, members, nCal);
  const trainRaw = takeRows(raw, d, split.train);
  const valRaw = takeRows(raw, d, split.validation);
  const calRaw = takeRows(raw, d, split.calibration);

  const binary = mixedColumns(config, d, trainRaw, nTrain);
  const transform = unscaleColumns(
    fitTransform(config.transform, config.wrap, trainRaw, nTrain, d),
    binary ?? [],
  );
  // 'mixed' without a 0/1 column that varies in training is the Gaussian (a declared kind of numeric
  // features only, or one whose categories never vary)
  const likelihood = config.likelihood === 'mixed' && !binary ? 'gaussian' : config.likelihood;
  const member: MemberSpec = {
    arch: config.arch,
    likelihood,
    prior: resolvePrior(config.prior, config.arch.latentDim, seed),
    ...(binary ? { binaryColumns: binary } : {}),
  };
  const k = o.k ?? 16;
  const train: EnsembleTrainOptions['train'] = {
    steps: o.steps ?? 2000,
    batchSize: o.batchSize ?? 128,
    learningRate: o.learningRate ?? 1e-3,
    beta: o.beta ?? 1,
    ...(o.warmupSteps ? { betaStart: 0, warmupSteps: o.warmupSteps } : {}),
    ...(o.validateEvery !== undefined ? { validateEvery: o.validateEvery } : {}),
    ...(o.objective !== undefined ? { objective: o.objective } : {}),
    ...(o.trainSamples !== undefined ? { trainK: o.trainSamples } : {}),
  };
  const nStop = Math.min(nVal, o.earlyStopRecords ?? nVal);
  // members an earlier, interrupted build finished (memberStore): recorded in the manifest
  const reused: Record<'vae' | 'critic', number[]> = { vae: [], critic: [] };
  const noteReused =
    (family: 'vae' | 'critic') =>
    (r: ReusedMember): void => {
      reused[family].push(r.member);
      o.onReused?.(family, r);
    };
  const trainData = applyTransform(transform, trainRaw, nTrain, d);
  const trained = await trainEnsemble(member, trainData, nTrain, {
    members,
    seed,
    k,
    bootstrap: o.bootstrap ?? false,
    train,
    validation: { data: applyTransform(transform, valRaw.subarray(0, nStop * d), nStop, d), n: nStop },
    ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
    ...(o.onProgress ? { onProgress: o.onProgress } : {}),
    ...(o.onBackend ? { onBackend: (m: number, detail: string) => o.onBackend?.(m, detail) } : {}),
    ...(o.memberStore ? { store: o.memberStore, onReused: noteReused('vae') } : {}),
  });
  const spec: EnsembleSpec = {
    specVersion: SPEC_VERSION,
    member,
    transform,
    inputDim: d,
    k,
    members: trained.members,
  };
  const onnxBytes = exportEnsembleOnnx(spec);
  const critics =
    (o.family ?? 'vae') === 'vae+wgan'
      ? await trainCritics({
          member,
          transform,
          data: trainData,
          n: nTrain,
          seed,
          defaultMembers: members,
          ...(o.critics ? { options: o.critics } : {}),
          ...(o.concurrency !== undefined ? { concurrency: o.concurrency } : {}),
          ...(o.onCriticProgress ? { onProgress: o.onCriticProgress } : {}),
          ...(o.onBackend ? { onBackend: o.onBackend } : {}),
          ...(o.memberStore ? { store: o.memberStore, onReused: noteReused('critic') } : {}),
        })
      : undefined;
  const featureGaussian = (o.doseStatistics ?? o.profile.doseStatistics).includes('feature_maha')
    ? fitFeatureGaussian(trainData, nTrain, d)
    : undefined;
  // the reference set of 'feature_knn': a seeded sample of ≤ KNN_REFERENCE_MAX training records
  const referenceRows = (o.doseStatistics ?? o.profile.doseStatistics).includes('feature_knn')
    ? permutation(nTrain, seed ^ KNN_SEED_SALT).subarray(0, Math.min(KNN_REFERENCE_MAX, nTrain))
    : undefined;
  const nearest = referenceRows
    ? nearestReference(takeRows(trainData, d, referenceRows), referenceRows.length, d)
    : undefined;
  // frames: also the input complexity, so that 'neg_logp_ic' (and rules using it) get thresholds
  const vaeScorer = await createEnsembleScorer(spec, onnxBytes, {
    ...(o.scorer ?? {}),
    inputComplexity: o.profile.inputComplexity,
  });
  let scorer: Scorer = vaeScorer;
  if (critics) {
    const { inputComplexity: _ic, ...criticOptions } = o.scorer ?? {};
    scorer = new VaeWganScorer(vaeScorer, await CriticScorer.create(critics.onnxBytes, criticOptions));
  }
  if (featureGaussian || nearest) {
    const { inputComplexity: _ic, chunkSize: _cs, engine: _en, ...featureOptions } = o.scorer ?? {};
    scorer = await InputStatisticsScorer.create(
      scorer,
      { ...(featureGaussian ? { gaussian: featureGaussian } : {}), ...(nearest ? { nearest } : {}) },
      transform,
      featureOptions,
    );
  }
  let calibration: ScoreBatch;
  let validationScores: ScoreBatch;
  let headRows: { normals: ScoreBatch; labelled: ScoreBatch; normalRaw: Float32Array } | undefined;
  try {
    calibration = await scorer.scoreBatch(calRaw, nCal);
    validationScores = await scorer.scoreBatch(valRaw, nVal);
    if (o.labels) {
      // the head's normals: a seeded subsample of the TRAINING normals (never validation/calibration)
      const take = Math.min(nTrain, o.headNormals ?? 20_000);
      const normalRaw = takeRows(trainRaw, d, permutation(nTrain, seed ^ 0x4ead).subarray(0, take));
      headRows = {
        normalRaw,
        normals: await scorer.scoreBatch(normalRaw, take),
        labelled: await scorer.scoreBatch(o.labels.raw, o.labels.n),
      };
    }
  } finally {
    await scorer.close();
  }
  const combined = fitCombinedRule(calibration, o.profile.combinedComponents);
  const typicality =
    nCal >= 10 * typicalityDim('logp_rate', members) ? fitTypicalityRule(calibration) : undefined;
  // The densities are fitted on the validation split (held out from the weights; used only to pick the
  // early-stopping step), NOT on the calibration records: a kernel density evaluated at its own support
  // points is biased toward "typical" in the tails, which would put the threshold below the target FPR.
  const doseFitOn = nVal >= 10 ? validationScores : calibration;
  // the members' joint typicality needs 10 fit records per dimension (2 per member)
  const enoughForTypicality = doseFitOn.n >= DOSE_TYPICALITY_RECORDS_PER_DIM * 2 * members;
  const kindStatistics = (o.doseStatistics ?? o.profile.doseStatistics).filter(
    (s) =>
      (s !== 'feature_maha' || featureGaussian !== undefined) &&
      (s !== 'feature_knn' || nearest !== undefined) &&
      (s !== 'member_typicality' || enoughForTypicality),
  );
  const doseStatistics = critics ? [...kindStatistics, ...DOSE_STATISTICS_CRITICS] : kindStatistics;
  const dose = fitDoseRule(
    doseFitOn,
    doseStatistics,
    o.doseTails && o.doseTails !== 'kde' ? { tails: o.doseTails } : {},
  );
  let labelled: LabelledRule | undefined;
  if (o.labels && headRows) {
    const head = fitSupervisedHead(
      [
        {
          raw: headRows.normalRaw,
          batch: headRows.normals,
          labels: new Uint8Array(headRows.normals.n),
          reference: true,
        },
        { raw: o.labels.raw, batch: headRows.labelled, labels: o.labels.labels },
      ],
      d,
      { columns: o.profile.headColumns(d), ...(o.head ?? {}) },
    );
    // the tail maps on the same held-out normals as the dose densities; the threshold on calibration
    const tailOn = nVal >= 10 ? validationScores : calibration;
    labelled = {
      head,
      doseTail: fitTailMap(doseScores(tailOn, dose)),
      headTail: fitTailMap(headLogits(tailOn, head)),
    };
  }
  const rules = { combined, typicality, dose, labelled };
  const targetFpr = o.targetFpr ?? 0.01;
  const available = (s: ScoreName): boolean =>
    (s !== 'typicality' || typicality !== undefined) &&
    (s !== 'dose_or_known' || labelled !== undefined) &&
    (!needsComplexity(s, rules) || calibration.complexity !== undefined) &&
    (!needsCritics(s, rules) || calibration.critic !== undefined) &&
    (!needsFeatureGaussian(s, rules) || calibration.featureMaha !== undefined) &&
    (!needsNearestReference(s, rules) || calibration.featureKnn !== undefined);
  const thresholds = SCORE_NAMES.filter(available).map((s) =>
    calibrateThreshold(anomalyScores(calibration, s, rules), targetFpr, s),
  );
  const score = o.score ?? (labelled ? 'dose_or_known' : DEFAULT_SCORE);
  // checked before training (checkBuildable); a failure here is a bug
  if (!available(score)) throw new Error(`score '${score}' is not available after the build`);
  const resolved = trainDefaults(train);
  const trainingConfig: Record<string, JsonValue> = {
    members,
    k,
    seed,
    steps: train.steps ?? null,
    batchSize: train.batchSize ?? null,
    learningRate: train.learningRate ?? null,
    beta: train.beta ?? null,
    warmupSteps: o.warmupSteps ?? 0,
    objective: resolved.objective,
    trainSamples: resolved.trainK,
    validateEvery: o.validateEvery ?? 200,
    earlyStopRecords: nStop,
    bootstrap: o.bootstrap ?? false,
    featureStatistic: featureGaussian !== undefined,
    nearestReference: nearest?.size ?? 0,
    nTrain,
    nValidation: nVal,
    nCalibration: nCal,
    bestSteps: trained.histories.map((h) => h.bestStep),
    bestValIwae: trained.histories.map((h) => h.bestValIwae),
    trainMs: Math.round(trained.elapsedMs),
    // trainMs then counts this run's members only
    ...(reused.vae.length + reused.critic.length > 0
      ? {
          resumedMembers: {
            vae: [...reused.vae].sort((a, b) => a - b),
            critic: [...reused.critic].sort((a, b) => a - b),
          },
        }
      : {}),
    doseFittedOn: nVal >= 10 ? 'validation' : 'calibration',
    family: critics ? 'vae+wgan' : 'vae',
    ...(labelled
      ? {
          labels: {
            frauds: labelled.head.positives,
            normals: labelled.head.negatives,
            labelledNormals: o.labels ? o.labels.n - countOnes(o.labels.labels) : 0,
          },
        }
      : {}),
  };
  const manifest = await saveCheckpoint(o.outDir, spec, {
    kind: o.kind,
    ...(o.input !== undefined ? { input: o.input } : {}),
    thresholds,
    scoreRule: {
      score,
      combined,
      ...(typicality ? { typicality } : {}),
      dose,
      ...(labelled ? { labelled } : {}),
    },
    trainingConfig,
    dataFingerprint: dataFingerprint(raw),
    onnxBytes,
    ...(featureGaussian ? { featureGaussian } : {}),
    ...(nearest ? { nearestReference: nearest } : {}),
    ...(critics
      ? {
          critics: {
            spec: critics.spec,
            onnxBytes: critics.onnxBytes,
            trainingConfig: critics.trainingConfig,
          },
        }
      : {}),
  });
  return {
    manifest,
    spec,
    thresholds,
    combined,
    typicality,
    dose,
    labelled,
    calibration,
    critics,
    trainMs: trained.elapsedMs + (critics?.elapsedMs ?? 0),
  };
}

/**
 * Everything that can be known to fail before training does fail before training (minutes of CPU
 * otherwise): the flag score must be computable for this kind and split.
 */
function checkBuildable(o: BuildModelOptions, members: number, nCal: number): void {
  if (o.trainSamples !== undefined && !(Number.isInteger(o.trainSamples) && o.trainSamples >= 1))
    throw new InputError(
      'BUILD_OPTIONS',
      `trainSamples must be a positive integer (posterior samples per record), got ${o.trainSamples}`,
    );
  const score = o.score ?? (o.labels ? 'dose_or_known' : DEFAULT_SCORE);
  const ic = 'neg_logp_ic';
  const needsIc =
    score === ic ||
    (score === 'combined' && o.profile.combinedComponents.some((c) => c.score === ic)) ||
    ((score === 'dose' || score === 'dose_or_known') &&
      (o.doseStatistics ?? o.profile.doseStatistics).includes(ic));
  if (needsIc && !o.profile.inputComplexity)
    throw new InputError(
      'BUILD_SCORE',
      `score '${score}' needs the input complexity, which is defined for 8-bit frames, not ${o.kind} records`,
    );
  if (score === 'feature_maha' && !(o.doseStatistics ?? o.profile.doseStatistics).includes('feature_maha'))
    throw new InputError(
      'BUILD_SCORE',
      "score 'feature_maha' needs the model's input Gaussian, which this build does not fit (--no-feature-statistic)",
    );
  if ((o.doseStatistics ?? o.profile.doseStatistics).length === 0 && (o.family ?? 'vae') !== 'vae+wgan')
    throw new InputError('BUILD_SCORE', 'the dose rule needs at least one statistic (none is left)');
  if (score === 'feature_knn' && !(o.doseStatistics ?? o.profile.doseStatistics).includes('feature_knn'))
    throw new InputError(
      'BUILD_SCORE',
      "score 'feature_knn' needs the model's reference set, which this build does not keep (--no-feature-statistic)",
    );
  if (isCriticScore(score) && (o.family ?? 'vae') !== 'vae+wgan')
    throw new InputError(
      'BUILD_SCORE',
      `score '${score}' reads the WGAN critic ensemble: build with family 'vae+wgan' (--family vae+wgan)`,
    );
  if (score === 'typicality' && nCal < 10 * typicalityDim('logp_rate', members))
    throw new InputError(
      'BUILD_TOO_FEW',
      `score 'typicality' needs at least ${10 * typicalityDim('logp_rate', members)} calibration records (10 per dimension), got ${nCal}`,
    );
}

function countOnes(y: Uint8Array): number {
  let c = 0;
  for (const v of y) if (v === 1) c++;
  return c;
}

/** Labels must be d values per record, 0 or 1, with at least one fraud. */
function checkLabels(l: LabelledRecords, d: number): void {
  if (l.raw.length !== l.n * d || l.labels.length !== l.n)
    throw new InputError(
      'BUILD_LABELS',
      `labels: ${l.raw.length} values and ${l.labels.length} labels for ${l.n} records of ${d}`,
    );
  for (const v of l.labels)
    if (v !== 0 && v !== 1) throw new InputError('BUILD_LABELS', `labels must be 0 or 1, got ${v}`);
  if (countOnes(l.labels) === 0)
    throw new InputError('BUILD_LABELS', `no frauds among the ${l.n} labelled records: the head needs some`);
}
