/**
 * User-declared tabular kinds: a kind whose records a user describes in a JSON file in KINDS_DIR (an
 * Avro schema or a field list, the id and event-time fields, and a feature spec per field; see
 * ./spec.ts and the README). The feature encoder (vocabularies, scaling) is fitted on the training
 * file and stored in the model's manifest (`input`), so the stream, `gensemble score` and training
 * encode a record identically.
 */
import type { CheckpointManifest, JsonValue } from '../../engine/checkpoint.js';
import { DEFAULT_COMBINED_COMPONENTS } from '../../engine/score-rules.js';
import { DOSE_STATISTICS_TABULAR } from '../../engine/dose.js';
import { ConfigError, InputError } from '../../errors.js';
import { SingleObjectCodec, type RecordSpec } from '../../schemas/codec.js';
import { allColumns, tabularMlpConfig, type ModelProfile } from '../../detector/profile.js';
import { cleanText } from '../text.js';
import type { KindDefinition, OfflineRecords, RecordBinding } from '../types.js';
import { validateTabularRecord, type TabularKindSpec } from './spec.js';
import {
  encoderDim,
  binaryColumnIndices,
  encodeTabularRecord,
  encodeTabularRecords,
  fitTabularEncoder,
  parseFittedEncoder,
  type FittedTabularEncoder,
} from './encoder.js';
import { readTabularFile } from './read.js';

export type TabularRecord = Record<string, unknown>;

/**
 * The default model of a declared kind: one 64-unit layer each side, 8 latent dimensions, and the
 * 'mixed' likelihood: a Gaussian with a learned scale per feature on the standardised (unclipped)
 * continuous columns, a Bernoulli on the 0/1 columns the encoder makes (one-hot, boolean, missing
 * indicators; those that vary in training), the Gaussian alone when there is none.
 * - Until 2026-12-07 19:05 UTC it was the paper's Bernoulli on min-max features clipped to [0, 1],
 *   which pins every value beyond the training range to the range's edge: an amount 50 times the usual
 *   scored like the largest training amount (benchmarks/declared-kind/likelihood.ts: AUROC 65.7 %, 4 %
 *   flagged, against 90.4 % and 41 % with the Gaussian).
 * - Until 22:15 UTC it was the Gaussian on every column, which costs a member that has not learned a
 *   rare category ≈ 1/p nats: 14.5 % of the normal records of the rarest categories were flagged,
 *   5.8 % with 'mixed', which also sees the amounts far better (×50: AUROC 99.9 against 90.4; BENCHMARKS.md,
 *   "Declared kinds: the mixed likelihood").
 * `--likelihood gaussian` and `--likelihood bernoulli` still train the earlier models.
 */
export const tabularProfile: ModelProfile = {
  defaultConfig: (inputDim) => ({
    ...tabularMlpConfig([64], [64], 8)(inputDim),
    likelihood: 'mixed',
    transform: 'standard',
  }),
  inputComplexity: false,
  doseStatistics: DOSE_STATISTICS_TABULAR,
  combinedComponents: DEFAULT_COMBINED_COMPONENTS,
  headColumns: allColumns,
};

/** A value as a flag keeps it: numbers and booleans as sent, strings capped, dates ISO, bytes left out. */
function payloadValue(v: unknown): unknown {
  if (v === null || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'string') return cleanText(v, 256);
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.toISOString() : null;
  return undefined;
}

function eventTimeOf(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.getTime();
  return Date.now();
}

/** The fitted encoder stored in a model of this kind. Throws ConfigError. */
export function modelEncoder(spec: TabularKindSpec, manifest: CheckpointManifest): FittedTabularEncoder {
  if (manifest.kind !== spec.name)
    throw new ConfigError(`a ${manifest.kind} model cannot score ${spec.name} records`);
  if (manifest.input === undefined)
    throw new ConfigError(`the ${spec.name} model has no fitted input encoder in its manifest`);
  const enc = parseFittedEncoder(manifest.input, spec);
  if (encoderDim(enc) !== manifest.inputDim)
    throw new ConfigError(
      `the ${spec.name} model takes ${manifest.inputDim} features, its encoder makes ${encoderDim(enc)}`,
    );
  return enc;
}

/** A record back from a flag payload: timestamps (kept as ISO text) as ms again. */
function restoreRecord(spec: TabularKindSpec, fields: TabularRecord): TabularRecord {
  const r: TabularRecord = { ...fields };
  for (const [name, f] of Object.entries(spec.features)) {
    const v = r[name];
    if (f.type === 'timestamp' && typeof v === 'string') r[name] = Date.parse(v);
  }
  return r;
}

export function tabularKind(spec: TabularKindSpec): KindDefinition<TabularRecord> {
  const record: RecordSpec<TabularRecord> = {
    schema: spec.schema,
    validate: (r) => validateTabularRecord(spec, r),
  };
  const fields = Object.keys(spec.features);
  const kept = new Set<string>([spec.id, ...(spec.eventTime ? [spec.eventTime] : []), ...fields]);
  // fromPayload is called once per flag (label training reads thousands): parse each model's stored
  // encoder once, keyed by the manifest's input object
  const parsed = new WeakMap<object, FittedTabularEncoder>();
  const encoderOf = (input: JsonValue): FittedTabularEncoder => {
    if (typeof input !== 'object' || input === null) return parseFittedEncoder(input, spec);
    let enc = parsed.get(input);
    if (enc === undefined) {
      enc = parseFittedEncoder(input, spec);
      parsed.set(input, enc);
    }
    return enc;
  };
  return {
    name: spec.name,
    description: spec.description ?? `user-declared tabular kind ${spec.name}`,
    builtin: false,
    record,
    codec: (options) => new SingleObjectCodec(record, [], options),
    topic: () => spec.topic,
    modelDir: () => '',
    profile: tabularProfile,
    bind(manifest): RecordBinding<TabularRecord> {
      const enc = modelEncoder(spec, manifest);
      return {
        inputDim: encoderDim(enc),
        writeFeatures: (r, out, row) => encodeTabularRecord(spec, enc, r, out, row),
        recordId: (r) => String(r[spec.id]),
        eventTime: (r) => (spec.eventTime ? eventTimeOf(r[spec.eventTime]) : Date.now()),
        payload: (r) => {
          const p: Record<string, unknown> = {};
          for (const f of kept) {
            const v = payloadValue(r[f]);
            if (v !== undefined) p[f] = v;
          }
          return { fields: p };
        },
      };
    },
    async readFile(path, options = {}): Promise<OfflineRecords> {
      const rows = await readTabularFile(spec, path, {
        ...(options.limit !== undefined ? { limit: options.limit } : {}),
        ...(options.onReject ? { onReject: options.onReject } : {}),
      });
      if (rows.records.length === 0) throw new InputError('KIND_DATA_EMPTY', `${path}: no records`);
      let enc: FittedTabularEncoder;
      if (options.input !== undefined) {
        enc = parseFittedEncoder(options.input, spec);
      } else {
        // Fitted on the records the model trains on when the file is labelled: not the anomalies
        // (unlabelled records count as normal, as in an unlabelled file).
        const normals = rows.labels
          ? rows.records.filter((_, i) => (rows.labels as Uint8Array)[i] !== 1)
          : rows.records;
        enc = fitTabularEncoder(spec, normals.length > 0 ? normals : rows.records);
      }
      const raw = encodeTabularRecords(spec, enc, rows.records);
      return {
        n: rows.records.length,
        d: encoderDim(enc),
        raw,
        ids: rows.ids,
        labels: rows.labels,
        input: JSON.parse(JSON.stringify(enc)) as OfflineRecords['input'],
        binaryColumns: binaryColumnIndices(enc),
      };
    },
    fromPayload(payload, input) {
      if (input === undefined) return null;
      const fieldsOf = (payload as { fields?: unknown } | null)?.fields;
      if (typeof fieldsOf !== 'object' || fieldsOf === null) return null;
      const enc = encoderOf(input);
      const row = new Float32Array(encoderDim(enc));
      try {
        encodeTabularRecord(spec, enc, restoreRecord(spec, fieldsOf as TabularRecord), row, 0);
      } catch {
        return null;
      }
      return Array.from(row);
    },
    fileFormats: `CSV or JSONL with the fields of kind ${spec.name} (a header / keys per field)`,
  };
}
