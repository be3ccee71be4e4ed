/**
 * Reads a data file of a user-defined tabular kind — CSV with a header row (.csv) or one JSON object per
 * line (.jsonl / .ndjson), either optionally gzipped (.gz, or detected from the content) — into records
 * of the kind's schema, ready for {@link fitTabularEncoder} / {@link encodeTabularRecords} or for an Avro
 * producer.
 *
 * - Columns are matched to the schema's top-level fields by exact name; other columns are ignored, except
 *   the label column (`labelColumn`, default "label" when present): 1 / true / fraud and 0 / false /
 *   not_fraud → `labels`; a blank cell, null, an absent JSON field or "unsure" → UNLABELLED (a file
 *   labelled in part: see src/data/labels.ts).
 * - Required columns: the id, the event time and every feature whose field is not nullable; missing ones
 *   are one {@link KindDataError} naming all of them. Another field missing from the file is null when
 *   nullable, its Avro default when it has one, and left out otherwise.
 * - Values are coerced to the field type: int / long as integers (int32 / safe-integer range), float /
 *   double as finite decimals (strictly: "12abc", "NaN" and "" are errors), boolean from
 *   true/false/1/0 (any case), enum symbols as is. Timestamp fields (logicalType timestamp-millis, and
 *   the event-time field) take integer ms since the epoch or an ISO-8601 date / date-time (without an
 *   offset it is UTC). In CSV an empty value is null for a nullable field, "" for a required string
 *   and an error otherwise. JSONL values must already have the JSON type (number, string, boolean; a
 *   timestamp may be an ISO string); fields of complex Avro types are passed through from JSONL as
 *   they are and are not read from CSV.
 * - Each record is then checked with {@link validateTabularRecord} (unless `validate: false`), so a file
 *   that reads can be encoded; a failure names the file and line.
 * - A record that cannot be read is an error, or, with `onReject`, reported to it and skipped (the
 *   offline counterpart of the stream's dead-letter topic: `gensemble score --rejects`).
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parse } from 'csv-parse';
import { ValidationError } from '../../schemas/errors.js';
import { parseLabel, UNLABELLED, type Label } from '../../data/labels.js';
import { KindDataError } from '../errors.js';
import type { RejectedRecord } from '../types.js';
import { kindFields, validateTabularRecord, type KindField, type TabularKindSpec } from './spec.js';

export interface TabularRows {
  records: Record<string, unknown>[];
  /** String form of each record's id. */
  ids: string[];
  /** 1 = anomaly / fraud, 0 = normal, UNLABELLED = not known, from the label column; null when the file has none. */
  labels: Uint8Array | null;
}

export interface ReadTabularOptions {
  /** Stop after this many records. */
  limit?: number;
  /** Column holding 0/1 labels (default "label", used when present). When given, it must be present. */
  labelColumn?: string;
  /** Check every record with validateTabularRecord (default true). */
  validate?: boolean;
  /**
   * Called for a record that cannot be read (a value that does not fit its field, a missing required
   * field, a line that is not a JSON object, a CSV row with the wrong number of fields, a record that
   * fails validation); the record is skipped and reading goes on. Absent: the first such record is a
   * {@link KindDataError}. Problems of the whole file (header, CSV syntax, gzip) always throw.
   */
  onReject?: (r: RejectedLine) => void;
}

/** A record skipped under {@link ReadTabularOptions.onReject} (the kinds' RejectedRecord). */
export type RejectedLine = RejectedRecord;

/** A problem with one record: `<path>: line <n><detail>`; skipped under onReject. */
class RowDataError extends KindDataError {
  constructor(
    path: string,
    readonly line: number,
    readonly detail: string,
    cause?: unknown,
  ) {
    super(`${path}: line ${line}${detail}`, cause);
  }
  get reason(): string {
    return this.detail.replace(/^(: |, )/, '');
  }
}

/** Reports a skippable record problem to onReject (true), or leaves it to be thrown (false). */
function rejected(e: unknown, opts: ReadTabularOptions): boolean {
  if (!(e instanceof RowDataError) || !opts.onReject) return false;
  opts.onReject({ line: e.line, reason: e.reason });
  return true;
}

type Format = 'csv' | 'jsonl';

function formatOf(path: string): Format | null {
  const p = path.toLowerCase().replace(/\.gz$/, '');
  if (p.endsWith('.csv')) return 'csv';
  if (p.endsWith('.jsonl') || p.endsWith('.ndjson')) return 'jsonl';
  return null;
}

async function openMaybeGzip(path: string): Promise<Readable> {
  let head: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      const buf = Buffer.alloc(2);
      const { bytesRead } = await fh.read(buf, 0, 2, 0);
      head = buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new KindDataError(`${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`, e);
  }
  const file = createReadStream(path);
  if (head.length === 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gz = createGunzip();
    file.on('error', (e) => gz.destroy(e));
    gz.on('close', () => file.destroy());
    return file.pipe(gz);
  }
  return file;
}

// ---------------------------------------------------------------------------------------------------
// coercion

const INT_RE = /^[+-]?\d+$/;
const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const ISO_RE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/i;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** A value that does not fit its field; the caller adds file, line and field. */
class BadValue extends Error {}

function show(v: unknown): string {
  const s = typeof v === 'string' ? JSON.stringify(v) : String(v);
  return s.length > 50 ? `${s.slice(0, 47)}...` : s;
}

function parseIso(s: string): number {
  const m = ISO_RE.exec(s);
  if (!m) return NaN;
  // A date-time without an offset is UTC (Date.parse would take local time); a date alone already is.
  const t = m[1] !== undefined && m[4] === undefined ? `${s.replace(' ', 'T')}Z` : s.replace(' ', 'T');
  return Date.parse(t);
}

interface FieldReader {
  field: KindField;
  /** Timestamp field: integer ms or ISO-8601. */
  time: boolean;
  /** Read from CSV / coerced from JSON (false: complex types). */
  readable: boolean;
}

function intOf(s: string, f: KindField): number {
  if (!INT_RE.test(s)) throw new BadValue(`${show(s)} is not an integer (${f.label})`);
  const x = Number(s);
  checkIntRange(x, f);
  return x;
}

function checkIntRange(x: number, f: KindField): void {
  if (f.base === 'int' ? x < INT32_MIN || x > INT32_MAX : !Number.isSafeInteger(x)) {
    throw new BadValue(`${x} is out of range for ${f.base === 'int' ? 'an int' : 'a long (safe integer)'}`);
  }
}

function timeOf(s: string, f: KindField): number {
  if (INT_RE.test(s)) return intOf(s, f);
  const ms = parseIso(s);
  if (!Number.isFinite(ms)) {
    throw new BadValue(`${show(s)} is neither ms since the epoch nor an ISO-8601 date-time`);
  }
  return ms;
}

/** CSV text → field value. */
function fromText(raw: string, r: FieldReader): unknown {
  const f = r.field;
  const s = raw.trim();
  if (s === '') {
    if (f.nullable) return null;
    if (f.base === 'string') return raw;
    throw new BadValue(`empty value for a required ${f.label} field`);
  }
  switch (f.base) {
    case 'string':
      return raw;
    case 'enum':
      if (!f.symbols!.includes(s)) throw new BadValue(`${show(s)} is not one of ${f.symbols!.join(', ')}`);
      return s;
    case 'boolean': {
      const l = s.toLowerCase();
      if (l === 'true' || l === '1') return true;
      if (l === 'false' || l === '0') return false;
      throw new BadValue(`${show(s)} is not a boolean (true/false/1/0)`);
    }
    case 'int':
      return intOf(s, f);
    case 'long':
      return r.time ? timeOf(s, f) : intOf(s, f);
    case 'float':
    case 'double': {
      const x = NUMBER_RE.test(s) ? Number(s) : NaN;
      if (!Number.isFinite(x)) throw new BadValue(`${show(s)} is not a finite number (${f.label})`);
      return x;
    }
    default:
      return raw;
  }
}

function jsonTypeOf(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

/** JSON value → field value. */
function fromJson(v: unknown, r: FieldReader): unknown {
  const f = r.field;
  if (v === null) {
    if (f.nullable) return null;
    throw new BadValue(`null for a required ${f.label} field`);
  }
  if (!r.readable) return v;
  const wrong = (): never => {
    throw new BadValue(`${show(v)} (${jsonTypeOf(v)}) does not fit a ${f.label} field`);
  };
  switch (f.base) {
    case 'string':
      return typeof v === 'string' ? v : wrong();
    case 'enum':
      if (typeof v !== 'string') return wrong();
      if (!f.symbols!.includes(v)) throw new BadValue(`${show(v)} is not one of ${f.symbols!.join(', ')}`);
      return v;
    case 'boolean':
      return typeof v === 'boolean' ? v : wrong();
    case 'int':
    case 'long':
      if (typeof v === 'string' && r.time) return timeOf(v.trim(), f);
      if (typeof v !== 'number' || !Number.isInteger(v)) return wrong();
      checkIntRange(v, f);
      return v;
    case 'float':
    case 'double':
      return typeof v === 'number' ? v : wrong();
    default:
      return v;
  }
}

function labelOf(v: unknown): Label {
  const l = parseLabel(v);
  if (l === null)
    throw new BadValue(
      `${show(v)} is not a label (1 / fraud, 0 / not_fraud, or blank / unsure = unlabelled)`,
    );
  return l;
}

// ---------------------------------------------------------------------------------------------------
// reading

interface Plan {
  readers: FieldReader[];
  /** Fields a file must have. */
  required: Set<string>;
}

function plan(spec: TabularKindSpec): Plan {
  const readers = kindFields(spec).map((field) => ({
    field,
    time: field.base === 'long' && (field.timestampMillis || field.name === spec.eventTime),
    readable:
      field.base !== 'complex' && field.base !== 'bytes' && field.base !== 'fixed' && field.base !== 'null',
  }));
  const byName = new Map(readers.map((r) => [r.field.name, r.field]));
  const required = new Set<string>();
  for (const name of [spec.id, spec.eventTime, ...Object.keys(spec.features)]) {
    if (name !== undefined && !byName.get(name)?.nullable) required.add(name);
  }
  return { readers, required };
}

/** Value of a field the file does not have (undefined: leave it out). */
function absentValue(f: KindField): unknown {
  if (f.nullable) return null;
  return f.hasDefault ? structuredClone(f.defaultValue) : undefined;
}

class Collector {
  readonly records: Record<string, unknown>[] = [];
  readonly ids: string[] = [];
  private labels: Uint8Array | null;
  private n = 0;
  constructor(
    private readonly spec: TabularKindSpec,
    private readonly path: string,
    withLabels: boolean,
    private readonly validate: boolean,
  ) {
    this.labels = withLabels ? new Uint8Array(1024) : null;
  }

  add(record: Record<string, unknown>, label: number, line: number): void {
    if (this.validate) {
      try {
        validateTabularRecord(this.spec, record);
      } catch (e) {
        if (e instanceof ValidationError) {
          const where = e.field ? `, field "${e.field}"` : '';
          throw new RowDataError(this.path, line, `${where}: ${e.message}`, e);
        }
        throw e;
      }
    }
    this.records.push(record);
    this.ids.push(String(record[this.spec.id]));
    if (this.labels) {
      if (this.n === this.labels.length) {
        const grown = new Uint8Array(this.labels.length * 2);
        grown.set(this.labels);
        this.labels = grown;
      }
      this.labels[this.n] = label;
    }
    this.n++;
  }

  get hasLabels(): boolean {
    return this.labels !== null;
  }

  result(): TabularRows {
    return {
      records: this.records,
      ids: this.ids,
      labels: this.labels ? this.labels.slice(0, this.n) : null,
    };
  }
}

function badValue(path: string, line: number, field: string, e: unknown): KindDataError {
  if (e instanceof BadValue) return new RowDataError(path, line, `, field "${field}": ${e.message}`);
  return e as KindDataError;
}

async function readCsv(
  spec: TabularKindSpec,
  path: string,
  input: Readable,
  limit: number,
  opts: ReadTabularOptions,
): Promise<TabularRows> {
  const { readers, required } = plan(spec);
  const parser = input.pipe(
    // ragged rows are checked below, one record at a time (csv-parse's own check would end the file)
    parse({ bom: true, skip_empty_lines: true, relax_column_count: true, info: true }),
  );
  input.on('error', (e) => parser.destroy(e));
  let columns: number[] | null = null; // source index per reader, -1 = absent
  let labelIndex = -1;
  let width = 0;
  let out: Collector | null = null;
  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const { record, info } = item;
      if (columns === null) {
        const header = record.map((h) => h.trim());
        const dup = header.find((h, i) => h !== '' && header.indexOf(h) !== i);
        if (dup !== undefined)
          throw new KindDataError(`${path}: line 1: the header lists column "${dup}" twice`);
        const missing = [...required].filter((n) => !header.includes(n));
        if (missing.length) {
          throw new KindDataError(
            `${path}: the header lacks required column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (header: ${header.slice(0, 12).join(', ')}${header.length > 12 ? ', ...' : ''})`,
          );
        }
        columns = readers.map((r) => (r.readable ? header.indexOf(r.field.name) : -1));
        width = header.length;
        const labelName = opts.labelColumn ?? 'label';
        labelIndex = header.indexOf(labelName);
        if (labelIndex < 0 && opts.labelColumn !== undefined) {
          throw new KindDataError(`${path}: no label column "${labelName}" in the header`);
        }
        out = new Collector(spec, path, labelIndex >= 0, opts.validate ?? true);
        continue;
      }
      if (out!.records.length >= limit) break;
      const line = info.lines;
      try {
        if (record.length !== width)
          throw new RowDataError(
            path,
            line,
            `: malformed CSV: ${record.length} field${record.length === 1 ? '' : 's'}, the header has ${width}`,
          );
        const rec: Record<string, unknown> = {};
        for (let i = 0; i < readers.length; i++) {
          const r = readers[i];
          const c = columns[i];
          if (c < 0) {
            const v = absentValue(r.field);
            if (v !== undefined) rec[r.field.name] = v;
            continue;
          }
          try {
            rec[r.field.name] = fromText(record[c], r);
          } catch (e) {
            throw badValue(path, line, r.field.name, e);
          }
        }
        let label = 0;
        if (labelIndex >= 0) {
          try {
            label = labelOf(record[labelIndex]);
          } catch (e) {
            throw badValue(path, line, opts.labelColumn ?? 'label', e);
          }
        }
        out!.add(rec, label, line);
      } catch (e) {
        if (!rejected(e, opts)) throw e;
      }
    }
  } catch (e) {
    if (e instanceof KindDataError) throw e;
    const err = e as Error & { code?: string; lines?: number };
    if (typeof err.code === 'string' && err.code.startsWith('CSV_')) {
      throw new KindDataError(
        `${path}: ${err.lines ? `line ${err.lines}: ` : ''}malformed CSV: ${err.message}`,
        e,
      );
    }
    throw new KindDataError(`${path}: ${err.message}`, e);
  } finally {
    input.destroy();
  }
  if (out === null) throw new KindDataError(`${path}: empty file (a header row is required)`);
  return out.result();
}

async function readJsonl(
  spec: TabularKindSpec,
  path: string,
  input: Readable,
  limit: number,
  opts: ReadTabularOptions,
): Promise<TabularRows> {
  const { readers, required } = plan(spec);
  const labelName = opts.labelColumn ?? 'label';
  const lines = createInterface({ input, crlfDelay: Infinity });
  let out: Collector | null = null;
  let lineNo = 0;
  try {
    for await (const text of lines) {
      lineNo++;
      if (text.trim() === '') continue;
      if ((out?.records.length ?? 0) >= limit) break;
      try {
        out = readJsonLine(text, lineNo, out);
      } catch (e) {
        if (!rejected(e, opts)) throw e;
      }
    }
  } catch (e) {
    if (e instanceof KindDataError) throw e;
    throw new KindDataError(`${path}: ${(e as Error).message}`, e);
  } finally {
    lines.close();
    input.destroy();
  }
  return out === null ? { records: [], ids: [], labels: null } : out.result();

  /** One line into `out` (created on the first object); a problem with it is a RowDataError. */
  function readJsonLine(text: string, lineNo: number, out: Collector | null): Collector {
    let obj: unknown;
    try {
      obj = JSON.parse(lineNo === 1 && text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch (e) {
      throw new RowDataError(path, lineNo, `: invalid JSON: ${(e as Error).message}`, e);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new RowDataError(path, lineNo, `: expected a JSON object, got ${jsonTypeOf(obj)}`);
    }
    const o = obj as Record<string, unknown>;
    if (out === null) {
      const hasLabel = Object.hasOwn(o, labelName);
      if (!hasLabel && opts.labelColumn !== undefined) {
        throw new KindDataError(`${path}: line ${lineNo}: no label field "${labelName}"`);
      }
      out = new Collector(spec, path, hasLabel, opts.validate ?? true);
    }
    const missing = [...required].filter((n) => o[n] === undefined);
    if (missing.length) {
      throw new RowDataError(
        path,
        lineNo,
        `: missing required field${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
      );
    }
    const rec: Record<string, unknown> = {};
    for (const r of readers) {
      const name = r.field.name;
      const v = o[name];
      if (v === undefined) {
        const a = absentValue(r.field);
        if (a !== undefined) rec[name] = a;
        continue;
      }
      try {
        rec[name] = fromJson(v, r);
      } catch (e) {
        throw badValue(path, lineNo, name, e);
      }
    }
    let label = 0;
    if (out.hasLabels) {
      try {
        label = Object.hasOwn(o, labelName) ? labelOf(o[labelName]) : UNLABELLED;
      } catch (e) {
        throw badValue(path, lineNo, labelName, e);
      }
    }
    out.add(rec, label, lineNo);
    return out;
  }
}

/**
 * Reads a .csv / .jsonl / .ndjson file (optionally gzipped) of `spec`'s kind. Every problem is a
 * {@link KindDataError} with a one-line message naming the file (and the line and field of a bad value).
 */
export async function readTabularFile(
  spec: TabularKindSpec,
  path: string,
  opts: ReadTabularOptions = {},
): Promise<TabularRows> {
  const format = formatOf(path);
  if (format === null) {
    throw new KindDataError(
      `${path}: unsupported file type (expected .csv, .jsonl or .ndjson, optionally .gz)`,
    );
  }
  const limit = opts.limit ?? Infinity;
  if (!(limit >= 0))
    throw new KindDataError(`${path}: limit must be a non-negative number, got ${opts.limit}`);
  const input = await openMaybeGzip(path);
  return format === 'csv'
    ? readCsv(spec, path, input, limit, opts)
    : readJsonl(spec, path, input, limit, opts);
}
