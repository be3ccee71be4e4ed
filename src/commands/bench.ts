/**
 * `gensemble bench image-ood | credit-fraud`: the offline benchmarks (paper Tables 2 and 3) over the
 * same build/scoring path as the stream. Options as the scripts in benchmarks/<name>/run.ts.
 */
import { Command } from 'commander';

export function register(program: Command): void {
  const bench = program
    .command('bench')
    .description('rerun the paper benchmarks (image OoD, credit fraud) and write reports');
  const image = bench.command('image-ood').description('Table 2: MNIST / Fashion-MNIST OoD detection');
  const credit = bench.command('credit-fraud').description('Table 3: credit-card fraud detection');
  addImageOptions(image);
  addCreditOptions(credit);
  image.action(async (flags: Record<string, unknown>) => {
    const m = await import('../../benchmarks/image-ood/run.js');
    const res = await m.runImageOod(
      m.optionsFromFlags(
        flags as unknown as Parameters<typeof m.optionsFromFlags>[0],
        `gensemble bench image-ood ${process.argv.slice(4).join(' ')}`,
      ),
    );
    process.stdout.write(m.imageTables(res.results) + `\n\nreport: ${res.reportPath}\n`);
  });
  credit.action(async (flags: Record<string, unknown>) => {
    const m = await import('../../benchmarks/credit-fraud/run.js');
    const res = await m.runCreditFraud(
      m.creditOptionsFromFlags(
        flags as unknown as Parameters<typeof m.creditOptionsFromFlags>[0],
        `gensemble bench credit-fraud ${process.argv.slice(4).join(' ')}`,
      ),
    );
    process.stdout.write(m.creditTables(res.settings, res.splits) + `\n\nreport: ${res.reportPath}\n`);
  });
}

function addImageOptions(c: Command): void {
  c.option('--quick', 'CI smoke settings (tiny models, few steps, subsets of the real data)', false)
    .option('--train <set>', 'mnist | fashion | both', 'both')
    .option('--out <dir>', 'report directory')
    .option('--data <dir>', 'data directory (default $GENSEMBLE_DATA_DIR or ./data)')
    .option('--seed <n>', 'base seed', '0')
    .option('--members <m>', 'ensemble members (override)')
    .option('--steps <n>', 'training steps per member (override)')
    .option('--max-eval <n>', 'records per evaluated set (override)')
    .option('--no-cache', 'retrain even when a cached checkpoint exists');
}

function addCreditOptions(c: Command): void {
  c.option('--quick', 'CI smoke settings', false)
    .option('--data <csv>', 'credit-card CSV (default: <data dir>/creditcard/creditcard-subset.csv.gz)')
    .option('--splits <n>', 'repeated splits')
    .option('--seed <n>', 'first split seed', '0')
    .option('--members <m>', 'ensemble members (override)')
    .option('--steps <n>', 'training steps (override)')
    .option('--out <dir>', 'report directory')
    .option('--default-score <rule>', 'default rule (see benchmarks/lib/evaluate.ts RULE_IDS)')
    .option('--no-cache', 'retrain even when cached');
}
