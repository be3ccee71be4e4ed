/**
 * Self-describing checkpoint directory:
 *   manifest.json  format version, kind, member spec (arch, prior with permutations, likelihood),
 *                  feature transform, k, members (seeds), thresholds, score rule, training config,
 *                  data fingerprint, createdAt, versions, weights layout, sha256 of both files
 *   weights.bin    every member's parameters then its eps, float32 little-endian, offsets in manifest
 *   model.onnx     the scoring graph exported from exactly these weights
 * and, for a model of family 'vae+wgan' (manifest.critics present), the WGAN critic ensemble:
 *   critics.bin    every critic's parameters, float32 little-endian, offsets in manifest.critics
 *   critics.onnx   the critic graph (onnx/critic-export.ts) exported from exactly these weights
 * and, when the model carries its input Gaussian (manifest.featureGaussian; the dose statistic
 * 'feature_maha', engine/feature-gaussian.ts):
 *   features.bin   its mean and packed Cholesky factor, float64 little-endian
 * and, when it carries a reference set (manifest.nearestReference; the dose statistic 'feature_knn',
 * engine/feature-knn.ts):
 *   neighbours.bin its reference records after the transform, float32 little-endian
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
import type { ScorerOptions } from './scorer.js';
import { createEnsembleScorer } from './ensemble-scorer.js';
import { COMPONENT_SCORES, SCORE_NAMES, type CombinedRule, type TypicalityRule } from './score-rules.js';
import { DOSE_STATISTICS, DOSE_TAILS, type DoseRule } from './dose.js';
import {
  HEAD_FEATURE_FAMILIES,
  HEAD_STATISTICS,
  TAIL_MAX_POINTS,
  type LabelledRule,
} from './supervised-head.js';
import { LIKELIHOODS, SPEC_VERSION, type EnsembleSpec, type MemberParams } from './spec.js';
import {
  CRITIC_ONNX_INPUT,
  CRITIC_ONNX_OUTPUTS,
  exportCriticEnsembleOnnx,
  validateWganEnsembleSpec,
} from './onnx/critic-export.js';
import { criticParamShapes, type WganEnsembleSpec } from './wgan.js';
import type { Scorer, ScoreName, Threshold } from './types.js';
import {
  featureGaussianByteLength,
  packFeatureGaussian,
  unpackFeatureGaussian,
  type FeatureGaussian,
} from './feature-gaussian.js';
import {
  nearestReferenceByteLength,
  packNearestReference,
  unpackNearestReference,
  type NearestReference,
} from './feature-knn.js';

export const CHECKPOINT_FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
export const WEIGHTS_FILE = 'weights.bin';
export const ONNX_FILE = 'model.onnx';
export const CRITICS_WEIGHTS_FILE = 'critics.bin';
export const CRITICS_ONNX_FILE = 'critics.onnx';
export const FEATURES_FILE = 'features.bin';
export const NEIGHBOURS_FILE = 'neighbours.bin';

/**
 * Which detector families a checkpoint holds: 'vae' (the likelihood ensemble: log p, rate, Var, WAIC)
 * or 'vae+wgan' (also a WGAN critic ensemble: D(x), mean and Var D(x)). Derived from the manifest.
 */
export type ModelFamily = 'vae' | 'vae+wgan';
export const MODEL_FAMILIES: readonly ModelFamily[] = ['vae', 'vae+wgan'];

export function modelFamily(m: Pick<CheckpointManifest, 'critics'>): ModelFamily {
  return m.critics ? 'vae+wgan' : 'vae';
}

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
/** Periodic raw columns of minmax / standard (spec.ts WrapColumn); absent in manifests written before it. */
const wrapSchema = z
  .array(z.object({ column: z.number().int().nonnegative(), period: z.number().positive() }).strict())
  .optional();
const transformSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('minmax'),
      min: z.array(z.number()),
      max: z.array(z.number()),
      wrap: wrapSchema,
      /** spec.ts: constant features as indicators; absent in manifests written before it. */
      constant: z.literal('indicator').optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('standard'),
      mean: z.array(z.number()),
      std: z.array(z.number()),
      wrap: wrapSchema,
      constant: z.literal('indicator').optional(),
    })
    .strict(),
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
    /** The Gaussian of the 'member_typicality' statistic (detection protocol v6). */
    typicality: typicalitySchema.optional(),
    fittedOn: intPos,
    tails: z.enum(DOSE_TAILS).optional(),
  })
  .strict()
  .refine((d) => d.typicality !== undefined || d.densities.every((x) => x.stat !== 'member_typicality'), {
    message: "dose: a 'member_typicality' density needs the rule's typicality fit",
  });
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
        features: z.enum(HEAD_FEATURE_FAMILIES).optional(),
        center: z.array(finite).optional(),
        scale: z.array(z.number().positive()).optional(),
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
        (h) => {
          const p = h.columns.length + HEAD_STATISTICS.length;
          const quad = h.features === 'quadratic';
          return (
            h.columns.every((j) => j < h.inputDim) &&
            [h.mean, h.std, h.weights].every((a) => a.length === (quad ? 2 * p : p)) &&
            (quad
              ? h.center?.length === p && h.scale?.length === p
              : h.center === undefined && h.scale === undefined)
          );
        },
        {
          message:
            'labelled.head: columns must be < inputDim; mean, std and weights must hold columns + 3 values (twice that when quadratic); a quadratic head needs center and scale of columns + 3 values, a linear one neither',
        },
      ),
    doseTail: tailSchema,
    headTail: tailSchema,
  })
  .strict();
const sha = z.string().regex(/^[0-9a-f]{64}$/);
const tensorTable = z.array(
  z
    .object({
      member: z.number().int().nonnegative(),
      name: z.string(),
      shape: z.array(z.number().int().nonnegative()),
      offset: z.number().int().nonnegative(),
    })
    .strict(),
);
/** A weights file's entry: float32-le tensors at byte offsets, with the file's size and sha256. */
const weightsSection = <F extends string>(file: F) =>
  z
    .object({
      file: z.literal(file),
      dtype: z.literal('float32-le'),
      byteLength: z.number().int().nonnegative(),
      sha256: sha,
      tensors: tensorTable,
    })
    .strict();
/** A graph file's entry: its sha256, input and output names. */
const onnxSection = <F extends string>(file: F) =>
  z.object({ file: z.literal(file), sha256: sha, input: z.string(), outputs: z.array(z.string()) }).strict();
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
      .object({
        arch: archSchema,
        likelihood: z.enum(LIKELIHOODS),
        prior: priorSchema,
        binaryColumns: z.array(z.number().int().nonnegative()).optional(),
      })
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
    weights: weightsSection(WEIGHTS_FILE),
    onnx: onnxSection(ONNX_FILE),
    /** The WGAN critic ensemble (family 'vae+wgan'); it reads the same raw records and transform. */
    critics: z
      .object({
        wgan: z.object({ arch: archSchema, output: z.enum(['sigmoid', 'linear']) }).strict(),
        normalization: z.enum(['none', 'center', 'standardize']),
        members: z
          .array(
            z
              .object({
                seed: z.number().int(),
                stats: z
                  .object({
                    dataMean: finite,
                    dataStd: z.number().nonnegative(),
                    fakeMean: finite,
                    fakeStd: z.number().nonnegative(),
                    samples: intPos,
                  })
                  .strict(),
              })
              .strict(),
          )
          .min(1),
        trainingConfig: z.record(z.string(), jsonValue),
        weights: weightsSection(CRITICS_WEIGHTS_FILE),
        onnx: onnxSection(CRITICS_ONNX_FILE),
      })
      .strict()
      .optional(),
    /** The input Gaussian of the 'feature_maha' statistic (features.bin). */
    featureGaussian: z
      .object({
        file: z.literal(FEATURES_FILE),
        dtype: z.literal('float64-le'),
        dim: intPos,
        byteLength: intPos,
        sha256: sha,
        /** The Ledoit–Wolf shrinkage intensity of the fit. */
        shrinkage: z.number().min(0).max(1),
        fittedOn: intPos,
      })
      .strict()
      .optional(),
    /** The reference set of the 'feature_knn' statistic (neighbours.bin). */
    nearestReference: z
      .object({
        file: z.literal(NEIGHBOURS_FILE),
        dtype: z.literal('float32-le'),
        dim: intPos,
        /** Reference records R. */
        size: intPos,
        byteLength: intPos,
        sha256: sha,
      })
      .strict()
      .optional(),
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
  /**
   * A WGAN critic ensemble trained on the same records (family 'vae+wgan'). Its transform and inputDim
   * must be the VAE's: one raw record feeds both graphs.
   */
  critics?: {
    spec: WganEnsembleSpec;
    /** A previously exported critic graph of exactly this spec (else it is exported here). */
    onnxBytes?: Uint8Array;
    trainingConfig?: Record<string, JsonValue>;
  };
  /** The model's input Gaussian (fitted on its training records after the transform). */
  featureGaussian?: FeatureGaussian;
  /** The model's reference set (training records after the transform). */
  nearestReference?: NearestReference;
  createdAt?: Date;
}

export interface LoadedCheckpoint {
  manifest: CheckpointManifest;
  spec: EnsembleSpec;
  onnxPath: string;
  /** The graph as read and verified (sha256): open the scorer on these bytes, not on the file again. */
  onnxBytes: Uint8Array;
  /** The critic ensemble and its verified graph, for a 'vae+wgan' checkpoint. */
  critics?: { spec: WganEnsembleSpec; onnxBytes: Uint8Array };
  /** The input Gaussian, verified (sha256, size, a positive factor), when the model carries one. */
  featureGaussian?: FeatureGaussian;
  /** The reference set, verified (sha256, size, finite values), when the model carries one. */
  nearestReference?: NearestReference;
}

type TensorTable = CheckpointManifest['weights']['tensors'];

/** Packs per-member named tensors into one float32-le buffer with its offset table. */
function packTensors(perMember: Array<Array<{ name: string; shape: number[]; data: Float32Array }>>): {
  buf: Buffer;
  tensors: TensorTable;
} {
  const tensors: TensorTable = [];
  let total = 0;
  perMember.forEach((list, m) => {
    for (const t of list) {
      tensors.push({ member: m, name: t.name, shape: t.shape, offset: total * 4 });
      total += shapeSize(t.shape);
    }
  });
  const buf = Buffer.alloc(total * 4);
  let i = 0;
  for (const list of perMember)
    for (const t of list) {
      const off = tensors[i++].offset;
      for (let j = 0; j < t.data.length; j++) buf.writeFloatLE(t.data[j], off + 4 * j);
    }
  return { buf, tensors };
}

/**
 * Reads the tensors of `table` out of `buf`: exactly the expected names and shapes per member, inside
 * the file. Returns member → name → data.
 */
function unpackTensors(
  dir: string,
  file: string,
  buf: Buffer,
  table: TensorTable,
  members: number,
  shapes: Map<string, number[]>,
): Array<Map<string, { shape: number[]; data: Float32Array }>> {
  const out = Array.from(
    { length: members },
    () => new Map<string, { shape: number[]; data: Float32Array }>(),
  );
  for (const t of table) {
    if (t.member >= members)
      throw new CheckpointError(
        dir,
        `${file}: tensor ${t.name} belongs to member ${t.member}, but there are ${members} members`,
      );
    const want = shapes.get(t.name);
    if (!want) throw new CheckpointError(dir, `${file}: unexpected tensor ${t.name} for this architecture`);
    if (want.length !== t.shape.length || want.some((v, i) => v !== t.shape[i]))
      throw new CheckpointError(
        dir,
        `member ${t.member} tensor ${t.name} has shape [${t.shape}], the architecture needs [${want}]`,
      );
    const len = shapeSize(t.shape);
    if (t.offset % 4 !== 0 || t.offset + 4 * len > buf.length)
      throw new CheckpointError(dir, `member ${t.member} tensor ${t.name} lies outside ${file}`);
    const data = new Float32Array(len);
    for (let i = 0; i < len; i++) data[i] = buf.readFloatLE(t.offset + 4 * i);
    out[t.member].set(t.name, { shape: t.shape, data });
  }
  for (let m = 0; m < members; m++)
    for (const name of shapes.keys())
      if (!out[m].has(name)) throw new CheckpointError(dir, `${file}: member ${m} has no tensor ${name}`);
  return out;
}

/** The ONNX graph's single input, its width and the outputs it must have. */
function checkGraph(
  dir: string,
  file: string,
  bytes: Uint8Array,
  input: string,
  outputs: readonly string[],
  inputDim: number,
  membersOutput: string,
  members: number,
): void {
  let model: onnxProto.onnx.ModelProto;
  try {
    model = onnxProto.onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new CheckpointError(dir, `${file} is not an ONNX model: ${(e as Error).message}`, e);
  }
  const gi = model.graph?.input ?? [];
  const go = (model.graph?.output ?? []).map((o) => o.name);
  if (gi.length !== 1 || gi[0].name !== input)
    throw new CheckpointError(dir, `${file} must have the single input '${input}'`);
  const inDim = gi[0].type?.tensorType?.shape?.dim?.[1]?.dimValue;
  if (inDim === undefined || inDim === null || Number(inDim) !== inputDim)
    throw new CheckpointError(
      dir,
      `${file} input width ${String(inDim)} does not match inputDim ${inputDim}`,
    );
  for (const o of outputs) if (!go.includes(o)) throw new CheckpointError(dir, `${file} lacks output '${o}'`);
  const outM = model.graph?.output?.find((o) => o.name === membersOutput)?.type?.tensorType?.shape?.dim?.[1]
    ?.dimValue;
  if (Number(outM) !== members)
    throw new CheckpointError(dir, `${file} scores ${String(outM)} members, manifest lists ${members}`);
}

/**
 * Whether two transforms map raw records alike: same kind and numbers, and the same wrapped columns
 * with the same periods (the wrap is part of the transform; its order does not matter, and no `wrap`
 * equals an empty one).
 */
function sameTransform(a: EnsembleSpec['transform'], b: EnsembleSpec['transform']): boolean {
  return canonicalTransform(a) === canonicalTransform(b);
}

function canonicalTransform(t: EnsembleSpec['transform']): string {
  if (t.kind === 'scale') return JSON.stringify([t.kind, t.factor]);
  const wrap = [...(t.wrap ?? [])].sort((x, y) => x.column - y.column).map((w) => [w.column, w.period]);
  return JSON.stringify(
    t.kind === 'minmax'
      ? [t.kind, t.min, t.max, wrap, t.constant ?? null]
      : [t.kind, t.mean, t.std, wrap, t.constant ?? null],
  );
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
  const { buf, tensors } = packTensors(
    spec.members.map((mem) => [
      ...shapes.map(([name, shape]) => ({ name, shape, data: mem.params[name].data })),
      { name: 'eps', shape: [spec.k, dz], data: mem.eps },
    ]),
  );
  const critics = opts.critics ? packCritics(spec, opts.critics) : undefined;
  const fg = opts.featureGaussian;
  if (fg && fg.dim !== spec.inputDim)
    throw new CheckpointError(dir, `the input Gaussian is ${fg.dim} wide, the model reads ${spec.inputDim}`);
  const features = fg ? packFeatureGaussian(fg) : undefined;
  const nr = opts.nearestReference;
  if (nr && nr.dim !== spec.inputDim)
    throw new CheckpointError(dir, `the reference set is ${nr.dim} wide, the model reads ${spec.inputDim}`);
  const neighbours = nr ? packNearestReference(nr) : undefined;
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
    ...(critics ? { critics: critics.section } : {}),
    ...(fg && features
      ? {
          featureGaussian: {
            file: FEATURES_FILE,
            dtype: 'float64-le' as const,
            dim: fg.dim,
            byteLength: features.length,
            sha256: sha256(features),
            shrinkage: fg.shrinkage,
            fittedOn: fg.fittedOn,
          },
        }
      : {}),
    ...(nr && neighbours
      ? {
          nearestReference: {
            file: NEIGHBOURS_FILE,
            dtype: 'float32-le' as const,
            dim: nr.dim,
            size: nr.size,
            byteLength: neighbours.length,
            sha256: sha256(neighbours),
          },
        }
      : {}),
  };
  manifestSchema.parse(manifest);
  await mkdir(dir, { recursive: true });
  // Manifest last (via rename), so a directory with a manifest always has every file written.
  await writeFile(join(dir, WEIGHTS_FILE), buf);
  await writeFile(join(dir, ONNX_FILE), onnxBytes);
  if (critics) {
    await writeFile(join(dir, CRITICS_WEIGHTS_FILE), critics.buf);
    await writeFile(join(dir, CRITICS_ONNX_FILE), critics.onnxBytes);
  }
  if (features) await writeFile(join(dir, FEATURES_FILE), features);
  if (neighbours) await writeFile(join(dir, NEIGHBOURS_FILE), neighbours);
  const tmp = join(dir, `${MANIFEST_FILE}.tmp`);
  await writeFile(tmp, JSON.stringify(manifest, null, 2) + '\n');
  await rename(tmp, join(dir, MANIFEST_FILE));
  return manifest;
}

/** The manifest section, weights and graph of a critic ensemble saved beside a VAE ensemble. */
function packCritics(
  vae: EnsembleSpec,
  c: NonNullable<SaveCheckpointOptions['critics']>,
): { section: NonNullable<CheckpointManifest['critics']>; buf: Buffer; onnxBytes: Uint8Array } {
  validateWganEnsembleSpec(c.spec);
  if (c.spec.inputDim !== vae.inputDim || !sameTransform(c.spec.transform, vae.transform))
    throw new ModelSpecError(
      'the critic ensemble must read the same records as the VAE ensemble (same inputDim and transform)',
    );
  const shapes = criticParamShapes(c.spec.wgan.arch);
  const { buf, tensors } = packTensors(
    c.spec.members.map((m) => shapes.map(([name, shape]) => ({ name, shape, data: m.critic[name].data }))),
  );
  const onnxBytes = c.onnxBytes ?? exportCriticEnsembleOnnx(c.spec);
  return {
    section: {
      wgan: structuredClone(c.spec.wgan),
      normalization: c.spec.normalization ?? 'none',
      members: c.spec.members.map((m) => ({ seed: m.seed, stats: { ...m.stats } })),
      trainingConfig: c.trainingConfig ?? {},
      weights: {
        file: CRITICS_WEIGHTS_FILE,
        dtype: 'float32-le',
        byteLength: buf.length,
        sha256: sha256(buf),
        tensors,
      },
      onnx: {
        file: CRITICS_ONNX_FILE,
        sha256: sha256(onnxBytes),
        input: CRITIC_ONNX_INPUT,
        outputs: [...CRITIC_ONNX_OUTPUTS],
      },
    },
    buf,
    onnxBytes,
  };
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
  const doseTyp = manifest.scoreRule.dose?.typicality;
  if (doseTyp && doseTyp.members !== M)
    throw new CheckpointError(
      dir,
      `the dose rule's typicality was fitted for ${doseTyp.members} members, the model has ${M}`,
    );
  const typ = manifest.scoreRule.typicality;
  if (typ && typ.members !== M)
    throw new CheckpointError(
      dir,
      `the typicality rule was fitted for ${typ.members} members, the model has ${M}`,
    );
  const unpacked = unpackTensors(dir, WEIGHTS_FILE, weights, manifest.weights.tensors, M, shapes);
  const params: MemberParams[] = unpacked.map((m) => {
    const p: MemberParams = {};
    for (const [name, t] of m) if (name !== 'eps') p[name] = t;
    return p;
  });
  const eps = unpacked.map((m) => (m.get('eps') as { data: Float32Array }).data);
  const spec: EnsembleSpec = {
    specVersion: manifest.specVersion,
    member: manifest.member,
    transform: manifest.transform,
    inputDim: manifest.inputDim,
    k: manifest.k,
    members: manifest.members.map((m, i) => ({
      seed: m.seed,
      params: params[i],
      eps: eps[i],
    })),
  };
  try {
    validateEnsembleSpec(spec);
  } catch (e) {
    if (e instanceof ModelSpecError) throw new CheckpointError(dir, e.message, e);
    throw e;
  }

  // The ONNX graph must have the interface the scorer expects and this ensemble's sizes.
  checkGraph(dir, ONNX_FILE, onnxBytes, ONNX_INPUT, ONNX_OUTPUTS, manifest.inputDim, 'logp', M);
  const critics = manifest.critics ? await loadCritics(dir, manifest) : undefined;
  const featureGaussian = manifest.featureGaussian ? await loadFeatureGaussian(dir, manifest) : undefined;
  if (!featureGaussian && manifest.scoreRule.dose?.densities.some((d) => d.stat === 'feature_maha'))
    throw new CheckpointError(
      dir,
      "the dose rule uses 'feature_maha' but the manifest has no featureGaussian",
    );
  const nearestReference = manifest.nearestReference ? await loadNearestReference(dir, manifest) : undefined;
  if (!nearestReference && manifest.scoreRule.dose?.densities.some((d) => d.stat === 'feature_knn'))
    throw new CheckpointError(
      dir,
      "the dose rule uses 'feature_knn' but the manifest has no nearestReference",
    );
  return {
    manifest,
    spec,
    onnxPath: join(dir, ONNX_FILE),
    onnxBytes,
    ...(critics ? { critics } : {}),
    ...(featureGaussian ? { featureGaussian } : {}),
    ...(nearestReference ? { nearestReference } : {}),
  };
}

/**
 * Reads one of a checkpoint's input-statistics files and verifies it against its manifest section
 * (width, the size its shape needs, sha256), then decodes it. Every failure is a {@link CheckpointError}.
 */
async function loadStatisticsFile<T>(
  dir: string,
  manifest: CheckpointManifest,
  f: { file: string; dim: number; byteLength: number; sha256: string },
  what: string,
  shape: { bytes: number; text: string },
  decode: (buf: Buffer) => T,
): Promise<T> {
  if (f.dim !== manifest.inputDim)
    throw new CheckpointError(dir, `${what} is ${f.dim} wide, the model reads ${manifest.inputDim}`);
  if (f.byteLength !== shape.bytes)
    throw new CheckpointError(
      dir,
      `${f.file}: manifest says ${f.byteLength} bytes, ${shape.text} needs ${shape.bytes}`,
    );
  const buf = await readOrFail(dir, f.file);
  if (buf.length !== f.byteLength)
    throw new CheckpointError(dir, `${f.file} has ${buf.length} bytes, manifest says ${f.byteLength}`);
  if (sha256(buf) !== f.sha256) throw new CheckpointError(dir, `${f.file} is corrupted (sha256 mismatch)`);
  try {
    return decode(buf);
  } catch (e) {
    throw new CheckpointError(dir, (e as Error).message, e);
  }
}

/** Reads and verifies the input Gaussian of a checkpoint that carries one. */
function loadFeatureGaussian(dir: string, manifest: CheckpointManifest): Promise<FeatureGaussian> {
  const f = manifest.featureGaussian as NonNullable<CheckpointManifest['featureGaussian']>;
  const shape = { bytes: featureGaussianByteLength(f.dim), text: `width ${f.dim}` };
  return loadStatisticsFile(dir, manifest, f, 'the input Gaussian', shape, (buf) =>
    unpackFeatureGaussian(buf, f),
  );
}

/** Reads and verifies the reference set of a checkpoint that carries one. */
function loadNearestReference(dir: string, manifest: CheckpointManifest): Promise<NearestReference> {
  const f = manifest.nearestReference as NonNullable<CheckpointManifest['nearestReference']>;
  const shape = { bytes: nearestReferenceByteLength(f.size, f.dim), text: `${f.size}×${f.dim}` };
  return loadStatisticsFile(dir, manifest, f, 'the reference set', shape, (buf) =>
    unpackNearestReference(buf, f),
  );
}

/** Reads and verifies the critic ensemble of a 'vae+wgan' checkpoint. */
async function loadCritics(
  dir: string,
  manifest: CheckpointManifest,
): Promise<{ spec: WganEnsembleSpec; onnxBytes: Uint8Array }> {
  const c = manifest.critics as NonNullable<CheckpointManifest['critics']>;
  const buf = await readOrFail(dir, CRITICS_WEIGHTS_FILE);
  if (buf.length !== c.weights.byteLength)
    throw new CheckpointError(
      dir,
      `${CRITICS_WEIGHTS_FILE} has ${buf.length} bytes, manifest says ${c.weights.byteLength}`,
    );
  if (sha256(buf) !== c.weights.sha256)
    throw new CheckpointError(dir, `${CRITICS_WEIGHTS_FILE} is corrupted (sha256 mismatch)`);
  const onnxBytes = await readOrFail(dir, CRITICS_ONNX_FILE);
  if (sha256(onnxBytes) !== c.onnx.sha256)
    throw new CheckpointError(dir, `${CRITICS_ONNX_FILE} is corrupted (sha256 mismatch)`);
  const C = c.members.length;
  const shapes = new Map(criticParamShapes(c.wgan.arch));
  const unpacked = unpackTensors(dir, CRITICS_WEIGHTS_FILE, buf, c.weights.tensors, C, shapes);
  const spec: WganEnsembleSpec = {
    specVersion: manifest.specVersion,
    wgan: c.wgan,
    transform: manifest.transform,
    inputDim: manifest.inputDim,
    normalization: c.normalization,
    members: c.members.map((m, i) => ({
      seed: m.seed,
      critic: Object.fromEntries(unpacked[i]) as MemberParams,
      stats: m.stats,
    })),
  };
  try {
    validateWganEnsembleSpec(spec);
  } catch (e) {
    if (e instanceof ModelSpecError) throw new CheckpointError(dir, e.message, e);
    throw e;
  }
  checkGraph(
    dir,
    CRITICS_ONNX_FILE,
    onnxBytes,
    CRITIC_ONNX_INPUT,
    CRITIC_ONNX_OUTPUTS,
    manifest.inputDim,
    'critic',
    C,
  );
  return { spec, onnxBytes };
}

/** Loads, validates and opens a scorer on a checkpoint directory. */
export async function openScorer(dir: string, opts: ScorerOptions = {}): Promise<Scorer> {
  const { spec, onnxBytes } = await loadCheckpoint(dir);
  return createEnsembleScorer(spec, onnxBytes, opts);
}
