/**
 * `gensemble datasets fetch|check`: download the public originals of the image data sets into the data
 * directory (GENSEMBLE_DATA_DIR) and verify them, or verify what a local data directory holds.
 *
 * Verification is by the SHA256 of each file's IDX *content* (after gunzip): mirrors and packagers
 * re-compress the same bytes differently, so a hash of the .gz would reject good copies. The content
 * hashes below are those of the project's shared copies (/work/shared/datasets, whose SHA256SUMS lists
 * the .gz files). A directory's own SHA256SUMS, when present, is checked as well; `fetch` writes one.
 * The Kaggle credit-card CSV needs a Kaggle login and Omniglot's IDX files are a conversion, so neither
 * can be fetched; `check` still verifies them through SHA256SUMS.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile, appendFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../config.js';
import { GensembleError } from '../errors.js';
import { maybeGunzip } from '../data/idx.js';
import { pathExists } from '../data/datasets.js';
import { readSha256Sums, sha256Hex } from '../data/fingerprint.js';
import { formatTable } from '../replay/table.js';

export class DatasetError extends GensembleError {
  constructor(code: string, message: string, cause?: unknown) {
    super(code, message, { cause });
  }
}

export interface KnownFile {
  /** Path under the data dir, e.g. "mnist/train-images-idx3-ubyte.gz". */
  path: string;
  /** SHA256 of the uncompressed content. */
  contentSha256: string;
  /** Uncompressed size in bytes. */
  contentBytes: number;
  /** Download locations, tried in order. */
  urls: string[];
}

const MNIST_MIRRORS = [
  'https://ossci-datasets.s3.amazonaws.com/mnist/',
  'https://storage.googleapis.com/cvdf-datasets/mnist/',
  'http://yann.lecun.com/exdb/mnist/',
];
const FASHION_MIRRORS = [
  'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/',
  'https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/',
];
const NOTMNIST_MIRRORS = [
  'https://raw.githubusercontent.com/davidflanagan/notMNIST-to-MNIST/17823f4d4a3acd8317c07866702d2eb2ac79c7a0/',
];

function files(folder: string, mirrors: string[], entries: [string, string, number][]): KnownFile[] {
  return entries.map(([name, contentSha256, contentBytes]) => ({
    path: `${folder}/${name}`,
    contentSha256,
    contentBytes,
    urls: mirrors.map((m) => m + name),
  }));
}

export const KNOWN_FILES: readonly KnownFile[] = [
  ...files('mnist', MNIST_MIRRORS, [
    [
      'train-images-idx3-ubyte.gz',
      'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
      47040016,
    ],
    ['train-labels-idx1-ubyte.gz', '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5', 60008],
    [
      't10k-images-idx3-ubyte.gz',
      '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
      7840016,
    ],
    ['t10k-labels-idx1-ubyte.gz', 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2', 10008],
  ]),
  ...files('fashion-mnist', FASHION_MIRRORS, [
    [
      'train-images-idx3-ubyte.gz',
      'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
      47040016,
    ],
    ['train-labels-idx1-ubyte.gz', 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9', 60008],
    [
      't10k-images-idx3-ubyte.gz',
      '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
      7840016,
    ],
    ['t10k-labels-idx1-ubyte.gz', '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34', 10008],
  ]),
  ...files('notmnist', NOTMNIST_MIRRORS, [
    [
      't10k-images-idx3-ubyte.gz',
      '8e7f38ae95cc8f48e0986175ffc9137e5007ebcf3d8fdf6656c904eb9dab198b',
      7840016,
    ],
    ['t10k-labels-idx1-ubyte.gz', '5f8e6012f2ce730700d8d05fca098bc47f71d25b890e4bec7ac5ebfd614a4001', 10008],
  ]),
];

export type CheckStatus = 'ok' | 'missing' | 'mismatch' | 'unreadable';

export interface CheckResult {
  path: string;
  status: CheckStatus;
  /** How it was checked: content (IDX after gunzip) and/or SHA256SUMS. */
  how: string;
  detail?: string;
}

/** Verifies bytes (a file as stored, gz or plain) against a known entry's content hash. */
export async function verifyContent(
  bytes: Uint8Array,
  entry: Pick<KnownFile, 'path' | 'contentSha256' | 'contentBytes'>,
  source: string,
): Promise<CheckResult> {
  let content: Uint8Array;
  try {
    content = await maybeGunzip(bytes, source);
  } catch (e) {
    return { path: entry.path, status: 'unreadable', how: 'content', detail: (e as Error).message };
  }
  if (content.length !== entry.contentBytes) {
    return {
      path: entry.path,
      status: 'mismatch',
      how: 'content',
      detail: `${content.length} bytes after gunzip, expected ${entry.contentBytes}`,
    };
  }
  const got = sha256Hex(content);
  if (got !== entry.contentSha256)
    return {
      path: entry.path,
      status: 'mismatch',
      how: 'content',
      detail: `content SHA256 ${got}, expected ${entry.contentSha256}`,
    };
  return { path: entry.path, status: 'ok', how: 'content' };
}

/**
 * Checks a data directory: every known file (found as listed, or without .gz) by content hash, and
 * every entry of the directory's SHA256SUMS by file hash.
 */
export async function checkDataDir(dir: string): Promise<CheckResult[]> {
  const root = resolve(dir);
  const results = new Map<string, CheckResult>();
  const sums = await readSha256Sums(join(root, 'SHA256SUMS'));
  for (const entry of KNOWN_FILES) {
    const candidates = [entry.path, entry.path.replace(/\.gz$/, '')];
    let found: string | undefined;
    for (const c of candidates) if (await pathExists(join(root, c))) found = found ?? c;
    if (!found) {
      results.set(entry.path, { path: entry.path, status: 'missing', how: 'content' });
      continue;
    }
    const bytes = await readFile(join(root, found));
    results.set(found, { ...(await verifyContent(bytes, entry, join(root, found))), path: found });
  }
  for (const [path, want] of sums ?? []) {
    const p = join(root, path);
    const prev = results.get(path);
    if (!(await pathExists(p))) {
      if (!prev) results.set(path, { path, status: 'missing', how: 'SHA256SUMS' });
      continue;
    }
    const got = createHash('sha256')
      .update(await readFile(p))
      .digest('hex');
    const r: CheckResult =
      got === want
        ? { path, status: 'ok', how: 'SHA256SUMS' }
        : { path, status: 'mismatch', how: 'SHA256SUMS', detail: `SHA256 ${got}, SHA256SUMS lists ${want}` };
    if (!prev) results.set(path, r);
    else if (prev.status === 'ok' && r.status === 'ok')
      results.set(path, { ...prev, how: 'content+SHA256SUMS' });
    else if (prev.status === 'ok') results.set(path, { ...r, how: 'content ok, SHA256SUMS' });
  }
  return [...results.values()].sort((a, b) => a.path.localeCompare(b.path));
}

export type Fetcher = (url: string) => Promise<Uint8Array>;

const httpFetch: Fetcher = async (url) => {
  const res = await fetch(url, { redirect: 'follow', signal: AbortSignal.timeout(300_000) });
  if (!res.ok) throw new DatasetError('DATASET_HTTP', `${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
};

/**
 * Downloads one file (mirrors in order) into `dir`, verifying its content before it is put in place
 * (written to `<path>.part`, renamed on success), and records its file hash in `dir`/SHA256SUMS.
 * An existing file that verifies is kept.
 */
export async function fetchKnownFile(
  entry: KnownFile,
  dir: string,
  fetcher: Fetcher = httpFetch,
): Promise<CheckResult & { source?: string }> {
  const root = resolve(dir);
  const dest = join(root, entry.path);
  if (await pathExists(dest)) {
    const r = await verifyContent(await readFile(dest), entry, dest);
    if (r.status === 'ok') return { ...r, detail: 'already present' };
  }
  const errors: string[] = [];
  for (const url of entry.urls) {
    let bytes: Uint8Array;
    try {
      bytes = await fetcher(url);
    } catch (e) {
      errors.push(`${url}: ${(e as Error).message}`);
      continue;
    }
    const r = await verifyContent(bytes, entry, url);
    if (r.status !== 'ok') {
      errors.push(`${url}: ${r.status} (${r.detail})`);
      continue;
    }
    await mkdir(dirname(dest), { recursive: true });
    await writeFile(dest + '.part', bytes);
    await rename(dest + '.part', dest);
    const rel = relative(root, dest).split(sep).join('/');
    const sums = await readSha256Sums(join(root, 'SHA256SUMS'));
    const sha = sha256Hex(bytes);
    if (sums?.get(rel) !== sha) {
      if (sums?.has(rel)) {
        const kept = [...sums].filter(([p]) => p !== rel).map(([p, h]) => `${h}  ${p}\n`);
        await writeFile(join(root, 'SHA256SUMS'), kept.join(''));
      }
      await appendFile(join(root, 'SHA256SUMS'), `${sha}  ${rel}\n`);
    }
    return { path: entry.path, status: 'ok', how: 'content', source: url };
  }
  await rm(dest + '.part', { force: true });
  throw new DatasetError(
    'DATASET_FETCH_FAILED',
    `${entry.path}: no mirror gave a verified copy: ${errors.join('; ')}`,
  );
}

const SETS = ['mnist', 'fashion-mnist', 'notmnist'] as const;

export function register(program: Command): void {
  const ds = program
    .command('datasets')
    .description('download (fetch) or verify (check) the data sets in the data directory');

  ds.command('fetch')
    .description(
      `download the public originals (${SETS.join(', ')}) into the data dir and verify their SHA256 (needs internet)`,
    )
    .option('--dir <dir>', 'data directory (default GENSEMBLE_DATA_DIR)')
    .option('--only <sets>', `comma-separated subset of ${SETS.join(', ')}`)
    .action(async (f: { dir?: string; only?: string }) => {
      const dir = resolve(f.dir ?? loadConfig().GENSEMBLE_DATA_DIR);
      const only = f.only
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      for (const s of only ?? []) {
        if (!(SETS as readonly string[]).includes(s))
          throw new DatasetError(
            'DATASET_UNKNOWN',
            `--only: unknown data set "${s}"; choose from ${SETS.join(', ')}`,
          );
      }
      const todo = KNOWN_FILES.filter((e) => !only || only.includes(e.path.split('/')[0]));
      for (const e of todo) {
        const r = await fetchKnownFile(e, dir);
        process.stdout.write(
          `${r.status}  ${e.path}${r.detail ? ` (${r.detail})` : r.source ? ` from ${r.source}` : ''}\n`,
        );
      }
      process.stdout.write(
        `data in ${dir}. The Kaggle credit-card CSV needs a Kaggle login: download creditcard.csv from ` +
          `https://www.kaggle.com/datasets/mlg-ulb/creditcardfraud into ${join(dir, 'creditcard')}/\n`,
      );
    });

  ds.command('check')
    .description(
      'verify the files of a local data dir (IDX content hashes and its SHA256SUMS); exit 1 on any mismatch',
    )
    .option('--dir <dir>', 'data directory (default GENSEMBLE_DATA_DIR)')
    .option('--json', 'one JSON object per file', false)
    .action(async (f: { dir?: string; json: boolean }) => {
      const dir = resolve(f.dir ?? loadConfig().GENSEMBLE_DATA_DIR);
      if (!(await pathExists(dir)))
        throw new DatasetError(
          'DATASET_NO_DIR',
          `data directory ${dir} does not exist (set GENSEMBLE_DATA_DIR or --dir)`,
        );
      const results = await checkDataDir(dir);
      if (f.json) process.stdout.write(results.map((r) => JSON.stringify(r)).join('\n') + '\n');
      else
        process.stdout.write(
          formatTable(
            ['status', 'file', 'checked by', 'detail'],
            results.map((r) => [r.status, r.path, r.how, r.detail ?? '']),
          ),
        );
      const bad = results.filter((r) => r.status === 'mismatch' || r.status === 'unreadable');
      const ok = results.filter((r) => r.status === 'ok').length;
      if (bad.length > 0)
        throw new DatasetError(
          'DATASET_CHECK_FAILED',
          `${bad.length} file(s) in ${dir} failed verification: ${bad.map((b) => b.path).join(', ')}`,
        );
      if (ok === 0) throw new DatasetError('DATASET_EMPTY', `no known data files found in ${dir}`);
      process.stderr.write(`${ok} file(s) verified in ${dir}\n`);
    });
}
