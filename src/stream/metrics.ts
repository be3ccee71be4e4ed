/**
 * Prometheus metrics of the scoring consumers (prom-client). One {@link StreamMetrics} per registry;
 * `gensemble serve` exposes its registry on /metrics. Tests make their own registry.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface StreamMetrics {
  readonly registry: Registry;
  readonly recordsScored: Counter<'kind' | 'topic'>;
  readonly recordsFlagged: Counter<'kind' | 'topic'>;
  readonly recordsDeadLettered: Counter<'kind' | 'topic' | 'reason'>;
  readonly recordsSkipped: Counter<'kind' | 'topic'>;
  readonly batches: Counter<'kind' | 'topic'>;
  readonly batchRetries: Counter<'kind' | 'topic' | 'stage'>;
  readonly batchSeconds: Histogram<'kind' | 'topic'>;
  readonly scoreSeconds: Histogram<'kind'>;
  readonly dbWriteSeconds: Histogram<'kind'>;
  readonly batchSize: Histogram<'kind'>;
  readonly batchesCut: Counter<'kind' | 'topic'>;
  readonly consumerLag: Gauge<'kind' | 'topic' | 'partition'>;
  readonly paused: Gauge<'kind' | 'topic'>;
  readonly modelInfo: Gauge<'kind' | 'version' | 'execution_provider' | 'score'>;
  readonly modelReloads: Counter<'kind' | 'result'>;
  readonly deadLettersTruncated: Counter<'kind' | 'topic'>;
  readonly partitionStalled: Gauge<'kind' | 'topic' | 'partition'>;
  readonly partitionLastProgress: Gauge<'kind' | 'topic' | 'partition'>;
  readonly writerSchemas: Gauge<'kind'>;
}

export interface StreamMetricsOptions {
  registry?: Registry;
  /** Also collect prom-client's default process metrics (RSS, event-loop lag, GC). Default true. */
  defaultMetrics?: boolean;
  prefix?: string;
}

export function createStreamMetrics(opts: StreamMetricsOptions = {}): StreamMetrics {
  const registry = opts.registry ?? new Registry();
  const p = opts.prefix ?? 'gensemble_';
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: p });
  const registers = [registry];
  return {
    registry,
    recordsScored: new Counter({
      name: `${p}records_scored_total`,
      help: 'Records scored (flagged or not)',
      labelNames: ['kind', 'topic'],
      registers,
    }),
    recordsFlagged: new Counter({
      name: `${p}records_flagged_total`,
      help: 'Records whose score exceeded the threshold',
      labelNames: ['kind', 'topic'],
      registers,
    }),
    recordsDeadLettered: new Counter({
      name: `${p}records_dead_lettered_total`,
      help: 'Undecodable or invalid records sent to the dead-letter topic',
      labelNames: ['kind', 'topic', 'reason'],
      registers,
    }),
    recordsSkipped: new Counter({
      name: `${p}records_skipped_total`,
      help: 'Redelivered records already accounted for in PostgreSQL (at or below the high-water mark)',
      labelNames: ['kind', 'topic'],
      registers,
    }),
    batches: new Counter({
      name: `${p}batches_total`,
      help: 'Kafka batches committed',
      labelNames: ['kind', 'topic'],
      registers,
    }),
    batchRetries: new Counter({
      name: `${p}batch_retries_total`,
      help: 'Batch attempts that failed with a retriable error (database or DLQ unavailable)',
      labelNames: ['kind', 'topic', 'stage'],
      registers,
    }),
    batchSeconds: new Histogram({
      name: `${p}batch_duration_seconds`,
      help: 'Wall time of one batch: decode, score, dead-letter, DB transaction, offset commit',
      labelNames: ['kind', 'topic'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    scoreSeconds: new Histogram({
      name: `${p}score_duration_seconds`,
      help: 'Wall time of the scoreBatch call of one batch',
      labelNames: ['kind'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    dbWriteSeconds: new Histogram({
      name: `${p}db_write_duration_seconds`,
      help: 'Wall time of the flags + counters + high-water-mark transaction of one batch',
      labelNames: ['kind'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    }),
    batchSize: new Histogram({
      name: `${p}batch_records`,
      help: 'Records per Kafka batch',
      labelNames: ['kind'],
      buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000, 25000],
      registers,
    }),
    batchesCut: new Counter({
      name: `${p}batches_cut_total`,
      help: 'Fetched batches cut to what the model scores in STREAM_MAX_BATCH_MS (the rest is fetched again)',
      labelNames: ['kind', 'topic'],
      registers,
    }),
    consumerLag: new Gauge({
      name: `${p}consumer_lag_records`,
      help: 'High watermark of the partition minus the next offset to process, at the last batch',
      labelNames: ['kind', 'topic', 'partition'],
      registers,
    }),
    paused: new Gauge({
      name: `${p}consumer_paused`,
      help: '1 while consumption of the topic is paused (backpressure)',
      labelNames: ['kind', 'topic'],
      registers,
    }),
    modelInfo: new Gauge({
      name: `${p}model_info`,
      help: 'The model version scoring each kind (value 1) and its onnxruntime execution provider',
      labelNames: ['kind', 'version', 'execution_provider', 'score'],
      registers,
    }),
    modelReloads: new Counter({
      name: `${p}model_reloads_total`,
      help: 'Model hot reloads',
      labelNames: ['kind', 'result'],
      registers,
    }),
    deadLettersTruncated: new Counter({
      name: `${p}dead_letters_truncated_total`,
      help: 'Dead letters sent without the original value because the envelope exceeded the DLQ topic limit',
      labelNames: ['kind', 'topic'],
      registers,
    }),
    partitionStalled: new Gauge({
      name: `${p}partition_stalled`,
      help: '1 while an assigned partition has records to process and no committed batch for longer than STREAM_STALL_MS',
      labelNames: ['kind', 'topic', 'partition'],
      registers,
    }),
    partitionLastProgress: new Gauge({
      name: `${p}partition_last_progress_timestamp_seconds`,
      help: 'When the partition last committed a batch (or was assigned), Unix seconds',
      labelNames: ['kind', 'topic', 'partition'],
      registers,
    }),
    writerSchemas: new Gauge({
      name: `${p}writer_schemas`,
      help: 'Writer schemas the consumer of each kind can decode (built-in and registered)',
      labelNames: ['kind'],
      registers,
    }),
  };
}
