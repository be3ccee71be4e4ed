/**
 * Finished ensemble members kept on disk while an ensemble trains, so that a training that stops (a
 * crash, a SIGKILL, the end of a session, a machine that goes away) can be run again and train only the
 * members it had not finished. Members are independent (their own seed and data resample), so a member
 * trained in an earlier run is the very result this run would compute again.
 *
 * A member is stored under a key: the SHA-256 of its whole worker job (member index, seed, model spec,
 * every training option, the training and validation data bytes) together with the worker entry and the
 * engine's versions. Only a job identical in every input finds it; a changed option, data set or
 * gensemble version trains afresh. Each file holds a SHA-256 of its body and is written atomically
 * (temporary file, then rename), so a run killed mid-write leaves nothing that is read back; a file
 * that does not verify is reported and trained again, never used.
 *
 * The file format (one member per file, `<entry>-<member>-<key 16 hex>.member`):
 *   line 1: JSON header {format, entry, member, key, savedAt, backend, bodyBytes, bodySha256}
 *   body:   u32le JSON length · JSON of the result with typed arrays replaced by
 *           {"$t": type, "o": byte offset, "n": length} and non-finite numbers by {"$n": "NaN" | …}
 *           · zero padding to 8 · the typed arrays' bytes (little-endian, each at an 8-aligned offset)
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { engineVersions } from './checkpoint.js';
import { SPEC_VERSION } from './spec.js';

export const MEMBER_STORE_FORMAT = 1;

/** What {@link MemberStore.load} returns for a member an earlier run finished. */
export interface StoredMember<R> {
  result: R;
  /** ISO time the member was saved. */
  savedAt: string;
  /** The tfjs backend it trained on, as its worker reported it (null when unknown). */
  backend: string | null;
  /** The file it was read from. */
  file: string;
}

/** Where ensemble training keeps finished members (see the module comment). */
export interface MemberStore {
  load<R>(entry: string, member: number, job: unknown): Promise<StoredMember<R> | undefined>;
  save<R>(entry: string, member: number, job: unknown, result: R, backend: string | null): Promise<void>;
}

type TypedArray =
  Float32Array | Float64Array | Int8Array | Int16Array | Int32Array | Uint8Array | Uint16Array | Uint32Array;

const TYPED: Record<string, new (b: ArrayBuffer, o: number, n: number) => TypedArray> = {
  Float32Array,
  Float64Array,
  Int8Array,
  Int16Array,
  Int32Array,
  Uint8Array,
  Uint16Array,
  Uint32Array,
};

function isTyped(v: unknown): v is TypedArray {
  return ArrayBuffer.isView(v) && !(v instanceof DataView) && v.constructor.name in TYPED;
}

function viewBytes(v: ArrayBufferView): Uint8Array {
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

let versionsMemo: string | undefined;
/** The engine's versions that enter every key (a member of another gensemble or tfjs is trained again). */
function versionsTag(): string {
  if (versionsMemo === undefined) {
    const v = engineVersions();
    versionsMemo = `gensemble ${v.gensemble} spec ${SPEC_VERSION} tfjs ${v.tfjs}`;
  }
  return versionsMemo;
}

// Digest of a buffer's bytes, by buffer object and view window: the members of one ensemble share the
// training data (one SharedArrayBuffer), hashed once however many members ask.
const bufferDigests = new WeakMap<ArrayBufferLike, Map<string, string>>();

function bytesDigest(buffer: ArrayBufferLike, offset: number, length: number): string {
  let byWindow = bufferDigests.get(buffer);
  if (!byWindow) {
    byWindow = new Map();
    bufferDigests.set(buffer, byWindow);
  }
  const w = `${offset}:${length}`;
  let d = byWindow.get(w);
  if (d === undefined) {
    d = createHash('sha256')
      .update(new Uint8Array(buffer, offset, length))
      .digest('hex');
    byWindow.set(w, d);
  }
  return d;
}

/**
 * A canonical text of a job for its key: object keys sorted, undefined fields left out, numbers with
 * their exact text (NaN, ±Infinity included), typed arrays and (shared) array buffers as type, length
 * and the SHA-256 of their bytes.
 */
function canonical(v: unknown): string {
  if (v === null) return 'null';
  if (v === undefined) return 'undefined';
  if (typeof v === 'number') return Object.is(v, -0) ? '-0' : String(v);
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (
    v instanceof ArrayBuffer ||
    (typeof SharedArrayBuffer !== 'undefined' && v instanceof SharedArrayBuffer)
  )
    return `bytes(${v.byteLength}:${bytesDigest(v, 0, v.byteLength)})`;
  if (ArrayBuffer.isView(v))
    return `${v.constructor.name}(${v.byteLength}:${bytesDigest(v.buffer, v.byteOffset, v.byteLength)})`;
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
  }
  throw new TypeError(`a member job cannot hold a ${typeof v}`);
}

/** The key of a member's job for `entry` (hex SHA-256; see the module comment). */
export function memberJobKey(entry: string, job: unknown): string {
  return createHash('sha256')
    .update(`gensemble member store ${MEMBER_STORE_FORMAT}\n${entry}\n${versionsTag()}\n`)
    .update(canonical(job))
    .digest('hex');
}

/**
 * Encodes a result (plain objects, arrays, strings, numbers, booleans, null and typed arrays) as the
 * body described in the module comment. Objects must not use the keys "$t" or "$n" themselves.
 */
export function encodeMemberResult(value: unknown): Uint8Array {
  const arrays: Uint8Array[] = [];
  let offset = 0;
  const walk = (v: unknown): unknown => {
    if (typeof v === 'number') return Number.isFinite(v) ? v : { $n: String(v) };
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
    if (isTyped(v)) {
      const bytes = viewBytes(v);
      const o = offset;
      arrays.push(bytes);
      offset += bytes.byteLength;
      const pad = (8 - (offset % 8)) % 8;
      if (pad > 0) {
        arrays.push(new Uint8Array(pad));
        offset += pad;
      }
      return { $t: v.constructor.name, o, n: v.length };
    }
    if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : walk(x)));
    if (typeof v === 'object' && v !== undefined) {
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (k === '$t' || k === '$n') throw new TypeError(`a member result cannot hold the key ${k}`);
        if (x !== undefined) out[k] = walk(x);
      }
      return out;
    }
    throw new TypeError(`a member result cannot hold a ${typeof v}`);
  };
  const json = Buffer.from(JSON.stringify(walk(value)), 'utf8');
  const headLen = 4 + json.byteLength;
  const headPad = (8 - (headLen % 8)) % 8;
  const out = new Uint8Array(headLen + headPad + offset);
  new DataView(out.buffer).setUint32(0, json.byteLength, true);
  out.set(json, 4);
  let at = headLen + headPad;
  for (const a of arrays) {
    out.set(a, at);
    at += a.byteLength;
  }
  return out;
}

/** Decodes {@link encodeMemberResult}'s body (typed arrays are copies with their own buffers). */
export function decodeMemberResult(body: Uint8Array): unknown {
  if (body.byteLength < 4) throw new Error('member body too short');
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const jsonLen = dv.getUint32(0, true);
  if (4 + jsonLen > body.byteLength) throw new Error('member body truncated');
  const json = JSON.parse(Buffer.from(body.buffer, body.byteOffset + 4, jsonLen).toString('utf8')) as unknown;
  const base = 4 + jsonLen + ((8 - ((4 + jsonLen) % 8)) % 8);
  const walk = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if (typeof o.$n === 'string') return Number(o.$n);
      if (typeof o.$t === 'string') {
        const Ctor = TYPED[o.$t];
        const n = o.n as number;
        const at = base + (o.o as number);
        if (!Ctor || !Number.isInteger(n) || n < 0) throw new Error(`bad typed array ${o.$t}`);
        const bytesPer = (Ctor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
        if (at + n * bytesPer > body.byteLength) throw new Error('member body truncated');
        const copy = new ArrayBuffer(n * bytesPer);
        new Uint8Array(copy).set(body.subarray(at, at + n * bytesPer));
        return new Ctor(copy, 0, n);
      }
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(o)) out[k] = walk(x);
      return out;
    }
    return v;
  };
  return walk(json);
}

interface Header {
  format: number;
  entry: string;
  member: number;
  key: string;
  savedAt: string;
  backend: string | null;
  bodyBytes: number;
  bodySha256: string;
}

/**
 * A {@link MemberStore} in one directory (`gensemble train` uses `<out>.partial` beside its output and
 * removes it once the checkpoint is saved). `onWarning` hears of files that do not verify and of saves
 * that failed; neither stops training (a member that cannot be saved is only not resumable).
 */
export class DirectoryMemberStore implements MemberStore {
  constructor(
    readonly dir: string,
    private readonly onWarning: (message: string) => void = () => {},
  ) {}

  private file(entry: string, member: number, key: string): string {
    return path.join(this.dir, `${entry}-${member}-${key.slice(0, 16)}.member`);
  }

  async load<R>(entry: string, member: number, job: unknown): Promise<StoredMember<R> | undefined> {
    const key = memberJobKey(entry, job);
    const file = this.file(entry, member, key);
    let bytes: Buffer;
    try {
      bytes = await readFile(file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      this.onWarning(`${file}: cannot read (${(e as Error).message}); member ${member} trains again`);
      return undefined;
    }
    try {
      const nl = bytes.indexOf(0x0a);
      if (nl < 0) throw new Error('no header line');
      const h = JSON.parse(bytes.subarray(0, nl).toString('utf8')) as Header;
      if (h.format !== MEMBER_STORE_FORMAT)
        throw new Error(`format ${h.format}, expected ${MEMBER_STORE_FORMAT}`);
      if (h.key !== key || h.entry !== entry || h.member !== member)
        throw new Error('its key does not match this job');
      const body = new Uint8Array(bytes.buffer, bytes.byteOffset + nl + 1, bytes.byteLength - nl - 1);
      if (body.byteLength !== h.bodyBytes)
        throw new Error(`body holds ${body.byteLength} bytes, header says ${h.bodyBytes}`);
      if (createHash('sha256').update(body).digest('hex') !== h.bodySha256)
        throw new Error('SHA-256 of its body does not match');
      return { result: decodeMemberResult(body) as R, savedAt: h.savedAt, backend: h.backend, file };
    } catch (e) {
      this.onWarning(`${file}: not a usable member (${(e as Error).message}); member ${member} trains again`);
      return undefined;
    }
  }

  async save<R>(
    entry: string,
    member: number,
    job: unknown,
    result: R,
    backend: string | null,
  ): Promise<void> {
    const key = memberJobKey(entry, job);
    const file = this.file(entry, member, key);
    try {
      const body = encodeMemberResult(result);
      const header: Header = {
        format: MEMBER_STORE_FORMAT,
        entry,
        member,
        key,
        savedAt: new Date().toISOString(),
        backend,
        bodyBytes: body.byteLength,
        bodySha256: createHash('sha256').update(body).digest('hex'),
      };
      await mkdir(this.dir, { recursive: true });
      const tmp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(tmp, Buffer.concat([Buffer.from(`${JSON.stringify(header)}\n`, 'utf8'), body]));
      await rename(tmp, file);
    } catch (e) {
      this.onWarning(`${file}: member ${member} not saved (${(e as Error).message}); it is not resumable`);
    }
  }

  /** Member files in the directory (none when it does not exist). */
  async files(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((f) => f.endsWith('.member')).sort();
    } catch {
      return [];
    }
  }

  /** Removes the directory and everything in it. */
  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}
