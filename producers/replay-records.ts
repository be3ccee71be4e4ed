/**
 * Declared-kind replayer: a CSV / JSONL of a kind declared in KINDS_DIR → Avro records of the kind's
 * own schema on its topic (idempotent producer, rate-controlled, labels in headers). The implementation
 * lives in src/replay/tabular.ts (the CLI's `gensemble replay records` uses it); this is the producer
 * side's entry point for programs that embed it.
 */
export {
  replayTabular,
  type ReplayTabularOptions,
  type ReplayTabularSummary,
} from '../src/replay/tabular.js';
