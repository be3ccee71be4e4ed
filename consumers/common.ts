/**
 * What every consumer needs, re-exported from the stream layer (src/stream/kind-consumer.ts) for the
 * per-kind wiring in this folder. Nothing in src/ imports from consumers/.
 */
export {
  consumerCodec,
  createKindConsumer,
  groupFor,
  type ConsumerDeps,
} from '../src/stream/kind-consumer.js';
