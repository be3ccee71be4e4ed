/**
 * The product's CLI, as the declared-kind checks drive it: `gensemble train` on a declared kind's
 * JSONL, then `gensemble score` of another JSONL. A user's own records take exactly this path.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import type { Rng } from '../../src/engine/random.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');
const bin = join(root, 'bin/gensemble.js');

export interface ScoredRow {
  id: string;
  /** null when the score is not finite (the stream dead-letters such a record: NON_FINITE_SCORE). */
  score: number | null;
  flagged: boolean;
}

export async function writeJsonl(path: string, records: readonly Record<string, unknown>[]): Promise<void> {
  await writeFile(path, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
}

/** `gensemble train --kind <kind> --data <data> --out <model> ...extra` with KINDS_DIR = kindsDir. */
export async function train(
  kindsDir: string,
  kind: string,
  data: string,
  model: string,
  extra: readonly string[],
): Promise<void> {
  await run(
    process.execPath,
    [bin, 'train', '--kind', kind, '--data', data, '--out', model, '--no-progress', ...extra],
    { cwd: root, env: { ...process.env, KINDS_DIR: kindsDir }, maxBuffer: 1 << 26 },
  );
}

/** `gensemble score --model <model> --input <input>`: one row per record, in file order. */
export async function score(kindsDir: string, model: string, input: string): Promise<ScoredRow[]> {
  const out = `${input}.${model.split('/').pop()}.scores.jsonl`;
  await run(process.execPath, [bin, 'score', '--model', model, '--input', input, '--out', out], {
    cwd: root,
    env: { ...process.env, KINDS_DIR: kindsDir },
    maxBuffer: 1 << 26,
  });
  return (await readFile(out, 'utf8'))
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as ScoredRow);
}

/** Percent with one decimal, of the mean of `v` (fractions); "-" when there is none. */
export function meanPercent(v: readonly number[] | undefined): string {
  return v && v.length > 0 ? ((100 * v.reduce((a, b) => a + b, 0)) / v.length).toFixed(1) : '-';
}

/** The checks' 30 merchant categories, `m0` (most frequent) to `m29`, with Zipf(1.2) frequencies. */
export const MERCHANT_CATEGORIES = Array.from({ length: 30 }, (_, i) => `m${i}`);
const WEIGHTS = MERCHANT_CATEGORIES.map((_, i) => 1 / (i + 1) ** 1.2);
const TOTAL = WEIGHTS.reduce((a, b) => a + b, 0);

/** One category drawn by its Zipf frequency (one uniform draw of `rng`). */
export function drawCategory(rng: Rng): string {
  let u = rng.uniform() * TOTAL;
  let k = 0;
  while (k < MERCHANT_CATEGORIES.length - 1 && u >= WEIGHTS[k]) u -= WEIGHTS[k++];
  return MERCHANT_CATEGORIES[k];
}
