/**
 * Image frames: topic of Avro `gensemble.ImageFrame` records → the frames model (h·w·c raw pixel
 * values 0..255, row-major HWC) → flags of kind 'frames'. The kind itself lives in src/kinds/frames;
 * this is its consumer's wiring.
 */
import type { RecordCodec } from '../src/schemas/codec.js';
import type { ImageFrame } from '../src/schemas/schemas.js';
import type { ScoringConsumer } from '../src/stream/consumer.js';
import { framesKind } from '../src/kinds/frames/index.js';
import { createKindConsumer, type ConsumerDeps } from './common.js';

export { frameShapeOf, framePayload, MAX_PAYLOAD_PIXELS } from '../src/kinds/frames/index.js';

export interface FramesConsumerOptions extends ConsumerDeps {
  codec?: RecordCodec<ImageFrame>;
}

export function createFramesConsumer(o: FramesConsumerOptions): ScoringConsumer<ImageFrame> {
  return createKindConsumer(framesKind, o);
}
