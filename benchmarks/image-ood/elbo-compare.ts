/**
 * The paper's "log p" as its authors' code computes it: the K-sample ELBO estimate mean_k log w_k
 * (hschoi1/rich_latent `tools/analysis.py: fetch` averages `elbo_local` over n_samples), against the
 * IWAE-K bound logsumexp_k log w_k − log K that gensemble scores with. Both come from the same K
 * posterior samples of the same checkpoint (ScoreBatch.memberElbo beside ScoreBatch.logp), so the
 * comparison isolates the estimator. Written for the ELBO diagnostic (BENCHMARKS.md, registered
 * before its run).
 *
 *   validation: the four corruption proxies against the validation normals (and their mean);
 *   test, for information: every OoD row of the dump against the in-distribution test images.
 *
 * Columns: each member's single-model AUROC of −IWAE and of −ELBO; over the dump's members, the
 * AUROC of −WAIC built from each (mean − population variance over members, as the paper's WAIC).
 *
 *   npx tsx benchmarks/image-ood/elbo-compare.ts DUMP.json.gz [--members 2]
 */
import { Command } from 'commander';
import { metrics, negMemberEstimate as memberScore, negWaicOf as negWaic } from '../lib/evaluate.js';
import { dumpComparisonRows, loadSet, readStatsDump, type StatsDump } from '../lib/stats-dump.js';
import type { ScoreBatch } from '../../src/engine/types.js';

function batchOf(dump: StatsDump, set: string): ScoreBatch {
  const d = dump.sets[set];
  if (!d) throw new Error(`the dump has no set '${set}'`);
  const b = loadSet(d);
  if (!b.memberElbo)
    throw new Error(`set '${set}' has no memberElbo: the dump predates ScoreBatch.memberElbo`);
  return b;
}

const program = new Command()
  .argument('<dump>', 'statistic dump of a run whose scorer gave memberElbo (stats-*.json.gz)')
  .option('--members <n>', 'members shown one by one (the first n)', '2')
  .parse();
const [path] = program.args as [string];
const M = Number(program.opts<{ members: string }>().members);
if (!Number.isInteger(M) || M < 1) throw new Error(`--members must be a positive integer, got ${M}`);

const dump = await readStatsDump(path);
const rows = dumpComparisonRows(dump);
const all = Number(loadSet(dump.sets.test).members);
if (M > all) throw new Error(`--members ${M} asked of a dump with ${all} members`);

const fmt = (v: number) => v.toFixed(1);
const auroc = (neg: Float64Array, pos: Float64Array) => 100 * metrics(neg, pos).auroc;
console.log(
  `\n### −IWAE-K → −ELBO-K (mean over the same K samples), AUROC %; single members, then the ${all}-member WAIC\n`,
);
console.log(
  `| set | ${Array.from({ length: M }, (_, m) => `member ${m}`).join(' | ')} | mean Δ (members) | WAIC (${all} members) |\n| --- |${' ---: |'.repeat(M + 2)}`,
);
for (const r of rows) {
  const neg = batchOf(dump, r.neg);
  const pos = r.pos.map((p) => batchOf(dump, p));
  const avg = (f: (b: ScoreBatch) => Float64Array): number =>
    pos.reduce((a, p) => a + auroc(f(neg), f(p)), 0) / pos.length;
  const cells: string[] = [];
  let delta = 0;
  for (let m = 0; m < M; m++) {
    const a = avg((b) => memberScore(b, m, 'iwae'));
    const e = avg((b) => memberScore(b, m, 'elbo'));
    delta += (e - a) / M;
    cells.push(`${fmt(a)} → ${fmt(e)}`);
  }
  const wa = avg((b) => negWaic(b, 'iwae'));
  const we = avg((b) => negWaic(b, 'elbo'));
  console.log(
    `| ${r.label} | ${cells.join(' | ')} | ${delta >= 0 ? '+' : ''}${delta.toFixed(2)} | ${fmt(wa)} → ${fmt(we)} |`,
  );
}
