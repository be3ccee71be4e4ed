/** Content hashes: data fingerprints for checkpoints and SHA256SUMS verification. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { DataError } from './errors.js';

type Viewish = ArrayBufferView;

function typeName(v: Viewish): string {
  return v.constructor.name;
}

/**
 * SHA256 (hex) over the raw bytes of the given arrays, in order. Each array is preceded by a small
 * header `<TypeName>:<byteLength>\n` so that [a, b] and [a ++ b], or the same bytes as Uint8Array vs
 * Float32Array, give different fingerprints. Bytes are taken in the platform's byte order (little-endian
 * on every platform Node supports in practice). Not affected by array offsets within a buffer.
 */
export function dataFingerprint(...arrays: Viewish[]): string {
  const h = createHash('sha256');
  for (const a of arrays) {
    h.update(`${typeName(a)}:${a.byteLength}\n`);
    h.update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
  }
  return h.digest('hex');
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Parses a `sha256sum` listing (`<64 hex>  <path>` or `<64 hex> *<path>` per line; blank lines and
 * lines starting with # ignored) into path → lowercase hex.
 */
export function parseSha256Sums(text: string, source = 'SHA256SUMS'): Map<string, string> {
  const out = new Map<string, string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([0-9a-fA-F]{64}) [ *](.+)$/.exec(line);
    if (!m)
      throw new DataError(
        'DATA_CHECKSUM_MISSING',
        `${source} line ${i + 1}: not a "<sha256>  <path>" line: ${JSON.stringify(line)}`,
      );
    out.set(m[2].replace(/^\.\//, ''), m[1].toLowerCase());
  }
  return out;
}

/** Reads a SHA256SUMS file; undefined if it does not exist. */
export async function readSha256Sums(path: string): Promise<Map<string, string> | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DataError('DATA_READ_FAILED', `${path}: cannot read (${(e as Error).message})`, e);
  }
  return parseSha256Sums(text, path);
}
