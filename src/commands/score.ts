import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { extname } from 'node:path';
import { Command, Option } from 'commander';
import { parseIntArg } from './args.js';
import { Detector, FLAGGED, NON_FINITE } from '../detector/detector.js';
import { InputError } from '../errors.js';
import { cliKinds } from './kinds.js';
import { openRejects, rejectsSummary, type RejectsSink } from './rejects.js';
import { UNLABELLED } from '../data/labels.js';
import { auroc } from '../metrics/classification.js';

interface ScoreFlags {
  model: string;
  input: string;
  out: string;
  format?: 'csv' | 'jsonl';
  limit?: number;
  chunk?: number;
  rejects?: string;
}

export function register(program: Command): void {
  program
    .command('score')
    .description(
      "score a whole file offline (the model kind's format: Kaggle CSV, IDX images, a declared kind's CSV / JSONL) with a checkpoint; one output row per record",
    )
    .requiredOption('--model <dir>', 'checkpoint directory')
    .requiredOption(
      '--input <path>',
      "records in the model kind's file format (Kaggle credit-card CSV, IDX images, CSV / JSONL of a declared kind)",
    )
    .requiredOption('--out <file>', 'output file (.csv or .jsonl)')
    .addOption(
      new Option('--format <f>', 'output format (default: from the --out extension)').choices([
        'csv',
        'jsonl',
      ]),
    )
    .option('--limit <n>', 'score at most n records', parseIntArg('--limit', 1))
    .option(
      '--rejects <file>',
      'skip records that cannot be read (a value that is not a number, a missing field, a ragged row) and list them in this JSONL file with their line and reason; without it the first such record stops the command',
    )
    .option(
      '--chunk <n>',
      'records per onnxruntime call (default: sized from the model)',
      parseIntArg('--chunk', 1, 1 << 20),
    )
    .action(async (flags: ScoreFlags) => {
      await runScore(flags);
    });
}

const fmt = (v: number): string => (Number.isFinite(v) ? String(Math.fround(v)) : String(v));

async function runScore(f: ScoreFlags): Promise<void> {
  const format =
    f.format ??
    (extname(f.out).toLowerCase() === '.jsonl'
      ? 'jsonl'
      : extname(f.out).toLowerCase() === '.csv'
        ? 'csv'
        : undefined);
  if (!format)
    throw new InputError(
      'SCORE_FORMAT',
      `--out ${f.out}: cannot tell the format from the extension; use .csv or .jsonl, or --format`,
    );
  const detector = await Detector.open(
    f.model,
    f.chunk !== undefined ? { scorer: { chunkSize: f.chunk } } : {},
  );
  const { manifest } = detector;
  let rec;
  let rejects: RejectsSink | undefined;
  try {
    const kind = (await cliKinds()).get(manifest.kind);
    if (f.rejects !== undefined) rejects = openRejects(f.rejects, f.input, [f.out]);
    const sink = rejects;
    rec = await kind.readFile(f.input, {
      ...(f.limit !== undefined ? { limit: f.limit } : {}),
      ...(manifest.input !== undefined ? { input: manifest.input } : {}),
      ...(sink ? { onReject: (r) => sink.onReject(r) } : {}),
    });
    await rejects?.close();
  } catch (e) {
    await rejects?.close().catch(() => undefined);
    await detector.close();
    throw e;
  }
  if (rec.d !== manifest.inputDim) {
    await detector.close();
    throw new InputError(
      'SCORE_SHAPE',
      `${f.input}: records have ${rec.d} values, the ${manifest.kind} model in ${f.model} expects ${manifest.inputDim}`,
    );
  }
  const out = createWriteStream(f.out);
  const write = async (s: string): Promise<void> => {
    if (!out.write(s)) await once(out, 'drain');
  };
  const M = manifest.members.length;
  const C = manifest.critics?.members.length ?? 0;
  const memberCols = [
    ...Array.from({ length: M }, (_, m) => `logp_${m}`),
    ...Array.from({ length: M }, (_, m) => `rate_${m}`),
  ];
  // a 'vae+wgan' model: each critic's D(x), their mean and Var D(x)
  const criticCols =
    C > 0 ? [...Array.from({ length: C }, (_, c) => `critic_${c}`), 'critic_mean', 'critic_var'] : [];
  // a model with an input Gaussian: the record's distance under it (the dose statistic 'feature_maha');
  // with a reference set: the distance to the nearest reference record ('feature_knn')
  const hasFeature = manifest.featureGaussian !== undefined;
  const hasKnn = manifest.nearestReference !== undefined;
  try {
    if (format === 'csv') {
      await write(
        [
          'id',
          ...(rec.labels ? ['label'] : []),
          ...memberCols,
          'logp_mean',
          'logp_var',
          'waic',
          'rate',
          ...criticCols,
          'score',
          'flagged',
          // last, so that readers of the columns before it by position keep working
          ...(hasFeature ? ['feature_maha'] : []),
          ...(hasKnn ? ['feature_knn'] : []),
        ].join(',') + '\n',
      );
    }
    let flagged = 0;
    let nonFinite = 0;
    const labelled = rec.labels ? new LabelledSummary() : undefined;
    const step = 8192;
    for (let start = 0; start < rec.n; start += step) {
      const m = Math.min(step, rec.n - start);
      const { batch, score, decisions } = await detector.predict(
        rec.raw.subarray(start * rec.d, (start + m) * rec.d),
        m,
      );
      for (let i = 0; i < m; i++) {
        // A NaN / ±Infinity score is never "not flagged": counted as flagged (and reported below).
        const decision = decisions[i];
        if (decision === NON_FINITE) nonFinite++;
        const isFlagged = decision === NON_FINITE || decision === FLAGGED;
        if (isFlagged) flagged++;
        labelled?.add(rec.labels![start + i], score[i], isFlagged);
        const logp = Array.from(batch.logp.subarray(i * M, (i + 1) * M));
        const memberRate = Array.from(batch.memberRate.subarray(i * M, (i + 1) * M));
        const id = rec.ids[start + i];
        const cr = batch.critic;
        const critic = cr ? Array.from(cr.critic.subarray(i * C, (i + 1) * C)) : [];
        if (format === 'csv') {
          await write(
            [
              id,
              ...(rec.labels ? [labelCell(rec.labels[start + i])] : []),
              ...logp.map(fmt),
              ...memberRate.map(fmt),
              fmt(batch.logpMean[i]),
              fmt(batch.logpVar[i]),
              fmt(batch.waic[i]),
              fmt(batch.rate[i]),
              ...(cr ? [...critic.map(fmt), fmt(cr.mean[i]), fmt(cr.var[i])] : []),
              String(score[i]),
              isFlagged ? 1 : 0,
              ...(batch.featureMaha ? [String(batch.featureMaha[i])] : []),
              ...(batch.featureKnn ? [String(batch.featureKnn[i])] : []),
            ].join(',') + '\n',
          );
        } else {
          await write(
            JSON.stringify({
              id,
              ...(rec.labels ? { label: labelValue(rec.labels[start + i]) } : {}),
              logp,
              member_rate: memberRate,
              logp_mean: batch.logpMean[i],
              logp_var: batch.logpVar[i],
              waic: batch.waic[i],
              rate: batch.rate[i],
              ...(cr ? { critic, critic_mean: cr.mean[i], critic_var: cr.var[i] } : {}),
              ...(batch.featureMaha ? { feature_maha: batch.featureMaha[i] } : {}),
              ...(batch.featureKnn ? { feature_knn: batch.featureKnn[i] } : {}),
              score: score[i],
              flagged: isFlagged,
            }) + '\n',
          );
        }
      }
    }
    out.end();
    await once(out, 'finish');
    process.stderr.write(
      `scored ${rec.n} records with ${M} members${C > 0 ? ` and ${C} critics` : ''} (${detector.scorer.executionProvider}); ${flagged} flagged by ${detector.score} > ${detector.threshold.toFixed(4)}${nonFinite > 0 ? `, ${nonFinite} with a non-finite score (counted as flagged)` : ''}; wrote ${f.out}${rejectsSummary(rejects, f.rejects)}\n`,
    );
    const line = labelled?.line(detector.score);
    if (line) process.stderr.write(line + '\n');
  } finally {
    await detector.close();
    out.destroy();
  }
}

/** A label in the output: 0 / 1, and an unlabelled record's (UNLABELLED) as null in JSONL, blank in CSV. */
function labelValue(l: number): number | null {
  return l === UNLABELLED ? null : l;
}
function labelCell(l: number): string {
  return l === UNLABELLED ? '' : String(l);
}

/**
 * What a labelled input says about the model (its label column: Kaggle Class, a declared kind's label):
 * the AUROC of the score over the labelled records, and the share of each class flagged. A non-finite
 * score counts as the highest (it is flagged). Unlabelled records are counted, not scored.
 */
export class LabelledSummary {
  private readonly scores: number[] = [];
  private readonly labels: number[] = [];
  private flagged = [0, 0];
  private unlabelled = 0;

  add(label: number, score: number, flagged: boolean): void {
    if (label !== 0 && label !== 1) {
      this.unlabelled++;
      return;
    }
    this.scores.push(Number.isNaN(score) ? Infinity : score);
    this.labels.push(label);
    if (flagged) this.flagged[label]++;
  }

  /** One line for the command's summary; null when the records are not of both classes. */
  line(score: string): string | null {
    const frauds = this.labels.reduce((a, v) => a + v, 0);
    const normals = this.labels.length - frauds;
    if (frauds === 0 || normals === 0) return null;
    const pct = (a: number, b: number): string => `${((100 * a) / b).toFixed(1)} %`;
    return (
      `labels: ${frauds} anomalies, ${normals} normals${this.unlabelled > 0 ? ` (${this.unlabelled} unlabelled, left out)` : ''}: ` +
      `AUROC of ${score} ${(100 * auroc(this.scores, this.labels)).toFixed(2)} %; flagged ${this.flagged[1]} anomalies ` +
      `(${pct(this.flagged[1], frauds)}) and ${this.flagged[0]} normals (${pct(this.flagged[0], normals)})`
    );
  }
}
