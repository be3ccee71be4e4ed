import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { parseIdx, readIdx, encodeIdx, DataError } from '../../../src/data/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'gensemble-idx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string | undefined> {
  try {
    if (typeof p === 'function') p();
    else await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DataError);
    return (e as DataError).code;
  }
  return undefined;
}

// Hand-written IDX files.
// uint8, 3-D [2, 2, 3]: magic 00 00 08 03, dims 2, 2, 3 (big-endian uint32), then 12 bytes.
const u8File = Uint8Array.from([
  0, 0, 0x08, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255,
]);
// int32, 1-D [3]: magic 00 00 0C 01, dim 3, then 1, -2, 0x01020304 big-endian.
const i32File = Uint8Array.from([
  0, 0, 0x0c, 1, 0, 0, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xfe, 0x01, 0x02, 0x03, 0x04,
]);

describe('IDX parsing', () => {
  it('reads uint8 with big-endian dims', () => {
    const a = parseIdx(u8File);
    expect(a.type).toBe('uint8');
    expect(a.dims).toEqual([2, 2, 3]);
    expect(Array.from(a.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 255]);
    expect(a.data).toBeInstanceOf(Uint8Array);
  });
  it('reads big-endian int32 including negatives', () => {
    const a = parseIdx(i32File);
    expect(a.type).toBe('int32');
    expect(a.dims).toEqual([3]);
    expect(a.data).toBeInstanceOf(Int32Array);
    expect(Array.from(a.data)).toEqual([1, -2, 0x01020304]);
  });
  it('encodeIdx writes the same bytes as the hand-written files', () => {
    expect(Array.from(encodeIdx(parseIdx(u8File)))).toEqual(Array.from(u8File));
    expect(Array.from(encodeIdx(parseIdx(i32File)))).toEqual(Array.from(i32File));
  });
  it('reads gzipped and plain files (gzip detected by content, not name)', async () => {
    writeFileSync(join(tmp, 'plain.idx'), u8File);
    writeFileSync(join(tmp, 'zipped-without-gz-suffix'), gzipSync(i32File));
    writeFileSync(join(tmp, 'z.gz'), gzipSync(u8File));
    expect((await readIdx(join(tmp, 'plain.idx'))).dims).toEqual([2, 2, 3]);
    expect(Array.from((await readIdx(join(tmp, 'zipped-without-gz-suffix'))).data)).toEqual([
      1, -2, 0x01020304,
    ]);
    expect((await readIdx(join(tmp, 'z.gz'))).data[11]).toBe(255);
  });
  it('rejects bad files with typed errors', async () => {
    expect(await codeOf(() => parseIdx(Uint8Array.from([0, 0])))).toBe('IDX_TRUNCATED');
    expect(await codeOf(() => parseIdx(Uint8Array.from([0x50, 0x4b, 3, 4, 0, 0, 0, 0])))).toBe(
      'IDX_BAD_MAGIC',
    );
    expect(await codeOf(() => parseIdx(Uint8Array.from([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0])))).toBe(
      'IDX_UNSUPPORTED_TYPE',
    );
    expect(await codeOf(() => parseIdx(u8File.subarray(0, 10)))).toBe('IDX_TRUNCATED'); // inside the header
    expect(await codeOf(() => parseIdx(u8File.subarray(0, u8File.length - 1)))).toBe('IDX_TRUNCATED');
    expect(await codeOf(() => parseIdx(i32File.subarray(0, i32File.length - 2)))).toBe('IDX_TRUNCATED');
    const extra = new Uint8Array(u8File.length + 1);
    extra.set(u8File);
    expect(await codeOf(() => parseIdx(extra))).toBe('IDX_TRAILING_BYTES');
    const gz = gzipSync(u8File);
    writeFileSync(join(tmp, 'cut.gz'), gz.subarray(0, gz.length - 6));
    expect(await codeOf(readIdx(join(tmp, 'cut.gz')))).toBe('DATA_BAD_GZIP');
    expect(await codeOf(readIdx(join(tmp, 'nope.idx')))).toBe('DATA_NOT_FOUND');
  });
  it('the truncation message names the file and the sizes', () => {
    expect(() => parseIdx(u8File.subarray(0, 20), 'foo.idx')).toThrow(
      /foo\.idx.*need 12 data bytes but only 4/,
    );
  });
});
