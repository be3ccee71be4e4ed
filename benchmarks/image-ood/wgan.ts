/**
 * Image OoD, the paper's WGAN columns (Table 2: D(x) of one fine-tuned discriminator and the ensemble
 * variance Var_θ[D_θ(x)]) through gensemble's engine: M critics trained with {@link trainCritics}
 * (the function `buildModel` uses for family 'vae+wgan': Wasserstein loss with weight clipping, then
 * the generator frozen and the critic fine-tuned 4k steps, as a logistic classifier by default),
 * exported to ONE ONNX graph and scored by
 * {@link CriticScorer} (what the Detector opens for a 'vae+wgan' checkpoint). The data splits, test and
 * OoD sets are the VAE benchmark's (run.ts): same seeds, same images.
 *
 *   npx tsx benchmarks/image-ood/wgan.ts [--quick] [--train mnist|fashion|both] [--out DIR]
 *   gensemble bench image-ood --family wgan [same options]
 *
 * Columns (AUROC / AP / FPR@95%TPR, positive = OoD, "higher = more anomalous"):
 *   −D(x) single     critic 0's value, negated (a WGAN critic is higher on real data)
 *   −mean D(x)       the ensemble mean, negated
 *   Var D (raw)      the paper's ensemble variance of the raw critic values
 *   Var D (centred)  the product default (each critic minus its mean on training data; detector/critics.ts)
 * Adversarial: Gaussian noise moved by FGSM (ε 0.3, no clipping) towards a higher value of critic 0.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { takeRows } from '../../src/data/splits.js';
import { buildSplit } from '../../src/detector/build.js';
import { trainCritics, type TrainedCritics } from '../../src/detector/critics.js';
import { WGAN_FINETUNE_LOSSES, type WganFineTuneLoss } from '../../src/engine/spec.js';
import { initBackend } from '../../src/engine/backend.js';
import { CriticScorer, type CriticScoreBatch } from '../../src/engine/critic-scorer.js';
import { criticFgsm } from '../../src/engine/fgsm.js';
import { exportCriticEnsembleOnnx } from '../../src/engine/onnx/critic-export.js';
import { SPEC_VERSION, type MemberSpec } from '../../src/engine/spec.js';
import type { CriticNormalization, WganEnsembleSpec } from '../../src/engine/wgan.js';
import { applyTransform, IMAGE_TRANSFORM } from '../../src/features/transform.js';
import { mdTable, metrics, pct, roc, type Metrics } from '../lib/evaluate.js';
import { rocSvg } from '../lib/plots.js';
import { OOD_NAMES, oodLabel, type OodName, type TrainSet } from './paper.js';
import { corruptionProxies } from './proxies.js';
import {
  adversarialNoise,
  D,
  fromUnit,
  imageCommonOptions,
  intFlag,
  loadImageData,
  oodSets,
  parseTrainSets,
  rawImages,
  trainSplit,
  validationHalves,
} from './sets.js';

/** The paper's Table 2 WGAN columns (AUROC %): D(x) single fine-tuned discriminator, Var D. */
export const PAPER_WGAN: Record<TrainSet, Record<OodName, { dx: number; varD: number }>> = {
  mnist: {
    omniglot: { dx: 56.1, varD: 80.3 },
    notmnist: { dx: 93.1, varD: 99.6 },
    other: { dx: 83.1, varD: 99.9 },
    uniform: { dx: 95.6, varD: 100 },
    gaussian: { dx: 0.6, varD: 100 },
    hflip: { dx: 41.5, varD: 57.7 },
    vflip: { dx: 44.7, varD: 60.9 },
    adversarial: { dx: 30.8, varD: 100 },
  },
  fashion: {
    omniglot: { dx: 19.4, varD: 83.5 },
    notmnist: { dx: 22.3, varD: 96.0 },
    other: { dx: 70.1, varD: 74.7 },
    uniform: { dx: 0, varD: 82.7 },
    gaussian: { dx: 0, varD: 99.8 },
    hflip: { dx: 58.0, varD: 54.1 },
    vflip: { dx: 69.6, varD: 69.6 },
    adversarial: { dx: 0, varD: 100 },
  },
};

export const WGAN_COLUMNS = ['neg_critic_single', 'neg_critic', 'critic_var_raw', 'critic_var'] as const;
export type WganColumn = (typeof WGAN_COLUMNS)[number];
const LABELS: Record<WganColumn, string> = {
  neg_critic_single: '−D(x) single',
  neg_critic: '−mean D(x)',
  critic_var_raw: 'Var D (raw)',
  critic_var: 'Var D (centred, default)',
};

export interface WganOodOptions {
  quick: boolean;
  train: TrainSet[];
  out: string;
  dataDir?: string;
  seed: number;
  members?: number;
  steps?: number;
  fineTuneSteps?: number;
  /**
   * Fine-tuning objectives to compare (engine/wgan-train.ts). With more than one, the adversarial
   * phase is trained ONCE per member and each objective fine-tunes a copy of it; the candidate with the
   * higher mean validation-proxy AUROC of the selection column wins. Default ['logistic'] (the engine's).
   */
  fineTuneLosses?: WganFineTuneLoss[];
  /**
   * Lipschitz constraint of the adversarial phase: 'clip' (weight clipping c = 0.01, RMSProp lr 5e-5;
   * default) or 'gp' (the authors' code's mode: gradient penalty λ = 10 with RMSProp lr 5e-5).
   */
  lipschitz?: 'clip' | 'gp';
  /** Critic updates per generator iteration: 'fixed' (5; default) or 'arjovsky' (the authors' code). */
  criticSchedule?: 'fixed' | 'arjovsky';
  /**
   * Critic / generator architecture: 'mlp' (default: the VAE benchmark's MLP encoder / decoder) or
   * 'conv' (the paper's conv encoder / transposed-conv decoder at width `base`, Dz 16).
   */
  arch?: 'mlp' | 'conv';
  /** Conv width (base channels) with arch 'conv'. Default 8 (the image benchmark's). */
  base?: number;
  maxEval?: number;
  command?: string;
  log?: (s: string) => void;
}

interface WganSettings {
  members: number;
  steps: number;
  fineTuneSteps: number;
  trainN: number;
  valN: number;
  maxEval: number;
  advN: number;
  hidden: number[];
  latentDim: number;
}

function wganSettings(o: WganOodOptions): WganSettings {
  const base: WganSettings = o.quick
    ? {
        members: 3,
        steps: 150,
        fineTuneSteps: 200,
        trainN: 4000,
        valN: 600,
        maxEval: 500,
        advN: 200,
        hidden: [128],
        latentDim: 8,
      }
    : // the VAE benchmark's MLP frames model (encoder [512], decoder [512], Dz 16) as critic / generator;
      // the engine's WGAN defaults (2000 generator steps × 5 critic updates, 4000 fine-tuning steps)
      {
        members: 5,
        steps: 2000,
        fineTuneSteps: 4000,
        trainN: 55000,
        valN: 5000,
        maxEval: 10000,
        advN: 2000,
        hidden: [512],
        latentDim: 16,
      };
  return {
    ...base,
    ...(o.members !== undefined ? { members: o.members } : {}),
    ...(o.steps !== undefined ? { steps: o.steps } : {}),
    ...(o.fineTuneSteps !== undefined ? { fineTuneSteps: o.fineTuneSteps } : {}),
    ...(o.maxEval !== undefined ? { maxEval: o.maxEval, advN: Math.min(base.advN, o.maxEval) } : {}),
  };
}

export interface WganSetResult {
  name: string;
  n: number;
  metrics: Record<WganColumn, Metrics>;
  roc: Record<WganColumn, Array<{ fpr: number; tpr: number }>>;
}

/** The column validation selects a fine-tuning objective on: the product's default Var D. */
export const SELECTION_COLUMN: WganColumn = 'critic_var';

export interface WganTrainResult {
  train: TrainSet;
  fineTuneLoss: WganFineTuneLoss;
  /** Adversarial phase (shared by the candidates when several) + this candidate's fine-tuning. */
  trainMs: number;
  /** AUROC of each column: held-out training images vs a corruption of other held-out training images. */
  validation: Record<string, Record<WganColumn, number>>;
  inDistribution: { name: string; n: number };
  sets: Record<string, WganSetResult>;
}

function columns(raw: CriticScoreBatch, centred: CriticScoreBatch): Record<WganColumn, Float64Array> {
  const n = raw.n;
  const out = Object.fromEntries(WGAN_COLUMNS.map((c) => [c, new Float64Array(n)])) as Record<
    WganColumn,
    Float64Array
  >;
  for (let i = 0; i < n; i++) {
    out.neg_critic_single[i] = -raw.critic[i * raw.members];
    out.neg_critic[i] = -raw.mean[i];
    out.critic_var_raw[i] = raw.var[i];
    out.critic_var[i] = centred.var[i];
  }
  return out;
}

export async function runImageOodWgan(
  o: WganOodOptions,
): Promise<{ results: WganTrainResult[]; reportPath: string }> {
  const log = o.log ?? ((s: string) => process.stderr.write(s + '\n'));
  const s = wganSettings(o);
  const out = resolve(o.out);
  await mkdir(out, { recursive: true });
  log(`image-ood (WGAN): ${o.quick ? 'QUICK' : 'FULL'} settings ${JSON.stringify(s)}`);
  const data = await loadImageData(o.dataDir);
  await initBackend('auto');
  const results: WganTrainResult[] = [];
  for (const t of o.train) {
    // the VAE benchmark's split (sets.ts): same permutation, same training images; the critics train
    // on buildModel's training part of them (the records the VAE members train on)
    const split0 = trainSplit(data, t, o.seed, s.valN, s.trainN);
    const { testSet, tr } = split0;
    const split = buildSplit(tr.n, o.seed);
    const trainRaw = takeRows(tr.raw, D, split.train);
    const nTrain = split.train.length;
    const member: MemberSpec = {
      arch:
        o.arch === 'conv'
          ? { kind: 'conv', height: 28, width: 28, channels: 1, base: o.base ?? 8, latentDim: s.latentDim }
          : {
              kind: 'mlp',
              inputDim: D,
              encoderHidden: s.hidden,
              decoderHidden: s.hidden,
              latentDim: s.latentDim,
            },
      likelihood: 'bernoulli',
      prior: { kind: 'standard' },
    };
    const t0 = Date.now();
    const every = Math.max(1, Math.round(s.steps / 10));
    const losses = o.fineTuneLosses ?? ['logistic'];
    // both constraints with the authors' optimiser (RMSProp, lr 5e-5), in both phases
    const constraint = {
      lipschitz: o.lipschitz ?? 'clip',
      optimizer: 'rmsprop',
      learningRate: 5e-5,
      criticSchedule: o.criticSchedule ?? 'fixed',
    } as const;
    const trainData = applyTransform(IMAGE_TRANSFORM, trainRaw, nTrain, D);
    const progress = (
      m: number,
      e: { phase: string; step: number; steps: number; wasserstein: number },
    ): void => {
      if (e.step % (e.phase === 'gan' ? every : Math.max(1, Math.round(s.fineTuneSteps / 4))) === 0)
        log(
          `  [${t}] critic ${m} ${e.phase} ${e.step}/${e.steps} W ${e.wasserstein.toExponential(2)} (${((Date.now() - t0) / 1000).toFixed(0)} s)`,
        );
    };
    const common = {
      member,
      transform: IMAGE_TRANSFORM,
      data: trainData,
      n: nTrain,
      seed: o.seed,
      defaultMembers: s.members,
      onBackend: (m: number, detail: string) => {
        if (m === 0) log(`  tfjs backend: ${detail}`);
      },
      onProgress: progress,
    };
    // several objectives: one adversarial phase per member, fine-tuned once per objective
    const shared =
      losses.length > 1
        ? await trainCritics({
            ...common,
            options: { ...constraint, steps: s.steps, fineTuneSteps: 0 },
            keepGenerators: true,
          })
        : null;
    if (shared)
      log(`  [${t}] adversarial phase of ${s.members} members: ${(shared.elapsedMs / 1000).toFixed(0)} s`);
    // validation: held-out training images (never trained on) vs corruptions of other held-out ones
    const { normal: vNorm, source: vSrc } = validationHalves(split0, s.maxEval);
    const proxyRaw = corruptionProxies(vSrc.raw, vSrc.n, o.seed + 404);
    for (const loss of losses) {
      // with a shared adversarial phase, only the fine-tuning runs here (from each member's parameters)
      const critics: TrainedCritics = await trainCritics({
        ...common,
        options: {
          ...constraint,
          steps: shared ? 0 : s.steps,
          fineTuneSteps: s.fineTuneSteps,
          fineTuneLoss: loss,
        },
        ...(shared?.inits ? { inits: shared.inits } : {}),
      });
      const trainMs = critics.elapsedMs + (shared?.elapsedMs ?? 0);
      log(`  [${t}] ${s.members} critics (${loss} fine-tuning) trained in ${(trainMs / 1000).toFixed(0)} s`);
      const specOf = (normalization: CriticNormalization): WganEnsembleSpec => ({
        ...critics.spec,
        specVersion: SPEC_VERSION,
        normalization,
      });
      // the product's graph (centred) and the paper's raw values, from the same members
      const centred = await CriticScorer.create(critics.onnxBytes);
      const rawScorer = await CriticScorer.create(exportCriticEnsembleOnnx(specOf('none')));
      try {
        const scoreAll = async (x: Float32Array, n: number): Promise<Record<WganColumn, Float64Array>> =>
          columns(await rawScorer.scoreBatch(x, n), await centred.scoreBatch(x, n));
        const vNormScores = await scoreAll(vNorm.raw, vNorm.n);
        const validation: Record<string, Record<WganColumn, number>> = {};
        for (const [pname, praw] of Object.entries(proxyRaw)) {
          const sc = await scoreAll(praw, vSrc.n);
          validation[pname] = Object.fromEntries(
            WGAN_COLUMNS.map((c) => [c, metrics(vNormScores[c], sc[c]).auroc]),
          ) as Record<WganColumn, number>;
        }
        log(
          `  [${t}] ${loss}: validation ${LABELS[SELECTION_COLUMN]} ${Object.entries(validation)
            .map(([p, v]) => `${p} ${pct(v[SELECTION_COLUMN])}`)
            .join(', ')}`,
        );
        const test = rawImages(testSet, null, s.maxEval);
        const testScores = await scoreAll(test.raw, test.n);
        const noise = adversarialNoise(s.advN, o.seed);
        const m0 = critics.spec.members[0];
        const adv = criticFgsm({ spec: critics.spec.wgan, critic: m0.critic }, noise, s.advN, {
          epsilon: 0.3,
        });
        const oodRaw = oodSets(data, split0, test, s.maxEval, o.seed, { raw: fromUnit(adv), n: s.advN });
        const sets: Record<string, WganSetResult> = {};
        for (const ood of OOD_NAMES) {
          const { raw, n } = oodRaw[ood];
          const sc = await scoreAll(raw, n);
          const mt = {} as Record<WganColumn, Metrics>;
          const rc = {} as Record<WganColumn, Array<{ fpr: number; tpr: number }>>;
          for (const c of WGAN_COLUMNS) {
            mt[c] = metrics(testScores[c], sc[c]);
            rc[c] = roc(testScores[c], sc[c], 60);
          }
          sets[ood] = { name: oodLabel(t, ood), n, metrics: mt, roc: rc };
          log(
            `  [${t}] ${loss} ${oodLabel(t, ood)}: ${WGAN_COLUMNS.map((c) => `${LABELS[c]} ${pct(mt[c].auroc)}`).join(', ')}`,
          );
        }
        results.push({
          train: t,
          fineTuneLoss: loss,
          trainMs: Math.round(trainMs),
          validation,
          inDistribution: { name: testSet.name, n: test.n },
          sets,
        });
      } finally {
        await centred.close();
        await rawScorer.close();
      }
    }
  }
  const reportPath = await writeWganReport(out, o, s, results);
  return { results, reportPath };
}

/** Mean validation AUROC of {@link SELECTION_COLUMN} per fine-tuning objective, over proxies and data sets. */
export function validationMeans(results: WganTrainResult[]): Map<WganFineTuneLoss, number> {
  const acc = new Map<WganFineTuneLoss, number[]>();
  for (const r of results)
    for (const v of Object.values(r.validation)) {
      const a = acc.get(r.fineTuneLoss) ?? [];
      a.push(v[SELECTION_COLUMN]);
      acc.set(r.fineTuneLoss, a);
    }
  return new Map([...acc].map(([k, a]) => [k, a.reduce((x, y) => x + y, 0) / a.length]));
}

/** The objective with the highest mean validation AUROC (first listed on a tie); null with one candidate. */
export function selectFineTuneLoss(results: WganTrainResult[]): WganFineTuneLoss | null {
  const means = validationMeans(results);
  if (means.size < 2) return null;
  let best: WganFineTuneLoss | null = null;
  let bestV = -Infinity;
  for (const [k, v] of means)
    if (v > bestV) {
      best = k;
      bestV = v;
    }
  return best;
}

function validationTable(results: WganTrainResult[]): string {
  const rows: string[][] = [];
  for (const r of results)
    for (const [p, v] of Object.entries(r.validation))
      rows.push([r.train, r.fineTuneLoss, p, ...WGAN_COLUMNS.map((c) => pct(v[c]))]);
  const means = validationMeans(results);
  return [
    mdTable(['trained on', 'fine-tuning', 'proxy', ...WGAN_COLUMNS.map((c) => LABELS[c])], rows),
    '',
    `Mean ${LABELS[SELECTION_COLUMN]} over proxies and data sets: ${[...means]
      .map(([k, v]) => `${k} ${pct(v)}`)
      .join(', ')}.`,
  ].join('\n');
}

/** Whether the results compare several fine-tuning objectives. */
function severalObjectives(results: WganTrainResult[]): boolean {
  return new Set(results.map((r) => r.fineTuneLoss)).size > 1;
}

export function wganTables(results: WganTrainResult[]): string {
  const parts: string[] = [];
  const several = severalObjectives(results);
  for (const r of results) {
    const p = PAPER_WGAN[r.train];
    parts.push(
      `### Trained on ${r.train === 'mnist' ? 'MNIST' : 'Fashion-MNIST'}, ${r.fineTuneLoss} fine-tuning (AUROC %)\n`,
    );
    parts.push(
      mdTable(
        ['OoD', ...WGAN_COLUMNS.map((c) => LABELS[c]), 'paper D(x)', 'paper Var D'],
        OOD_NAMES.map((o) => [
          r.sets[o].name,
          ...WGAN_COLUMNS.map((c) => pct(r.sets[o].metrics[c].auroc)),
          p[o].dx.toFixed(1),
          p[o].varD.toFixed(1),
        ]),
      ),
    );
    parts.push(`\nAP % / FPR@95%TPR % (lower is better):\n`);
    parts.push(
      mdTable(
        ['OoD', ...WGAN_COLUMNS.map((c) => LABELS[c])],
        OOD_NAMES.map((o) => [
          r.sets[o].name,
          ...WGAN_COLUMNS.map((c) => `${pct(r.sets[o].metrics[c].ap)} / ${pct(r.sets[o].metrics[c].fpr95)}`),
        ]),
      ),
    );
    parts.push('');
  }
  if (several) {
    const chosen = selectFineTuneLoss(results);
    parts.push(`### Validation (no test OoD set) — AUROC %\n`);
    parts.push(validationTable(results));
    parts.push(`\n**Chosen on validation: ${chosen} fine-tuning.**\n`);
  }
  return parts.join('\n');
}

async function writeWganReport(
  out: string,
  o: WganOodOptions,
  s: WganSettings,
  results: WganTrainResult[],
): Promise<string> {
  const figs: string[] = [];
  const several = severalObjectives(results);
  for (const r of results) {
    const file = several ? `roc-wgan-${r.train}-${r.fineTuneLoss}.svg` : `roc-wgan-${r.train}.svg`;
    await writeFile(
      join(out, file),
      await rocSvg(
        OOD_NAMES.map((ood) => ({ name: r.sets[ood].name, points: r.sets[ood].roc.critic_var })),
        `Var D (centred), trained on ${r.train === 'mnist' ? 'MNIST' : 'Fashion-MNIST'}, ${r.fineTuneLoss} fine-tuning`,
      ),
    );
    figs.push(`![${r.train}](${file})`);
  }
  const command = o.command ?? 'npx tsx benchmarks/image-ood/wgan.ts';
  const md = [
    `# Image OoD: the paper's WGAN columns through the engine${o.quick ? ' (QUICK settings)' : ''}`,
    '',
    `    ${command}`,
    '',
    `Settings: ${s.members} critics per data set, each trained ${s.steps} generator steps × ${(o.criticSchedule ?? 'fixed') === 'fixed' ? '5 critic updates' : "5 critic updates (100 before steps 0–24 and every 500th, the authors' schedule)"} (${(o.lipschitz ?? 'clip') === 'clip' ? 'weight clipping c = 0.01' : "gradient penalty λ = 10 (the authors' mode)"}, RMSProp lr 5e-5, batch 64), then ${s.fineTuneSteps} critic fine-tuning steps with the generator frozen (objective: ${(o.fineTuneLosses ?? ['logistic']).join(' and, from the same adversarial phase, ')}; wasserstein = the critic loss with clipping, logistic = sigmoid cross-entropy without constraint, the authors' code; fresh RMSProp state, lr 5e-5). ${o.arch === 'conv' ? `Critic = the paper's conv encoder at base ${o.base ?? 8} (5×5 convs, base, base, 2·base, 2·base, 7×7 valid conv, dense to 2·${s.latentDim}) + a linear projection to 1, generator = the transposed-conv decoder (Dz ${s.latentDim}, sigmoid output).` : `Critic = MLP encoder ${JSON.stringify(s.hidden)} → 2·${s.latentDim} → 1 (the VAE benchmark's MLP encoder + a linear projection), generator = the MLP decoder (Dz ${s.latentDim}, sigmoid output).`} Training images: the VAE benchmark's split (${s.trainN} images, of which buildModel's training 80 %); up to ${s.maxEval} images per evaluated set (adversarial: ${s.advN} Gaussian-noise images after one FGSM step, ε 0.3, towards a higher value of critic 0). Scored from the exported ONNX graph with CriticScorer. Positive class = OoD. Seed ${o.seed}.`,
    '',
    wganTables(results),
    ...results.map(
      (r) =>
        `Training (${r.train}, ${r.fineTuneLoss}): ${(r.trainMs / 1000).toFixed(0)} s for ${s.members} critics (two at a time on 2 cores; with several objectives, the shared adversarial phase is counted in each).`,
    ),
    '',
    ...figs,
    '',
  ].join('\n');
  const path = join(out, 'report.md');
  await writeFile(path, md);
  await writeFile(
    join(out, 'results.json'),
    JSON.stringify(
      {
        command,
        seed: o.seed,
        quick: o.quick,
        settings: s,
        lipschitz: o.lipschitz ?? 'clip',
        criticSchedule: o.criticSchedule ?? 'fixed',
        results,
      },
      null,
      1,
    ) + '\n',
  );
  return path;
}

export function wganCommand(program: Command): Command {
  return imageCommonOptions(program, {
    quick: 'small critics',
    members: 'critics',
    steps: 'generator steps',
  })
    .option('--finetune-steps <n>', 'critic fine-tuning steps (override)')
    .option(
      '--lipschitz <c>',
      "adversarial phase: clip (weight clipping) | gp (gradient penalty, the authors' mode)",
      'clip',
    )
    .option(
      '--arch <a>',
      "critic / generator: mlp (default) | conv (the paper's conv encoder / decoder)",
      'mlp',
    )
    .option('--base <n>', 'conv width (base channels) with --arch conv', '8')
    .option(
      '--critic-schedule <s>',
      "critic updates per generator iteration: fixed (5) | arjovsky (100 before iterations 0–24 and every 500th, the authors' code)",
      'fixed',
    )
    .option(
      '--finetune-losses <list>',
      `fine-tuning objectives to compare on validation proxies, comma-separated (${WGAN_FINETUNE_LOSSES.join(', ')})`,
      'logistic',
    );
}

export interface WganFlags {
  quick: boolean;
  train: string;
  out?: string;
  data?: string;
  seed: string;
  members?: string;
  steps?: string;
  finetuneSteps?: string;
  finetuneLosses?: string;
  lipschitz?: string;
  criticSchedule?: string;
  arch?: string;
  base?: string;
  maxEval?: string;
}

function parseArch(v: string): 'mlp' | 'conv' {
  if (v !== 'mlp' && v !== 'conv') throw new Error(`--arch must be mlp or conv, got '${v}'`);
  return v;
}

function parseLipschitz(v: string): 'clip' | 'gp' {
  if (v !== 'clip' && v !== 'gp') throw new Error(`--lipschitz must be clip or gp, got '${v}'`);
  return v;
}

function parseCriticSchedule(v: string): 'fixed' | 'arjovsky' {
  if (v !== 'fixed' && v !== 'arjovsky')
    throw new Error(`--critic-schedule must be fixed or arjovsky, got '${v}'`);
  return v;
}

/** `a,b` → fine-tuning objectives (each known, no repeats). */
export function parseFineTuneLosses(v: string): WganFineTuneLoss[] {
  const items = v.split(',').map((x) => x.trim());
  const known = WGAN_FINETUNE_LOSSES as readonly string[];
  for (const x of items)
    if (!known.includes(x))
      throw new Error(
        `--finetune-losses: unknown objective '${x}' (known: ${WGAN_FINETUNE_LOSSES.join(', ')})`,
      );
  if (new Set(items).size !== items.length) throw new Error(`--finetune-losses: '${v}' repeats an objective`);
  return items as WganFineTuneLoss[];
}

export function wganOptionsFromFlags(f: WganFlags, command?: string): WganOodOptions {
  const train = parseTrainSets(f.train);
  const num = intFlag;
  const members = num('--members', f.members);
  const steps = num('--steps', f.steps);
  const fineTuneSteps = num('--finetune-steps', f.finetuneSteps);
  const maxEval = num('--max-eval', f.maxEval);
  return {
    quick: f.quick,
    train,
    out: f.out ?? join('benchmarks', 'results', f.quick ? 'image-ood-wgan-quick' : 'image-ood-wgan'),
    ...(f.data !== undefined ? { dataDir: f.data } : {}),
    seed: Number(f.seed),
    ...(members !== undefined ? { members } : {}),
    ...(steps !== undefined ? { steps } : {}),
    ...(fineTuneSteps !== undefined ? { fineTuneSteps } : {}),
    ...(f.finetuneLosses !== undefined ? { fineTuneLosses: parseFineTuneLosses(f.finetuneLosses) } : {}),
    ...(maxEval !== undefined ? { maxEval } : {}),
    ...(f.lipschitz !== undefined ? { lipschitz: parseLipschitz(f.lipschitz) } : {}),
    ...(f.criticSchedule !== undefined ? { criticSchedule: parseCriticSchedule(f.criticSchedule) } : {}),
    ...(f.arch !== undefined ? { arch: parseArch(f.arch) } : {}),
    ...(f.base !== undefined ? { base: num('--base', f.base) ?? 8 } : {}),
    ...(command !== undefined ? { command } : {}),
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const program = wganCommand(new Command('image-ood-wgan')).parse();
  const res = await runImageOodWgan(
    wganOptionsFromFlags(
      program.opts<WganFlags>(),
      `npx tsx benchmarks/image-ood/wgan.ts ${process.argv.slice(2).join(' ')}`,
    ),
  );
  process.stdout.write(wganTables(res.results) + `\nreport: ${res.reportPath}\n`);
}
