/**
 * Declared kinds: missing values of an optional field (`missing: "indicator"`, the default on a nullable
 * field). A synthetic check through the product's CLI (no benchmark table's data), as the likelihood
 * check beside it: does a record without the value score like the normal record it is, does a missing
 * value hide another anomaly, and what does the field add over leaving it out of the features (the only
 * way to score such records before the indicator)?
 *
 * The kind: likelihood.ts's shop transactions (amount log-normal, 30 Zipf merchant categories, card
 * present 70 %, a week of times) plus `tip`, an optional double: 5–20 % of the amount, null in 30 % of
 * the records. Three models per seed, default likelihood and rule (target FPR 1 %):
 *   A. tip a feature (missing "indicator"), trained on records with gaps;
 *   B. tip left out of the features, trained on the same records;
 *   C. tip a feature, trained on records that always have it.
 * Scored: 2,000 held-out normals (of A/B's generator; C's own without gaps) and 200 records per group:
 *   "amount ×50, no tip" (a missing value beside an anomaly), "tip 5× the amount" (only the tip shows
 *   it), and for C "tip missing" (a value that was always there goes missing).
 * Printed: flagged % of the held-out normals with and without the tip, AUROC % against all held-out
 * normals and flagged % per group, non-finite share, mean over seeds.
 *
 *   npx tsx benchmarks/declared-kind/missing.ts [--seeds 2] [--members 3] [--steps 1500] [--likelihood l]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { Rng } from '../../src/engine/random.js';
import { auroc } from '../../src/metrics/classification.js';
import { drawCategory, meanPercent, score, train, writeJsonl, type ScoredRow } from './cli.js';

const program = new Command()
  .option('--seeds <n>', 'data / training seeds', '2')
  .option('--members <m>', 'ensemble members', '3')
  .option('--steps <n>', 'training steps per member', '1500')
  .option('--likelihood <l>', "every model's likelihood (default: the declared kinds' default)")
  .parse();
const opts = program.opts<{ seeds: string; members: string; steps: string; likelihood?: string }>();

const FIELDS = [
  { name: 'tx_id', type: 'string' },
  { name: 'ts', type: 'timestamp' },
  { name: 'amount', type: 'double' },
  { name: 'tip', type: 'double', optional: true },
  { name: 'mcc', type: 'string' },
  { name: 'card_present', type: 'boolean' },
];
const BASE_FEATURES = {
  amount: { type: 'numeric', transform: 'log', scale: 'robust' },
  mcc: { type: 'categorical', encoding: 'one-hot' },
  card_present: { type: 'boolean' },
  ts: { type: 'timestamp' },
};
const kind = (name: string, withTip: boolean): Record<string, unknown> => ({
  name,
  topic: `${name}.tx`,
  fields: FIELDS,
  id: 'tx_id',
  eventTime: 'ts',
  features: withTip
    ? { ...BASE_FEATURES, tip: { type: 'numeric', transform: 'log', scale: 'robust' } }
    : BASE_FEATURES,
});

function record(rng: Rng, id: string, gaps: boolean): Record<string, unknown> {
  const mcc = drawCategory(rng);
  const amount = Math.round(Math.exp(3 + 0.8 * rng.normal()) * 100) / 100;
  const tip = Math.round(amount * (0.05 + 0.15 * rng.uniform()) * 100) / 100;
  const missing = rng.uniform() < 0.3;
  return {
    tx_id: id,
    ts: 1_700_000_000_000 + Math.floor(rng.uniform() * 7 * 86_400) * 1000,
    amount,
    tip: gaps && missing ? null : tip,
    mcc,
    card_present: rng.uniform() < 0.7,
  };
}

type Group = [string, (r: Record<string, unknown>) => Record<string, unknown>];
const GROUPS_AB: Group[] = [
  ['amount ×50, no tip', (r) => ({ ...r, amount: (r.amount as number) * 50, tip: null })],
  ['tip 5× the amount', (r) => ({ ...r, tip: (r.amount as number) * 5 })],
];
const GROUPS_C: Group[] = [['tip missing', (r) => ({ ...r, tip: null })], ...GROUPS_AB.slice(1)];

const values = new Map<string, number[]>();
const push = (k: string, v: number): void => {
  values.set(k, [...(values.get(k) ?? []), v]);
};

/** Flag rates of the normals (with / without the tip) and AUROC / flag rate / non-finite per group. */
function tally(model: string, normals: Record<string, unknown>[], groups: Group[], rows: ScoredRow[]): void {
  const nN = normals.length;
  const s = rows.map((r) => r.score ?? Infinity); // a non-finite score ranks as the most anomalous
  const withTip = normals.map((r, i) => [r.tip !== null, rows[i].flagged] as const);
  const rate = (xs: (readonly [boolean, boolean])[]): number =>
    xs.length ? xs.filter(([, f]) => f).length / xs.length : NaN;
  push(`${model}|normals with tip|flagged`, rate(withTip.filter(([t]) => t)));
  const without = withTip.filter(([t]) => !t);
  if (without.length > 0) push(`${model}|normals without tip|flagged`, rate(without));
  push(`${model}|normals|nonfinite`, rows.slice(0, nN).filter((r) => r.score === null).length / nN);
  groups.forEach(([name], g) => {
    const at = nN + g * 200;
    const y = [...Array<number>(nN).fill(0), ...Array<number>(200).fill(1)];
    push(
      `${model}|${name}|auroc`,
      auroc(Float64Array.from([...s.slice(0, nN), ...s.slice(at, at + 200)]), Uint8Array.from(y)),
    );
    push(`${model}|${name}|flagged`, rows.slice(at, at + 200).filter((r) => r.flagged).length / 200);
    push(`${model}|${name}|nonfinite`, rows.slice(at, at + 200).filter((r) => r.score === null).length / 200);
  });
}

const dir = await mkdtemp(join(tmpdir(), 'gensemble-missing-'));
try {
  const kinds = join(dir, 'kinds');
  await mkdir(kinds);
  await writeFile(join(kinds, 'shop_tip.json'), JSON.stringify(kind('shop_tip', true)));
  await writeFile(join(kinds, 'shop_notip.json'), JSON.stringify(kind('shop_notip', false)));
  for (let seed = 0; seed < Number(opts.seeds); seed++) {
    const rng = new Rng(2000 + seed);
    const common = [
      '--members',
      opts.members,
      '--steps',
      opts.steps,
      '--seed',
      String(seed),
      ...(opts.likelihood ? ['--likelihood', opts.likelihood] : []),
    ];
    for (const gaps of [true, false]) {
      const trainRecs = Array.from({ length: 5000 }, (_, i) => record(rng, `t${i}`, gaps));
      const normals = Array.from({ length: 2000 }, (_, i) => record(rng, `n${i}`, gaps));
      const groups = gaps ? GROUPS_AB : GROUPS_C;
      const anomalies = groups.flatMap(([, f], g) =>
        Array.from({ length: 200 }, (_, i) => f(record(rng, `a${g}-${i}`, false))),
      );
      const trainFile = join(dir, `train-${seed}-${gaps}.jsonl`);
      const scoreFile = join(dir, `score-${seed}-${gaps}.jsonl`);
      await writeJsonl(trainFile, trainRecs);
      await writeJsonl(scoreFile, [...normals, ...anomalies]);
      const models: Array<[string, string]> = gaps
        ? [
            ['A', 'shop_tip'],
            ['B', 'shop_notip'],
          ]
        : [['C', 'shop_tip']];
      for (const [m, k] of models) {
        const model = join(dir, `model-${m}-${seed}`);
        await train(kinds, k, trainFile, model, common);
        tally(m, normals, groups, await score(kinds, model, scoreFile));
        process.stderr.write(`seed ${seed} model ${m} done\n`);
      }
    }
  }
  const v = (k: string): string => meanPercent(values.get(k));
  console.log(
    `Declared kind with an optional field, synthetic check: ${opts.seeds} seed(s), ${opts.members} members × ${opts.steps} steps, likelihood ${opts.likelihood ?? 'default'}, default score, mean over seeds\n`,
  );
  console.log('| model | records | AUROC % | flagged % | non-finite % |');
  console.log('| --- | --- | ---: | ---: | ---: |');
  const label = {
    A: 'A: tip a feature, gaps in training',
    B: 'B: tip left out',
    C: 'C: tip a feature, never missing in training',
  };
  for (const [m, groups] of [
    ['A', GROUPS_AB],
    ['B', GROUPS_AB],
    ['C', GROUPS_C],
  ] as const) {
    const l = label[m];
    console.log(
      `| ${l} | held-out normals with tip | | ${v(`${m}|normals with tip|flagged`)} | ${v(`${m}|normals|nonfinite`)} |`,
    );
    if (m !== 'C')
      console.log(`| ${l} | held-out normals without tip | | ${v(`${m}|normals without tip|flagged`)} | |`);
    for (const [g] of groups) {
      console.log(
        `| ${l} | ${g} | ${v(`${m}|${g}|auroc`)} | ${v(`${m}|${g}|flagged`)} | ${v(`${m}|${g}|nonfinite`)} |`,
      );
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
