/**
 * User-defined tabular kinds: a JSON declaration (kinds/<name>.json) names a Kafka topic, the Avro
 * record schema of its messages, the record id, an optional event-time field and the features a VAE
 * ensemble is trained on. This module parses and validates a declaration ({@link parseKindSpec}) and
 * checks decoded records before scoring ({@link validateTabularRecord}); encoder.ts turns records into
 * feature rows, read.ts reads CSV / JSONL training files.
 *
 * Declaration (unknown keys are rejected everywhere):
 * ```json
 * { "name": "card_tx", "description": "...", "topic": "card-tx",
 *   "fields": [{ "name": "tx_id", "type": "string" }, { "name": "amount", "type": "double" },
 *              { "name": "ts", "type": "timestamp" }, { "name": "mcc", "type": "string", "optional": true }],
 *   "id": "tx_id", "eventTime": "ts",
 *   "features": { "amount": { "type": "numeric", "transform": "log", "scale": "robust" },
 *                 "mcc": { "type": "categorical" }, "ts": { "type": "timestamp" } } }
 * ```
 * - Exactly one of `schema` (an Avro record schema, parsed with avsc) and `fields` (a short form turned
 *   into a record schema named PascalCase(name) in namespace `gensemble.user`; `timestamp` is a
 *   `long` with logicalType `timestamp-millis`; `optional: true` makes it `["null", T]`, default null).
 * - Only top-level fields of primitive type (or `["null", primitive]`) can be the id, the event time or
 *   a feature; enums can be categorical features. Other fields may exist and are ignored.
 * - Feature types and the fields they take: numeric ← int/long/float/double; categorical ←
 *   string/int/long/boolean/enum; boolean ← boolean; timestamp ← long with logicalType timestamp-millis.
 * - numeric: `transform` "none" (default) or "log" = sign(x)·log1p(|x|) (defined for every real x,
 *   negatives and 0 included); `scale` "standard" (default: (x − mean) / population std, std 0 → 1),
 *   "robust" ((x − median) / IQR with linearly interpolated quartiles, IQR 0 → 1) or "none".
 * - categorical: `encoding` "one-hot" (default: the `maxCategories` most frequent training values, ties
 *   by value order, plus a `__other__` column for the rest, unknown values and null) or "frequency"
 *   (one column: ln(count / N) of the training value, ln(0.5 / N) for a value never seen); maxCategories
 *   1..1024, default 32 for one-hot and 1024 for frequency (the number of values whose frequency is kept).
 * - timestamp: four columns, sin/cos of the UTC hour of day (fractional) and of the UTC day of week.
 *
 * - numeric, boolean, timestamp: `missing` "indicator" (the default for an optional, i.e. nullable, field)
 *   or "reject" (the default otherwise, and the only choice for a field that is not nullable).
 *
 * Records (after Avro decoding): a null (or absent) numeric, boolean or timestamp feature is encoded
 * when its `missing` is "indicator" (encoder.ts) and is a ValidationError when it is "reject"; a null
 * categorical value is encoded as `__other__` (one-hot) or by the training frequency of null
 * (frequency). Times are numbers of ms
 * since the epoch (gensemble registers no avsc logical types), a Date or a bigint is accepted as well.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import avro from 'avsc';
import { z } from 'zod';
import { ValidationError } from '../../schemas/errors.js';
import { MAX_ID_LENGTH } from '../../schemas/validate.js';
import { KindSpecError } from '../errors.js';

/** Kinds gensemble defines itself; a user kind may not take these names. */
export const BUILTIN_KIND_NAMES = ['transactions', 'frames'] as const;
export const KIND_NAME_RE = /^[a-z][a-z0-9_]{0,39}$/;
/** Legal Kafka topic names. */
export const KIND_TOPIC_RE = /^[A-Za-z0-9._-]{1,249}$/;
/** Namespace of the record schema made from the `fields` short form. */
export const USER_KIND_NAMESPACE = 'gensemble.user';
export const MAX_CATEGORIES_LIMIT = 1024;
export const DEFAULT_MAX_CATEGORIES_ONE_HOT = 32;
export const DEFAULT_MAX_CATEGORIES_FREQUENCY = 1024;

export type NumericTransform = 'none' | 'log';
export type NumericScale = 'standard' | 'robust' | 'none';
export type CategoricalEncoding = 'one-hot' | 'frequency';
/**
 * What a null (or absent) value of a numeric, boolean or timestamp feature does: "indicator" encodes
 * it (the training median, mean or circle centre, plus a `<name>:missing` 0/1 column), "reject" makes
 * the record a ValidationError (the dead-letter topic in the stream). The default is "indicator" for a
 * nullable field and "reject" otherwise (such a field cannot be null in a message).
 */
export type MissingPolicy = 'indicator' | 'reject';

export interface NumericFeature {
  type: 'numeric';
  transform: NumericTransform;
  scale: NumericScale;
  missing: MissingPolicy;
}
export interface CategoricalFeature {
  type: 'categorical';
  encoding: CategoricalEncoding;
  maxCategories: number;
}
export interface BooleanFeature {
  type: 'boolean';
  missing: MissingPolicy;
}
export interface TimestampFeature {
  type: 'timestamp';
  missing: MissingPolicy;
}
/** A feature with every default filled in. */
export type FeatureSpec = NumericFeature | CategoricalFeature | BooleanFeature | TimestampFeature;
export type FeatureType = FeatureSpec['type'];

export interface TabularKindSpec {
  name: string;
  description?: string;
  /** Kafka topic of the kind's Avro records. */
  topic: string;
  /** The record schema (JSON form): the user's `schema`, or the one made from `fields`. */
  schema: avro.Schema;
  /** Field holding the record id (string, int or long; never null). */
  id: string;
  /** Field holding the event time (long, ms since the epoch). */
  eventTime?: string;
  /** Feature name (= field name) → feature, in declaration order. */
  features: Record<string, FeatureSpec>;
  /** Where the declaration came from (file path), for messages. */
  source?: string;
}

/** The base type of a top-level field, nullable unions unwrapped. */
export type FieldBase =
  | 'string'
  | 'int'
  | 'long'
  | 'float'
  | 'double'
  | 'boolean'
  | 'enum'
  | 'bytes'
  | 'fixed'
  | 'null'
  | 'complex';

/** One top-level field of a kind's record schema. */
export interface KindField {
  name: string;
  base: FieldBase;
  /** `["null", T]` (either order). */
  nullable: boolean;
  /** A long with logicalType timestamp-millis. */
  timestampMillis: boolean;
  /** Enum symbols (base 'enum'). */
  symbols?: readonly string[];
  /** Whether the field has an Avro default, and its value. */
  hasDefault: boolean;
  defaultValue?: unknown;
  /** For messages: "string", "[null, double]", "long (timestamp-millis)", ... */
  label: string;
}

const NUMERIC_BASES: ReadonlySet<FieldBase> = new Set(['int', 'long', 'float', 'double']);
const CATEGORICAL_BASES: ReadonlySet<FieldBase> = new Set(['string', 'int', 'long', 'boolean', 'enum']);
const ID_BASES: ReadonlySet<FieldBase> = new Set(['string', 'int', 'long']);

// ---------------------------------------------------------------------------------------------------
// zod schemas of the declaration

const AVRO_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const SHORT_FIELD_TYPES = ['string', 'double', 'float', 'int', 'long', 'boolean', 'timestamp'] as const;
type ShortFieldType = (typeof SHORT_FIELD_TYPES)[number];

const fieldDecl = z
  .object({
    name: z
      .string()
      .regex(AVRO_NAME_RE, 'must be an Avro name (letters, digits, _; not starting with a digit)'),
    type: z.enum(SHORT_FIELD_TYPES),
    optional: z.boolean().optional(),
    doc: z.string().optional(),
  })
  .strict();

const maxCategories = z
  .number()
  .int(`must be an integer from 1 to ${MAX_CATEGORIES_LIMIT}`)
  .min(1, `must be an integer from 1 to ${MAX_CATEGORIES_LIMIT}`)
  .max(MAX_CATEGORIES_LIMIT, `must be an integer from 1 to ${MAX_CATEGORIES_LIMIT}`);

const missingDecl = z.enum(['indicator', 'reject']).optional();

const featureDecl = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('numeric'),
      transform: z.enum(['none', 'log']).optional(),
      scale: z.enum(['standard', 'robust', 'none']).optional(),
      missing: missingDecl,
    })
    .strict(),
  z
    .object({
      type: z.literal('categorical'),
      encoding: z.enum(['one-hot', 'frequency']).optional(),
      maxCategories: maxCategories.optional(),
    })
    .strict(),
  z.object({ type: z.literal('boolean'), missing: missingDecl }).strict(),
  z.object({ type: z.literal('timestamp'), missing: missingDecl }).strict(),
]);

const FEATURE_KEYS: Record<FeatureType, readonly string[]> = {
  numeric: ['type', 'transform', 'scale', 'missing'],
  categorical: ['type', 'encoding', 'maxCategories'],
  boolean: ['type', 'missing'],
  timestamp: ['type', 'missing'],
};
const TOP_KEYS = ['name', 'description', 'topic', 'schema', 'fields', 'id', 'eventTime', 'features'];
const FIELD_KEYS = ['name', 'type', 'optional', 'doc'];

const declaration = z
  .object({
    name: z
      .string()
      .regex(
        KIND_NAME_RE,
        'must be a lower-case letter then up to 39 lower-case letters, digits or _ (/^[a-z][a-z0-9_]{0,39}$/)',
      )
      .refine((n) => !(BUILTIN_KIND_NAMES as readonly string[]).includes(n), {
        message: `is the name of a built-in kind (${BUILTIN_KIND_NAMES.join(', ')}); choose another`,
      }),
    description: z.string().optional(),
    topic: z
      .string()
      .regex(KIND_TOPIC_RE, 'must be a Kafka topic name: 1 to 249 characters from A-Z a-z 0-9 . _ -'),
    schema: z.unknown().optional(),
    fields: z.array(fieldDecl).min(1, 'must list at least one field').optional(),
    id: z.string(),
    eventTime: z.string().optional(),
    features: z.record(z.string(), featureDecl),
  })
  .strict();

// ---------------------------------------------------------------------------------------------------
// messages

/** `features.amount.scale`, `fields[2].type`, `features["a.b"]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else {
      const k = String(p);
      s += AVRO_NAME_RE.test(k) ? (s ? `.${k}` : k) : `[${JSON.stringify(k)}]`;
    }
  }
  return s;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function quoteList(xs: readonly string[]): string {
  return xs.map((x) => `"${x}"`).join(', ');
}

/** "a, b, c, ... (N in all)" for long lists. */
function nameList(xs: readonly string[], max = 12): string {
  return xs.length <= max ? xs.join(', ') : `${xs.slice(0, max).join(', ')}, ... (${xs.length} in all)`;
}

function allowedKeysAt(root: unknown, path: readonly PropertyKey[]): readonly string[] | null {
  if (path.length === 0) return TOP_KEYS;
  if (path.length === 2 && path[0] === 'fields') return FIELD_KEYS;
  if (path.length === 2 && path[0] === 'features') {
    const t = (valueAt(root, path) as { type?: unknown } | undefined)?.type;
    return typeof t === 'string' && t in FEATURE_KEYS ? FEATURE_KEYS[t as FeatureType] : null;
  }
  return null;
}

/** One zod issue as `[path, problem]`, phrased for a person editing the file. */
function describeIssue(issue: z.core.$ZodIssue, root: unknown): [string, string] {
  const path = issue.path;
  const got = valueAt(root, path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const allowed = allowedKeysAt(root, path);
      const tail = allowed ? ` (allowed: ${allowed.join(', ')})` : '';
      if (issue.keys.length === 1) return [formatPath([...path, issue.keys[0]]), `unknown key${tail}`];
      return [formatPath(path), `unknown keys ${quoteList(issue.keys)}${tail}`];
    }
    case 'invalid_union': {
      const u = issue as { options?: unknown[] };
      if (Array.isArray(u.options)) {
        const opts = u.options.map(String);
        return [formatPath(path), `must be one of ${quoteList(opts)} (got ${describeValue(got)})`];
      }
      return [formatPath(path), issue.message];
    }
    case 'invalid_value':
      return [
        formatPath(path),
        `must be one of ${quoteList(issue.values.map(String))} (got ${describeValue(got)})`,
      ];
    case 'invalid_type':
      if (got === undefined) return [formatPath(path), 'is required'];
      if (path.length === 0) return ['', `must be a JSON object, got ${describeValue(got)}`];
      return [
        formatPath(path),
        `must be ${issue.expected === 'record' ? 'an object' : `a ${issue.expected}`}, got ${describeValue(got)}`,
      ];
    default:
      return [formatPath(path), `${issue.message} (got ${describeValue(got)})`];
  }
}

function specError(source: string, path: string, problem: string, cause?: unknown): KindSpecError {
  return new KindSpecError(source, path, problem, cause);
}

// ---------------------------------------------------------------------------------------------------
// fields

/** "card_tx" → "CardTx". */
export function pascalCase(name: string): string {
  return name
    .split('_')
    .filter((p) => p !== '')
    .map((p) => p[0].toUpperCase() + p.slice(1))
    .join('');
}

function shortFieldType(t: ShortFieldType): avro.Schema {
  return t === 'timestamp' ? { type: 'long', logicalType: 'timestamp-millis' } : t;
}

/** The record schema of the `fields` short form. */
function schemaFromFields(name: string, fields: z.infer<typeof fieldDecl>[], source: string): avro.Schema {
  const seen = new Map<string, number>();
  const out: Record<string, unknown>[] = [];
  fields.forEach((f, i) => {
    const prev = seen.get(f.name);
    if (prev !== undefined) {
      throw specError(
        source,
        `fields[${i}].name`,
        `field "${f.name}" is already declared at fields[${prev}]`,
      );
    }
    seen.set(f.name, i);
    const t = shortFieldType(f.type);
    const field: Record<string, unknown> = f.optional
      ? { name: f.name, type: ['null', t], default: null }
      : { name: f.name, type: t };
    if (f.doc !== undefined) field.doc = f.doc;
    out.push(field);
  });
  return {
    type: 'record',
    name: pascalCase(name),
    namespace: USER_KIND_NAMESPACE,
    fields: out,
  } as avro.Schema;
}

function rawLogicalType(raw: unknown): string | undefined {
  if (Array.isArray(raw)) {
    for (const b of raw) {
      const lt = rawLogicalType(b);
      if (lt !== undefined) return lt;
    }
    return undefined;
  }
  if (raw !== null && typeof raw === 'object') {
    const lt = (raw as { logicalType?: unknown }).logicalType;
    return typeof lt === 'string' ? lt : undefined;
  }
  return undefined;
}

function baseOf(t: avro.Type): FieldBase {
  switch (t.typeName) {
    case 'string':
    case 'int':
    case 'long':
    case 'float':
    case 'double':
    case 'boolean':
    case 'enum':
    case 'bytes':
    case 'fixed':
    case 'null':
      return t.typeName;
    default:
      return 'complex';
  }
}

function analyseField(f: avro.types.Field, rawType: unknown): KindField {
  let t = f.type;
  let nullable = false;
  if (t.typeName.startsWith('union')) {
    const branches = (t as unknown as { types: avro.Type[] }).types;
    const nonNull = branches.filter((b) => b.typeName !== 'null');
    if (branches.length === 2 && nonNull.length === 1) {
      nullable = true;
      t = nonNull[0];
    }
  }
  const base = nullable || !t.typeName.startsWith('union') ? baseOf(t) : 'complex';
  const timestampMillis = base === 'long' && rawLogicalType(rawType) === 'timestamp-millis';
  const def: unknown = f.defaultValue();
  const core = timestampMillis ? 'long (timestamp-millis)' : base === 'complex' ? t.typeName : base;
  const field: KindField = {
    name: f.name,
    base,
    nullable,
    timestampMillis,
    hasDefault: def !== undefined,
    label: nullable ? `[null, ${core}]` : core,
  };
  if (def !== undefined) field.defaultValue = def;
  if (base === 'enum') field.symbols = (t as avro.types.EnumType).symbols;
  return field;
}

interface Analysed {
  type: avro.Type;
  fields: KindField[];
}

const analysedCache = new WeakMap<object, Analysed>();

function analyseSchema(schema: avro.Schema): Analysed {
  const type = avro.Type.forSchema(schema);
  if (type.typeName !== 'record') throw new Error(`not a record schema but ${type.typeName}`);
  const rawFields = (schema as { fields?: { type?: unknown }[] }).fields ?? [];
  const fields = (type as avro.types.RecordType).fields.map((f, i) => analyseField(f, rawFields[i]?.type));
  return { type, fields };
}

function analysed(spec: TabularKindSpec): Analysed {
  const key = spec.schema as object;
  let a = analysedCache.get(key);
  if (!a) {
    a = analyseSchema(spec.schema);
    analysedCache.set(key, a);
  }
  return a;
}

/** The top-level fields of the kind's record schema, in schema order. */
export function kindFields(spec: TabularKindSpec): readonly KindField[] {
  return analysed(spec).fields;
}

/** The avsc type of the kind's record schema (no logical types: times decode to numbers of ms). */
export function kindAvroType(spec: TabularKindSpec): avro.Type {
  return analysed(spec).type;
}

// ---------------------------------------------------------------------------------------------------
// parsing

const FEATURE_FIELD_RULE: Record<FeatureType, [ReadonlySet<FieldBase> | null, string]> = {
  numeric: [NUMERIC_BASES, 'a numeric field (int, long, float, double)'],
  categorical: [CATEGORICAL_BASES, 'a string, int, long, boolean or enum field'],
  boolean: [new Set<FieldBase>(['boolean']), 'a boolean field'],
  timestamp: [null, 'a long field with logicalType timestamp-millis'],
};

function fillDefaults(f: z.infer<typeof featureDecl>, nullable: boolean): FeatureSpec {
  const missing: MissingPolicy = nullable ? 'indicator' : 'reject';
  switch (f.type) {
    case 'numeric':
      return {
        type: 'numeric',
        transform: f.transform ?? 'none',
        scale: f.scale ?? 'standard',
        missing: f.missing ?? missing,
      };
    case 'categorical': {
      const encoding = f.encoding ?? 'one-hot';
      const max =
        f.maxCategories ??
        (encoding === 'one-hot' ? DEFAULT_MAX_CATEGORIES_ONE_HOT : DEFAULT_MAX_CATEGORIES_FREQUENCY);
      return { type: 'categorical', encoding, maxCategories: max };
    }
    case 'boolean':
      return { type: 'boolean', missing: f.missing ?? missing };
    case 'timestamp':
      return { type: 'timestamp', missing: f.missing ?? missing };
  }
}

/**
 * Validates a parsed kind declaration (`source` = its file, for messages) and returns it with every
 * default filled in. Any problem is a {@link KindSpecError} with a one-line message naming `source`
 * and the offending path.
 */
export function parseKindSpec(json: unknown, source: string): TabularKindSpec {
  const parsed = declaration.safeParse(json);
  if (!parsed.success) {
    const [path, problem] = describeIssue(parsed.error.issues[0], json);
    throw specError(source, path, problem);
  }
  const d = parsed.data;

  let schema: avro.Schema;
  if (d.schema !== undefined && d.fields !== undefined) {
    throw specError(source, 'fields', 'give either "schema" (an Avro record schema) or "fields", not both');
  } else if (d.fields !== undefined) {
    schema = schemaFromFields(d.name, d.fields, source);
  } else if (d.schema !== undefined) {
    const s = d.schema;
    if (
      s === null ||
      typeof s !== 'object' ||
      Array.isArray(s) ||
      (s as { type?: unknown }).type !== 'record'
    ) {
      throw specError(
        source,
        'schema',
        `must be an Avro record schema ({"type": "record", ...}), got ${describeValue(s)}`,
      );
    }
    schema = structuredClone(s) as avro.Schema;
  } else {
    throw specError(
      source,
      '',
      'needs "fields" (a list of {name, type}) or "schema" (an Avro record schema)',
    );
  }

  let a: Analysed;
  try {
    a = analyseSchema(schema);
  } catch (e) {
    throw specError(source, 'schema', `not a valid Avro record schema: ${(e as Error).message}`, e);
  }
  const byName = new Map(a.fields.map((f) => [f.name, f]));
  const fieldNames = a.fields.map((f) => f.name);
  const lookup = (path: string, name: string): KindField => {
    const f = byName.get(name);
    if (!f)
      throw specError(source, path, `no field "${name}" in the schema (fields: ${nameList(fieldNames)})`);
    return f;
  };

  const idField = lookup('id', d.id);
  if (!ID_BASES.has(idField.base) || idField.nullable) {
    throw specError(
      source,
      'id',
      `the id needs a string, int or long field that is not nullable, "${d.id}" is ${idField.label}`,
    );
  }
  if (d.eventTime !== undefined) {
    const f = lookup('eventTime', d.eventTime);
    if (f.base !== 'long' || f.nullable) {
      throw specError(
        source,
        'eventTime',
        `the event time needs a long field (ms since the epoch, logicalType timestamp-millis or plain) that is not nullable, "${d.eventTime}" is ${f.label}`,
      );
    }
  }

  const features: Record<string, FeatureSpec> = {};
  const names = Object.keys(d.features);
  if (names.length === 0) throw specError(source, 'features', 'declare at least one feature');
  for (const name of names) {
    const path = formatPath(['features', name]);
    const f = lookup(path, name);
    const feature = fillDefaults(d.features[name], f.nullable);
    const [bases, needs] = FEATURE_FIELD_RULE[feature.type];
    const ok = bases ? bases.has(f.base) : f.base === 'long' && f.timestampMillis;
    if (!ok) throw specError(source, path, `${feature.type} needs ${needs}, "${name}" is ${f.label}`);
    if (feature.type !== 'categorical' && feature.missing === 'indicator' && !f.nullable) {
      throw specError(
        source,
        formatPath(['features', name, 'missing']),
        `"indicator" needs an optional (nullable) field, "${name}" is ${f.label} and is never null in a message`,
      );
    }
    features[name] = feature;
  }

  const spec: TabularKindSpec = { name: d.name, topic: d.topic, schema, id: d.id, features, source };
  if (d.description !== undefined) spec.description = d.description;
  if (d.eventTime !== undefined) spec.eventTime = d.eventTime;
  analysedCache.set(schema as object, a);
  return spec;
}

/** " (line 3, column 5)" for a JSON.parse message that gives a position. */
function jsonPosition(text: string, message: string): string {
  const m = /at position (\d+)/.exec(message);
  if (!m || /line \d+/.test(message)) return '';
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return ` (line ${line}, column ${column})`;
}

/** Reads and validates one declaration file. */
export async function loadKindSpecFile(path: string): Promise<TabularKindSpec> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw specError(path, '', code === 'ENOENT' ? 'no such file' : `cannot read: ${(e as Error).message}`, e);
  }
  let json: unknown;
  try {
    json = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
  } catch (e) {
    const msg = (e as Error).message;
    throw specError(path, '', `invalid JSON: ${msg}${jsonPosition(text, msg)}`, e);
  }
  return parseKindSpec(json, path);
}

/**
 * Reads every `*.json` of `dir` (in file-name order; a missing directory has none). Two files
 * declaring the same kind name are a {@link KindSpecError}.
 */
export async function loadKindSpecDir(dir: string): Promise<TabularKindSpec[]> {
  let entries: string[];
  try {
    entries = (await readdir(dir, { withFileTypes: true }))
      .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.json'))
      .map((e) => e.name)
      .sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw specError(dir, '', `cannot read the directory: ${(e as Error).message}`, e);
  }
  const specs: TabularKindSpec[] = [];
  const byName = new Map<string, string>();
  for (const name of entries) {
    const path = join(dir, name);
    const spec = await loadKindSpecFile(path);
    const prev = byName.get(spec.name);
    if (prev !== undefined)
      throw specError(path, 'name', `kind "${spec.name}" is already declared in ${prev}`);
    byName.set(spec.name, path);
    specs.push(spec);
  }
  return specs;
}

// ---------------------------------------------------------------------------------------------------
// record validation

const Check = { Numeric: 0, Categorical: 1, Boolean: 2, Time: 3 } as const;
type Check = (typeof Check)[keyof typeof Check];

interface FieldCheck {
  name: string;
  check: Check;
  what: string;
  /** A null or absent value passes (the feature's `missing` is "indicator"). */
  nullable: boolean;
}

interface CompiledValidator {
  id: string;
  idNumeric: boolean;
  checks: FieldCheck[];
}

const validators = new WeakMap<TabularKindSpec, CompiledValidator>();

function compileValidator(spec: TabularKindSpec): CompiledValidator {
  const fields = new Map(kindFields(spec).map((f) => [f.name, f]));
  const checks: FieldCheck[] = [];
  if (spec.eventTime !== undefined && spec.features[spec.eventTime]?.type !== 'timestamp') {
    checks.push({ name: spec.eventTime, check: Check.Time, what: 'the event time', nullable: false });
  }
  for (const [name, f] of Object.entries(spec.features)) {
    const check =
      f.type === 'numeric'
        ? Check.Numeric
        : f.type === 'categorical'
          ? Check.Categorical
          : f.type === 'boolean'
            ? Check.Boolean
            : Check.Time;
    const nullable = f.type !== 'categorical' && f.missing === 'indicator';
    checks.push({ name, check, what: `${f.type} features`, nullable });
  }
  const idBase = fields.get(spec.id)?.base;
  return { id: spec.id, idNumeric: idBase === 'int' || idBase === 'long', checks };
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

function fail(reason: 'NON_FINITE' | 'BAD_ID' | 'INVALID_RECORD', message: string, field: string): never {
  throw new ValidationError(reason, message, field);
}

/**
 * Checks that a record of `spec`'s kind can be scored, throwing a {@link ValidationError}:
 * - BAD_ID: the id is missing, not a string of 1..512 characters, nor a safe integer / bigint;
 * - NON_FINITE: a numeric or time value is NaN or ±Infinity;
 * - INVALID_RECORD: a numeric, boolean or timestamp feature whose `missing` is "reject" (or the event
 *   time) is null or absent, or a value has the wrong type. A null or absent categorical value is fine
 *   (it encodes as `__other__`), and so is a null or absent feature whose `missing` is "indicator".
 * Times may be numbers (ms since the epoch), Dates or bigints; numbers may be bigints.
 */
export function validateTabularRecord(spec: TabularKindSpec, record: Record<string, unknown>): void {
  let c = validators.get(spec);
  if (!c) {
    c = compileValidator(spec);
    validators.set(spec, c);
  }
  if (record === null || typeof record !== 'object') {
    fail('INVALID_RECORD', `record is ${typeName(record)}, not an object`, '');
  }
  const id = record[c.id];
  if (typeof id === 'string') {
    if (id.length === 0 || id.length > MAX_ID_LENGTH) {
      fail('BAD_ID', `${c.id} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`, c.id);
    }
  } else if (!(typeof id === 'bigint' || (typeof id === 'number' && Number.isSafeInteger(id)))) {
    fail(
      'BAD_ID',
      id === undefined || id === null
        ? `${c.id} (the record id) is ${id === null ? 'null' : 'missing'}`
        : `${c.id} (the record id) is ${typeName(id)} ${String(id)}, not ${c.idNumeric ? 'an integer' : 'a string'}`,
      c.id,
    );
  }
  const checks = c.checks;
  for (let i = 0; i < checks.length; i++) {
    const k = checks[i];
    const v = record[k.name];
    if (k.nullable && (v === null || v === undefined)) continue;
    switch (k.check) {
      case Check.Numeric:
        if (typeof v === 'number') {
          if (!Number.isFinite(v)) fail('NON_FINITE', `${k.name} is ${v}, not a finite number`, k.name);
        } else if (typeof v !== 'bigint') {
          fail(
            'INVALID_RECORD',
            v === null || v === undefined
              ? `${k.name} is ${v === null ? 'null' : 'missing'}: numeric features must be present`
              : `${k.name} is ${typeName(v)}, not a number`,
            k.name,
          );
        }
        break;
      case Check.Categorical:
        if (typeof v === 'number') {
          if (!Number.isFinite(v)) fail('NON_FINITE', `${k.name} is ${v}, not a finite number`, k.name);
        } else if (
          v !== null &&
          v !== undefined &&
          typeof v !== 'string' &&
          typeof v !== 'boolean' &&
          typeof v !== 'bigint'
        ) {
          fail('INVALID_RECORD', `${k.name} is ${typeName(v)}, not a category value`, k.name);
        }
        break;
      case Check.Boolean:
        if (typeof v !== 'boolean') {
          fail(
            'INVALID_RECORD',
            v === null || v === undefined
              ? `${k.name} is ${v === null ? 'null' : 'missing'}: boolean features must be present`
              : `${k.name} is ${typeName(v)}, not a boolean`,
            k.name,
          );
        }
        break;
      case Check.Time: {
        const ms =
          typeof v === 'number' ? v : v instanceof Date ? v.getTime() : typeof v === 'bigint' ? 0 : v;
        if (typeof ms !== 'number') {
          fail(
            'INVALID_RECORD',
            ms === null || ms === undefined
              ? `${k.name} is ${ms === null ? 'null' : 'missing'}: ${k.what} must be present`
              : `${k.name} is ${typeName(ms)}, not a time (ms since the epoch)`,
            k.name,
          );
        } else if (!Number.isFinite(ms)) {
          fail(
            'NON_FINITE',
            `${k.name} is ${v instanceof Date ? 'an invalid Date' : ms}, not a finite time`,
            k.name,
          );
        }
        break;
      }
    }
  }
}
