/**
 * The replay loop shared by both producers: pull messages from a source, send them in batches with
 * an idempotent kafkajs producer (acks = all, one request in flight, so retries never duplicate or
 * reorder), paced by a token bucket, with a progress bar on stderr. Stops at the limit, at the end of
 * the source (unless looping), or on abort/SIGINT — after the batch in flight is acknowledged, then
 * the producer disconnects (everything sent is flushed).
 */
import cliProgress from 'cli-progress';
import { CompressionTypes, type Kafka, type Message, type Producer } from 'kafkajs';
import { TokenBucket, realClock, type Clock } from './rate-limiter.js';
import { ReplayError } from './errors.js';

export interface ReplayMessage {
  key: string;
  value: Buffer;
  headers: Record<string, string>;
}

/** One pass over the input; called again (pass + 1) when looping. */
export type PassFactory = (pass: number) => Iterable<ReplayMessage> | AsyncIterable<ReplayMessage>;

export type Compression = 'none' | 'gzip';

export interface RunnerOptions {
  kafka: Kafka;
  topic: string;
  /** Records per second; Infinity or undefined = as fast as the broker takes them. */
  rate?: number;
  /** Stop after this many records. */
  limit?: number;
  /** Start again from the beginning at the end of the input. Needs the input to be non-empty. */
  loop?: boolean;
  /** Largest batch per request (default 500). */
  batchSize?: number;
  compression?: Compression;
  /** Show a progress bar on stderr (default: when stderr is a TTY). */
  progress?: boolean;
  /** Records in one pass, if known (progress bar total). */
  passSize?: number;
  /** Stop early when aborted (the batch in flight completes). */
  signal?: AbortSignal;
  /** Also stop on SIGINT/SIGTERM (the CLI sets this). */
  handleSignals?: boolean;
  /** Called after each acknowledged batch. */
  onSent?: (messages: readonly ReplayMessage[]) => void;
  clock?: Clock;
}

/** The runner options a producer takes from its caller and passes on (its own `onSent` wraps theirs). */
export type ReplayPassThroughOptions = Pick<
  RunnerOptions,
  | 'kafka'
  | 'topic'
  | 'rate'
  | 'limit'
  | 'loop'
  | 'batchSize'
  | 'compression'
  | 'progress'
  | 'signal'
  | 'handleSignals'
  | 'onSent'
>;

/** The pass-through options that are set (all but `onSent`), ready to spread into {@link RunnerOptions}. */
export function passThroughOptions(o: ReplayPassThroughOptions): RunnerOptions {
  return {
    kafka: o.kafka,
    topic: o.topic,
    ...(o.rate !== undefined ? { rate: o.rate } : {}),
    ...(o.limit !== undefined ? { limit: o.limit } : {}),
    ...(o.loop !== undefined ? { loop: o.loop } : {}),
    ...(o.batchSize !== undefined ? { batchSize: o.batchSize } : {}),
    ...(o.compression !== undefined ? { compression: o.compression } : {}),
    ...(o.progress !== undefined ? { progress: o.progress } : {}),
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
    ...(o.handleSignals !== undefined ? { handleSignals: o.handleSignals } : {}),
  };
}

export interface ReplaySummary {
  topic: string;
  sent: number;
  batches: number;
  passes: number;
  elapsedMs: number;
  /** Achieved records/s. */
  ratePerSec: number;
  stoppedBy: 'end' | 'limit' | 'signal';
}

/** Batch size that keeps a paced stream smooth: about 20 sends per second, at most `max`. */
export function pacedBatchSize(rate: number | undefined, max: number): number {
  if (rate === undefined || !Number.isFinite(rate)) return max;
  return Math.max(1, Math.min(max, Math.floor(rate / 20)));
}

export async function runReplay(source: PassFactory, o: RunnerOptions): Promise<ReplaySummary> {
  const rate = o.rate ?? Infinity;
  if (!(rate > 0)) throw new ReplayError('REPLAY_BAD_RATE', `--rate must be > 0, got ${rate}`);
  if (o.limit !== undefined && !(Number.isInteger(o.limit) && o.limit >= 1)) {
    throw new ReplayError('REPLAY_BAD_LIMIT', `--limit must be an integer >= 1, got ${o.limit}`);
  }
  const batchMax = pacedBatchSize(rate, o.batchSize ?? 500);
  const clock = o.clock ?? realClock;
  const bucket = new TokenBucket(rate, batchMax, clock);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  if (o.signal) {
    if (o.signal.aborted) stop.abort();
    else o.signal.addEventListener('abort', onSignal, { once: true });
  }
  if (o.handleSignals) {
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  }
  const total = o.limit ?? (o.loop ? undefined : o.passSize);
  const showBar = o.progress ?? process.stderr.isTTY === true;
  const bar = showBar
    ? new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format:
            total !== undefined
              ? `${o.topic} [{bar}] {value}/{total} {rate} rec/s`
              : `${o.topic} {value} sent {rate} rec/s`,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      )
    : null;

  const producer: Producer = o.kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: true,
  });
  const compression = o.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  const t0 = clock.now();
  let sent = 0;
  let batches = 0;
  let passes = 0;
  let stoppedBy: ReplaySummary['stoppedBy'] = 'end';
  let batch: ReplayMessage[] = [];

  const flush = async () => {
    if (batch.length === 0) return;
    const messages: Message[] = batch.map((m) => ({ key: m.key, value: m.value, headers: m.headers }));
    await producer.sendBatch({ topicMessages: [{ topic: o.topic, messages }], acks: -1, compression });
    sent += batch.length;
    batches++;
    o.onSent?.(batch);
    batch = [];
    const secs = (clock.now() - t0) / 1000;
    bar?.update(sent, { rate: secs > 0 ? Math.round(sent / secs) : 0 });
  };

  await producer.connect();
  try {
    bar?.start(total ?? 0, 0, { rate: 0 });
    outer: for (;;) {
      let inPass = 0;
      for await (const m of source(passes)) {
        inPass++;
        if (stop.signal.aborted) {
          stoppedBy = 'signal';
          break outer;
        }
        batch.push(m);
        const reachedLimit = o.limit !== undefined && sent + batch.length >= o.limit;
        if (batch.length >= batchMax || reachedLimit) {
          await bucket.take(batch.length, stop.signal);
          if (stop.signal.aborted) {
            // Abort while waiting for tokens: what we hold was not sent; drop it and stop.
            batch = [];
            stoppedBy = 'signal';
            break outer;
          }
          await flush();
        }
        if (reachedLimit) {
          stoppedBy = 'limit';
          break outer;
        }
      }
      passes++;
      if (batch.length > 0) {
        await bucket.take(batch.length, stop.signal);
        if (stop.signal.aborted) {
          batch = [];
          stoppedBy = 'signal';
          break;
        }
        await flush();
      }
      if (!o.loop) break;
      if (inPass === 0)
        throw new ReplayError('REPLAY_EMPTY_INPUT', 'the input holds no records; nothing to loop over');
      if (stop.signal.aborted) {
        stoppedBy = 'signal';
        break;
      }
    }
  } finally {
    bar?.stop();
    if (o.handleSignals) {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
    o.signal?.removeEventListener('abort', onSignal);
    await producer.disconnect();
  }
  const elapsedMs = clock.now() - t0;
  return {
    topic: o.topic,
    sent,
    batches,
    passes,
    elapsedMs,
    ratePerSec: elapsedMs > 0 ? (sent / elapsedMs) * 1000 : 0,
    stoppedBy,
  };
}

/** A labelled source's counts: records sent with the "label" header 1 / 0 (null without labels). */
export interface LabelCounts {
  hasLabels: boolean;
  frauds: number | null;
  normals: number | null;
}

/**
 * {@link runReplay}, counting the "label" headers (1 = fraud, 0 = normal) of what was sent, for the
 * summary of a source that may carry labels (`hasLabels`); `o.onSent` is still called per batch.
 */
export async function runLabelledReplay(
  source: PassFactory,
  o: RunnerOptions,
  hasLabels: boolean,
): Promise<ReplaySummary & LabelCounts> {
  let frauds = 0;
  let normals = 0;
  const summary = await runReplay(source, {
    ...o,
    onSent: (msgs) => {
      for (const m of msgs) {
        if (m.headers.label === '1') frauds++;
        else if (m.headers.label === '0') normals++;
      }
      o.onSent?.(msgs);
    },
  });
  return { ...summary, hasLabels, frauds: hasLabels ? frauds : null, normals: hasLabels ? normals : null };
}

/** " (3 fraud, 90 normal, 7 unlabelled)" for a replay's summary line; unlabelled records carry no header. */
export function labelSummary(s: LabelCounts & { sent: number }): string {
  if (!s.hasLabels) return ' (no labels in the file)';
  const unlabelled = s.sent - (s.frauds ?? 0) - (s.normals ?? 0);
  return ` (${s.frauds} fraud, ${s.normals} normal${unlabelled > 0 ? `, ${unlabelled} unlabelled` : ''})`;
}
