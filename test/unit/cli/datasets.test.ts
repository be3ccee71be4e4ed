import { createHash } from 'node:crypto';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  KNOWN_FILES,
  checkDataDir,
  fetchKnownFile,
  verifyContent,
  type KnownFile,
} from '../../../src/commands/datasets.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const SHARED = '/work/shared/datasets';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gensemble-datasets-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const content = Buffer.from('IDX-like test content\n'.repeat(100));
const entry: KnownFile = {
  path: 'toy/a-idx1-ubyte.gz',
  contentSha256: sha(content),
  contentBytes: content.length,
  urls: ['mirror-1', 'mirror-2'],
};

describe('verifyContent', () => {
  it('accepts the content gzipped or plain (hash of the bytes after gunzip)', async () => {
    expect((await verifyContent(gzipSync(content), entry, 'x')).status).toBe('ok');
    expect((await verifyContent(gzipSync(content, { level: 1 }), entry, 'x')).status).toBe('ok');
    expect((await verifyContent(content, entry, 'x')).status).toBe('ok');
  });
  it('rejects one flipped byte, a wrong length and a truncated gzip', async () => {
    const bad = Buffer.from(content);
    bad[7] ^= 1;
    expect(await verifyContent(bad, entry, 'x')).toMatchObject({ status: 'mismatch' });
    expect(await verifyContent(content.subarray(1), entry, 'x')).toMatchObject({ status: 'mismatch' });
    const gz = gzipSync(content);
    expect((await verifyContent(gz.subarray(0, gz.length - 10), entry, 'x')).status).toMatch(
      /unreadable|mismatch/,
    );
  });
});

describe('fetchKnownFile (local fetcher, no network)', () => {
  it('tries mirrors in order, keeps the first verified copy, writes SHA256SUMS', async () => {
    const bad = Buffer.from(content);
    bad[0] ^= 0xff;
    const calls: string[] = [];
    const r = await fetchKnownFile(entry, dir, async (url) => {
      calls.push(url);
      return url === 'mirror-1' ? gzipSync(bad) : gzipSync(content);
    });
    expect(calls).toEqual(['mirror-1', 'mirror-2']);
    expect(r).toMatchObject({ status: 'ok', source: 'mirror-2' });
    const stored = await readFile(join(dir, entry.path));
    const sums = await readFile(join(dir, 'SHA256SUMS'), 'utf8');
    expect(sums).toContain(`${sha(stored)}  toy/a-idx1-ubyte.gz`);
    // A second fetch finds the verified file and downloads nothing.
    const r2 = await fetchKnownFile(entry, dir, async () => {
      throw new Error('must not download');
    });
    expect(r2.detail).toBe('already present');
  });

  it('fails with DATASET_FETCH_FAILED when no mirror verifies, leaving no file behind', async () => {
    const e2 = { ...entry, path: 'toy/b-idx1-ubyte.gz' };
    await expect(fetchKnownFile(e2, dir, async () => Buffer.from('wrong'))).rejects.toMatchObject({
      code: 'DATASET_FETCH_FAILED',
    });
    await expect(readFile(join(dir, e2.path))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('checkDataDir', () => {
  it('verifies the shared data sets: every known file ok by content', async () => {
    const results = await checkDataDir(SHARED);
    for (const k of KNOWN_FILES) {
      expect(results.find((r) => r.path === k.path)).toMatchObject({ status: 'ok' });
    }
    expect(results.filter((r) => r.status !== 'ok')).toEqual([]);
  });

  it('MNIST train images: the content hash matches the widely published SHA256 of the original', () => {
    // Independent of the shared copy: the uncompressed original train-images-idx3-ubyte.
    expect(KNOWN_FILES.find((k) => k.path === 'mnist/train-images-idx3-ubyte.gz')?.contentSha256).toBe(
      'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
    );
  });

  it('reports a corrupted copy and a SHA256SUMS mismatch', async () => {
    const d = await mkdtemp(join(tmpdir(), 'gensemble-check-'));
    try {
      await mkdir(join(d, 'mnist'));
      const labels = await readFile(join(SHARED, 'mnist/t10k-labels-idx1-ubyte.gz'));
      const { gunzipSync } = await import('node:zlib');
      const raw = gunzipSync(labels);
      raw[100] = (raw[100] + 1) % 10; // one label changed
      await writeFile(join(d, 'mnist/t10k-labels-idx1-ubyte'), raw); // plain, no .gz
      await writeFile(join(d, 'extra.txt'), 'hello');
      await writeFile(join(d, 'SHA256SUMS'), `${'0'.repeat(64)}  extra.txt\n`);
      const results = await checkDataDir(d);
      expect(results.find((r) => r.path === 'mnist/t10k-labels-idx1-ubyte')).toMatchObject({
        status: 'mismatch',
        how: 'content',
      });
      expect(results.find((r) => r.path === 'extra.txt')).toMatchObject({
        status: 'mismatch',
        how: 'SHA256SUMS',
      });
      expect(results.find((r) => r.path === 'mnist/train-images-idx3-ubyte.gz')).toMatchObject({
        status: 'missing',
      });
    } finally {
      await rm(d, { recursive: true, force: true });
    }
  });
});
