/**
 * Makes data/sample/creditcard-sample.csv.gz, the small real sample of the Kaggle "Credit Card Fraud
 * Detection" data (Dal Pozzolo et al. 2015) that `npm run demo` uses when no data directory or
 * --credit-csv gives it a CSV. See data/sample/README.md for provenance and licence (ODbL 1.0).
 *
 *   npx tsx scripts/make-demo-sample.ts [--source FILE] [--out FILE] [--normals N] [--seed S]
 *
 * Defaults: --source ../shared/datasets/creditcard/creditcard-subset.csv.gz (the public subset: 52,065
 * normal rows + every distinct fraud, 473), --out data/sample/creditcard-sample.csv.gz, --normals 11000,
 * --seed 20150901.
 *
 * Rows: every fraud (Class 1) and N normal rows (Class 0) drawn without replacement by a seeded
 * Fisher–Yates shuffle (mulberry32 PRNG) of the normal rows' positions; all chosen rows are written in
 * the source's order (time order), each line byte-for-byte as in the source (no re-formatting, no
 * rounding), under the source's header line. Same source + N + seed → same rows; the output is
 * gzip level 9 without a file name or time stamp. Prints the counts and the SHA256 of the gzip file
 * and of its uncompressed content.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Command, InvalidArgumentError } from 'commander';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const HEADER = ['Time', ...Array.from({ length: 28 }, (_, i) => `V${i + 1}`), 'Amount', 'Class'].join(',');

const uint = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return n;
};

/** mulberry32: a small, well-known 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Positions (ascending) of `k` of `n` items, drawn by a partial Fisher–Yates shuffle. */
export function sampleIndices(n: number, k: number, seed: number): number[] {
  const idx = Array.from({ length: n }, (_, i) => i);
  const rand = mulberry32(seed);
  const m = Math.min(k, n);
  for (let i = 0; i < m; i++) {
    const j = i + Math.floor(rand() * (n - i));
    [idx[i], idx[j]] = [idx[j], idx[i]];
  }
  return idx.slice(0, m).sort((a, b) => a - b);
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const program = new Command('make-demo-sample')
  .description('write the demo sample of the Kaggle credit-card data (data/sample/)')
  .option(
    '--source <file>',
    'Kaggle-format CSV(.gz) to sample',
    resolve(ROOT, '..', 'shared', 'datasets', 'creditcard', 'creditcard-subset.csv.gz'),
  )
  .option('--out <file>', 'output .csv.gz', resolve(ROOT, 'data', 'sample', 'creditcard-sample.csv.gz'))
  .option('--normals <n>', 'normal rows to keep', uint, 11_000)
  .option('--seed <s>', 'PRNG seed', uint, 20150901)
  .parse(process.argv);
const o = program.opts<{ source: string; out: string; normals: number; seed: number }>();

const raw = readFileSync(o.source);
const text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
const lines = text.split('\n');
if (lines.at(-1) === '') lines.pop();
const header = lines.shift();
if (header?.replace(/"/g, '').trim() !== HEADER) {
  process.stderr.write(`make-demo-sample: ${o.source}: header is not the Kaggle header ${HEADER}\n`);
  process.exit(1);
}
const normals: number[] = [];
const frauds: number[] = [];
lines.forEach((l, i) => {
  const cls = l
    .slice(l.lastIndexOf(',') + 1)
    .replace(/"/g, '')
    .trim();
  if (cls === '0') normals.push(i);
  else if (cls === '1') frauds.push(i);
  else throw new Error(`${o.source}: line ${i + 2}: Class is '${cls}', not 0 or 1`);
});
const keep = new Set([...sampleIndices(normals.length, o.normals, o.seed).map((j) => normals[j]), ...frauds]);
const out = [header, ...lines.filter((_, i) => keep.has(i))].join('\n') + '\n';
const csv = Buffer.from(out, 'utf8');
const gz = gzipSync(csv, { level: 9 });
mkdirSync(dirname(o.out), { recursive: true });
writeFileSync(o.out, gz);
process.stdout.write(
  `${o.out}: ${keep.size - frauds.length} normal + ${frauds.length} fraud rows (of ${normals.length} + ${frauds.length}; seed ${o.seed})\n` +
    `  ${gz.length} bytes gzip, sha256 ${sha256(gz)}\n` +
    `  ${csv.length} bytes csv,  sha256 ${sha256(csv)}\n` +
    `  source sha256 ${sha256(raw)}\n`,
);
