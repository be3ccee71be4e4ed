/**
 * Kaggle "Credit Card Fraud Detection" CSV (creditcard.csv, or the project's shared subset
 * creditcard-subset.csv.gz): columns Time, V1..V28, Amount, Class. Streams the file through csv-parse
 * (gzip detected from the content), so the full 284,807-row file never sits in memory as strings.
 *
 * - With a header (detected: the first record holds a non-numeric field): columns are found by name
 *   (case-insensitive, quotes allowed as in Kaggle's file); their order does not matter; extra columns
 *   are ignored; Class is optional unless `requireLabels` (default true).
 * - Without a header: exactly 31 fields in Kaggle order (or 30 = no Class, when labels are not required).
 * - Features are returned row-major [n, 30] float32 in the order Time, V1..V28, Amount; Class must be
 *   0 or 1; every value must be a finite decimal number. Anything else is a {@link DataError}
 *   `CSV_MALFORMED_ROW` naming the data row (1-based, header not counted), the file line and the column;
 *   with `onReject`, such a row is reported to it and skipped instead.
 * - `rowIds[i]` is the 0-based index of record i among the file's data rows (the file has no id column;
 *   rejected rows keep their index, so ids do not shift).
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { parse, CsvError } from 'csv-parse';
import { DataError } from './errors.js';
import { parseLabel, UNLABELLED } from './labels.js';

export const CREDIT_FEATURES: readonly string[] = [
  'Time',
  ...Array.from({ length: 28 }, (_, i) => `V${i + 1}`),
  'Amount',
];
export const CREDIT_DIM = 30;

export interface CreditCsvOptions {
  /** Fail when the file has no Class column (default true). */
  requireLabels?: boolean;
  /** Stop after this many records (rows read; rejected rows do not count). */
  maxRows?: number;
  /**
   * Also keep the values as the CSV wrote them (doubles, `features64`): what a producer sends, so
   * that a record's fields are not float32 artefacts (77.88999938964844 for 77.89). Default false.
   */
  float64?: boolean;
  /**
   * Called for a data row that cannot be read (a wrong number of fields, a value that is not a finite
   * number, a Class that is not 0/1); the row is skipped and reading goes on. Absent: such a row is a
   * DataError (CSV_MALFORMED_ROW). Problems of the whole file (header, CSV syntax, gzip) always throw.
   */
  onReject?: (r: RejectedRow) => void;
}

/** A data row skipped under {@link CreditCsvOptions.onReject}. */
export interface RejectedRow {
  /** 1-based line of the file. */
  line: number;
  /** 0-based data row (the id a row of this file gets; header excluded, rejected rows counted). */
  row: number;
  /** One line, without the file name, e.g. `column V3: "abc" is not a number`. */
  reason: string;
}

/** A problem with one data row (caught per row under onReject). */
class RowProblem extends Error {}

export interface CreditCardData {
  path: string;
  n: number;
  d: typeof CREDIT_DIM;
  /** Column names of `features`: Time, V1..V28, Amount. */
  columns: readonly string[];
  /** Row-major [n, 30]. */
  features: Float32Array;
  /** The same values as doubles, as written in the file; only with `float64: true`. */
  features64?: Float64Array;
  /** 1 = fraud, 0 = normal, UNLABELLED = blank / unsure; null when the file has no Class column. */
  labels: Uint8Array | null;
  rowIds: Uint32Array;
  hasHeader: boolean;
}

async function openMaybeGzip(path: string): Promise<{ input: Readable; gzipped: boolean }> {
  let head: Buffer;
  try {
    const fh = await open(path, 'r');
    try {
      head = Buffer.alloc(2);
      const { bytesRead } = await fh.read(head, 0, 2, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new DataError(
      code === 'ENOENT' ? 'DATA_NOT_FOUND' : 'DATA_READ_FAILED',
      `${path}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`,
      e,
    );
  }
  const file = createReadStream(path);
  if (head.length === 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gz = createGunzip();
    file.on('error', (e) => gz.destroy(e));
    return { input: file.pipe(gz), gzipped: true };
  }
  return { input: file, gzipped: false };
}

const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Loads a Kaggle-format credit-card CSV (plain or gzipped, with or without header). */
export async function loadCreditCardCsv(
  path: string,
  options: CreditCsvOptions = {},
): Promise<CreditCardData> {
  const requireLabels = options.requireLabels ?? true;
  const maxRows = options.maxRows ?? Infinity;
  const { input, gzipped } = await openMaybeGzip(path);
  let inputError: unknown = null;
  let inputEnded = false;
  input.on('error', (e) => (inputError = e));
  input.on('end', () => (inputEnded = true));
  const parser = input.pipe(
    parse({ relax_column_count: true, skip_empty_lines: true, trim: true, info: true, bom: true }),
  );
  input.on('error', (e) => parser.destroy(e));

  let cap = 1 << 16;
  let features = new Float32Array(cap * CREDIT_DIM);
  let features64 = options.float64 ? new Float64Array(cap * CREDIT_DIM) : null;
  let labels = new Uint8Array(cap);
  let n = 0;
  let hasHeader = false;
  let colIndex: number[] | null = null; // source field index per feature
  let classIndex = -1;
  let width = -1;

  const fail = (msg: string): never => {
    throw new RowProblem(msg);
  };
  let rowIds = new Uint32Array(cap);
  let dataRows = 0; // data rows seen, rejected ones included

  try {
    for await (const item of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      const { record, info } = item;
      if (colIndex === null) {
        const numeric = record.every((f) => NUMBER_RE.test(f));
        if (!numeric) {
          hasHeader = true;
          const names = record.map((f) => f.toLowerCase());
          const dup = names.find((nm, i) => nm !== '' && names.indexOf(nm) !== i);
          if (dup !== undefined)
            throw new DataError('CSV_BAD_HEADER', `${path}: header lists column "${dup}" twice`);
          const missing: string[] = [];
          colIndex = CREDIT_FEATURES.map((c) => {
            const i = names.indexOf(c.toLowerCase());
            if (i < 0) missing.push(c);
            return i;
          });
          if (missing.length)
            throw new DataError(
              'CSV_BAD_HEADER',
              `${path}: header lacks column(s) ${missing.join(', ')} (expected Kaggle columns Time,V1..V28,Amount,Class; got ${record.slice(0, 5).join(',')}...)`,
            );
          classIndex = names.indexOf('class');
          if (classIndex < 0 && requireLabels)
            throw new DataError(
              'CSV_BAD_HEADER',
              `${path}: header has no Class column (labels are required)`,
            );
          width = record.length;
          continue;
        }
        if (record.length === 31) classIndex = 30;
        else if (record.length === 30 && !requireLabels) classIndex = -1;
        else
          throw new DataError(
            'CSV_BAD_HEADER',
            `${path}: no header and ${record.length} fields in the first row; expected 31 (Time,V1..V28,Amount,Class)` +
              (requireLabels ? '' : ' or 30 (without Class)'),
          );
        colIndex = CREDIT_FEATURES.map((_, i) => i);
        width = record.length;
      }
      if (n >= maxRows) break;
      const row = dataRows++;
      if (n === cap) {
        cap *= 2;
        const f2 = new Float32Array(cap * CREDIT_DIM);
        f2.set(features);
        features = f2;
        if (features64) {
          const d2 = new Float64Array(cap * CREDIT_DIM);
          d2.set(features64);
          features64 = d2;
        }
        const l2 = new Uint8Array(cap);
        l2.set(labels);
        labels = l2;
        const r2 = new Uint32Array(cap);
        r2.set(rowIds);
        rowIds = r2;
      }
      const base = n * CREDIT_DIM;
      try {
        if (record.length !== width) fail(`${record.length} fields, expected ${width}`);
        for (let j = 0; j < CREDIT_DIM; j++) {
          const s = record[colIndex[j]];
          if (!NUMBER_RE.test(s)) fail(`column ${CREDIT_FEATURES[j]}: ${JSON.stringify(s)} is not a number`);
          const v = Number(s);
          if (!Number.isFinite(v)) fail(`column ${CREDIT_FEATURES[j]}: ${JSON.stringify(s)} is not finite`);
          const f = Math.fround(v);
          if (!Number.isFinite(f)) fail(`column ${CREDIT_FEATURES[j]}: ${s} overflows float32`);
          features[base + j] = f;
          if (features64) features64[base + j] = v;
        }
        if (classIndex >= 0) {
          const s = record[classIndex];
          // 0 / 1 (also written 1.0), or a word of src/data/labels.ts (blank or "unsure": unlabelled)
          const v = NUMBER_RE.test(s) ? Number(s) : (parseLabel(s) ?? NaN);
          if (v !== 0 && v !== 1 && v !== UNLABELLED)
            fail(`column Class: ${JSON.stringify(s)} is not 0 or 1 (or blank / unsure = unlabelled)`);
          labels[n] = v;
        }
      } catch (e) {
        if (!(e instanceof RowProblem)) throw e;
        if (!options.onReject)
          throw new DataError(
            'CSV_MALFORMED_ROW',
            `${path}: data row ${row + 1} (line ${info.lines}): ${e.message}`,
          );
        options.onReject({ line: info.lines, row, reason: e.message });
        continue;
      }
      rowIds[n] = row;
      n++;
    }
  } catch (err) {
    let e = err;
    // A truncated .gz usually shows up first as a short last row; drain the rest of the gzip stream so
    // that its own error (the real cause) is reported instead.
    if (e instanceof DataError && gzipped && !inputEnded && inputError === null) {
      input.unpipe();
      input.resume();
      await finished(input).catch((ge: unknown) => (inputError = ge));
    }
    if (inputError !== null && typeof (inputError as { code?: unknown }).code === 'string') e = inputError;
    if (e instanceof DataError) throw e;
    if (e instanceof CsvError)
      throw new DataError('CSV_SYNTAX', `${path}: CSV syntax error: ${e.message}`, e);
    const code = (e as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('Z_'))
      throw new DataError(
        'DATA_BAD_GZIP',
        `${path}: corrupt or truncated gzip data (${(e as Error).message})`,
        e,
      );
    throw new DataError('DATA_READ_FAILED', `${path}: ${(e as Error).message}`, e);
  } finally {
    input.destroy();
  }
  if (colIndex === null) throw new DataError('CSV_MALFORMED_ROW', `${path}: the file holds no records`);
  return {
    path,
    n,
    d: CREDIT_DIM,
    columns: CREDIT_FEATURES,
    features: features.slice(0, n * CREDIT_DIM),
    ...(features64 ? { features64: features64.slice(0, n * CREDIT_DIM) } : {}),
    labels: classIndex >= 0 ? labels.slice(0, n) : null,
    rowIds: rowIds.slice(0, n),
    hasHeader,
  };
}
