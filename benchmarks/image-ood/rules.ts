/**
 * A score-rule study on the per-record statistics an image-OoD run dumped (`stats-<model>.json.gz`,
 * benchmarks/lib/stats-dump.ts): every candidate rule's AUROC on the validation proxies (held-out
 * training images vs corrupted copies) and on the test sets, without retraining or rescoring.
 *
 *   npx tsx benchmarks/image-ood/rules.ts benchmarks/results/image-ood-conv-v3/stats-mnist.json.gz [--test]
 *
 * The test table is printed only with --test: a rule study chooses on the validation table.
 */
import { pathToFileURL } from 'node:url';
import { Command } from 'commander';
import {
  RULE_IDS,
  fitExtraRules,
  fitTypicalityRules,
  mdTable,
  metrics,
  pct,
  ruleNeedsComplexity,
  ruleScores,
  type RuleContext,
  type RuleId,
} from '../lib/evaluate.js';
import { loadSet, readStatsDump } from '../lib/stats-dump.js';
import type { ScoreBatch } from '../../src/engine/types.js';

export interface RuleStudy {
  rules: RuleId[];
  /** AUROC per proxy (rows) and rule, and the mean over proxies ('score'). */
  validation: Record<string, Record<string, number>>;
  /** AUROC per test OoD set and rule (only when asked for). */
  test?: Record<string, Record<string, number>>;
}

export async function studyRules(path: string, withTest: boolean): Promise<RuleStudy> {
  const dump = await readStatsDump(path);
  const sets: Record<string, ScoreBatch> = Object.fromEntries(
    Object.entries(dump.sets).map(([k, v]) => [k, loadSet(v)]),
  );
  const cal = sets.calibration;
  const ctx: RuleContext = {
    ...(dump.dose ? { dose: dump.dose } : {}),
    extra: cal ? fitExtraRules(cal) : {},
    typicality: cal ? fitTypicalityRules(cal) : ({} as RuleContext['typicality']),
  };
  const hasLx = sets.test.complexity !== undefined;
  const rules = RULE_IDS.filter(
    (id) =>
      id !== 'combined' && // the checkpoint's combined rule is not in the dump
      (hasLx || !ruleNeedsComplexity(id, ctx)) &&
      (cal !== undefined || !(id.startsWith('combined_') || id.startsWith('typ_'))) &&
      (dump.dose !== undefined || !id.startsWith('dose')),
  );
  const table = (neg: ScoreBatch, names: string[]): Record<string, Record<string, number>> => {
    const negScores = Object.fromEntries(rules.map((r) => [r, ruleScores(neg, r, ctx)]));
    return Object.fromEntries(
      names.map((n) => [
        n,
        Object.fromEntries(rules.map((r) => [r, metrics(negScores[r], ruleScores(sets[n], r, ctx)).auroc])),
      ]),
    );
  };
  const proxyNames = Object.keys(sets).filter((k) => k.startsWith('proxy-'));
  const validation = table(sets['validation-normal'], proxyNames);
  validation.score = Object.fromEntries(
    rules.map((r) => [r, proxyNames.reduce((a, p) => a + validation[p][r], 0) / proxyNames.length]),
  );
  const testNames = Object.keys(sets).filter(
    (k) => !k.startsWith('proxy-') && !['test', 'validation-normal', 'calibration'].includes(k),
  );
  return { rules, validation, ...(withTest ? { test: table(sets.test, testNames) } : {}) };
}

function print(title: string, t: Record<string, Record<string, number>>, rules: RuleId[]): string {
  return `${title}\n\n${mdTable(
    ['set', ...rules],
    Object.entries(t).map(([k, row]) => [k, ...rules.map((r) => pct(row[r]))]),
  )}\n`;
}

async function main(): Promise<void> {
  const p = new Command('rules')
    .argument('<dump>', 'stats-<model>.json.gz written by benchmarks/image-ood/run.ts')
    .option('--test', 'also print the test sets (a study chooses on validation only)', false)
    .parse();
  const st = await studyRules(p.args[0], (p.opts() as { test: boolean }).test);
  process.stdout.write(print('Validation proxies, AUROC %', st.validation, st.rules));
  if (st.test) process.stdout.write('\n' + print('Test sets, AUROC %', st.test, st.rules));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
