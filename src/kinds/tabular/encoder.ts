/**
 * The feature encoder of a user-defined tabular kind: fitted once on the training records
 * ({@link fitTabularEncoder}), stored with the model as JSON, and applied to every record of the stream
 * ({@link encodeTabularRecord}, compiled once per encoder into per-feature writers that allocate nothing).
 *
 * Columns, in feature declaration order:
 * - numeric `amount`: t(x) = x, or sign(x)·log1p(|x|) for transform "log"; then (t − center) / divisor
 *   with (mean, population std) for "standard", (median, IQR) for "robust" (quartiles linearly
 *   interpolated, as numpy's default), (0, 1) for "none"; a zero (or non-finite) divisor becomes 1;
 * - categorical one-hot `mcc=5411`, ..., `mcc=__other__`: the kept categories are the maxCategories most
 *   frequent training values (count descending, then value order: numbers numerically, other values by
 *   code units); `__other__` takes every other value, unknown values and null;
 * - categorical frequency `mcc:freq`: ln(count / N) of the training value (N = training records, nulls
 *   included); null gets the training frequency of null (ln(0.5 / N) if there was none); a value not
 *   kept gets ln(0.5 / N) when every training value was kept (i.e. it is unseen), otherwise
 *   ln(mean count of the values not kept / N);
 * - boolean `card_present`: 0 or 1;
 * - timestamp `ts:hour_sin`, `ts:hour_cos`, `ts:dow_sin`, `ts:dow_cos`: sin/cos(2π·h/24) with h the
 *   fractional UTC hour of day, and sin/cos(2π·d/7) with d the UTC day of week (0 = Sunday);
 * - a numeric, boolean or timestamp feature whose `missing` is "indicator" has one more column,
 *   `amount:missing`: 1 when the value is null or absent, else 0. A missing value's own columns take
 *   `missingFill`, fitted on the training records that have the value: the encoded median (numeric;
 *   centre and divisor are fitted on those records too), the share of true (boolean), the mean of each
 *   of the four columns (timestamp). A training file where every record lacks it is a KindDataError.
 *   Encoders fitted before this existed have no `missingFill`; they reject a null (ValidationError).
 * Category values are compared by their string form: the string "5411" and the number 5411 are the
 * same category (column `mcc=5411`).
 */
import { z } from 'zod';
import { ValidationError } from '../../schemas/errors.js';
import { KindDataError, KindSpecError } from '../errors.js';
import {
  formatPath,
  validateTabularRecord,
  type FeatureSpec,
  type NumericScale,
  type NumericTransform,
  type TabularKindSpec,
} from './spec.js';

export const ENCODER_VERSION = 1;
/** Name of the one-hot column of the categories not kept, unknown ones and null. */
export const OTHER_CATEGORY = '__other__';

export interface FittedNumeric {
  name: string;
  type: 'numeric';
  transform: NumericTransform;
  scale: NumericScale;
  /** Subtracted after the transform (mean, median or 0). */
  center: number;
  /** Divides after centering (std, IQR or 1); never 0. */
  divisor: number;
  /** Present when missing values are encoded: the value column of a missing value (`:missing` follows). */
  missingFill?: number[];
}
export interface FittedOneHot {
  name: string;
  type: 'categorical';
  encoding: 'one-hot';
  maxCategories: number;
  /** Kept categories (string forms), in column order; `__other__` follows them. */
  categories: string[];
}
export interface FittedFrequency {
  name: string;
  type: 'categorical';
  encoding: 'frequency';
  maxCategories: number;
  /** Number of training records (N). */
  n: number;
  categories: string[];
  /** ln(count / N) per kept category. */
  logFreq: number[];
  /** Value of null. */
  nullLogFreq: number;
  /** Value of any category not kept. */
  otherLogFreq: number;
}
export interface FittedBoolean {
  name: string;
  type: 'boolean';
  /** As for numeric: one value (the training share of true). */
  missingFill?: number[];
}
export interface FittedTimestamp {
  name: string;
  type: 'timestamp';
  /** As for numeric: four values (the training means of the four columns). */
  missingFill?: number[];
}
export type FittedFeature = FittedNumeric | FittedOneHot | FittedFrequency | FittedBoolean | FittedTimestamp;

/** JSON-serialisable; stored with the model. */
export interface FittedTabularEncoder {
  version: 1;
  /** The kind's name. */
  kind: string;
  /** Column names, `encoderDim` of them. */
  columns: string[];
  features: FittedFeature[];
}

export const TIMESTAMP_SUFFIXES = ['hour_sin', 'hour_cos', 'dow_sin', 'dow_cos'] as const;
/** Suffix of the 0/1 column of a missing value (`amount:missing`). */
export const MISSING_SUFFIX = 'missing';

/** The columns of a feature's value (without its missing indicator). */
function valueColumns(f: FittedFeature): string[] {
  switch (f.type) {
    case 'numeric':
    case 'boolean':
      return [f.name];
    case 'timestamp':
      return TIMESTAMP_SUFFIXES.map((s) => `${f.name}:${s}`);
    case 'categorical':
      return f.encoding === 'one-hot'
        ? [...f.categories.map((c) => `${f.name}=${c}`), `${f.name}=${OTHER_CATEGORY}`]
        : [`${f.name}:freq`];
  }
}

/** The column names of one fitted feature. */
function featureColumns(f: FittedFeature): string[] {
  const cols = valueColumns(f);
  return f.type !== 'categorical' && f.missingFill ? [...cols, `${f.name}:${MISSING_SUFFIX}`] : cols;
}

export function encoderDim(e: FittedTabularEncoder): number {
  return e.columns.length;
}

/** The columns that are 0 or 1 by construction: one-hot, boolean and `:missing` columns, ascending. */
export function binaryColumnIndices(e: FittedTabularEncoder): number[] {
  const out: number[] = [];
  let at = 0;
  for (const f of e.features) {
    const width = valueColumns(f).length;
    const binary = f.type === 'boolean' || (f.type === 'categorical' && f.encoding === 'one-hot');
    for (let j = 0; j < width; j++) if (binary) out.push(at + j);
    at += width;
    if (f.type !== 'categorical' && f.missingFill) out.push(at++);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// value helpers

/** sign(x)·log1p(|x|). */
export function signedLog1p(x: number): number {
  return x < 0 ? -Math.log1p(-x) : Math.log1p(x);
}

function toNumber(v: unknown): number {
  return typeof v === 'number' ? v : Number(v as bigint);
}

function toMillis(v: unknown): number {
  return typeof v === 'number' ? v : v instanceof Date ? v.getTime() : Number(v as bigint);
}

/** The category key of a value; null for null/undefined. */
function categoryKey(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  return typeof v === 'string' ? v : String(v as number | bigint | boolean);
}

/** Value order of category keys: both canonical numbers → numerically; otherwise by code units. */
function compareCategoryKeys(a: string, b: string): number {
  const x = Number(a);
  const y = Number(b);
  if (a !== '' && b !== '' && String(x) === a && String(y) === b) return x - y;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Linearly interpolated quantile of sorted values (numpy's default, "type 7"). */
function quantileSorted(sorted: Float64Array, p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function safeDivisor(d: number): number {
  return Number.isFinite(d) && d > 0 ? d : 1;
}

const MS_PER_DAY = 86_400_000;
const MS_PER_HOUR = 3_600_000;
const TWO_PI = 2 * Math.PI;

/** The four timestamp columns of `ms` at out[at..at+3]. */
function writeTimestamp(ms: number, out: Float32Array | Float64Array, at: number): void {
  const msOfDay = ((ms % MS_PER_DAY) + MS_PER_DAY) % MS_PER_DAY;
  const hour = (TWO_PI * (msOfDay / MS_PER_HOUR)) / 24;
  // 1970-01-01 was a Thursday (4).
  const dow = ((((Math.floor(ms / MS_PER_DAY) + 4) % 7) + 7) % 7) * (TWO_PI / 7);
  out[at] = Math.sin(hour);
  out[at + 1] = Math.cos(hour);
  out[at + 2] = Math.sin(dow);
  out[at + 3] = Math.cos(dow);
}

function isMissing(v: unknown): boolean {
  return v === null || v === undefined;
}

// ---------------------------------------------------------------------------------------------------
// fitting

function fitNumeric(name: string, f: FeatureSpec & { type: 'numeric' }, values: Float64Array): FittedNumeric {
  const n = values.length;
  let center = 0;
  let divisor = 1;
  if (f.scale === 'standard') {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += values[i];
    const mean = sum / n;
    let ss = 0;
    for (let i = 0; i < n; i++) ss += (values[i] - mean) ** 2;
    if (!Number.isFinite(mean) || !Number.isFinite(ss)) {
      throw new KindDataError(
        `feature ${name}: the training values overflow double precision (mean ${mean}); use "transform": "log"`,
      );
    }
    center = mean;
    divisor = safeDivisor(Math.sqrt(ss / n));
  } else if (f.scale === 'robust') {
    const sorted = Float64Array.from(values).sort();
    center = quantileSorted(sorted, 0.5);
    divisor = safeDivisor(quantileSorted(sorted, 0.75) - quantileSorted(sorted, 0.25));
  }
  return { name, type: 'numeric', transform: f.transform, scale: f.scale, center, divisor };
}

function fitCategorical(
  name: string,
  f: FeatureSpec & { type: 'categorical' },
  records: readonly Record<string, unknown>[],
): FittedOneHot | FittedFrequency {
  const counts = new Map<string, number>();
  let nulls = 0;
  for (const r of records) {
    const k = categoryKey(r[name]);
    if (k === null) nulls++;
    else counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const ranked = [...counts].sort((a, b) => b[1] - a[1] || compareCategoryKeys(a[0], b[0]));
  if (f.encoding === 'one-hot') {
    const kept = ranked.filter(([k]) => k !== OTHER_CATEGORY).slice(0, f.maxCategories);
    return {
      name,
      type: 'categorical',
      encoding: 'one-hot',
      maxCategories: f.maxCategories,
      categories: kept.map(([k]) => k),
    };
  }
  const n = records.length;
  const kept = ranked.slice(0, f.maxCategories);
  const dropped = ranked.slice(f.maxCategories);
  const unseen = Math.log(0.5 / n);
  const droppedCount = dropped.reduce((s, [, c]) => s + c, 0);
  return {
    name,
    type: 'categorical',
    encoding: 'frequency',
    maxCategories: f.maxCategories,
    n,
    categories: kept.map(([k]) => k),
    logFreq: kept.map(([, c]) => Math.log(c / n)),
    nullLogFreq: nulls > 0 ? Math.log(nulls / n) : unseen,
    otherLogFreq: dropped.length > 0 ? Math.log(droppedCount / dropped.length / n) : unseen,
  };
}

/**
 * Fits the encoder of `spec` on training records (every one must pass {@link validateTabularRecord};
 * one that does not is a {@link KindDataError} naming its index and id).
 */
export function fitTabularEncoder(
  spec: TabularKindSpec,
  records: readonly Record<string, unknown>[],
): FittedTabularEncoder {
  if (records.length === 0)
    throw new KindDataError(`kind ${spec.name}: no training records to fit the encoder on`);
  records.forEach((r, i) => {
    try {
      validateTabularRecord(spec, r);
    } catch (e) {
      if (!(e instanceof ValidationError)) throw e;
      const id = r?.[spec.id];
      const which =
        typeof id === 'string' || typeof id === 'number' ? ` (${spec.id} ${JSON.stringify(id)})` : '';
      throw new KindDataError(`kind ${spec.name}: training record ${i}${which}: ${e.message}`, e);
    }
  });
  const features: FittedFeature[] = [];
  for (const [name, f] of Object.entries(spec.features)) {
    if (f.type === 'categorical') {
      features.push(fitCategorical(name, f, records));
      continue;
    }
    // The records that have the value (all of them unless `missing` is "indicator").
    const present = f.missing === 'indicator' ? records.filter((r) => !isMissing(r[name])) : records;
    if (present.length === 0) {
      throw new KindDataError(
        `kind ${spec.name}: feature ${name} is null in every training record; train on records that have it, or leave it out of "features"`,
      );
    }
    const indicator = f.missing === 'indicator';
    switch (f.type) {
      case 'numeric': {
        const values = new Float64Array(present.length);
        for (let i = 0; i < present.length; i++) {
          const x = toNumber(present[i][name]);
          values[i] = f.transform === 'log' ? signedLog1p(x) : x;
        }
        const fitted = fitNumeric(name, f, values);
        if (indicator) {
          const median = quantileSorted(Float64Array.from(values).sort(), 0.5);
          fitted.missingFill = [(median - fitted.center) / fitted.divisor];
        }
        features.push(fitted);
        break;
      }
      case 'boolean': {
        const fitted: FittedBoolean = { name, type: 'boolean' };
        if (indicator) fitted.missingFill = [present.filter((r) => r[name] === true).length / present.length];
        features.push(fitted);
        break;
      }
      case 'timestamp': {
        const fitted: FittedTimestamp = { name, type: 'timestamp' };
        if (indicator) {
          const sums = new Float64Array(4);
          const cols = new Float64Array(4);
          for (const r of present) {
            writeTimestamp(toMillis(r[name]), cols, 0);
            for (let j = 0; j < 4; j++) sums[j] += cols[j];
          }
          fitted.missingFill = Array.from(sums, (x) => x / present.length);
        }
        features.push(fitted);
        break;
      }
    }
  }
  return { version: ENCODER_VERSION, kind: spec.name, columns: features.flatMap(featureColumns), features };
}

// ---------------------------------------------------------------------------------------------------
// stored form

const finite = z.number().refine(Number.isFinite, 'must be a finite number');
const fittedFeatureSchema = z.union([
  z
    .object({
      name: z.string(),
      type: z.literal('numeric'),
      transform: z.enum(['none', 'log']),
      scale: z.enum(['standard', 'robust', 'none']),
      center: finite,
      divisor: finite.refine((d) => d > 0, 'must be positive'),
      missingFill: z.array(finite).length(1).optional(),
    })
    .strict(),
  z
    .object({
      name: z.string(),
      type: z.literal('categorical'),
      encoding: z.literal('one-hot'),
      maxCategories: z.number().int().positive(),
      categories: z.array(z.string()),
    })
    .strict(),
  z
    .object({
      name: z.string(),
      type: z.literal('categorical'),
      encoding: z.literal('frequency'),
      maxCategories: z.number().int().positive(),
      n: z.number().int().positive(),
      categories: z.array(z.string()),
      logFreq: z.array(finite),
      nullLogFreq: finite,
      otherLogFreq: finite,
    })
    .strict(),
  z
    .object({
      name: z.string(),
      type: z.literal('boolean'),
      missingFill: z.array(finite).length(1).optional(),
    })
    .strict(),
  z
    .object({
      name: z.string(),
      type: z.literal('timestamp'),
      missingFill: z.array(finite).length(4).optional(),
    })
    .strict(),
]);
const fittedSchema = z
  .object({
    version: z.literal(ENCODER_VERSION),
    kind: z.string(),
    columns: z.array(z.string()),
    features: z.array(fittedFeatureSchema),
  })
  .strict();

function describeFeature(f: FeatureSpec | FittedFeature): string {
  switch (f.type) {
    case 'numeric':
      return `numeric (transform ${f.transform}, scale ${f.scale})`;
    case 'categorical':
      return `categorical (${f.encoding}, maxCategories ${f.maxCategories})`;
    default:
      return f.type;
  }
}

/** Why `f` was not fitted for `s`, or null when it was. */
function featureMismatch(f: FittedFeature, s: FeatureSpec): string | null {
  const same =
    f.type === s.type &&
    (f.type !== 'numeric' || (s.type === 'numeric' && f.transform === s.transform && f.scale === s.scale)) &&
    (f.type !== 'categorical' ||
      (s.type === 'categorical' && f.encoding === s.encoding && f.maxCategories === s.maxCategories));
  return same
    ? null
    : `feature "${f.name}" was ${describeFeature(f)}, the declaration says ${describeFeature(s)}`;
}

/** Why `enc` was not fitted for `spec`'s declaration, or null when it was. */
function declarationMismatch(enc: FittedTabularEncoder, spec: TabularKindSpec): string | null {
  if (enc.kind !== spec.name) return `the model is for kind "${enc.kind}"`;
  const declared = Object.keys(spec.features);
  const fitted = enc.features.map((f) => f.name);
  if (declared.length !== fitted.length || declared.some((n, i) => n !== fitted[i])) {
    return `it has features ${fitted.join(', ')}; the declaration has ${declared.join(', ')}`;
  }
  for (const f of enc.features) {
    const why = featureMismatch(f, spec.features[f.name]);
    if (why) return why;
  }
  return null;
}

/**
 * Validates a stored encoder (parsed JSON) against the kind's current declaration: a malformed one,
 * or one fitted for other features (names, order, types, transform, scale, encoding, maxCategories),
 * is a {@link KindSpecError}.
 */
export function parseFittedEncoder(json: unknown, spec: TabularKindSpec): FittedTabularEncoder {
  const source = spec.source ?? `kind ${spec.name}`;
  const parsed = fittedSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new KindSpecError(
      source,
      '',
      `the model's stored feature encoder is malformed: ${formatPath(issue.path) || '(root)'}: ${issue.message}`,
    );
  }
  const enc = parsed.data as FittedTabularEncoder;
  const why = declarationMismatch(enc, spec);
  if (why)
    throw new KindSpecError(
      source,
      '',
      `model was trained for a different declaration of kind ${spec.name}: ${why}`,
    );
  for (const f of enc.features) {
    if (f.type === 'categorical') {
      if (f.categories.length > f.maxCategories || new Set(f.categories).size !== f.categories.length) {
        throw new KindSpecError(
          source,
          '',
          `the model's stored feature encoder is malformed: categories of ${f.name}`,
        );
      }
      if (f.encoding === 'frequency' && f.logFreq.length !== f.categories.length) {
        throw new KindSpecError(
          source,
          '',
          `the model's stored feature encoder is malformed: logFreq of ${f.name}`,
        );
      }
    }
  }
  const columns = enc.features.flatMap(featureColumns);
  if (columns.length !== enc.columns.length || columns.some((c, i) => c !== enc.columns[i])) {
    throw new KindSpecError(
      source,
      '',
      `the model's stored feature encoder is malformed: its columns do not follow from its features`,
    );
  }
  return enc;
}

// ---------------------------------------------------------------------------------------------------
// encoding (hot path)

type Writer = (record: Record<string, unknown>, out: Float32Array, at: number) => void;

interface CompiledEncoder {
  spec: TabularKindSpec;
  dim: number;
  writers: Writer[];
  offsets: Int32Array;
  /** Features the declaration lets be null but this (older) encoder cannot encode when they are. */
  noFill: string[];
}

function noFillFeatures(spec: TabularKindSpec, enc: FittedTabularEncoder): string[] {
  return enc.features
    .filter((f) => {
      const s = spec.features[f.name];
      return (
        f.type !== 'categorical' && s.type !== 'categorical' && s.missing === 'indicator' && !f.missingFill
      );
    })
    .map((f) => f.name);
}

/** Category → index lookup that needs no string for numbers and booleans. */
function categoryIndex(categories: readonly string[]): (v: unknown) => number {
  const byString = new Map<string, number>();
  const byNumber = new Map<number, number>();
  categories.forEach((c, i) => {
    byString.set(c, i);
    const x = Number(c);
    if (c !== '' && String(x) === c) byNumber.set(x, i);
  });
  const t = byString.get('true') ?? -1;
  const f = byString.get('false') ?? -1;
  return (v) => {
    if (typeof v === 'string') return byString.get(v) ?? -1;
    if (typeof v === 'number') return byNumber.get(v) ?? -1;
    if (typeof v === 'boolean') return v ? t : f;
    if (typeof v === 'bigint') return byString.get(String(v)) ?? -1;
    return -1;
  };
}

/** `inner`, or the feature's `missingFill` and a 1 in its `:missing` column when the value is missing. */
function withMissing(name: string, fill: readonly number[], inner: Writer): Writer {
  const values = Float64Array.from(fill);
  const width = values.length;
  return (r, out, at) => {
    if (isMissing(r[name])) {
      for (let j = 0; j < width; j++) out[at + j] = values[j];
      out[at + width] = 1;
    } else {
      inner(r, out, at);
      out[at + width] = 0;
    }
  };
}

function writerFor(f: FittedFeature): Writer {
  const inner = valueWriter(f);
  return f.type !== 'categorical' && f.missingFill ? withMissing(f.name, f.missingFill, inner) : inner;
}

function valueWriter(f: FittedFeature): Writer {
  const name = f.name;
  switch (f.type) {
    case 'numeric': {
      const { center, divisor } = f;
      return f.transform === 'log'
        ? (r, out, at) => {
            out[at] = (signedLog1p(toNumber(r[name])) - center) / divisor;
          }
        : (r, out, at) => {
            out[at] = (toNumber(r[name]) - center) / divisor;
          };
    }
    case 'boolean':
      return (r, out, at) => {
        out[at] = r[name] === true ? 1 : 0;
      };
    case 'timestamp':
      return (r, out, at) => writeTimestamp(toMillis(r[name]), out, at);
    case 'categorical': {
      const index = categoryIndex(f.categories);
      if (f.encoding === 'one-hot') {
        const width = f.categories.length + 1;
        const other = f.categories.length;
        return (r, out, at) => {
          out.fill(0, at, at + width);
          const i = index(r[name]);
          out[at + (i < 0 ? other : i)] = 1;
        };
      }
      const logFreq = Float64Array.from(f.logFreq);
      const { nullLogFreq, otherLogFreq } = f;
      return (r, out, at) => {
        const v = r[name];
        if (v === null || v === undefined) out[at] = nullLogFreq;
        else {
          const i = index(v);
          out[at] = i < 0 ? otherLogFreq : logFreq[i];
        }
      };
    }
  }
}

const compiledEncoders = new WeakMap<FittedTabularEncoder, CompiledEncoder>();

function compile(spec: TabularKindSpec, enc: FittedTabularEncoder): CompiledEncoder {
  let c = compiledEncoders.get(enc);
  if (c && c.spec === spec) return c;
  // First use with this spec: check that they belong together.
  const why = declarationMismatch(enc, spec);
  if (why) {
    throw new KindSpecError(
      spec.source ?? `kind ${spec.name}`,
      '',
      `model was trained for a different declaration of kind ${spec.name}: ${why}`,
    );
  }
  if (!c) {
    const writers = enc.features.map(writerFor);
    const offsets = new Int32Array(enc.features.length);
    let at = 0;
    enc.features.forEach((f, i) => {
      offsets[i] = at;
      at += featureColumns(f).length;
    });
    if (at !== enc.columns.length) {
      throw new KindSpecError(
        spec.source ?? `kind ${spec.name}`,
        '',
        `the feature encoder's columns do not follow from its features`,
      );
    }
    c = { spec, dim: at, writers, offsets, noFill: noFillFeatures(spec, enc) };
  } else {
    c = { ...c, spec, noFill: noFillFeatures(spec, enc) };
  }
  compiledEncoders.set(enc, c);
  return c;
}

/**
 * Validates `record` ({@link validateTabularRecord}: throws ValidationError, `out` untouched) and writes
 * its `encoderDim(enc)` features at `out[row * dim ...]`. Allocates nothing per call once compiled.
 */
export function encodeTabularRecord(
  spec: TabularKindSpec,
  enc: FittedTabularEncoder,
  record: Record<string, unknown>,
  out: Float32Array,
  row: number,
): void {
  const c = compile(spec, enc);
  const base = row * c.dim;
  if (!(base >= 0 && base + c.dim <= out.length && Number.isInteger(row))) {
    throw new RangeError(`row ${row} of ${c.dim} columns does not fit an output of length ${out.length}`);
  }
  validateTabularRecord(spec, record);
  for (const name of c.noFill) {
    if (isMissing(record[name])) {
      throw new ValidationError(
        'INVALID_RECORD',
        `${name} is ${record[name] === null ? 'null' : 'missing'}: this model was trained before missing values were encoded; retrain it to score records without ${name}`,
        name,
      );
    }
  }
  const { writers, offsets } = c;
  for (let i = 0; i < writers.length; i++) writers[i](record, out, base + offsets[i]);
}

/**
 * Row-major [records.length, encoderDim] features. A record that fails validation throws a
 * ValidationError with the same reason and field, its message prefixed by `record <index>: `.
 */
export function encodeTabularRecords(
  spec: TabularKindSpec,
  enc: FittedTabularEncoder,
  records: readonly Record<string, unknown>[],
): Float32Array {
  const dim = compile(spec, enc).dim;
  const out = new Float32Array(records.length * dim);
  for (let i = 0; i < records.length; i++) {
    try {
      encodeTabularRecord(spec, enc, records[i], out, i);
    } catch (e) {
      if (e instanceof ValidationError) {
        const msg = e.message.startsWith(`${e.reason}: `) ? e.message.slice(e.reason.length + 2) : e.message;
        throw new ValidationError(e.reason, `record ${i}: ${msg}`, e.field);
      }
      throw e;
    }
  }
  return out;
}
