/**
 * Frames replayer: IDX images (optionally mixed with out-of-distribution sets) → Avro
 * `gensemble.ImageFrame` records on a topic (idempotent producer, rate-controlled, labels and OoD
 * kind in headers). The implementation lives in src/replay/frames.ts (the CLI's `gensemble replay
 * frames` uses it); this is the producer side's entry point for programs that embed it.
 */
export {
  replayFrames,
  siblingLabelsFile,
  type ReplayFramesOptions,
  type ReplayFramesSummary,
} from '../src/replay/frames.js';
