/**
 * Image OoD sets outside the paper's table, scored through the product's own offline path (BENCHMARKS.md,
 * "Image OoD: sets outside the table", registered before any number): a checkpoint that `gensemble train`
 * wrote scores one IDX file holding the in-distribution test images and every set below, by running
 * `gensemble score` on it; the report reads the score CSV.
 *
 * In-distribution: the trained-on set's test images 0–1,999. OoD, 2,000 each (derived sets from its test
 * images 2,000–3,999): Omniglot's background split (area-resized, seeded order), rot90, shift6,
 * salt-pepper, noisy, occlusion, dim, blank, saturated. For information: nothing is chosen on it.
 *
 *   GENSEMBLE_DATA_DIR=../shared/datasets npx tsx benchmarks/image-ood/other-sets.ts --model DIR --train mnist|fashion --out DIR [--label NAME]
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { loadFashionMnist, loadMnist, loadOmniglot, resolveDataDir } from '../../src/data/datasets.js';
import { encodeIdx } from '../../src/data/idx.js';
import { permutation } from '../../src/data/splits.js';
import { metrics, type Metrics } from '../lib/evaluate.js';
import { DERIVED, D, N, SIDE } from './derived-sets.js';

/** The paper's statistics and the default score, each oriented so that higher = more anomalous. */
const STATS = [
  { name: 'default', column: 'score', sign: 1 },
  { name: 'log p (single)', column: 'logp_0', sign: -1 },
  { name: 'Rate', column: 'rate', sign: 1 },
  { name: 'Var log p', column: 'logp_var', sign: 1 },
  { name: 'WAIC', column: 'waic', sign: -1 },
] as const;

export interface SetResult {
  set: string;
  n: number;
  /** Share of the set flagged at the checkpoint's own threshold. */
  flagged: number;
  default: Metrics;
  auroc: Record<string, number>;
}

export interface ModelResult {
  train: 'mnist' | 'fashion';
  label: string;
  model: string;
  command: string;
  inDistributionFlagged: number;
  scoreSeconds: number;
  sets: SetResult[];
}

async function main(): Promise<void> {
  const o = new Command()
    .requiredOption('--model <dir>', 'a checkpoint directory written by gensemble train')
    .requiredOption('--train <set>', 'the data set it was trained on: mnist | fashion')
    .requiredOption('--out <dir>', 'report directory (one JSON per model; report.md from all of them)')
    .option('--label <name>', 'the model as the report names it', 'preset paper')
    .option('--data <dir>', 'data directory (default $GENSEMBLE_DATA_DIR)')
    .parse()
    .opts<{ model: string; train: string; out: string; label: string; data?: string }>();
  if (o.train !== 'mnist' && o.train !== 'fashion')
    throw new Error(`--train mnist | fashion, got ${o.train}`);
  const train = o.train;
  const dir = resolveDataDir(o.data);
  const test = train === 'mnist' ? await loadMnist(dir, 'test') : await loadFashionMnist(dir, 'test');
  const omni = await loadOmniglot(dir, 'background', { size: SIDE });
  const px = test.images.pixels;
  const inDist = px.slice(0, N * D);
  const source = px.slice(N * D, 2 * N * D);
  const order = permutation(omni.images.count, 17);
  const omniglot = new Uint8Array(N * D);
  for (let k = 0; k < N; k++)
    omniglot.set(omni.images.pixels.subarray(order[k] * D, (order[k] + 1) * D), k * D);
  const sets: Array<[string, Uint8Array]> = [
    ['omniglot-background', omniglot],
    ...Object.entries(DERIVED).map(([name, make]): [string, Uint8Array] => [name, make(source, N)]),
  ];
  const all = new Uint8Array((1 + sets.length) * N * D);
  all.set(inDist, 0);
  sets.forEach(([, x], i) => all.set(x, (i + 1) * N * D));

  const tmp = await mkdtemp(join(tmpdir(), 'gensemble-other-sets-'));
  try {
    const idx = join(tmp, 'sets.idx');
    await writeFile(idx, encodeIdx({ type: 'uint8', dims: [all.length / D, SIDE, SIDE], data: all }));
    const csv = join(tmp, 'scores.csv');
    const t0 = Date.now();
    await promisify(execFile)(
      process.execPath,
      [resolve('bin/gensemble.js'), 'score', '--model', o.model, '--input', idx, '--out', csv],
      { maxBuffer: 1 << 26 },
    );
    const scoreSeconds = (Date.now() - t0) / 1000;
    const lines = (await readFile(csv, 'utf8')).trim().split('\n');
    const header = lines[0].split(',');
    const rows = lines.slice(1).map((l) => l.split(',').map(Number));
    if (rows.length !== all.length / D) throw new Error(`${rows.length} scores for ${all.length / D} images`);
    const col = (name: string): Float64Array => {
      const j = header.indexOf(name);
      if (j < 0) throw new Error(`no column ${name} in ${header.join(',')}`);
      return Float64Array.from(rows, (r) => r[j]);
    };
    const flagged = col('flagged');
    const stat = Object.fromEntries(STATS.map((s) => [s.name, col(s.column).map((v) => s.sign * v)]));
    const part = (a: Float64Array, i: number): Float64Array => a.subarray(i * N, (i + 1) * N);
    const share = (a: Float64Array): number => a.reduce((x, v) => x + v, 0) / a.length;
    const result: ModelResult = {
      train,
      label: o.label,
      model: o.model,
      command: `npx tsx ${relative(process.cwd(), process.argv[1])} ${process.argv.slice(2).join(' ')}`,
      inDistributionFlagged: share(part(flagged, 0)),
      scoreSeconds,
      sets: sets.map(([name], i) => ({
        set: name,
        n: N,
        flagged: share(part(flagged, i + 1)),
        default: metrics(part(stat.default, 0), part(stat.default, i + 1)),
        auroc: Object.fromEntries(
          STATS.map((s) => [s.name, metrics(part(stat[s.name], 0), part(stat[s.name], i + 1)).auroc]),
        ),
      })),
    };
    await mkdir(o.out, { recursive: true });
    const slug = `${train}-${o.label.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`;
    await writeFile(join(o.out, `${slug}.json`), JSON.stringify(result, null, 1) + '\n');
    const report = await renderReport(o.out);
    await writeFile(join(o.out, 'report.md'), report);
    process.stdout.write(report);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

async function renderReport(out: string): Promise<string> {
  const files = (await readdir(out)).filter((f) => f.endsWith('.json')).sort();
  const models = await Promise.all(
    files.map(async (f) => JSON.parse(await readFile(join(out, f), 'utf8')) as ModelResult),
  );
  const p = (v: number): string => (100 * v).toFixed(1);
  const lines = [
    '# Image OoD sets outside the table, on checkpoints `gensemble train` writes',
    '',
    'BENCHMARKS.md, "Image OoD: sets outside the table" (registered before any number). Scores from `gensemble score`',
    "(the product's offline path); OoD positive; `flagged` = share flagged at the checkpoint's own threshold",
    '(target FPR 1 %). For information: nothing is chosen on these sets.',
  ];
  for (const m of models) {
    lines.push(
      '',
      `## Trained on ${m.train === 'mnist' ? 'MNIST' : 'Fashion-MNIST'}, ${m.label}`,
      '',
      `Model \`${m.model}\`; in-distribution test images flagged: ${p(m.inDistributionFlagged)} %; scoring ${(m.sets.length + 1) * 2000} images took ${m.scoreSeconds.toFixed(0)} s.`,
      `Command: \`${m.command}\``,
      '',
      `| OoD set | default AUROC | AP | FPR95 | flagged % | ${STATS.slice(1)
        .map((s) => `${s.name} AUROC`)
        .join(' | ')} |`,
      `| --- | ---: | ---: | ---: | ---: | ${STATS.slice(1)
        .map(() => '---:')
        .join(' | ')} |`,
      ...m.sets.map(
        (s) =>
          `| ${s.set} | ${p(s.default.auroc)} | ${p(s.default.ap)} | ${p(s.default.fpr95)} | ${p(s.flagged)} | ${STATS.slice(
            1,
          )
            .map((x) => p(s.auroc[x.name]))
            .join(' | ')} |`,
      ),
    );
  }
  return lines.join('\n') + '\n';
}

await main();
