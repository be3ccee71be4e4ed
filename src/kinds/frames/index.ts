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

/** The frame shape a model takes: a conv model's declared shape, else a square grayscale image. */
export function frameShapeOf(manifest: Pick<CheckpointManifest, 'inputDim' | 'member'>): FrameShape {
  const arch = manifest.member.arch;
  if (arch.kind === 'conv') return { width: arch.width, height: arch.height, channels: arch.channels };
  const side = Math.round(Math.sqrt(manifest.inputDim));
  if (side * side !== manifest.inputDim) {
    throw new ConfigError(
      `cannot tell the frame shape of an MLP model with ${manifest.inputDim} inputs (not a square grayscale image)`,
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
  description: 'image frames (8-bit pixels, e.g. 28×28 grayscale)',
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
    const total = idx.dims[0];
    const n = options.limit !== undefined ? Math.min(options.limit, total) : total;
    const d = idx.dims.slice(1).reduce((a, b) => a * b, 1);
    const raw = new Float32Array(n * d);
    const src = idx.data as Uint8Array;
    for (let i = 0; i < n * d; i++) raw[i] = src[i];
    return { n, d, raw, ids: Uint32Array.from({ length: n }, (_, i) => i), labels: null };
  },
  fileFormats: 'IDX images (uint8, [n, h, w(, c)])',
};
