/**
 * Self-describing checkpoint directory:
 *   manifest.json  format version, kind, member spec (arch, prior with permutations, likelihood),
 *                  feature transform, k, members (seeds), thresholds, score rule, training config,
 *                  data fingerprint, createdAt, versions, weights layout, sha256 of both files
 *   weights.bin    every member's parameters then its eps, float32 little-endian, offsets in manifest
 *   model.onnx     the scoring graph exported from exactly these weights
 * {@link loadCheckpoint} validates all of it and throws {@link CheckpointError} with a clear message.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import onnxProto from 'onnx-proto';
import { z } from 'zod';
import { CheckpointError, ModelSpecError } from './errors.js';
import { exportEnsembleOnnx, ONNX_INPUT, ONNX_OUTPUTS, validateEnsembleSpec } from './onnx/export.js';
import { paramShapes, shapeSize } from './params.js';
import { OnnxScorer, type ScorerOptions } from './scorer.js';
import { COMPONENT_SCORES, SCORE_NAMES, type CombinedRule, type TypicalityRule } from './score-rules.js';
import { DOSE_STATISTICS, type DoseRule } from './dose.js';
import { HEAD_STATISTICS, TAIL_MAX_POINTS, type LabelledRule } from './supervised-head.js';
import { SPEC_VERSION, type EnsembleSpec, type MemberParams } from './spec.js';
import type { Scorer, ScoreName, Threshold } from './types.js';

export const CHECKPOINT_FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const WEIGHTS_FILE = 'weights.bin';
export const ONNX_FILE = 'model.onnx';

/**
 * The input kind a model was trained for, as a label: the engine stores it and never branches on it
 * (src/kinds owns what a kind means). Lower-case name, as in flags.kind.
 */
export type ModelKind = string;
export const MODEL_KIND_PATTERN = /^[a-z][a-z0-9_]{0,39}$/;
export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

const scoreName = z.enum(SCORE_NAMES);
const intPos = z.number().int().positive();
const archSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('mlp'),
      inputDim: intPos,
      encoderHidden: z.array(intPos),
      decoderHidden: z.array(intPos),
      latentDim: intPos,
    })
    .strict(),
  z
    .object({
      kind: z.literal('conv'),
      height: intPos,
      width: intPos,
      channels: intPos,
      base: intPos,
      latentDim: intPos,
    })
    .strict(),
]);
const priorSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('standard') }).strict(),
  z
    .object({
      kind: z.literal('maf'),
      layers: intPos,
      hidden: z.array(intPos),
      permutations: z.array(z.array(z.number().int().nonnegative())),
    })
    .strict(),
]);
const transformSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('minmax'), min: z.array(z.number()), max: z.array(z.number()) }).strict(),
  z.object({ kind: z.literal('standard'), mean: z.array(z.number()), std: z.array(z.number()) }).strict(),
  z.object({ kind: z.literal('scale'), factor: z.number() }).strict(),
]);
const thresholdSchema = z
  .object({
    score: scoreName,
    value: z.number(),
    targetFpr: z.number().min(0).max(1),
    calibrationSize: z.number().int().nonnegative(),
  })
  .strict();
const combinedSchema = z
  .object({
    components: z.array(
      z
        .object({
          score: z.enum(COMPONENT_SCORES),
          weight: z.number(),
          transform: z.literal('abs').optional(),
          mean: z.number(),
          std: z.number().positive(),
        })
        .strict(),
    ),
  })
  .strict();
const typicalitySchema = z
  .object({
    features: z.enum(['logp', 'logp_rate']),
    members: intPos,
    mean: z.array(z.number()),
    whiten: z.array(z.number()),
    shrinkage: z.number().min(0).max(1),
  })
  .strict()
  .refine(
    (t) => {
      const d = t.features === 'logp' ? t.members : 2 * t.members;
      return t.mean.length === d && t.whiten.length === d * d;
    },
    { message: 'typicality: mean must hold d values and whiten d×d (d = M, or 2M with rates)' },
  );
const doseSchema = z
  .object({
    densities: z
      .array(
        z
          .object({
            stat: z.enum(DOSE_STATISTICS),
            bandwidth: z.number().positive(),
            support: z.array(z.number()).min(1),
          })
          .strict()
          .refine((d) => d.support.every((v, i) => i === 0 || d.support[i - 1] <= v), {
            message: 'dose: support points must be sorted',
          }),
      )
      .min(1),
    fittedOn: intPos,
  })
  .strict();
const finite = z.number().finite();
const tailSchema = z
  .object({
    points: z.array(finite).min(2).max(TAIL_MAX_POINTS),
    n: intPos,
    tau: z.number().positive(),
  })
  .strict()
  .refine((t) => t.points.every((v, i) => i === 0 || t.points[i - 1] <= v), {
    message: 'tail map: points must be sorted',
  })
  .refine((t) => t.points.length <= t.n, { message: 'tail map: more points than records' });
const labelledSchema = z
  .object({
    head: z
      .object({
        inputDim: intPos,
        columns: z.array(z.number().int().nonnegative()),
        mean: z.array(finite),
        std: z.array(z.number().positive()),
        weights: z.array(finite),
        bias: finite,
        l2: z.number().positive(),
        positives: intPos,
        negatives: intPos,
      })
      .strict()
      .refine(
        (h) =>
          h.columns.every((j) => j < h.inputDim) &&
          [h.mean, h.std, h.weights].every((a) => a.length === h.columns.length + HEAD_STATISTICS.length),
        {
          message:
            'labelled.head: columns must be < inputDim; mean, std and weights must hold columns + 3 values',
        },
      ),
    doseTail: tailSchema,
    headTail: tailSchema,
  })
  .strict();
const sha = z.string().regex(/^[0-9a-f]{64}$/);
const jsonValue: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z.array(jsonValue),
    z.record(z.string(), jsonValue),
  ]),
);

export const manifestSchema = z
  .object({
    formatVersion: z.number().int(),
    specVersion: z.number().int(),
    kind: z.string().regex(MODEL_KIND_PATTERN, 'must be a kind name (a-z, 0-9, _; at most 40)'),
    /** The kind's fitted input encoder (e.g. a user-declared tabular kind's vocabularies), opaque here. */
    input: jsonValue.optional(),
    member: z
      .object({ arch: archSchema, likelihood: z.enum(['bernoulli', 'gaussian']), prior: priorSchema })
      .strict(),
    transform: transformSchema,
    inputDim: intPos,
    k: intPos,
    members: z.array(z.object({ seed: z.number().int() }).strict()).min(1),
    thresholds: z.array(thresholdSchema),
    scoreRule: z
      .object({
        score: scoreName,
        combined: combinedSchema.optional(),
        typicality: typicalitySchema.optional(),
        dose: doseSchema.optional(),
        labelled: labelledSchema.optional(),
      })
      .strict(),
    trainingConfig: z.record(z.string(), jsonValue),
    dataFingerprint: z.string(),
    createdAt: z.iso.datetime(),
    versions: z.object({ gensemble: z.string(), onnxruntimeNode: z.string(), tfjs: z.string() }).strict(),
    weights: z
      .object({
        file: z.literal(WEIGHTS_FILE),
        dtype: z.literal('float32-le'),
        byteLength: z.number().int().nonnegative(),
        sha256: sha,
        tensors: z.array(
          z
            .object({
              member: z.number().int().nonnegative(),
              name: z.string(),
              shape: z.array(z.number().int().nonnegative()),
              offset: z.number().int().nonnegative(),
            })
            .strict(),
        ),
      })
      .strict(),
    onnx: z
      .object({ file: z.literal(ONNX_FILE), sha256: sha, input: z.string(), outputs: z.array(z.string()) })
      .strict(),
  })
  .strict();

export type CheckpointManifest = z.infer<typeof manifestSchema>;

export interface SaveCheckpointOptions {
  kind: ModelKind;
  /** The kind's fitted input encoder, stored as is (the engine does not read it). */
  input?: JsonValue;
  thresholds?: Threshold[];
  scoreRule?: {
    score: ScoreName;
    combined?: CombinedRule;
    typicality?: TypicalityRule;
    dose?: DoseRule;
    labelled?: LabelledRule;
  };
  trainingConfig?: Record<string, JsonValue>;
  dataFingerprint: string;
  /** A previously exported graph of exactly this spec (else it is exported here). */
  onnxBytes?: Uint8Array;
  createdAt?: Date;
}

export interface LoadedCheckpoint {
  manifest: CheckpointManifest;
  spec: EnsembleSpec;
  onnxPath: string;
  /** The graph as read and verified (sha256): open the scorer on these bytes, not on the file again. */
  onnxBytes: Uint8Array;
}

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

function packageVersion(name: string): string {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const p =
    name === 'gensemble' ? join(root, 'package.json') : join(root, 'node_modules', name, 'package.json');
  try {
    return existsSync(p)
      ? String((JSON.parse(readFileSync(p, 'utf8')) as { version?: string }).version ?? 'unknown')
      : 'unknown';
  } catch {
    return 'unknown';
  }
}

export function engineVersions(): CheckpointManifest['versions'] {
  return {
    gensemble: packageVersion('gensemble'),
    onnxruntimeNode: packageVersion('onnxruntime-node'),
    tfjs: packageVersion('@tensorflow/tfjs'),
  };
}

/** Writes manifest.json, weights.bin and model.onnx into dir (created if needed). Returns the manifest. */
export async function saveCheckpoint(
  dir: string,
  spec: EnsembleSpec,
  opts: SaveCheckpointOptions,
): Promise<CheckpointManifest> {
  validateEnsembleSpec(spec);
  const shapes = paramShapes(spec.member);
  const dz = spec.member.arch.latentDim;
  const tensors: CheckpointManifest['weights']['tensors'] = [];
  let total = 0;
  spec.members.forEach((_, m) => {
    for (const [name, shape] of [...shapes, ['eps', [spec.k, dz]] as [string, number[]]]) {
      tensors.push({ member: m, name, shape, offset: total * 4 });
      total += shapeSize(shape);
    }
  });
  const buf = Buffer.alloc(total * 4);
  let t = 0;
  spec.members.forEach((mem) => {
    for (const [name] of shapes) {
      const data = mem.params[name].data;
      for (let i = 0; i < data.length; i++) buf.writeFloatLE(data[i], tensors[t].offset + 4 * i);
      t++;
    }
    for (let i = 0; i < mem.eps.length; i++) buf.writeFloatLE(mem.eps[i], tensors[t].offset + 4 * i);
    t++;
  });
  const onnxBytes = opts.onnxBytes ?? exportEnsembleOnnx(spec);
  const manifest: CheckpointManifest = {
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    specVersion: spec.specVersion,
    kind: opts.kind,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    member: structuredClone(spec.member),
    transform: structuredClone(spec.transform),
    inputDim: spec.inputDim,
    k: spec.k,
    members: spec.members.map((m) => ({ seed: m.seed })),
    thresholds: opts.thresholds ?? [],
    scoreRule: opts.scoreRule ?? { score: 'neg_waic' },
    trainingConfig: opts.trainingConfig ?? {},
    dataFingerprint: opts.dataFingerprint,
    createdAt: (opts.createdAt ?? new Date()).toISOString(),
    versions: engineVersions(),
    weights: {
      file: WEIGHTS_FILE,
      dtype: 'float32-le',
      byteLength: buf.length,
      sha256: sha256(buf),
      tensors,
    },
    onnx: { file: ONNX_FILE, sha256: sha256(onnxBytes), input: ONNX_INPUT, outputs: [...ONNX_OUTPUTS] },
  };
  manifestSchema.parse(manifest);
  await mkdir(dir, { recursive: true });
  // Manifest last (via rename), so a directory with a manifest always has both files written.
  await writeFile(join(dir, WEIGHTS_FILE), buf);
  await writeFile(join(dir, ONNX_FILE), onnxBytes);
  const tmp = join(dir, `${MANIFEST_FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n');
  await rename(tmp, join(dir, MANIFEST_FILE));
  return manifest;
}

async function readOrFail(dir: string, file: string): Promise<Buffer> {
  try {
    return await readFile(join(dir, file));
  } catch (e) {
    throw new CheckpointError(
      dir,
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
      e,
    );
  }
}

/** Reads and validates a checkpoint directory. Throws {@link CheckpointError}. */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  const raw = await readOrFail(dir, MANIFEST_FILE);
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (e) {
    throw new CheckpointError(dir, `${MANIFEST_FILE} is not valid JSON: ${(e as Error).message}`, e);
  }
  const fv = (json as { formatVersion?: unknown } | null)?.formatVersion;
  if (fv !== CHECKPOINT_FORMAT_VERSION)
    throw new CheckpointError(
      dir,
      `unsupported formatVersion ${JSON.stringify(fv)} (this gensemble reads ${CHECKPOINT_FORMAT_VERSION})`,
    );
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .slice(0, 5)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new CheckpointError(dir, `invalid ${MANIFEST_FILE}: ${issues.join('; ')}`);
  }
  const manifest = parsed.data;
  if (manifest.specVersion !== SPEC_VERSION)
    throw new CheckpointError(
      dir,
      `model specVersion ${manifest.specVersion} is not supported (expected ${SPEC_VERSION})`,
    );

  const weights = await readOrFail(dir, WEIGHTS_FILE);
  if (weights.length !== manifest.weights.byteLength)
    throw new CheckpointError(
      dir,
      `${WEIGHTS_FILE} has ${weights.length} bytes, manifest says ${manifest.weights.byteLength}`,
    );
  if (sha256(weights) !== manifest.weights.sha256)
    throw new CheckpointError(dir, `${WEIGHTS_FILE} is corrupted (sha256 mismatch)`);
  const onnxBytes = await readOrFail(dir, ONNX_FILE);
  if (sha256(onnxBytes) !== manifest.onnx.sha256)
    throw new CheckpointError(dir, `${ONNX_FILE} is corrupted (sha256 mismatch)`);

  // Tensors: exactly the expected names and shapes for the declared architecture, per member.
  const shapes = new Map(paramShapes(manifest.member));
  shapes.set('eps', [manifest.k, manifest.member.arch.latentDim]);
  const M = manifest.members.length;
  const lab = manifest.scoreRule.labelled;
  if (lab && lab.head.inputDim !== manifest.inputDim)
    throw new CheckpointError(
      dir,
      `the supervised head takes ${lab.head.inputDim} raw values, the model ${manifest.inputDim}`,
    );
  if (lab && !manifest.scoreRule.dose)
    throw new CheckpointError(dir, 'scoreRule.labelled needs scoreRule.dose');
  const typ = manifest.scoreRule.typicality;
  if (typ && typ.members !== M)
    throw new CheckpointError(
      dir,
      `the typicality rule was fitted for ${typ.members} members, the model has ${M}`,
    );
  const params: MemberParams[] = Array.from({ length: M }, () => ({}));
  const eps: Array<Float32Array | undefined> = new Array(M);
  for (const t of manifest.weights.tensors) {
    if (t.member >= M)
      throw new CheckpointError(
        dir,
        `weights tensor ${t.name} belongs to member ${t.member}, but there are ${M} members`,
      );
    const want = shapes.get(t.name);
    if (!want) throw new CheckpointError(dir, `unexpected weights tensor ${t.name} for this architecture`);
    if (want.length !== t.shape.length || want.some((v, i) => v !== t.shape[i]))
      throw new CheckpointError(
        dir,
        `member ${t.member} tensor ${t.name} has shape [${t.shape}], the architecture needs [${want}]`,
      );
    const len = shapeSize(t.shape);
    if (t.offset % 4 !== 0 || t.offset + 4 * len > weights.length)
      throw new CheckpointError(dir, `member ${t.member} tensor ${t.name} lies outside ${WEIGHTS_FILE}`);
    const data = new Float32Array(len);
    for (let i = 0; i < len; i++) data[i] = weights.readFloatLE(t.offset + 4 * i);
    if (t.name === 'eps') eps[t.member] = data;
    else params[t.member][t.name] = { shape: t.shape, data };
  }
  for (let m = 0; m < M; m++) if (!eps[m]) throw new CheckpointError(dir, `member ${m} has no eps tensor`);
  const spec: EnsembleSpec = {
    specVersion: manifest.specVersion,
    member: manifest.member,
    transform: manifest.transform,
    inputDim: manifest.inputDim,
    k: manifest.k,
    members: manifest.members.map((m, i) => ({
      seed: m.seed,
      params: params[i],
      eps: eps[i] as Float32Array,
    })),
  };
  try {
    validateEnsembleSpec(spec);
  } catch (e) {
    if (e instanceof ModelSpecError) throw new CheckpointError(dir, e.message, e);
    throw e;
  }

  // The ONNX graph must have the interface the scorer expects and this ensemble's sizes.
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnxProto.onnx.ModelProto.decode(onnxBytes);
  } catch (e) {
    throw new CheckpointError(dir, `${ONNX_FILE} is not an ONNX model: ${(e as Error).message}`, e);
  }
  const gi = model.graph?.input ?? [];
  const go = (model.graph?.output ?? []).map((o) => o.name);
  if (gi.length !== 1 || gi[0].name !== ONNX_INPUT)
    throw new CheckpointError(dir, `${ONNX_FILE} must have the single input '${ONNX_INPUT}'`);
  const inDim = gi[0].type?.tensorType?.shape?.dim?.[1]?.dimValue;
  if (inDim === undefined || inDim === null || Number(inDim) !== manifest.inputDim)
    throw new CheckpointError(
      dir,
      `${ONNX_FILE} input width ${String(inDim)} does not match inputDim ${manifest.inputDim}`,
    );
  for (const o of ONNX_OUTPUTS)
    if (!go.includes(o)) throw new CheckpointError(dir, `${ONNX_FILE} lacks output '${o}'`);
  const outM = model.graph?.output?.find((o) => o.name === 'logp')?.type?.tensorType?.shape?.dim?.[1]
    ?.dimValue;
  if (Number(outM) !== M)
    throw new CheckpointError(dir, `${ONNX_FILE} scores ${String(outM)} members, manifest lists ${M}`);
  return { manifest, spec, onnxPath: join(dir, ONNX_FILE), onnxBytes };
}

/** Loads, validates and opens a scorer on a checkpoint directory. */
export async function openScorer(dir: string, opts: ScorerOptions = {}): Promise<Scorer> {
  const { onnxBytes } = await loadCheckpoint(dir);
  return OnnxScorer.create(onnxBytes, opts);
}
