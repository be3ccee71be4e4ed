/**
 * Loaders against the real data sets (../shared/datasets, or $GENSEMBLE_DATA_DIR): known counts,
 * label ranges and SHA256 checksums.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  loadMnist,
  loadFashionMnist,
  loadNotMnist,
  loadOmniglot,
  resolveDataDir,
  dataFingerprint,
  parseSha256Sums,
  DataError,
  type LabeledImages,
} from '../../../src/data/index.js';
import { testDataDir } from './datadir.js';

function histogram(labels: ArrayLike<number>, k: number): number[] {
  const h = new Array<number>(k).fill(0);
  for (let i = 0; i < labels.length; i++) h[labels[i]]++;
  return h;
}
function checkImages(d: LabeledImages, count: number, side: number): void {
  expect(d.images.count).toBe(count);
  expect(d.images.height).toBe(side);
  expect(d.images.width).toBe(side);
  expect(d.images.pixels.length).toBe(count * side * side);
  expect(d.labels.length).toBe(count);
}

describe('MNIST-family loaders', () => {
  it('MNIST train 60,000 / test 10,000, labels 0..9, checksums verified', async () => {
    const [train, test] = await Promise.all([
      loadMnist(testDataDir, 'train'),
      loadMnist(testDataDir, 'test'),
    ]);
    checkImages(train, 60000, 28);
    checkImages(test, 10000, 28);
    expect(train.verified && test.verified).toBe(true);
    // the well-known MNIST class counts
    expect(histogram(train.labels, 10)).toEqual([5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    expect(histogram(test.labels, 10)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    // first training label is 5, pixels span 0..255
    expect(train.labels[0]).toBe(5);
    expect(Math.max(...test.images.pixels.subarray(0, 784))).toBe(255);
  });
  it('Fashion-MNIST train 60,000 / test 10,000, 6,000 / 1,000 per class', async () => {
    const [train, test] = await Promise.all([
      loadFashionMnist(testDataDir, 'train', { verify: true }),
      loadFashionMnist(testDataDir, 'test', { verify: true }),
    ]);
    checkImages(train, 60000, 28);
    checkImages(test, 10000, 28);
    expect(histogram(train.labels, 10)).toEqual(new Array(10).fill(6000));
    expect(histogram(test.labels, 10)).toEqual(new Array(10).fill(1000));
  });
  it('notMNIST 10,000 with 1,000 per letter A..J', async () => {
    const d = await loadNotMnist(testDataDir, { verify: true });
    checkImages(d, 10000, 28);
    expect(d.verified).toBe(true);
    expect(histogram(d.labels, 10)).toEqual(new Array(10).fill(1000));
  });
});

describe('Omniglot', () => {
  it('background 19,280 (964 × 20) and evaluation 13,180 (659 × 20), 105×105 source', async () => {
    const [bg, ev] = await Promise.all([
      loadOmniglot(testDataDir, 'background', { size: null, verify: true }),
      loadOmniglot(testDataDir, 'evaluation', { size: null, verify: true }),
    ]);
    checkImages(bg, 19280, 105);
    checkImages(ev, 13180, 105);
    expect(bg.labels).toBeInstanceOf(Int32Array);
    expect(histogram(bg.labels, 964)).toEqual(new Array(964).fill(20));
    expect(histogram(ev.labels, 659)).toEqual(new Array(659).fill(20));
    // ink = 255 on a 0 background: most pixels are background
    let ink = 0;
    for (const p of bg.images.pixels.subarray(0, 100 * 105 * 105)) if (p > 127) ink++;
    expect(ink / (100 * 105 * 105)).toBeLessThan(0.2);
  });
  it('resized to 28×28 by default; resize is area averaging of the source', async () => {
    const [small, big] = await Promise.all([
      loadOmniglot(testDataDir, 'evaluation'),
      loadOmniglot(testDataDir, 'evaluation', { size: null }),
    ]);
    checkImages(small, 13180, 28);
    // spot-check image 123, pixel (10, 20) against a direct float64 area integral: 4× nearest
    // upsampling (420 = 28·15) then a 15×15 block mean
    const n = 123;
    for (const [i, j] of [
      [10, 20],
      [14, 14],
      [0, 0],
      [27, 27],
    ]) {
      let acc = 0;
      for (let a = 0; a < 15; a++)
        for (let b = 0; b < 15; b++)
          acc +=
            big.images.pixels[
              n * 105 * 105 + Math.floor((i * 15 + a) / 4) * 105 + Math.floor((j * 15 + b) / 4)
            ];
      expect(small.images.pixels[n * 784 + i * 28 + j]).toBe(Math.round(acc / 225));
    }
    expect(small.labels).toEqual(big.labels);
  });
});

describe('data directory, checksums, fingerprints', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'gensemble-data-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('resolveDataDir: argument, then $GENSEMBLE_DATA_DIR, then ./data', () => {
    const saved = process.env.GENSEMBLE_DATA_DIR;
    try {
      process.env.GENSEMBLE_DATA_DIR = '/x/y';
      expect(resolveDataDir('/a/b')).toBe('/a/b');
      expect(resolveDataDir()).toBe('/x/y');
      delete process.env.GENSEMBLE_DATA_DIR;
      expect(resolveDataDir()).toBe(join(process.cwd(), 'data'));
    } finally {
      if (saved === undefined) delete process.env.GENSEMBLE_DATA_DIR;
      else process.env.GENSEMBLE_DATA_DIR = saved;
    }
  });

  it('a tampered file is rejected; a missing listing fails only with verify: true', async () => {
    // a copy of the notMNIST files (3 MB) with a SHA256SUMS whose label hash is wrong
    const dir = join(tmp, 'bad');
    mkdirSync(join(dir, 'notmnist'), { recursive: true });
    for (const f of ['t10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'])
      copyFileSync(join(testDataDir, 'notmnist', f), join(dir, 'notmnist', f));
    writeFileSync(join(dir, 'SHA256SUMS'), `${'0'.repeat(64)}  notmnist/t10k-labels-idx1-ubyte.gz\n`);
    await expect(loadNotMnist(dir)).rejects.toMatchObject({ code: 'DATA_CHECKSUM_MISMATCH' });
    await expect(loadNotMnist(dir, { verify: false })).resolves.toMatchObject({ verified: false });
    writeFileSync(join(dir, 'SHA256SUMS'), '');
    const ok = await loadNotMnist(dir);
    expect(ok.verified).toBe(false);
    await expect(loadNotMnist(dir, { verify: true })).rejects.toMatchObject({
      code: 'DATA_CHECKSUM_MISSING',
    });
    // `dir` may point straight at the data set's folder
    expect((await loadNotMnist(join(dir, 'notmnist'))).images.count).toBe(10000);
  });

  it('missing data gives DATA_NOT_FOUND with a hint', async () => {
    const err = await loadMnist(join(tmp, 'nothing-here'), 'train').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DataError);
    expect((err as DataError).code).toBe('DATA_NOT_FOUND');
    expect((err as DataError).message).toMatch(/GENSEMBLE_DATA_DIR/);
  });

  it('parseSha256Sums reads sha256sum output', () => {
    const m = parseSha256Sums(`${'a'.repeat(64)}  mnist/x.gz\n\n${'B'.repeat(64)} *y\n`);
    expect(m.get('mnist/x.gz')).toBe('a'.repeat(64));
    expect(m.get('y')).toBe('b'.repeat(64));
    expect(() => parseSha256Sums('nonsense')).toThrow(DataError);
  });

  it('dataFingerprint = sha256 over type/length headers and bytes', () => {
    const a = Uint8Array.from([1, 2, 3]);
    // independent reference: printf 'Uint8Array:3\n\x01\x02\x03' | sha256sum
    expect(dataFingerprint(a)).toBe('aec806701b725ea5683ba2a41314ec9518c6acb630711f0330c4fb009f4c780a');
    expect(dataFingerprint(a, a)).not.toBe(dataFingerprint(Uint8Array.from([1, 2, 3, 1, 2, 3])));
    expect(dataFingerprint(new Float32Array(1))).not.toBe(dataFingerprint(new Uint8Array(4)));
    expect(dataFingerprint(new Uint8Array([9, 1, 2, 3]).subarray(1))).toBe(dataFingerprint(a));
  });
});
