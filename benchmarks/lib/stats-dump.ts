/**
 * Per-record ensemble statistics of a benchmark run, written beside its report so that a later study
 * of score rules (a new combination of log p, rate, variance, L(x)) can be run on the same numbers
 * without retraining or rescoring the models. Each set stores the members' log p and rate (row-major
 * [n, M]), their K-sample ELBO estimates when the scorer gave them, and, for frames, the input
 * complexity L(x), all float32 as in the ScoreBatch, base64-coded;
 * the file is gzipped JSON (≈ 45 bytes per record with M = 5).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ScoreBatch } from '../../src/engine/types.js';
import type { DoseRule } from '../../src/engine/dose.js';

const FIELDS = ['logp', 'memberRate', 'logpMean', 'logpVar', 'waic', 'rate'] as const;
type Field = (typeof FIELDS)[number];

export type DumpedSet = { n: number; members: number; complexity?: string; memberElbo?: string } & Record<
  Field,
  string
>;

export interface StatsDump {
  /** What the sets are (free text: the benchmark, the model, which split is which). */
  description: string;
  /** The checkpoint's dose rule (fitted on its validation normals), to rebuild variants of it. */
  dose?: DoseRule;
  sets: Record<string, DumpedSet>;
}

const b64 = (a: Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
const f32 = (s: string): Float32Array => {
  const b = Buffer.from(s, 'base64');
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};

export function dumpSet(b: ScoreBatch): DumpedSet {
  const fields = Object.fromEntries(FIELDS.map((f) => [f, b64(b[f])])) as Record<Field, string>;
  return {
    n: b.n,
    members: b.members,
    ...fields,
    ...(b.complexity ? { complexity: b64(b.complexity) } : {}),
    ...(b.memberElbo ? { memberElbo: b64(b.memberElbo) } : {}),
  };
}

/** The ScoreBatch of a dumped set, bit for bit the one that was dumped (without `input`/`critic`). */
export function loadSet(d: DumpedSet): ScoreBatch {
  const fields = Object.fromEntries(FIELDS.map((f) => [f, f32(d[f])])) as Record<Field, Float32Array>;
  return {
    n: d.n,
    members: d.members,
    ...fields,
    ...(d.complexity ? { complexity: f32(d.complexity) } : {}),
    ...(d.memberElbo ? { memberElbo: f32(d.memberElbo) } : {}),
  };
}

export async function writeStatsDump(path: string, dump: StatsDump): Promise<void> {
  await writeFile(path, gzipSync(Buffer.from(JSON.stringify(dump)), { level: 9 }));
}

export async function readStatsDump(path: string): Promise<StatsDump> {
  return JSON.parse(gunzipSync(await readFile(path)).toString('utf8')) as StatsDump;
}

/** A comparison row of a dump: the AUROC of the `pos` sets (averaged) against the `neg` set. */
export interface DumpRow {
  label: string;
  neg: string;
  pos: string[];
}

/**
 * The rows the member-by-member comparison scripts print (width-compare.ts, elbo-compare.ts): each
 * corruption proxy against the validation normals, the proxies' mean, then every OoD set of the dump
 * against the in-distribution test images.
 */
export function dumpComparisonRows(dump: StatsDump): DumpRow[] {
  const proxies = Object.keys(dump.sets).filter((s) => s.startsWith('proxy-'));
  const ood = Object.keys(dump.sets).filter(
    (s) => !s.startsWith('proxy-') && !['test', 'validation-normal', 'calibration'].includes(s),
  );
  return [
    ...proxies.map((p) => ({ label: `validation: ${p}`, neg: 'validation-normal', pos: [p] })),
    { label: '**validation: proxies mean**', neg: 'validation-normal', pos: proxies },
    ...ood.map((o) => ({ label: `test: ${o}`, neg: 'test', pos: [o] })),
  ];
}
