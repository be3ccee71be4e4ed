/**
 * Built-in kind `frames`: Avro `gensemble.ImageFrame` records → h·w·c raw pixel values 0..255,
 * row-major HWC → the frames model (MLP VAE for 28×28 by default, or the paper's conv VAE). A frame of
 * another shape than the model's is dead-lettered (SHAPE_MISMATCH). Offline files: IDX images.
 */
import type { Env } from '../../config.js';
import type { CheckpointManifest } from '../../engine/checkpoint.js';
import { FRAMES_COMBINED_COMPONENTS } from '../../engine/score-rules.js';
import { DOSE_STATISTICS_FRAMES } from '../../engine/dose.js';
import { ConfigError, InputError } from '../../errors.js';
import { readIdx } from '../../data/idx.js';
import { IMAGE_FRAME_SPEC, imageFrameCodec } from '../../schemas/codec.js';
import { writeFrameFeatures, type FrameShape } from '../../schemas/features.js';
import type { ImageFrame } from '../../schemas/schemas.js';
import { allColumns, type ModelProfile } from '../../detector/profile.js';
import { cleanText } from '../text.js';
import type { KindDefinition, OfflineRecords, RecordBinding } from '../types.js';

/** What a frames model stores as its manifest's `input`: the frame shape it was trained on. */
export interface FramesInput {
  frame: FrameShape;
}

function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

/** The frame shape recorded in a manifest's `input`, or null when it holds none (older models). */
export function recordedFrameShape(input: unknown): FrameShape | null {
  if (input === null || typeof input !== 'object' || !('frame' in input)) return null;
  const f = (input as { frame: unknown }).frame;
  if (f === null || typeof f !== 'object') return null;
  const { width, height, channels } = f as Record<string, unknown>;
  if (!isPosInt(width) || !isPosInt(height) || !isPosInt(channels)) return null;
  return { width, height, channels };
}

/**
 * The frame shape a model takes: a conv model's declared shape; else the shape recorded at training
 * (manifest.input, written by `gensemble train` since frames of any shape were supported); else, for
 * models from before that, a square grayscale image.
 */
export function frameShapeOf(
  manifest: Pick<CheckpointManifest, 'inputDim' | 'member'> & { input?: unknown },
): FrameShape {
  const arch = manifest.member.arch;
  if (arch.kind === 'conv') return { width: arch.width, height: arch.height, channels: arch.channels };
  const recorded = recordedFrameShape(manifest.input);
  if (recorded) {
    if (recorded.width * recorded.height * recorded.channels !== manifest.inputDim)
      throw new ConfigError(
        `the model's recorded frame shape ${recorded.width}x${recorded.height}x${recorded.channels} does not match its ${manifest.inputDim} inputs`,
      );
    return recorded;
  }
  const side = Math.round(Math.sqrt(manifest.inputDim));
  if (side * side !== manifest.inputDim) {
    throw new ConfigError(
      `cannot tell the frame shape of an MLP model with ${manifest.inputDim} inputs (not a square grayscale image, and the model records no frame shape: retrain it with this version)`,
    );
  }
  return { width: side, height: side, channels: 1 };
}

/** Largest frame (bytes of pixels) whose pixels a flag's payload keeps. */
export const MAX_PAYLOAD_PIXELS = 16_384;

/** What a flag keeps of a frame: source, shape, the pixels (≤ 16 KiB, for the console), label. */
export function framePayload(f: ImageFrame): Record<string, unknown> {
  return {
    source: cleanText(f.source, 64),
    width: f.width,
    height: f.height,
    channels: f.channels,
    ...(f.pixels.length <= MAX_PAYLOAD_PIXELS ? { pixels: f.pixels.toString('base64') } : {}),
    ...(f.label !== null ? { label: f.label } : {}),
    ...(f.ood_kind !== null ? { ood_kind: cleanText(f.ood_kind, 64) } : {}),
  };
}

/** Records → rows of a model taking frames of `shape`. */
export function frameBinding(shape: FrameShape): RecordBinding<ImageFrame> {
  return {
    inputDim: shape.width * shape.height * shape.channels,
    writeFeatures: (f, out, row) => writeFrameFeatures(f, out, row, shape),
    recordId: (f) => f.id,
    eventTime: (f) => f.event_time,
    payload: framePayload,
  };
}

/** A 512-unit MLP VAE on pixels/255 (Bernoulli); dose adds the input complexity −log p − L(x). */
export const framesProfile: ModelProfile = {
  defaultConfig: (inputDim) => ({
    arch: { kind: 'mlp', inputDim, encoderHidden: [512], decoderHidden: [512], latentDim: 16 },
    likelihood: 'bernoulli',
    prior: 'standard',
    transform: 'scale',
  }),
  inputComplexity: true,
  doseStatistics: DOSE_STATISTICS_FRAMES,
  combinedComponents: FRAMES_COMBINED_COMPONENTS,
  headColumns: allColumns,
};

export const framesKind: KindDefinition<ImageFrame> = {
  name: 'frames',
  description: 'image frames (8-bit pixels, any h×w×c, e.g. 28×28 grayscale)',
  builtin: true,
  record: IMAGE_FRAME_SPEC,
  codec: (options) => imageFrameCodec([], options),
  topic: (env: Env) => env.TOPIC_FRAMES,
  modelDir: (env: Env) => env.MODEL_FRAMES,
  profile: framesProfile,
  bind(manifest: CheckpointManifest): RecordBinding<ImageFrame> {
    if (manifest.kind !== 'frames') throw new ConfigError(`a ${manifest.kind} model cannot score frames`);
    return frameBinding(frameShapeOf(manifest));
  },
  async readFile(path, options = {}): Promise<OfflineRecords> {
    const idx = await readIdx(path);
    if (idx.type !== 'uint8' || idx.dims.length < 2) {
      throw new InputError(
        'INPUT_NOT_IMAGES',
        `${path}: expected an IDX file of uint8 images [n, h, w(, c)], got ${idx.type} with dims [${idx.dims.join(', ')}]`,
      );
    }
    if (idx.dims.length > 4 || idx.dims.slice(1).some((v) => v < 1)) {
      throw new InputError(
        'INPUT_NOT_IMAGES',
        `${path}: expected an IDX file of uint8 images [n, h, w(, c)], got dims [${idx.dims.join(', ')}]`,
      );
    }
    const frame: FrameShape = {
      height: idx.dims[1],
      width: idx.dims[2] ?? 1,
      channels: idx.dims[3] ?? 1,
    };
    if (options.input !== undefined) {
      // scoring with a model: the file's frames must be the model's shape (a 64×48 file has as many
      // values as a 32×32×3 model takes, and would be scored as nonsense)
      const want = recordedFrameShape(options.input);
      if (
        want &&
        (want.width !== frame.width || want.height !== frame.height || want.channels !== frame.channels)
      )
        throw new InputError(
          'INPUT_SHAPE',
          `${path}: frames are ${frame.width}x${frame.height}x${frame.channels}, the model takes ${want.width}x${want.height}x${want.channels}`,
        );
    }
    const total = idx.dims[0];
    const n = options.limit !== undefined ? Math.min(options.limit, total) : total;
    const d = idx.dims.slice(1).reduce((a, b) => a * b, 1);
    const raw = new Float32Array(n * d);
    const src = idx.data as Uint8Array;
    for (let i = 0; i < n * d; i++) raw[i] = src[i];
    // recorded in the manifest (FramesInput), so the stream knows the shape of an MLP model's frames
    const input = {
      frame: { width: frame.width, height: frame.height, channels: frame.channels },
    } satisfies FramesInput;
    return { n, d, raw, ids: Uint32Array.from({ length: n }, (_, i) => i), labels: null, input };
  },
  fileFormats: 'IDX images (uint8, [n, h, w(, c)])',
};
