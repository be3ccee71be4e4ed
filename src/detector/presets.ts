/**
 * Training presets: named sets of build settings, so that a model trained by `gensemble train` is the
 * model a committed benchmark table measured, not a near relative of it.
 *
 * `paper` is the setting of the tables in BENCHMARKS.md (Choi & Jang 2018's schedule: 5 members,
 * 5,000 steps, IWAE-16, KL warm-up, a bootstrap resample per member):
 * - images (the frames kind, square frames whose side is a multiple of 4): the paper's conv VAE with a
 *   learned MAF prior at the width this machine trains (base 8; the paper's MADE width 512,512), batch
 *   32, validation IWAE every 500 steps on 1,000 records — the image-OoD table's model
 *   (benchmarks/results/image-ood-conv-v4-maf512);
 * - everything else (transactions, declared kinds, and frames with an explicit `--arch mlp`): the
 *   kind's own model at batch 128 — the credit table's model (benchmarks/results/credit-fraud-*).
 *
 * The benchmarks take their full-mode schedule from these constants, so the two cannot drift apart;
 * test/unit/commands/train-preset.test.ts holds `gensemble train --preset paper` to the settings the
 * committed reports record.
 */
import { MAF_DEFAULTS } from '../engine/spec.js';

export const TRAIN_PRESETS = ['paper'] as const;
export type TrainPresetName = (typeof TRAIN_PRESETS)[number];

/** The optimisation schedule of a member. */
export interface TrainSchedule {
  readonly members: number;
  /** Importance samples of the IWAE bound (scoring and early stopping). */
  readonly k: number;
  readonly steps: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly beta: number;
  readonly warmupSteps: number;
  readonly bootstrap: boolean;
  /** Validation IWAE every this many steps (absent: build's default). */
  readonly validateEvery?: number;
  /** On at most this many of the early-stopping records (absent: all of them). */
  readonly earlyStopRecords?: number;
}

/** The paper's schedule for the MLP models (credit VAE, the MLP image VAE). */
export const PAPER_SCHEDULE: TrainSchedule = {
  members: 5,
  k: 16,
  steps: 5000,
  batchSize: 128,
  learningRate: 1e-3,
  beta: 1,
  warmupSteps: 1000,
  bootstrap: true,
};

/**
 * The conv VAE's: batch 32 (the authors'), and its validation IWAE-16 over all 5,500 early-stopping
 * records costs ≈ 100 s on 2 cores, so 1,000 of them every 500 steps (the dose rule still sees the
 * whole validation split).
 */
export const PAPER_SCHEDULE_CONV: TrainSchedule = {
  ...PAPER_SCHEDULE,
  batchSize: 32,
  validateEvery: 500,
  earlyStopRecords: 1000,
};

/** The six fields of a schedule that the benchmarks' run options carry (members … bootstrap). */
export function benchmarkSchedule(
  s: TrainSchedule,
): Pick<TrainSchedule, 'members' | 'steps' | 'k' | 'batchSize' | 'warmupSteps' | 'bootstrap'> {
  return {
    members: s.members,
    steps: s.steps,
    k: s.k,
    batchSize: s.batchSize,
    warmupSteps: s.warmupSteps,
    bootstrap: s.bootstrap,
  };
}

/** The conv model of the paper preset: filters of the first layers, latent size, MAF prior. */
export const PAPER_CONV_MODEL = {
  base: 8,
  latentDim: 16,
  prior: { kind: 'maf', layers: MAF_DEFAULTS.layers, hidden: [...MAF_DEFAULTS.hidden] },
} as const;

/** What a preset asks of `gensemble train` for one kind. */
export interface TrainPreset {
  schedule: TrainSchedule;
  /** The paper's conv VAE + MAF prior (image frames only); absent: the kind's own model. */
  conv?: typeof PAPER_CONV_MODEL;
}

/**
 * The preset `name` for records of a kind: `images` for image frames, and `mlp` when the caller asked
 * for the MLP explicitly (then an image model takes the MLP image table's schedule).
 */
export function trainPreset(name: TrainPresetName, o: { images: boolean; mlp?: boolean }): TrainPreset {
  switch (name) {
    case 'paper':
      return o.images && !o.mlp
        ? { schedule: PAPER_SCHEDULE_CONV, conv: PAPER_CONV_MODEL }
        : { schedule: PAPER_SCHEDULE };
  }
}
