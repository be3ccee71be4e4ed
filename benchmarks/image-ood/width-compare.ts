/**
 * Member-by-member comparison of two image-OoD statistic dumps whose members share seeds: the single-model
 * Rate and log p AUROC of members 0..M−1 of a baseline run against a candidate run that differs in one
 * setting. Written for the conv-width diagnostic (base 16 against v4's base 8) and reused by the
 * diagnostic of the training objective's samples (BENCHMARKS.md; each registered before its run).
 *
 *   validation: the four corruption proxies against the validation normals (and their mean);
 *   test, for information: every OoD row of the dump against the in-distribution test images.
 *
 *   npx tsx benchmarks/image-ood/width-compare.ts BASELINE.json.gz CANDIDATE.json.gz [--members 2]
 */
import { Command } from 'commander';
import { metrics } from '../lib/evaluate.js';
import { dumpComparisonRows, loadSet, readStatsDump, type StatsDump } from '../lib/stats-dump.js';

type Stat = 'rate' | 'logp';

/** The anomaly score of member m under a single-model statistic: its rate, or minus its log p. */
function memberScore(dump: StatsDump, set: string, m: number, stat: Stat): Float64Array {
  const d = dump.sets[set];
  if (!d) throw new Error(`the dump has no set '${set}'`);
  const b = loadSet(d);
  if (m >= b.members) throw new Error(`member ${m} asked of a dump with ${b.members} members`);
  const out = new Float64Array(b.n);
  for (let i = 0; i < b.n; i++)
    out[i] = stat === 'rate' ? b.memberRate[i * b.members + m] : -b.logp[i * b.members + m];
  return out;
}

function auroc(dump: StatsDump, neg: string, pos: string, m: number, stat: Stat): number {
  return 100 * metrics(memberScore(dump, neg, m, stat), memberScore(dump, pos, m, stat)).auroc;
}

const program = new Command()
  .argument('<baseline>', 'statistic dump of the baseline run (stats-*.json.gz)')
  .argument('<candidate>', 'statistic dump of the candidate run, same seeds')
  .option('--members <n>', 'members compared (the first n of each)', '2')
  .parse();
const [basePath, candPath] = program.args as [string, string];
const M = Number(program.opts<{ members: string }>().members);
if (!Number.isInteger(M) || M < 1) throw new Error(`--members must be a positive integer, got ${M}`);

const base = await readStatsDump(basePath);
const cand = await readStatsDump(candPath);
const rows = dumpComparisonRows(cand);

const fmt = (v: number) => v.toFixed(1);
for (const stat of ['rate', 'logp'] as const) {
  console.log(
    `\n### Single-member ${stat === 'rate' ? 'Rate' : 'log p (IWAE-16)'} AUROC %, baseline → candidate\n`,
  );
  console.log(
    `| set | ${Array.from({ length: M }, (_, m) => `member ${m}`).join(' | ')} | mean Δ |\n| --- |${' ---: |'.repeat(M + 1)}`,
  );
  for (const r of rows) {
    const cells: string[] = [];
    let delta = 0;
    for (let m = 0; m < M; m++) {
      const mean = (d: StatsDump) =>
        r.pos.reduce((a, p) => a + auroc(d, r.neg, p, m, stat), 0) / r.pos.length;
      const b = mean(base);
      const c = mean(cand);
      delta += (c - b) / M;
      cells.push(`${fmt(b)} → ${fmt(c)}`);
    }
    console.log(`| ${r.label} | ${cells.join(' | ')} | ${delta >= 0 ? '+' : ''}${delta.toFixed(2)} |`);
  }
}
