/**
 * IDX files (the MNIST format), gzipped or not.
 *
 * Layout: a big-endian magic number of 4 bytes — two zero bytes, the data type (0x08 unsigned byte,
 * 0x0C signed 32-bit integer; others exist in the format but are not supported here) and the number
 * of dimensions — then one big-endian uint32 per dimension, then the data in row-major order
 * (int32 values big-endian). Gzip is detected from the content (bytes 1f 8b), not the file name.
 */
import { readFile } from 'node:fs/promises';
import { gunzip, gzipSync } from 'node:zlib';
import { promisify } from 'node:util';
import { DataError } from './errors.js';

const gunzipAsync = promisify(gunzip);

export type IdxType = 'uint8' | 'int32';

export interface IdxArray {
  type: IdxType;
  dims: number[];
  data: Uint8Array | Int32Array;
}

const TYPE_CODES: Record<number, IdxType> = { 0x08: 'uint8', 0x0c: 'int32' };

export function isGzip(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b;
}

/** Parses an (already gunzipped) IDX buffer. `source` names the file in error messages. */
export function parseIdx(buf: Uint8Array, source = 'IDX data'): IdxArray {
  if (buf.length < 4)
    throw new DataError('IDX_TRUNCATED', `${source}: ${buf.length} bytes, too short for an IDX header`);
  if (buf[0] !== 0 || buf[1] !== 0) {
    const hex = Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('');
    throw new DataError('IDX_BAD_MAGIC', `${source}: not an IDX file (magic 0x${hex}; expected 0x0000TTDD)`);
  }
  const type = TYPE_CODES[buf[2]];
  if (!type)
    throw new DataError(
      'IDX_UNSUPPORTED_TYPE',
      `${source}: IDX data type 0x${buf[2].toString(16).padStart(2, '0')} is not supported (only 0x08 uint8 and 0x0c int32)`,
    );
  const ndim = buf[3];
  const headerLen = 4 + 4 * ndim;
  if (buf.length < headerLen)
    throw new DataError(
      'IDX_TRUNCATED',
      `${source}: header declares ${ndim} dimensions but the file ends after ${buf.length} bytes`,
    );
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dims: number[] = [];
  let count = 1;
  for (let i = 0; i < ndim; i++) {
    const d = view.getUint32(4 + 4 * i, false);
    dims.push(d);
    count *= d;
  }
  const itemSize = type === 'uint8' ? 1 : 4;
  const need = count * itemSize;
  const have = buf.length - headerLen;
  if (have < need)
    throw new DataError(
      'IDX_TRUNCATED',
      `${source}: dims [${dims.join(', ')}] need ${need} data bytes but only ${have} are present (truncated file?)`,
    );
  if (have > need)
    throw new DataError(
      'IDX_TRAILING_BYTES',
      `${source}: dims [${dims.join(', ')}] need ${need} data bytes but ${have} are present`,
    );
  // a view, not a copy (image files are up to ~200 MB unpacked); data.byteOffset is the header length
  if (type === 'uint8') return { type, dims, data: buf.subarray(headerLen) };
  const data = new Int32Array(count);
  for (let i = 0; i < count; i++) data[i] = view.getInt32(headerLen + 4 * i, false);
  return { type, dims, data };
}

/** gunzips when the content is gzip, else returns the buffer as is. */
export async function maybeGunzip(buf: Uint8Array, source: string): Promise<Uint8Array> {
  if (!isGzip(buf)) return buf;
  try {
    const b = await gunzipAsync(buf, { chunkSize: 1 << 20 }); // big chunks: far fewer copies for 200 MB files
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    throw new DataError(
      'DATA_BAD_GZIP',
      `${source}: corrupt or truncated gzip data (${(e as Error).message})`,
      e,
    );
  }
}

/** Reads a file, mapping fs errors to {@link DataError}. */
export async function readDataFile(path: string): Promise<Uint8Array> {
  try {
    const b = await readFile(path);
    return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new DataError('DATA_NOT_FOUND', `${path}: no such file`, e);
    throw new DataError('DATA_READ_FAILED', `${path}: cannot read (${(e as Error).message})`, e);
  }
}

/** Reads an IDX file, gzipped or not. */
export async function readIdx(path: string): Promise<IdxArray> {
  const raw = await readDataFile(path);
  return parseIdx(await maybeGunzip(raw, path), path);
}

/** Encodes an IDX buffer (optionally gzipped); the inverse of {@link parseIdx}. */
export function encodeIdx(arr: IdxArray, options: { gzip?: boolean } = {}): Uint8Array {
  const count = arr.dims.reduce((a, b) => a * b, 1);
  if (count !== arr.data.length)
    throw new DataError(
      'DATA_SHAPE_MISMATCH',
      `dims [${arr.dims.join(', ')}] describe ${count} values, data has ${arr.data.length}`,
    );
  const itemSize = arr.type === 'uint8' ? 1 : 4;
  const headerLen = 4 + 4 * arr.dims.length;
  const out = new Uint8Array(headerLen + count * itemSize);
  const view = new DataView(out.buffer);
  out[2] = arr.type === 'uint8' ? 0x08 : 0x0c;
  out[3] = arr.dims.length;
  arr.dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  if (arr.type === 'uint8') out.set(arr.data, headerLen);
  else for (let i = 0; i < count; i++) view.setInt32(headerLen + 4 * i, arr.data[i], false);
  return options.gzip ? new Uint8Array(gzipSync(out)) : out;
}
