/**
 * Declared kinds: which decoder likelihood sees the anomalies a fraud team expects? A synthetic check
 * (no benchmark table's data), through the product's own CLI: `gensemble train` on a declared kind's
 * JSONL, then `gensemble score`, for each likelihood and seed.
 *
 * The kind: tx_id, ts (a week of event times), amount (log-normal, log transform, robust scale), mcc
 * (30 merchant categories, Zipf frequencies, one-hot; all fit in the default 32 columns), card_present
 * (70 % true). Normal records train the model; held-out normal records and these anomalies are scored:
 *   amount ×50, amount ×5, amount ÷50 (values beyond the training range either way), an unseen mcc.
 * Printed: AUROC % of the model's default score (`dose`) against the held-out normals, the share
 * flagged by the model's own threshold (target FPR 1 %), and the share whose score is not finite (the
 * stream dead-letters those as NON_FINITE_SCORE instead of flagging them), per likelihood, mean over
 * the seeds; and the share flagged of the held-out normals whose category is one of the 10 rarest (seen
 * in training, so false alarms).
 *
 *   npx tsx benchmarks/declared-kind/likelihood.ts [--seeds 2] [--members 3] [--steps 1500]
 *     [--likelihoods bernoulli,gaussian[,student-t,mixed]]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Rng } from '../../src/engine/random.js';
import { auroc } from '../../src/metrics/classification.js';
import {
  drawCategory,
  MERCHANT_CATEGORIES,
  meanPercent as mean,
  score as scoreFileWith,
  train as trainModel,
  writeJsonl,
} from './cli.js';

const program = new Command()
  .option('--seeds <n>', 'data / training seeds', '2')
  .option('--members <m>', 'ensemble members', '3')
  .option('--steps <n>', 'training steps per member', '1500')
  .option('--likelihoods <list>', 'comma-separated likelihoods to compare', 'bernoulli,gaussian')
  .parse();
const opts = program.opts<{ seeds: string; members: string; steps: string; likelihoods: string }>();
const seeds = Number(opts.seeds);

const KIND = {
  name: 'shop_tx',
  topic: 'shop.tx',
  fields: [
    { name: 'tx_id', type: 'string' },
    { name: 'ts', type: 'timestamp' },
    { name: 'amount', type: 'double' },
    { name: 'mcc', type: 'string' },
    { name: 'card_present', type: 'boolean' },
  ],
  id: 'tx_id',
  eventTime: 'ts',
  features: {
    amount: { type: 'numeric', transform: 'log', scale: 'robust' },
    mcc: { type: 'categorical', encoding: 'one-hot' },
    card_present: { type: 'boolean' },
    ts: { type: 'timestamp' },
  },
};

function record(rng: Rng, id: string): Record<string, unknown> {
  const mcc = drawCategory(rng);
  return {
    tx_id: id,
    ts: 1_700_000_000_000 + Math.floor(rng.uniform() * 7 * 86_400) * 1000,
    amount: Math.round(Math.exp(3 + 0.8 * rng.normal()) * 100) / 100,
    mcc,
    card_present: rng.uniform() < 0.7,
  };
}

const GROUPS: Array<[string, (r: Record<string, unknown>) => Record<string, unknown>]> = [
  ['amount ×50', (r) => ({ ...r, amount: (r.amount as number) * 50 })],
  ['amount ×5', (r) => ({ ...r, amount: (r.amount as number) * 5 })],
  ['amount ÷50', (r) => ({ ...r, amount: (r.amount as number) / 50 })],
  ['unseen mcc', (r) => ({ ...r, mcc: 'm_new' })],
];
const LIKELIHOODS = opts.likelihoods.split(',').map((l) => l.trim());
/** The 10 rarest merchant categories (Zipf ranks 21–30, each about 0.5–0.9 % of the records). */
const RARE = new Set(MERCHANT_CATEGORIES.slice(20));

const dir = await mkdtemp(join(tmpdir(), 'gensemble-declared-'));
try {
  const kinds = join(dir, 'kinds');
  await mkdir(kinds);
  await writeFile(join(kinds, 'shop_tx.json'), JSON.stringify(KIND));
  // [likelihood][group or 'normals'] → per-seed values
  const aurocs = new Map<string, number[]>();
  const flagged = new Map<string, number[]>();
  const nonFinite = new Map<string, number[]>();
  const push = (m: Map<string, number[]>, k: string, v: number): void => {
    m.set(k, [...(m.get(k) ?? []), v]);
  };
  for (let seed = 0; seed < seeds; seed++) {
    const rng = new Rng(1000 + seed);
    const train = Array.from({ length: 5000 }, (_, i) => record(rng, `t${i}`));
    const normals = Array.from({ length: 2000 }, (_, i) => record(rng, `n${i}`));
    const groups = GROUPS.map(([, f], g) =>
      Array.from({ length: 200 }, (_, i) => f(record(rng, `a${g}-${i}`))),
    );
    const trainFile = join(dir, `train-${seed}.jsonl`);
    const scoreFile = join(dir, `score-${seed}.jsonl`);
    await writeJsonl(trainFile, train);
    await writeJsonl(scoreFile, [...normals, ...groups.flat()]);
    for (const lik of LIKELIHOODS) {
      const model = join(dir, `model-${lik}-${seed}`);
      await trainModel(kinds, 'shop_tx', trainFile, model, [
        '--members',
        opts.members,
        '--steps',
        opts.steps,
        '--seed',
        String(seed),
        '--likelihood',
        lik,
      ]);
      const rows = await scoreFileWith(kinds, model, scoreFile);
      // a non-finite score (null in JSON) ranks as the most anomalous, as the product flags it
      const score = rows.map((r) => r.score ?? Infinity);
      const nN = normals.length;
      push(flagged, `${lik}|normals`, rows.slice(0, nN).filter((r) => r.flagged).length / nN);
      push(nonFinite, `${lik}|normals`, rows.slice(0, nN).filter((r) => r.score === null).length / nN);
      // normal records of the rarest categories: seen in training, so not anomalies
      const rare = rows.slice(0, nN).filter((_, i) => RARE.has(normals[i].mcc as string));
      push(flagged, `${lik}|rare normals`, rare.filter((r) => r.flagged).length / rare.length);
      GROUPS.forEach(([name], g) => {
        const at = nN + g * 200;
        const s = [...score.slice(0, nN), ...score.slice(at, at + 200)];
        const y = [...Array<number>(nN).fill(0), ...Array<number>(200).fill(1)];
        push(aurocs, `${lik}|${name}`, auroc(Float64Array.from(s), Uint8Array.from(y)));
        push(flagged, `${lik}|${name}`, rows.slice(at, at + 200).filter((r) => r.flagged).length / 200);
        push(
          nonFinite,
          `${lik}|${name}`,
          rows.slice(at, at + 200).filter((r) => r.score === null).length / 200,
        );
      });
      process.stderr.write(`seed ${seed} ${lik} done\n`);
    }
  }
  console.log(
    `Declared kind, synthetic check: ${seeds} seed(s), ${opts.members} members × ${opts.steps} steps, default score, mean over seeds\n`,
  );
  const heads = ['AUROC %', 'flagged %', 'non-finite %'].flatMap((h) => LIKELIHOODS.map((l) => `${h} ${l}`));
  console.log(`| records | ${heads.join(' | ')} |`);
  console.log(`| --- |${' ---: |'.repeat(heads.length)}`);
  for (const name of ['normals', 'rare normals', ...GROUPS.map(([n]) => n)]) {
    const cells = (m: Map<string, number[]>): string[] => LIKELIHOODS.map((l) => mean(m.get(`${l}|${name}`)));
    const label =
      name === 'normals'
        ? 'held-out normals'
        : name === 'rare normals'
          ? 'held-out normals of the 10 rarest categories'
          : name;
    console.log(`| ${[label, ...cells(aurocs), ...cells(flagged), ...cells(nonFinite)].join(' | ')} |`);
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
