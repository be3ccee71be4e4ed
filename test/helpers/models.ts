/**
 * Tiny real checkpoints for tests, built with the production pipeline (`buildModel`) and cached in
 * a temp directory keyed by their configuration, so several test files (and several vitest workers)
 * share one build:
 *
 *   const { dir, manifest } = await testModel('transactions');          // credit subset, normal rows
 *   const frames = await testModel('frames', { seed: 1 });              // MNIST train subset
 *
 * Concurrency: the first caller takes `<key>.lock` (O_EXCL), builds into `<key>.tmp-<pid>-<rand>` and
 * renames it to `<key>` (atomic); other callers wait (bounded) for `<key>` to appear. A lock whose
 * owner process is gone, or older than the build deadline, is taken over.
 *
 * Data: $GENSEMBLE_DATA_DIR, else <repo>/../shared/datasets.
 * Cache: $GENSEMBLE_TEST_MODEL_CACHE, else <os tmp>/gensemble-test-models.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel, type ModelConfig } from '../../src/detector/build.js';
import { KindRegistry } from '../../src/kinds/registry.js';
import { loadCreditCardCsv } from '../../src/data/credit.js';
import { loadMnist, pathExists } from '../../src/data/datasets.js';
import { MANIFEST_FILE, type CheckpointManifest } from '../../src/engine/checkpoint.js';
import type { DoseStatistic } from '../../src/engine/dose.js';

type ModelKind = 'transactions' | 'frames';
const profileOf = (kind: ModelKind) => KindRegistry.builtins().get(kind).profile;

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Bump when the recipe below changes in a way the key does not capture. */
const RECIPE_VERSION = 1;

/**
 * The source folders a checkpoint's content can depend on (training, export, score rules, feature
 * transforms, data loading): every file in them keys the cache, so a change to any (e.g. the default
 * score rule, the exported graph, a helper those import) builds fresh test models instead of
 * reusing stale cached ones. A file list would go stale as the code moves.
 */
const MODEL_SOURCE_DIRS = [
  'src/engine',
  'src/detector',
  'src/kinds',
  'src/features',
  'src/data',
  'src/schemas',
];

async function modelSourceFiles(): Promise<string[]> {
  const out: string[] = [];
  for (const d of MODEL_SOURCE_DIRS) {
    for (const e of await readdir(join(repoRoot, d), { recursive: true, withFileTypes: true })) {
      if (e.isFile()) out.push(join(e.parentPath, e.name));
    }
  }
  return out.sort();
}

export function testDataDir(): string {
  const env = process.env.GENSEMBLE_DATA_DIR;
  return env !== undefined && env !== '' ? resolve(env) : resolve(repoRoot, '../shared/datasets');
}

export function testModelCacheDir(): string {
  const env = process.env.GENSEMBLE_TEST_MODEL_CACHE;
  return env !== undefined && env !== '' ? resolve(env) : join(tmpdir(), 'gensemble-test-models');
}

export interface TestModelOptions {
  members?: number;
  steps?: number;
  seed?: number;
  /** Normal records used (train + validation + calibration). */
  records?: number;
  batchSize?: number;
  targetFpr?: number;
  k?: number;
  /** frames only: 'conv' builds the paper's conv VAE (base 4, Dz 8) with a learned MAF prior. */
  arch?: 'mlp' | 'conv';
  /** 'vae+wgan': also a WGAN critic ensemble (3 critics, 100 + 100 steps; MLP as the VAE). */
  family?: 'vae' | 'vae+wgan';
  /**
   * transactions only: 'bernoulli' pins the paper's representation (Bernoulli on min-max features)
   * instead of the kind's default (Gaussian on standardised features).
   */
  likelihood?: 'default' | 'bernoulli';
  /** Dose statistics added to the kind's defaults (e.g. the opt-in 'feature_knn'). */
  extraDoseStatistics?: DoseStatistic[];
}

export interface TestModel {
  kind: ModelKind;
  /** The checkpoint directory (read-only: copy it before changing anything). */
  dir: string;
  manifest: CheckpointManifest;
  /** Raw values per record (30 for transactions, 784 for frames). */
  inputDim: number;
}

const DEFAULTS: Record<ModelKind, Required<TestModelOptions>> = {
  transactions: {
    members: 2,
    steps: 150,
    seed: 0,
    records: 4000,
    batchSize: 128,
    targetFpr: 0.01,
    k: 16,
    arch: 'mlp',
    family: 'vae',
    likelihood: 'default',
    extraDoseStatistics: [],
  },
  frames: {
    members: 2,
    steps: 150,
    seed: 0,
    records: 2000,
    batchSize: 64,
    targetFpr: 0.01,
    k: 16,
    arch: 'mlp',
    family: 'vae',
    likelihood: 'default',
    extraDoseStatistics: [],
  },
};

function modelConfig(
  kind: ModelKind,
  d: number,
  arch: 'mlp' | 'conv',
  likelihood: 'default' | 'bernoulli',
): ModelConfig {
  const base = profileOf(kind).defaultConfig(d);
  if (kind === 'transactions' && likelihood === 'bernoulli')
    return { ...base, likelihood: 'bernoulli', transform: 'minmax' };
  if (kind === 'frames' && arch === 'conv') {
    return {
      ...base,
      arch: { kind: 'conv', height: 28, width: 28, channels: 1, base: 4, latentDim: 8 },
      prior: { kind: 'maf', layers: 6, hidden: [16, 16] },
    };
  }
  if (kind === 'frames') {
    return {
      ...base,
      arch: { kind: 'mlp', inputDim: d, encoderHidden: [64], decoderHidden: [64], latentDim: 8 },
    };
  }
  return base;
}

async function loadNormalRows(
  kind: ModelKind,
  records: number,
): Promise<{ raw: Float32Array; n: number; d: number }> {
  const dir = testDataDir();
  if (kind === 'transactions') {
    const data = await loadCreditCardCsv(join(dir, 'creditcard', 'creditcard-subset.csv.gz'));
    const d = data.d;
    const out = new Float32Array(records * d);
    let n = 0;
    for (let i = 0; i < data.n && n < records; i++) {
      if (data.labels !== null && data.labels[i] !== 0) continue;
      out.set(data.features.subarray(i * d, (i + 1) * d), n * d);
      n++;
    }
    return { raw: out.subarray(0, n * d), n, d };
  }
  const mnist = await loadMnist(dir, 'train', { verify: false });
  const { height, width, pixels } = mnist.images;
  const d = height * width;
  const n = Math.min(records, mnist.images.count);
  const raw = new Float32Array(n * d);
  for (let i = 0; i < n * d; i++) raw[i] = pixels[i];
  return { raw, n, d };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function readManifest(dir: string): Promise<CheckpointManifest> {
  return JSON.parse(await readFile(join(dir, MANIFEST_FILE), 'utf8')) as CheckpointManifest;
}

/** The cached checkpoint for `kind` and `opts`, built on first use (bounded by `timeoutMs`). */
export async function testModel(
  kind: ModelKind,
  opts: TestModelOptions = {},
  timeoutMs = 170_000,
): Promise<TestModel> {
  const o: Required<TestModelOptions> = { ...DEFAULTS[kind], ...opts };
  const h = createHash('sha256').update(JSON.stringify({ RECIPE_VERSION, kind, ...o }));
  for (const f of await modelSourceFiles()) h.update(f.slice(repoRoot.length)).update(await readFile(f));
  const key = h.digest('hex').slice(0, 16);
  const cache = testModelCacheDir();
  await mkdir(cache, { recursive: true });
  const final = join(cache, `${kind}-${key}`);
  const lock = `${final}.lock`;
  const deadline = Date.now() + timeoutMs;
  const done = async (): Promise<TestModel> => {
    const manifest = await readManifest(final);
    return { kind, dir: final, manifest, inputDim: manifest.inputDim };
  };

  for (let attempt = 0; ; attempt++) {
    if (await pathExists(join(final, MANIFEST_FILE))) return done();
    let fh;
    try {
      fh = await open(lock, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (fh) {
      const tmp = `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
      try {
        await fh.writeFile(String(process.pid));
        await fh.close();
        if (await pathExists(join(final, MANIFEST_FILE))) return done();
        const { raw, n, d } = await loadNormalRows(kind, o.records);
        await buildModel({
          kind,
          profile: profileOf(kind),
          raw,
          n,
          d,
          model: modelConfig(kind, d, o.arch, o.likelihood),
          members: o.members,
          steps: o.steps,
          seed: o.seed,
          batchSize: o.batchSize,
          targetFpr: o.targetFpr,
          k: o.k,
          ...(o.extraDoseStatistics.length > 0
            ? { doseStatistics: [...profileOf(kind).doseStatistics, ...o.extraDoseStatistics] }
            : {}),
          ...(o.family === 'vae+wgan'
            ? { family: 'vae+wgan' as const, critics: { members: 3, steps: 100, fineTuneSteps: 100 } }
            : {}),
          concurrency: 1,
          outDir: tmp,
          scorer: { intraOpNumThreads: 1 },
        });
        await rename(tmp, final);
        return done();
      } finally {
        await rm(tmp, { recursive: true, force: true });
        await unlink(lock).catch(() => undefined);
      }
    }
    // Someone else builds: wait for the result, or take over a dead/stale lock.
    const lockInfo = await stat(lock).catch(() => null);
    if (lockInfo) {
      const owner = Number((await readFile(lock, 'utf8').catch(() => '')).trim());
      const stale =
        Date.now() - lockInfo.mtimeMs > timeoutMs ||
        (Number.isInteger(owner) && owner > 0 && !pidAlive(owner));
      if (stale) await unlink(lock).catch(() => undefined);
    }
    if (Date.now() > deadline)
      throw new Error(`test model ${final} not built within ${timeoutMs} ms (lock ${lock})`);
    await new Promise((r) => setTimeout(r, Math.min(500, 50 * (attempt + 1))));
  }
}
