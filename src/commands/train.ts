import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import {
  parseFloatArg,
  parseIntArg,
  parsePositiveArg,
  parseIntList,
  parseNameList,
  parseWrapArg,
  type WrapArg,
} from './args.js';
import { buildModel, type LabelledRecords, type ModelConfig } from '../detector/build.js';
import { DirectoryMemberStore } from '../engine/member-store.js';
import { labelCounts } from '../data/labels.js';
import { TRAIN_PRESETS, trainPreset, type TrainPresetName } from '../detector/presets.js';
import { loadConfig } from '../config.js';
import { openCliDb } from '../replay/db.js';
import { reviewedFlags } from '../store/labels.js';
import { InputError } from '../errors.js';
import { MODEL_FAMILIES, type JsonValue, type ModelFamily } from '../engine/checkpoint.js';
import type { CriticBuildOptions } from '../detector/critics.js';
import type { Arch } from '../engine/spec.js';
import {
  hasScale,
  LIKELIHOODS,
  MAF_DEFAULTS,
  WGAN_FINETUNE_LOSSES,
  type Likelihood,
  type WganFineTuneLoss,
} from '../engine/spec.js';
import type { KindDefinition, OfflineRecords, RejectedRecord } from '../kinds/types.js';
import { openRejects, rejectsSummary } from './rejects.js';
import { recordedFrameShape } from '../kinds/frames/index.js';
import { convShapeProblem } from '../engine/params.js';
import { cliKind } from './kinds.js';
import type { ScoreName } from '../engine/types.js';
import { SCORE_NAMES } from '../engine/score-rules.js';
import { TRAIN_OBJECTIVES, type TrainObjective } from '../engine/train.js';
import {
  DOSE_STATISTICS,
  DOSE_STATISTICS_CRITICS,
  DOSE_TAILS,
  type DoseStatistic,
  type DoseTails,
} from '../engine/dose.js';
import { HEAD_DEFAULTS, HEAD_FEATURE_FAMILIES, type HeadFeatureFamily } from '../engine/supervised-head.js';

interface TrainFlags {
  kind: string;
  data: string;
  out: string;
  members: number;
  steps: number;
  seed: number;
  k: number;
  batchSize: number;
  lr: number;
  latent?: number;
  likelihood?: Likelihood;
  wrap?: WrapArg;
  prior: 'standard' | 'maf';
  arch: 'mlp' | 'conv';
  base: number;
  mafLayers: number;
  mafHidden: number[];
  beta: number;
  warmup: number;
  objective: TrainObjective;
  trainSamples?: number;
  bootstrap: boolean;
  targetFpr: number;
  doseTails: DoseTails;
  /** commander's --no-feature-statistic: false when given. */
  featureStatistic: boolean;
  doseStatistics?: DoseStatistic[];
  limit?: number;
  rejects?: string;
  score?: ScoreName;
  labels?: string;
  head: HeadFeatureFamily;
  headL2?: number;
  family: ModelFamily;
  wganSteps: number;
  wganFinetuneSteps: number;
  wganFinetuneLoss?: WganFineTuneLoss;
  wganMembers?: number;
  wganHidden?: number[];
  progress: boolean;
  /** commander's --no-resume: false when given. */
  resume: boolean;
  workers?: number;
  preset?: TrainPresetName;
  validateEvery?: number;
  earlyStopRecords?: number;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('train a Generative Ensemble on normal records and save a checkpoint directory')
    .requiredOption(
      '--kind <kind>',
      'input kind: transactions, frames, or a kind declared in KINDS_DIR (gensemble kinds list)',
    )
    .requiredOption(
      '--data <path>',
      "the kind's file: Kaggle credit-card CSV (normal rows: Class = 0), IDX images, or a declared kind's CSV / JSONL (label column 1 = anomaly, left out)",
    )
    .requiredOption('--out <dir>', 'checkpoint directory to write')
    .option('--members <m>', 'ensemble members', parseIntArg('--members', 1, 64), 5)
    .option('--steps <n>', 'training steps per member', parseIntArg('--steps', 1, 10_000_000), 2000)
    .option('--seed <s>', 'base seed', parseIntArg('--seed', 0, 2 ** 31), 0)
    .option('--k <k>', 'importance samples of the IWAE bound', parseIntArg('--k', 1, 1024), 16)
    .option('--batch-size <b>', 'mini-batch size', parseIntArg('--batch-size', 1, 65536), 128)
    .option('--lr <lr>', 'initial learning rate (cosine decay)', parseFloatArg('--lr', 1e-7, 1), 1e-3)
    .option('--latent <dz>', 'latent dimensions', parseIntArg('--latent', 1, 1024))
    .addOption(new Option('--likelihood <l>', 'decoder likelihood').choices([...LIKELIHOODS]))
    .option(
      '--wrap <column:period>',
      "wrap a periodic raw column before scaling: raw mod period (column index, period in the raw unit; repeatable), e.g. 0:86400 = Time as time of day, the transactions kind's default; none = no wrap",
      parseWrapArg,
    )
    .addOption(new Option('--prior <p>', 'latent prior').choices(['standard', 'maf']).default('standard'))
    .addOption(
      new Option(
        '--arch <a>',
        "architecture: mlp, or conv (the paper's conv VAE; square frames, side a multiple of 4)",
      )
        .choices(['mlp', 'conv'])
        .default('mlp'),
    )
    .option(
      '--base <n>',
      'conv: filters of the first layers (the paper: 32)',
      parseIntArg('--base', 1, 256),
      8,
    )
    .option(
      '--maf-layers <n>',
      'maf: MADE bijectors',
      parseIntArg('--maf-layers', 1, 32),
      MAF_DEFAULTS.layers,
    )
    .option(
      '--maf-hidden <list>',
      'maf: hidden units of each MADE, comma-separated (the paper: 512,512)',
      parseIntList('--maf-hidden', 1, 4096),
      [...MAF_DEFAULTS.hidden],
    )
    .option('--beta <b>', 'weight of the KL term (β-VAE)', parseFloatArg('--beta', 0, 100), 1)
    .option('--warmup <n>', 'KL warm-up steps (β rises from 0)', parseIntArg('--warmup', 0, 10_000_000), 0)
    .addOption(
      new Option('--objective <o>', "each member's training objective: the β-ELBO or the IWAE bound")
        .choices([...TRAIN_OBJECTIVES])
        .default('elbo'),
    )
    .option(
      '--train-samples <n>',
      "posterior samples per record in the training objective (default 1 for elbo, 16 for iwae; the paper's authors average the ELBO over 16, each costing one more decoder pass)",
      parseIntArg('--train-samples', 1, 1024),
    )
    .option('--bootstrap', 'train each member on a bootstrap resample', false)
    .addOption(
      new Option(
        '--preset <name>',
        "the settings of the committed benchmark tables: 'paper' = 5 members × 5,000 steps, KL warm-up 1,000, a bootstrap resample each; image frames: the paper's conv VAE + MAF prior at base 8, batch 32 (the image-OoD table's model, ≈ 45 min on 2 cores); other kinds: their own model at batch 128 (the credit table's). Options given beside it win",
      ).choices([...TRAIN_PRESETS]),
    )
    .option(
      '--validate-every <n>',
      'early stopping: validation IWAE every n steps (default 200)',
      parseIntArg('--validate-every', 1, 10_000_000),
    )
    .option(
      '--early-stop-records <n>',
      'early stopping: on at most n of the validation records (default: all of them)',
      parseIntArg('--early-stop-records', 1, 100_000_000),
    )
    .option(
      '--target-fpr <f>',
      'false-positive rate of the calibrated thresholds',
      parseFloatArg('--target-fpr', 0, 0.5),
      0.01,
    )
    .addOption(
      new Option(
        '--dose-tails <t>',
        "tails of the dose densities: 'kde' (kernel estimate everywhere) or 'exponential' (beyond the 1 % tail quantiles)",
      )
        .choices([...DOSE_TAILS])
        .default('kde'),
    )
    .option(
      '--dose-statistics <list>',
      "the dose rule's statistics, comma-separated, in place of the kind's defaults; e.g. add " +
        "'feature_knn' (the distance to the nearest of ≤ 4,096 training records: not a default, see " +
        'detection protocol v7 in BENCHMARKS.md). A vae+wgan model adds its critic statistics itself',
      parseNameList(
        '--dose-statistics',
        DOSE_STATISTICS.filter((s) => !DOSE_STATISTICS_CRITICS.includes(s)),
      ),
    )
    .option(
      '--no-feature-statistic',
      "leave the input Gaussian's distance ('feature_maha') out of the dose rule (detection protocol v5 added it)",
    )
    .option('--limit <n>', 'read at most n records', parseIntArg('--limit', 1))
    .option(
      '--rejects <file>',
      'skip --data records that cannot be read and list them in this JSONL file (line, reason); without it the first such record stops training',
    )
    .addOption(
      new Option(
        '--score <name>',
        "the score the stream flags on (default: the kind's validated default, see BENCHMARKS.md)",
      ).choices([...SCORE_NAMES]),
    )
    .option(
      '--labels <source>',
      "labelled records for a supervised head and the 'dose_or_known' score — 'db' (the kind's reviewed flags in PostgreSQL: fraud / not_fraud) or a file of the kind's format with labels (Kaggle Class, a label column)",
    )
    .addOption(
      new Option(
        '--head <family>',
        "with --labels: the supervised head's features — 'quadratic' (raw columns and ensemble statistics plus their squares, standardised on training normals; labels protocol v2 in BENCHMARKS.md) or 'linear' (v1)",
      )
        .choices([...HEAD_FEATURE_FAMILIES])
        .default(HEAD_DEFAULTS.features),
    )
    .option(
      '--head-l2 <lambda>',
      `with --labels: L2 penalty of the head (default ${HEAD_DEFAULTS.l2.quadratic} quadratic, ${HEAD_DEFAULTS.l2.linear} linear)`,
      parsePositiveArg('--head-l2'),
    )
    .addOption(
      new Option(
        '--family <f>',
        'detector families: vae (likelihood ensemble), or vae+wgan (also a WGAN critic ensemble: D(x), mean and Var D(x) as scores and dose statistics)',
      )
        .choices([...MODEL_FAMILIES])
        .default('vae'),
    )
    .option(
      '--wgan-steps <n>',
      'vae+wgan: generator iterations (5 critic updates each)',
      parseIntArg('--wgan-steps', 1, 10_000_000),
      2000,
    )
    .option(
      '--wgan-finetune-steps <n>',
      'vae+wgan: critic fine-tuning steps with the generator frozen (the paper: 4000)',
      parseIntArg('--wgan-finetune-steps', 0, 10_000_000),
      4000,
    )
    .addOption(
      new Option(
        '--wgan-finetune-loss <l>',
        "vae+wgan: objective of the fine-tuning phase — wasserstein (the adversarial phase's critic loss and constraint) or logistic (sigmoid cross-entropy, the authors' code; default: the engine's)",
      ).choices([...WGAN_FINETUNE_LOSSES]),
    )
    .option(
      '--wgan-members <m>',
      'vae+wgan: critics (default: --members)',
      parseIntArg('--wgan-members', 1, 64),
    )
    .option(
      '--wgan-hidden <list>',
      "vae+wgan: MLP critic hidden widths (generator: reversed), comma-separated (default: the VAE's architecture)",
      parseIntList('--wgan-hidden', 1, 4096),
    )
    .option('--no-progress', 'no progress bar')
    .option(
      '--workers <n>',
      'members trained at once, one worker thread each (default: min(members, CPU cores)); fewer leaves cores to other work',
      parseIntArg('--workers', 1, 256),
    )
    .option(
      '--no-resume',
      'train every member afresh (default: members that an interrupted run with the same data, options and version finished, kept in <out>.partial, are reused)',
    )
    .action(async (flags: TrainFlags, cmd: Command) => {
      await runTrain(flags, (key) => cmd.getOptionValueSource(key) === 'cli');
    });
}

/**
 * The labelled records of --labels: 'db' reads the kind's reviewed flags (latest review: fraud → 1,
 * not_fraud → 0, unsure left out; the row rebuilt from the flag payload by the kind), anything else is
 * a file of the kind's format whose label column is the label. `input` is the encoder fitted on the
 * training data (declared kinds), so labelled rows are encoded as the model's. Throws one clear
 * InputError when there are no labels or no frauds among them.
 */
export async function readLabels(
  kind: KindDefinition,
  source: string,
  input?: JsonValue,
): Promise<LabelledRecords> {
  let l: LabelledRecords;
  let where: string;
  if (source === 'db') {
    where = `--labels db (reviewed ${kind.name} flags)`;
    const fromPayload = kind.fromPayload;
    if (!fromPayload)
      throw new InputError('TRAIN_LABELS', `${where}: kind ${kind.name} cannot rebuild records from flags`);
    const db = openCliDb(loadConfig(), 'gensemble-train');
    let rows: number[][] = [];
    const labels: number[] = [];
    let skipped = 0;
    try {
      for (const r of await reviewedFlags(db, kind.name)) {
        const x = fromPayload(r.payload, input);
        if (!x) {
          skipped++;
          continue;
        }
        rows.push(x);
        labels.push(r.label);
      }
    } finally {
      await db.destroy();
    }
    if (skipped > 0)
      process.stderr.write(
        `${where}: ${skipped} reviewed flags lack the features in their payload; skipped\n`,
      );
    const d = rows[0]?.length ?? 0;
    const raw = new Float32Array(rows.length * d);
    rows.forEach((x, i) => raw.set(x, i * d));
    rows = [];
    l = { raw, n: labels.length, labels: Uint8Array.from(labels) };
  } else {
    where = `--labels ${source}`;
    const c = await kind.readFile(source, input !== undefined ? { input } : {});
    if (!c.labels) throw new InputError('TRAIN_LABELS', `${where}: the file has no label column`);
    l = labelledOnly({ raw: c.raw.subarray(0, c.n * c.d), n: c.n, labels: c.labels.subarray(0, c.n) }, c.d);
    const left = c.n - l.n;
    if (left > 0)
      process.stderr.write(`${where}: ${left} unlabelled records (blank or unsure) left out of the head\n`);
  }
  const { frauds } = labelCounts(l.labels);
  if (l.n === 0) throw new InputError('TRAIN_LABELS', `${where}: no labelled records (fraud or not fraud)`);
  if (frauds === 0)
    throw new InputError(
      'TRAIN_LABELS',
      `${where}: none of the ${l.n} labelled records is a fraud; the supervised head needs some`,
    );
  return l;
}

/** The records of `l` whose label is known (0 or 1), in their order. */
export function labelledOnly(l: LabelledRecords, d: number): LabelledRecords {
  const keep: number[] = [];
  for (let i = 0; i < l.n; i++) if (l.labels[i] === 0 || l.labels[i] === 1) keep.push(i);
  if (keep.length === l.n) return l;
  const raw = new Float32Array(keep.length * d);
  keep.forEach((r, j) => raw.set(l.raw.subarray(r * d, (r + 1) * d), j * d));
  return { raw, n: keep.length, labels: Uint8Array.from(keep, (r) => l.labels[r]) };
}

/**
 * The flags with `--preset`'s settings in place of every default the user did not override (`given`:
 * whether an option was on the command line). Image frames take the paper's conv model unless `--arch
 * mlp` was given.
 */
export function withPreset(
  f: TrainFlags,
  given: (key: keyof TrainFlags) => boolean,
  images: boolean,
): TrainFlags {
  if (f.preset === undefined) return f;
  const p = trainPreset(f.preset, { images, mlp: given('arch') && f.arch === 'mlp' });
  const s = p.schedule;
  const out: TrainFlags = { ...f };
  const set = <K extends keyof TrainFlags>(key: K, value: TrainFlags[K]): void => {
    if (!given(key)) out[key] = value;
  };
  set('members', s.members);
  set('k', s.k);
  set('steps', s.steps);
  set('batchSize', s.batchSize);
  set('lr', s.learningRate);
  set('beta', s.beta);
  set('warmup', s.warmupSteps);
  set('bootstrap', s.bootstrap);
  if (s.validateEvery !== undefined) set('validateEvery', s.validateEvery);
  if (s.earlyStopRecords !== undefined) set('earlyStopRecords', s.earlyStopRecords);
  if (p.conv) {
    set('arch', 'conv');
    set('base', p.conv.base);
    set('latent', p.conv.latentDim);
    set('prior', p.conv.prior.kind);
    set('mafLayers', p.conv.prior.layers);
    set('mafHidden', [...p.conv.prior.hidden]);
  }
  return out;
}

/** One clear error when the model's wrap cannot apply to these records (column range, a pixel scale). */
function checkWrapFlag(model: ModelConfig, d: number): void {
  const wrap = model.wrap ?? [];
  const out = wrap.find((w) => w.column >= d);
  if (out)
    throw new InputError(
      'TRAIN_WRAP',
      `--wrap column ${out.column} is out of range: records have ${d} columns`,
    );
  if (wrap.length > 0 && model.transform === 'scale')
    throw new InputError(
      'TRAIN_WRAP',
      '--wrap needs a minmax or standard transform; these records are scaled as pixels (none to wrap)',
    );
}

async function runTrain(flags: TrainFlags, given: (key: keyof TrainFlags) => boolean): Promise<void> {
  const kind = await cliKind(flags.kind);
  const f = withPreset(flags, given, kind.name === 'frames');
  if (f.preset !== undefined)
    process.stderr.write(
      `preset ${f.preset}: ${f.arch === 'conv' ? `conv VAE base ${f.base}, latent ${f.latent ?? 'default'}` : 'MLP VAE'}` +
        `${f.prior === 'maf' ? `, MAF prior ${f.mafLayers} × ${f.mafHidden.join(',')}` : ''}, ${f.members} members × ${f.steps} steps, ` +
        `batch ${f.batchSize}, lr ${f.lr}, KL warm-up ${f.warmup}, bootstrap ${f.bootstrap ? 'yes' : 'no'}, K ${f.k}` +
        `${f.validateEvery !== undefined ? `, validation every ${f.validateEvery} steps` : ''}` +
        `${f.earlyStopRecords !== undefined ? ` on ${f.earlyStopRecords} records` : ''}\n`,
    );
  else if (kind.name === 'frames' && !given('arch'))
    process.stderr.write(
      "note: the quick default model (MLP VAE); --preset paper trains the image-OoD table's (conv VAE + MAF prior)\n",
    );
  const rejects = f.rejects !== undefined ? openRejects(f.rejects, f.data) : undefined;
  let rec: OfflineRecords;
  try {
    rec = await kind.readFile(f.data, {
      ...(f.limit !== undefined ? { limit: f.limit } : {}),
      ...(rejects ? { onReject: (r: RejectedRecord) => rejects.onReject(r) } : {}),
    });
  } finally {
    await rejects?.close();
  }
  const rejected = rejectsSummary(rejects, f.rejects);
  if (rejected) process.stderr.write(`${f.data}: read ${rec.n} records${rejected}\n`);
  const labels = f.labels !== undefined ? await readLabels(kind, f.labels, rec.input) : undefined;
  let raw = rec.raw;
  let n = rec.n;
  if (rec.labels) {
    // Train on normal records only: anomalies never reach the density model. Unlabelled records
    // (blank, unsure) are trained on, as every record of an unlabelled file is.
    const { frauds, unlabelled } = labelCounts(rec.labels);
    if (frauds > 0 || unlabelled > 0)
      process.stderr.write(
        `${f.data}: ${frauds} labelled anomalies left out of training` +
          (unlabelled > 0 ? `; ${unlabelled} unlabelled records trained on as normal` : '') +
          '\n',
      );
    const keep: number[] = [];
    for (let i = 0; i < n; i++) if (rec.labels[i] !== 1) keep.push(i);
    raw = new Float32Array(keep.length * rec.d);
    keep.forEach((r, j) => raw.set(rec.raw.subarray(r * rec.d, (r + 1) * rec.d), j * rec.d));
    n = keep.length;
  }
  if (n < 20) throw new InputError('TRAIN_TOO_FEW', `${f.data}: only ${n} normal records; need at least 20`);
  const base = kind.profile.defaultConfig(rec.d);
  // --arch conv: the frames' shape (recorded by the frames kind's reader), square, side a multiple of 4
  const frame = recordedFrameShape(rec.input);
  if (f.likelihood === 'mixed' && !(rec.binaryColumns && rec.binaryColumns.length > 0))
    throw new InputError(
      'TRAIN_LIKELIHOOD',
      `the mixed likelihood needs 0/1 columns (a declared kind's one-hot, boolean or missing-value columns); ${f.kind} records have none: use gaussian`,
    );
  if (f.arch === 'conv') {
    if (!frame)
      throw new InputError(
        'TRAIN_ARCH',
        `--arch conv needs image frames (--kind frames), got ${f.kind} records of ${rec.d} values`,
      );
    const problem = convShapeProblem(frame);
    if (problem) throw new InputError('TRAIN_ARCH', `--arch conv: ${f.data}: ${problem}`);
  }
  const latentDim = f.latent ?? base.arch.latentDim;
  const model: ModelConfig = {
    ...base,
    arch:
      f.arch === 'conv' && frame
        ? { kind: 'conv', ...frame, base: f.base, latentDim }
        : base.arch.kind === 'mlp'
          ? { ...base.arch, latentDim }
          : base.arch,
    likelihood: f.likelihood ?? base.likelihood,
    // A continuous likelihood (gaussian, student-t) reads standardised features, the Bernoulli one
    // features in [0, 1] (min-max); images keep their 1/255 scale either way
    transform:
      hasScale(f.likelihood ?? base.likelihood) && base.transform === 'minmax'
        ? 'standard'
        : (f.likelihood ?? base.likelihood) === 'bernoulli' && base.transform === 'standard'
          ? 'minmax'
          : base.transform,
    prior: f.prior === 'maf' ? { kind: 'maf', layers: f.mafLayers, hidden: f.mafHidden } : 'standard',
    // mixed: the kind says which columns are 0/1 by construction (a declared kind's one-hot, boolean
    // and missing-value columns); build uses those that vary in training (none: the Gaussian)
    ...((f.likelihood ?? base.likelihood) === 'mixed' ? { binaryColumns: rec.binaryColumns ?? [] } : {}),
    // --wrap replaces the kind's default wrap (none: no wrap at all)
    ...(f.wrap !== undefined ? { wrap: f.wrap === 'none' ? [] : f.wrap } : {}),
  };
  checkWrapFlag(model, rec.d);
  const wganFlags =
    f.wganMembers !== undefined || f.wganHidden !== undefined || f.wganFinetuneLoss !== undefined;
  if (f.family === 'vae' && wganFlags)
    throw new InputError(
      'TRAIN_FAMILY',
      '--wgan-members / --wgan-hidden / --wgan-finetune-loss need --family vae+wgan',
    );
  const criticArch: Arch | undefined =
    f.wganHidden !== undefined
      ? {
          kind: 'mlp',
          inputDim: rec.d,
          encoderHidden: f.wganHidden,
          decoderHidden: [...f.wganHidden].reverse(),
          latentDim,
        }
      : undefined;
  const critics: CriticBuildOptions = {
    steps: f.wganSteps,
    fineTuneSteps: f.wganFinetuneSteps,
    ...(f.wganFinetuneLoss !== undefined ? { fineTuneLoss: f.wganFinetuneLoss } : {}),
    ...(f.wganMembers !== undefined ? { members: f.wganMembers } : {}),
    ...(criticArch ? { arch: criticArch } : {}),
  };
  // Bars on a terminal only: cli-progress writes a garbled line to a pipe or a log file
  // ('member {member} … 20/100'), so there one plain line per member every tenth of its steps.
  const useBar = f.progress && process.stderr.isTTY === true;
  const logLines = f.progress && !useBar;
  const vaeEvery = Math.max(1, Math.round(f.steps / 10));
  const bars = useBar
    ? new cliProgress.MultiBar(
        {
          format: 'member {member} [{bar}] {value}/{total} loss {loss} val {val}',
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;
  const perMember = Array.from({ length: f.members }, (_, m) =>
    bars?.create(f.steps, 0, { member: m, loss: '-', val: '-' }),
  );
  const criticBars = new Map<number, cliProgress.SingleBar | undefined>();
  // a log line's pace: the member's time so far and, at that rate, until its last step (a long run in
  // the background is read from its log; early stopping may end a member sooner)
  const memberStart = new Map<number, number>();
  const pace = (m: number, step: number): string => {
    const t0m = memberStart.get(m);
    if (t0m === undefined || step <= 0) return '';
    const s = (Date.now() - t0m) / 1000;
    return ` (${duration(s)}${step < f.steps ? `, ${duration((s / step) * (f.steps - step))} to go` : ''})`;
  };
  const criticTotal = f.wganSteps + f.wganFinetuneSteps;
  const t0 = Date.now();
  process.stderr.write(
    `training ${f.members} members × ${f.steps} steps on ${n} normal records (${rec.d} features)\n`,
  );
  if (f.family === 'vae+wgan')
    process.stderr.write(
      `then ${f.wganMembers ?? f.members} WGAN critics × (${f.wganSteps} generator steps + ${f.wganFinetuneSteps} fine-tuning steps)\n`,
    );
  if (labels) {
    let frauds = 0;
    for (const v of labels.labels) frauds += v;
    process.stderr.write(`labels: ${frauds} frauds, ${labels.n - frauds} normals (${f.labels})\n`);
  }
  // Each finished member is kept in <out>.partial until the checkpoint is saved: a run that stops
  // (crash, kill, a session's end) is resumed by the same command, which trains only the rest
  const outDir = resolve(f.out);
  const store = new DirectoryMemberStore(`${outDir}.partial`, (w) => process.stderr.write(`warning: ${w}\n`));
  let reusedCount = 0;
  if (!f.resume) await store.clear();
  else {
    const kept = await store.files();
    if (kept.length > 0)
      process.stderr.write(
        `resuming: ${kept.length} finished member file(s) in ${store.dir}; those of this very job (data, options, seed, version) are reused (--no-resume trains all afresh)\n`,
      );
  }
  // Ctrl-C or a TERM: the members finished so far are already on disk; say so and how to resume
  const onSignal = (signal: NodeJS.Signals): void => {
    bars?.stop();
    void store.files().then((kept) => {
      process.stderr.write(
        `\n${signal}: stopped; ${kept.length} finished member(s) kept in ${store.dir}; the same command resumes\n`,
      );
      process.exit(signal === 'SIGINT' ? 130 : 143);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const res = await buildModel({
      kind: kind.name,
      profile: kind.profile,
      ...(rec.input !== undefined ? { input: rec.input } : {}),
      raw,
      n,
      d: rec.d,
      model,
      members: f.members,
      k: f.k,
      seed: f.seed,
      steps: f.steps,
      batchSize: f.batchSize,
      learningRate: f.lr,
      beta: f.beta,
      warmupSteps: f.warmup,
      objective: f.objective,
      ...(f.trainSamples !== undefined ? { trainSamples: f.trainSamples } : {}),
      bootstrap: f.bootstrap,
      ...(f.validateEvery !== undefined ? { validateEvery: f.validateEvery } : {}),
      ...(f.earlyStopRecords !== undefined ? { earlyStopRecords: f.earlyStopRecords } : {}),
      targetFpr: f.targetFpr,
      doseTails: f.doseTails,
      ...(f.featureStatistic && !f.doseStatistics
        ? {}
        : {
            doseStatistics: (f.doseStatistics ?? kind.profile.doseStatistics).filter(
              (s) => f.featureStatistic || s !== 'feature_maha',
            ),
          }),
      ...(f.score !== undefined ? { score: f.score } : {}),
      ...(labels
        ? { labels, head: { features: f.head, ...(f.headL2 !== undefined ? { l2: f.headL2 } : {}) } }
        : {}),
      family: f.family,
      ...(f.family === 'vae+wgan' ? { critics } : {}),
      outDir,
      ...(f.workers !== undefined ? { concurrency: f.workers } : {}),
      memberStore: store,
      onReused: (family, r) => {
        reusedCount++;
        const name = family === 'vae' ? `member ${r.member}` : `critic ${r.member}`;
        process.stderr.write(
          `${name}: reused, finished by an earlier run at ${r.savedAt}${r.backend ? ` on ${r.backend}` : ''}\n`,
        );
        if (family === 'vae') perMember[r.member]?.update(f.steps, { loss: 'reused', val: '-' });
      },
      onCriticProgress: (m, e) => {
        const step = e.phase === 'gan' ? e.step : f.wganSteps + e.step;
        if (logLines && (step % Math.max(1, Math.round(criticTotal / 10)) === 0 || step === criticTotal))
          process.stderr.write(
            `critic ${m} step ${step}/${criticTotal} (${e.phase}) loss ${e.criticLoss.toFixed(4)} W ${e.wasserstein.toExponential(2)}\n`,
          );
        if (!bars) return;
        if (!criticBars.has(m))
          criticBars.set(m, bars.create(criticTotal, 0, { member: `critic ${m}`, loss: '-', val: '-' }));
        criticBars.get(m)?.update(step, {
          loss: e.criticLoss.toFixed(4),
          val: `W ${e.wasserstein.toExponential(2)}`,
        });
      },
      onBackend: (m, detail) => {
        // once, from whichever member's worker starts first (member 0 may have been reused)
        if (memberStart.size === 0) process.stderr.write(`tfjs backend: ${detail}\n`);
        memberStart.set(m, Date.now());
      },
      onProgress: (m, e) => {
        const val = e.bestValIwae !== undefined ? e.bestValIwae.toFixed(2) : '-';
        if (logLines && (e.step % vaeEvery === 0 || e.step === f.steps))
          process.stderr.write(
            `member ${m} step ${e.step}/${f.steps} loss ${e.loss.toFixed(2)} val ${val}${pace(m, e.step)}\n`,
          );
        perMember[m]?.update(e.step, { loss: e.loss.toFixed(2), val });
      },
    });
    bars?.stop();
    await store.clear();
    const th = res.thresholds.find((t) => t.score === res.manifest.scoreRule.score);
    process.stdout.write(
      `saved ${outDir} (${res.manifest.members.length} members${res.manifest.critics ? ` + ${res.manifest.critics.members.length} WGAN critics` : ''}, trained in ${((Date.now() - t0) / 1000).toFixed(1)} s${reusedCount > 0 ? `, ${reusedCount} reused from an earlier run` : ''})\n` +
        `flag rule: ${res.manifest.scoreRule.score} > ${th?.value.toFixed(4)} (target FPR ${f.targetFpr} on ${th?.calibrationSize} held-out normals)\n`,
    );
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    bars?.stop();
  }
}

/** Seconds as "42s", "3m05s" or "1h02m". */
export function duration(seconds: number): string {
  const t = Math.max(0, Math.round(seconds));
  if (t < 60) return `${t}s`;
  if (t < 3600) return `${Math.floor(t / 60)}m${String(t % 60).padStart(2, '0')}s`;
  return `${Math.floor(t / 3600)}h${String(Math.floor((t % 3600) / 60)).padStart(2, '0')}m`;
}
