/**
 * Image frames: topic of Avro `gensemble.ImageFrame` records → the frames model (h·w·c raw pixel
 * values 0..255, row-major HWC) → flags of kind 'frames'. A frame of another shape than the
 * model's is dead-lettered (SHAPE_MISMATCH).
 */
import { IMAGE_FRAME_SPEC, imageFrameCodec } from '../src/schemas/codec.js';
import type { RecordCodec } from '../src/schemas/codec.js';
import { writeFrameFeatures, type FrameShape } from '../src/schemas/features.js';
import type { ImageFrame } from '../src/schemas/schemas.js';
import { ScoringConsumer, cleanText, type InputSpec } from '../src/stream/consumer.js';
import { StreamConfigError } from '../src/stream/errors.js';
import type { CheckpointManifest } from '../src/engine/checkpoint.js';
import { consumerCodec, groupFor, type ConsumerDeps } from './common.js';

/** The frame shape a model takes: a conv model's declared shape, else a square grayscale image. */
export function frameShapeOf(manifest: Pick<CheckpointManifest, 'inputDim' | 'member'>): FrameShape {
  const arch = manifest.member.arch;
  if (arch.kind === 'conv') return { width: arch.width, height: arch.height, channels: arch.channels };
  const side = Math.round(Math.sqrt(manifest.inputDim));
  if (side * side !== manifest.inputDim) {
    throw new StreamConfigError(
      `cannot tell the frame shape of an MLP model with ${manifest.inputDim} inputs (not a square grayscale image)`,
    );
  }
  return { width: side, height: side, channels: 1 };
}

/** Largest frame (bytes of pixels) whose pixels a flag's payload keeps. */
export const MAX_PAYLOAD_PIXELS = 16_384;

export function frameSpec(
  codec: RecordCodec<ImageFrame> = imageFrameCodec(),
  fixedShape?: FrameShape,
): InputSpec<ImageFrame> {
  let shapeDim = -1;
  let shape: FrameShape = { width: 0, height: 0, channels: 0 };
  return {
    kind: 'frames',
    codec,
    writeFeatures(f, out, row, inputDim) {
      if (inputDim !== shapeDim) {
        shape =
          fixedShape ??
          frameShapeOf({
            inputDim,
            member: {
              arch: { kind: 'mlp', inputDim, encoderHidden: [], decoderHidden: [], latentDim: 1 },
              likelihood: 'bernoulli',
              prior: { kind: 'standard' },
            },
          });
        shapeDim = inputDim;
      }
      writeFrameFeatures(f, out, row, shape);
    },
    recordId: (f) => f.id,
    eventTime: (f) => f.event_time,
    payload: (f) => ({
      source: cleanText(f.source, 64),
      width: f.width,
      height: f.height,
      channels: f.channels,
      // The pixels themselves (base64, at most 16 KiB), so the analyst console can show the frame.
      ...(f.pixels.length <= MAX_PAYLOAD_PIXELS ? { pixels: f.pixels.toString('base64') } : {}),
      ...(f.label !== null ? { label: f.label } : {}),
      ...(f.ood_kind !== null ? { ood_kind: cleanText(f.ood_kind, 64) } : {}),
    }),
  };
}

export interface FramesConsumerOptions extends ConsumerDeps {
  codec?: RecordCodec<ImageFrame>;
}

export function createFramesConsumer(o: FramesConsumerOptions): ScoringConsumer<ImageFrame> {
  const m = o.models.current;
  if (m.kind !== 'frames')
    throw new StreamConfigError(`the frames consumer needs a frames model, got ${m.kind}`);
  const shape = m.manifest.member.arch.kind === 'conv' ? frameShapeOf(m.manifest) : undefined;
  if (!shape) frameShapeOf(m.manifest); // fail early for an MLP of non-square input
  return new ScoringConsumer<ImageFrame>({
    ...o.tuning,
    kafka: o.kafka,
    db: o.db,
    topic: o.topic,
    groupId: groupFor(o.groupId, 'frames'),
    dlqTopic: o.dlqTopic,
    spec: frameSpec(
      o.codec ?? consumerCodec(IMAGE_FRAME_SPEC, imageFrameCodec([], o.codecOptions), o.schemaRegistry),
      shape,
    ),
    models: o.models,
    logger: o.logger,
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.dlqProducer ? { dlqProducer: o.dlqProducer } : {}),
    ...(o.flagsTopic ? { flagsTopic: o.flagsTopic } : {}),
  });
}
