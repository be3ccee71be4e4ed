/**
 * The generic scoring consumer: one kafkajs consumer group member for one input kind.
 *
 * Per Kafka batch (one topic-partition, `eachBatch`, autoCommit off):
 *   1. drop records at or below the partition's high-water mark in PostgreSQL (a redelivery after a
 *      crash between the DB commit and the offset commit: already accounted for);
 *   2. decode + validate + write raw features into one Float32Array; undecodable / invalid records
 *      are set aside with their typed reason;
 *   3. ONE `scoreBatch` call for the valid rows (the scorer chunks it), anomaly score of the model's
 *      rule, compare with its calibrated threshold; a row whose score is NaN or ±Infinity is set
 *      aside as NON_FINITE_SCORE (dead-lettered, never "not flagged");
 *   4. dead letters to the DLQ topic (idempotent producer, acks=all) — before anything is committed;
 *   5. `FlagStore.writeBatch`: flags of the flagged records + the batch's counters + the partition's
 *      high-water mark in ONE transaction (retried with bounded backoff while the DB is away);
 *   5b. with a flags topic (TOPIC_FLAGS): the partition's flags still pending in PostgreSQL are
 *      published (at least once; see flag-publisher.ts);
 *   6. only then `resolveOffset` + commit of the offsets.
 * A crash anywhere loses nothing (offsets are committed last) and duplicates nothing in PostgreSQL
 * (the high-water mark). Heartbeats run on a timer during a batch; the topic is paused while the
 * DB is away or too many records are in flight (backpressure). `stop()` lets the batch in progress
 * finish and commit, then leaves the group.
 */
import { EventEmitter } from 'node:events';
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { FLAGGED, NON_FINITE } from '../detector/detector.js';
import type { KindDefinition, RecordBinding } from '../kinds/types.js';
import { cleanText } from '../kinds/text.js';
import type { ScoreBatch } from '../engine/types.js';
import type { RecordCodec } from '../schemas/codec.js';
import { DecodeError, ValidationError } from '../schemas/errors.js';
import { FlagStore, recordFingerprint, type BatchRecord, type FlagFields } from '../store/flag-store.js';
import type { RejectedRecord } from './dlq.js';
import { DEFAULT_DLQ_MAX_MESSAGE_BYTES, DlqSender, readTopicMaxMessageBytes } from './dlq-sender.js';
import { FlagPublisher } from './flag-publisher.js';
import {
  BatchFailedError,
  ConsumerStoppingError,
  StreamConfigError,
  describeError,
  isRetriableDbError,
} from './errors.js';
import type { StreamMetrics } from './metrics.js';
import type { ActiveModel, ModelSource } from './model-source.js';

export interface RetryOptions {
  initialMs?: number;
  maxMs?: number;
  /** Attempts per batch before giving up (the batch is then redelivered by Kafka). Default unbounded. */
  maxAttempts?: number;
}

export interface ScoringConsumerOptions<T> {
  kafka: Kafka;
  db: Knex;
  topic: string;
  groupId: string;
  dlqTopic: string;
  /** The input kind (src/kinds): record → model row and flag payload, bound per model. */
  kind: KindDefinition<T>;
  /** Decodes the topic's records (the kind's codec, possibly framing-aware). */
  codec: RecordCodec<T>;
  models: ModelSource;
  logger: Logger;
  metrics?: StreamMetrics;
  /** Start a new group at the earliest offset (default true). */
  fromBeginning?: boolean;
  partitionsConsumedConcurrently?: number;
  maxBytesPerPartition?: number;
  maxBytes?: number;
  maxWaitTimeInMs?: number;
  sessionTimeout?: number;
  heartbeatInterval?: number;
  retry?: RetryOptions;
  /** Pause the topic while more records than this are being processed (default 200,000). */
  maxInFlightRecords?: number;
  /** Include per-record event times in 'batch' events (for latency measurements). */
  emitEventTimes?: boolean;
  /** Share a DLQ producer (connected by the caller). */
  dlqProducer?: Producer;
  /**
   * Also publish every flag on this topic (Avro `gensemble.Flag`; TOPIC_FLAGS), at least once, after
   * the PostgreSQL commit and before the offset commit (see flag-publisher.ts). Empty or unset: off.
   */
  flagsTopic?: string;
  /**
   * Message size limit of the dead-letter topic (bytes). Default: the topic's `max.message.bytes`,
   * read at start, else {@link DEFAULT_DLQ_MAX_MESSAGE_BYTES}.
   */
  dlqMaxMessageBytes?: number;
  /** Most dead letters per produce request (default 500). */
  dlqMaxBatchMessages?: number;
  /** Retries of the dead-letter topic: bounded (default 30 attempts), then the consumer stops. */
  dlqRetry?: { maxAttempts?: number };
  /** A partition with work and no committed batch for longer than this is reported stalled (ms, default 60,000). */
  stallMs?: number;
  /**
   * Most scoring time one batch may take (ms, default {@link DEFAULT_MAX_BATCH_MS}). A fetched batch is
   * cut to the records its model scores in this time, measured per model on its earlier batches (a
   * model's first batch takes {@link FIRST_BATCH_RECORDS}); kafkajs fetches the rest again from the
   * first offset left unresolved. Without the bound a slow model turns one fetch into minutes of work
   * (the conv VAE scores tens of frames a second and a 4 MiB fetch holds 1,500 frames), longer than
   * the group's rebalance timeout: a rebalance then expels the member mid-batch and its commit fails.
   */
  maxBatchMs?: number;
  /** The group's rebalance timeout (ms, kafkajs default 60,000): how long a rebalance waits for members. */
  rebalanceTimeout?: number;
}

/** Default {@link ScoringConsumerOptions.maxBatchMs}: far below kafkajs's 60 s rebalance timeout. */
export const DEFAULT_MAX_BATCH_MS = 5_000;
/** Records of a model's first batch, before its scoring speed is known (≈ 4 s of the slowest model). */
export const FIRST_BATCH_RECORDS = 256;

/** A partition that has had records to process and no committed batch for longer than `stallMs`. */
export interface StalledPartition {
  kind: string;
  topic: string;
  partition: number;
  /** ms since its last committed batch (or since it was assigned). */
  sinceMs: number;
  reason: string;
}

interface PartitionProgress {
  lastProgressAt: number;
  batchStartedAt: number | null;
  /** Records known to be waiting (from the last batch's offset lag). */
  lag: number;
  reason: string | null;
  reportedStalled: boolean;
}

export interface BatchEvent {
  kind: string;
  topic: string;
  partition: number;
  firstOffset: string;
  lastOffset: string;
  records: number;
  scored: number;
  flagged: number;
  deadLettered: number;
  /** Records at or below the DB high-water mark (redelivered; nothing written). */
  skipped: number;
  /** Records of the fetched batch left for the next fetch (cut by maxBatchMs). */
  leftForNextFetch: number;
  modelVersion: string;
  /** Time from batch start to offsets committed. */
  durationMs: number;
  scoreMs: number;
  dbMs: number;
  /** When the offsets were committed (ms since the epoch). */
  committedAt: number;
  /** Event times of the scored records (only with `emitEventTimes`). */
  eventTimes?: Float64Array;
}

export interface RetryEvent {
  kind: string;
  topic: string;
  partition: number;
  stage: BatchFailedError['stage'];
  attempt: number;
  delayMs: number;
  error: string;
}

export interface ScoringConsumerEvents {
  batch: [BatchEvent];
  retry: [RetryEvent];
  joined: [{ memberId: string; assignment: Record<string, number[]> }];
  /** A non-retriable failure: the consumer stopped (offsets of the failed batch not committed). */
  fatal: [Error];
}

export { cleanText };

/** Each ensemble member's log p(x) of row `r` (float32 values, shortest decimal that round-trips; null if not finite). */
export function memberLogp(s: Pick<ScoreBatch, 'logp' | 'members'>, r: number): (number | null)[] {
  const out: (number | null)[] = [];
  for (let m = 0; m < s.members; m++) {
    const v = s.logp[r * s.members + m];
    out.push(Number.isFinite(v) ? float32Shortest(v) : null);
  }
  return out;
}

/**
 * A 'vae+wgan' model's critic values of record r, for the flag payload: each critic's D(x) (the
 * graph's normalised values) and their variance (shortest float32 text, as member_logp).
 */
export function memberCritics(
  s: Pick<ScoreBatch, 'critic'>,
  r: number,
): { member_critic: (number | null)[]; critic_var: number | null } | undefined {
  const c = s.critic;
  if (!c) return undefined;
  const f = (v: number): number | null => (Number.isFinite(v) ? float32Shortest(v) : null);
  const member: (number | null)[] = [];
  for (let m = 0; m < c.members; m++) member.push(f(c.critic[r * c.members + m]));
  return { member_critic: member, critic_var: f(c.var[r]) };
}

/**
 * The record's input statistics, for the flag payload of a model that carries them: its distance under
 * the model's input Gaussian ('feature_maha': how far from the training data's first two moments) and
 * to the nearest reference training record ('feature_knn').
 */
export function featureDistance(
  s: Pick<ScoreBatch, 'featureMaha' | 'featureKnn'>,
  r: number,
): { feature_maha?: number | null; feature_knn?: number | null } | undefined {
  if (!s.featureMaha && !s.featureKnn) return undefined;
  const f = (v: number): number | null => (Number.isFinite(v) ? Number(v.toPrecision(7)) : null);
  return {
    ...(s.featureMaha ? { feature_maha: f(s.featureMaha[r]) } : {}),
    ...(s.featureKnn ? { feature_knn: f(s.featureKnn[r]) } : {}),
  };
}

/** The shortest decimal that reads back as the same float32 (77.88999938964844 → 77.89). */
export function float32Shortest(v: number): number {
  for (let p = 1; p < 10; p++) {
    const d = Number(v.toPrecision(p));
    if (Math.fround(d) === v) return d;
  }
  return v;
}

/** A retriable failure of one step of a batch: the batch is retried later, not in place. */
class RetryLater extends Error {
  constructor(
    readonly stage: BatchFailedError['stage'],
    override readonly cause: unknown,
  ) {
    super(`${stage}: ${describeError(cause).message}`);
  }
}

export class ScoringConsumer<T> extends EventEmitter<ScoringConsumerEvents> {
  readonly consumer: Consumer;
  private readonly store: FlagStore;
  private producer: Producer | null = null;
  private readonly ownsProducer: boolean;
  private readonly hwm = new Map<number, bigint>();
  /** Per partition: which life of the topic its mark belongs to (bumped when it was recreated). */
  private readonly incarnation = new Map<number, number>();
  /** Per partition: fingerprint of the record at the loaded mark, until a batch confirmed it. */
  private readonly markToVerify = new Map<number, string | null>();
  /** Per partition: where to seek back to after looking ahead at the record at the mark. */
  private readonly seekBack = new Map<number, string>();
  private readonly abort = new AbortController();
  private readonly bufferPool: Float32Array[] = [];
  private inFlight = 0;
  /** Scoring ms per record of each model, a running mean over its batches (for maxBatchMs). */
  private readonly scoreCost = new WeakMap<ActiveModel, number>();
  private rebalanceSeen = 0;
  private pausedBy = new Set<string>();
  private running = false;
  private joinedOnce = false;
  private stopping: Promise<void> | null = null;
  private readonly log: Logger;
  private dlq: DlqSender | null = null;
  private flagPublisher: FlagPublisher | null = null;
  private readonly progress = new Map<number, PartitionProgress>();
  private stallTimer: NodeJS.Timeout | null = null;
  /** Per partition: retries of the batch in trouble (survives its redeliveries; cleared on commit). */
  private readonly retryState = new Map<number, { attempt: number; waitMs: number }>();
  private readonly deferred = new Set<number>();
  private readonly resumeTimers = new Set<NodeJS.Timeout>();
  /** Per partition: highest source offset whose dead letter is durable (not sent again on a redelivery). */
  private readonly dlqSentUpTo = new Map<number, bigint>();
  private readonly bindings = new WeakMap<ActiveModel, RecordBinding<T>>();

  constructor(private readonly o: ScoringConsumerOptions<T>) {
    super();
    this.log = o.logger.child({ kind: o.kind.name, topic: o.topic });
    this.store = new FlagStore(o.db);
    this.consumer = o.kafka.consumer({
      groupId: o.groupId,
      sessionTimeout: o.sessionTimeout ?? 30_000,
      heartbeatInterval: o.heartbeatInterval ?? 3_000,
      maxBytesPerPartition: o.maxBytesPerPartition ?? 8 << 20,
      maxBytes: o.maxBytes ?? 32 << 20,
      maxWaitTimeInMs: o.maxWaitTimeInMs ?? 100,
      ...(o.rebalanceTimeout !== undefined ? { rebalanceTimeout: o.rebalanceTimeout } : {}),
      retry: { retries: 10, initialRetryTime: 300 },
    });
    this.ownsProducer = !o.dlqProducer;
    this.producer = o.dlqProducer ?? null;
    this.consumer.on(this.consumer.events.GROUP_JOIN, (e) => {
      // Another member may have advanced our partitions' high-water marks while we were away.
      this.hwm.clear();
      this.incarnation.clear();
      this.markToVerify.clear();
      this.seekBack.clear();
      this.dlqSentUpTo.clear();
      this.retryState.clear();
      this.joinedOnce = true;
      const now = Date.now();
      const mine = new Set(e.payload.memberAssignment[this.o.topic] ?? []);
      for (const part of [...this.progress.keys()]) {
        if (!mine.has(part)) {
          this.progress.delete(part);
          this.o.metrics?.partitionStalled.remove({
            kind: this.kind,
            topic: this.o.topic,
            partition: String(part),
          });
        }
      }
      for (const part of mine) {
        const pr = this.progressOf(part);
        pr.lastProgressAt = now;
      }
      this.log.info(
        { memberId: e.payload.memberId, assignment: e.payload.memberAssignment },
        'joined consumer group',
      );
      this.emit('joined', { memberId: e.payload.memberId, assignment: e.payload.memberAssignment });
    });
    this.consumer.on(this.consumer.events.CRASH, (e) => {
      const err = e.payload.error;
      this.log.error({ err: describeError(err), restart: e.payload.restart }, 'consumer crashed');
      if (!e.payload.restart && !this.stopping) this.emit('fatal', err);
    });
  }

  get kind(): string {
    return this.o.kind.name;
  }

  get topic(): string {
    return this.o.topic;
  }

  /** True once the consumer has joined its group at least once (and is not stopping). */
  get ready(): boolean {
    return this.running && this.joinedOnce && this.stopping === null;
  }

  async start(): Promise<void> {
    if (!this.producer) {
      this.producer = this.o.kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: true,
      });
    }
    if (this.ownsProducer) await this.producer.connect();
    let limit = this.o.dlqMaxMessageBytes;
    if (limit === undefined || limit <= 0) {
      const admin = this.o.kafka.admin();
      try {
        await admin.connect();
        limit = await readTopicMaxMessageBytes(admin, this.o.dlqTopic);
      } catch {
        limit = undefined;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
      this.log.info(
        { dlqTopic: this.o.dlqTopic, maxMessageBytes: limit ?? DEFAULT_DLQ_MAX_MESSAGE_BYTES },
        limit === undefined
          ? 'dead-letter topic limit unknown (topic not created yet?); using the default'
          : "dead-letter topic's max.message.bytes",
      );
    }
    this.dlq = new DlqSender({
      producer: () => this.producer,
      topic: this.o.dlqTopic,
      maxMessageBytes: limit ?? DEFAULT_DLQ_MAX_MESSAGE_BYTES,
      ...(this.o.dlqMaxBatchMessages !== undefined ? { maxBatchMessages: this.o.dlqMaxBatchMessages } : {}),
      logger: this.log,
      signal: this.abort.signal,
    });
    if (this.o.flagsTopic)
      this.flagPublisher = new FlagPublisher({
        producer: () => this.producer,
        topic: this.o.flagsTopic,
        store: this.store,
        consumerGroup: this.o.groupId,
        signal: this.abort.signal,
      });
    const stallMs = this.o.stallMs ?? 60_000;
    this.stallTimer = setInterval(
      () => this.checkStalls(),
      Math.max(100, Math.min(5000, Math.floor(stallMs / 4))),
    );
    this.stallTimer.unref();
    await this.consumer.connect();
    await this.consumer.subscribe({ topic: this.o.topic, fromBeginning: this.o.fromBeginning ?? true });
    this.o.models.start();
    this.running = true;
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.o.partitionsConsumedConcurrently ?? 1,
      eachBatch: (p) => this.onBatch(p),
    });
  }

  /** Finish the batch in progress (commit it), leave the group, disconnect. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info('stopping consumer (finishing the batch in progress)');
      try {
        // Retry loops give up at once; a batch that is scoring or writing finishes and commits.
        this.abort.abort();
        if (this.stallTimer) clearInterval(this.stallTimer);
        this.stallTimer = null;
        for (const t of this.resumeTimers) clearTimeout(t);
        this.resumeTimers.clear();
        await this.consumer.disconnect();
      } finally {
        if (this.ownsProducer && this.producer) await this.producer.disconnect().catch(() => undefined);
        this.running = false;
        this.log.info('consumer stopped');
      }
    })();
    return this.stopping;
  }

  private progressOf(partition: number): PartitionProgress {
    let pr = this.progress.get(partition);
    if (!pr) {
      pr = { lastProgressAt: Date.now(), batchStartedAt: null, lag: 0, reason: null, reportedStalled: false };
      this.progress.set(partition, pr);
    }
    return pr;
  }

  /**
   * Partitions of this consumer that have records to process (a batch in progress, or a known lag)
   * and have committed nothing for longer than `stallMs`, with the last reason seen.
   */
  stalledPartitions(now = Date.now()): StalledPartition[] {
    const stallMs = this.o.stallMs ?? 60_000;
    const out: StalledPartition[] = [];
    for (const [partition, pr] of this.progress) {
      const pending = pr.batchStartedAt !== null || pr.lag > 0;
      const since = now - pr.lastProgressAt;
      if (!pending || since <= stallMs) continue;
      out.push({
        kind: this.kind,
        topic: this.o.topic,
        partition,
        sinceMs: since,
        reason:
          pr.reason ??
          (pr.batchStartedAt !== null
            ? 'a batch is in progress'
            : `${pr.lag} records waiting, no batch delivered`),
      });
    }
    return out.sort((a, b) => a.partition - b.partition);
  }

  private checkStalls(): void {
    const stalled = new Map(this.stalledPartitions().map((s) => [s.partition, s]));
    const m = this.o.metrics;
    for (const [partition, pr] of this.progress) {
      const s = stalled.get(partition);
      const labels = { kind: this.kind, topic: this.o.topic, partition: String(partition) };
      m?.partitionStalled.set(labels, s ? 1 : 0);
      m?.partitionLastProgress.set(labels, pr.lastProgressAt / 1000);
      if (s && !pr.reportedStalled) {
        this.log.warn({ partition, sinceMs: s.sinceMs, reason: s.reason }, 'partition stalled: no progress');
      } else if (!s && pr.reportedStalled) {
        this.log.info({ partition }, 'partition progressing again');
      }
      pr.reportedStalled = s !== undefined;
    }
  }

  private takeBuffer(size: number): Float32Array {
    for (let i = 0; i < this.bufferPool.length; i++) {
      if (this.bufferPool[i].length >= size) return this.bufferPool.splice(i, 1)[0];
    }
    return new Float32Array(Math.max(size, 1024));
  }

  private giveBuffer(b: Float32Array): void {
    if (this.bufferPool.length < 4) this.bufferPool.push(b);
  }

  private pauseTopic(why: string): void {
    if (this.pausedBy.size === 0) {
      this.consumer.pause([{ topic: this.o.topic }]);
      this.o.metrics?.paused.set({ kind: this.kind, topic: this.o.topic }, 1);
      this.log.warn({ why }, 'consumption paused');
    }
    this.pausedBy.add(why);
  }

  private resumeTopic(why: string): void {
    if (!this.pausedBy.delete(why) || this.pausedBy.size > 0) return;
    this.consumer.resume([{ topic: this.o.topic }]);
    this.o.metrics?.paused.set({ kind: this.kind, topic: this.o.topic }, 0);
    this.log.info('consumption resumed');
  }

  /**
   * Runs one step of a batch. A retriable failure becomes {@link RetryLater}: the batch gives up
   * WITHOUT committing, its partition is paused and resumed after a backoff (see `deferPartition`),
   * and kafkajs redelivers it. The batch never waits inside `eachBatch`, because kafkajs fetches the
   * next round from a broker only after every batch of the last round returned: one partition waiting
   * in place would hold up every other partition on that broker. Non-retriable failures throw
   * BatchFailedError (the consumer stops).
   */
  private async step<R>(stage: BatchFailedError['stage'], fn: () => Promise<R>): Promise<R> {
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ConsumerStoppingError || e instanceof BatchFailedError || e instanceof RetryLater)
        throw e;
      const d = describeError(e);
      if (!isRetriableDbError(e))
        throw new BatchFailedError(stage, `${stage} failed (not retriable): ${d.message}`, {
          retriable: false,
          cause: e,
        });
      throw new RetryLater(stage, e);
    }
  }

  /**
   * After a retriable failure of a batch: pause its partition and resume it after exponential backoff
   * with jitter (the attempt count survives redeliveries). Bounded by retry.maxAttempts (default
   * unbounded: a database outage is waited out) and, for the dead-letter topic, dlqRetry.maxAttempts
   * (default 30), after which the failure is fatal.
   */
  private deferPartition(p: EachBatchPayload, partition: number, e: RetryLater): void {
    const r = this.o.retry ?? {};
    const maxMs = r.maxMs ?? 10_000;
    const st = this.retryState.get(partition) ?? { attempt: 0, waitMs: r.initialMs ?? 200 };
    st.attempt++;
    this.retryState.set(partition, st);
    const stage = e.stage;
    const d = describeError(e.cause);
    // The flags topic follows the dead-letter topic's rules: bounded attempts, then fatal.
    const producing = stage === 'dlq' || stage === 'flags';
    const maxAttempts = producing ? (this.o.dlqRetry?.maxAttempts ?? 30) : (r.maxAttempts ?? Infinity);
    if (st.attempt >= maxAttempts)
      throw new BatchFailedError(
        stage,
        `${stage === 'dlq' ? 'dead-letter topic' : stage === 'flags' ? 'flags topic' : stage} still failing after ${st.attempt} attempts: ${d.message}`,
        { retriable: false, cause: e.cause },
      );
    if (this.abort.signal.aborted || !p.isRunning()) throw new ConsumerStoppingError();
    const sleepMs = Math.round(st.waitMs * (0.5 + 0.5 * Math.random()));
    st.waitMs = Math.min(maxMs, st.waitMs * 2);
    this.o.metrics?.batchRetries.inc({ kind: this.kind, topic: this.o.topic, stage });
    this.progressOf(partition).reason = `${stage}: ${d.message}`;
    this.log.warn(
      { stage, partition, attempt: st.attempt, retryInMs: sleepMs, err: d },
      stage === 'dlq'
        ? 'dead-letter topic unavailable; batch not committed, partition retries later'
        : stage === 'flags'
          ? 'flags topic unavailable; flags kept pending in PostgreSQL, batch not committed, partition retries later'
          : stage === 'score'
            ? 'record decoding dependency unavailable; batch not committed, partition retries later'
            : 'database unavailable; batch not committed, partition retries later',
    );
    this.emit('retry', {
      kind: this.kind,
      topic: this.o.topic,
      partition,
      stage,
      attempt: st.attempt,
      delayMs: sleepMs,
      error: d.message,
    });
    const resume = p.pause();
    this.deferred.add(partition);
    this.o.metrics?.paused.set({ kind: this.kind, topic: this.o.topic }, 1);
    const t = setTimeout(() => {
      this.resumeTimers.delete(t);
      this.deferred.delete(partition);
      if (this.deferred.size === 0 && this.pausedBy.size === 0)
        this.o.metrics?.paused.set({ kind: this.kind, topic: this.o.topic }, 0);
      if (!this.abort.signal.aborted) resume();
    }, sleepMs);
    this.resumeTimers.add(t);
  }

  private async onBatch(p: EachBatchPayload): Promise<void> {
    const { batch } = p;
    const fetched = batch.messages;
    let msgs = fetched;
    if (msgs.length === 0) return;
    const t0 = performance.now();
    const { topic, partition } = batch;
    const kind = this.kind;
    const codec = this.o.codec;
    const metrics = this.o.metrics;
    const firstOffset = msgs[0].offset;
    let lastOffset = msgs[msgs.length - 1].offset;

    // Heartbeat on a timer while the batch is scored and written (kafkajs throttles the calls). A
    // rebalance shows here first; the batch still finishes (bounded by maxBatchMs) and commits, as
    // the coordinator accepts commits of the current generation until the rebalance completes.
    const hbEvery = Math.max(250, Math.floor((this.o.heartbeatInterval ?? 3000) / 2));
    const hb = setInterval(
      () =>
        void p.heartbeat().catch((e: unknown) => {
          const now = Date.now();
          if (now - this.rebalanceSeen < 10_000) return;
          this.rebalanceSeen = now;
          this.log.info(
            { partition, err: describeError(e) },
            'heartbeat refused during a batch (a group rebalance?); the batch finishes and commits first',
          );
        }),
      hbEvery,
    );
    this.inFlight += fetched.length;
    const maxInFlight = this.o.maxInFlightRecords ?? 200_000;
    if (this.inFlight > maxInFlight) this.pauseTopic('backpressure');
    const model = this.o.models.acquire();
    let features: Float32Array | null = null;
    const progress = this.progressOf(partition);
    progress.batchStartedAt = Date.now();
    progress.lag = Math.max(progress.lag, msgs.length + Math.max(0, Number(batch.offsetLag())));
    try {
      // 1. Skip what PostgreSQL already holds (for this consumer group and this life of the topic).
      let hwm = this.hwm.get(partition);
      if (hwm === undefined) {
        const known = await this.step('hwm', () => this.store.committedMarks(topic, this.o.groupId));
        const v = known.get(partition);
        hwm = v === undefined ? -1n : BigInt(v.lastOffset);
        this.hwm.set(partition, hwm);
        this.incarnation.set(partition, v?.incarnation ?? 0);
        this.markToVerify.set(partition, hwm >= 0n && v?.fingerprint ? v.fingerprint : null);
      }
      const toVerify = this.markToVerify.get(partition) ?? null;
      if (toVerify !== null && BigInt(firstOffset) <= hwm) {
        const verdict = this.verifyMark(batch, hwm, toVerify);
        if (verdict === 'seek') {
          // The mark lies beyond this batch: look at the record there first, then come back.
          if (!this.seekBack.has(partition)) this.seekBack.set(partition, firstOffset);
          this.consumer.seek({ topic, partition, offset: hwm.toString() });
          progress.batchStartedAt = null;
          return;
        }
        this.markToVerify.set(partition, null);
        if (verdict === 'recreated') {
          const inc = (this.incarnation.get(partition) ?? 0) + 1;
          this.log.warn(
            { partition, mark: hwm.toString(), incarnation: inc },
            'the record at the high-water mark is not the one PostgreSQL saw: the topic was deleted and ' +
              'created again; scoring it from the start as a new incarnation',
          );
          this.incarnation.set(partition, inc);
          hwm = -1n;
          this.hwm.set(partition, hwm);
          const back = this.seekBack.get(partition);
          this.seekBack.delete(partition);
          if (back !== undefined && BigInt(back) < BigInt(firstOffset)) {
            this.consumer.seek({ topic, partition, offset: back });
            progress.batchStartedAt = null;
            return;
          }
        }
        this.seekBack.delete(partition);
      } else if (BigInt(firstOffset) > hwm) this.markToVerify.set(partition, null);
      let start = 0;
      if (hwm >= 0n && BigInt(firstOffset) <= hwm) {
        while (start < msgs.length && BigInt(msgs[start].offset) <= hwm) start++;
        metrics?.recordsSkipped.inc({ kind, topic }, start);
        this.log.info(
          { partition, skipped: start, upTo: hwm.toString() },
          'skipping redelivered records already in PostgreSQL',
        );
      }
      const nAll = msgs.length - start;
      if (nAll === 0) {
        // A redelivery (e.g. after a failed flags publish): what PostgreSQL holds goes out first.
        const publisher = this.flagPublisher;
        if (publisher) await this.step('flags', () => publisher.publishPending(topic, partition));
        await this.commit(p, topic, partition, lastOffset);
        this.retryState.delete(partition);
        progress.lastProgressAt = Date.now();
        progress.batchStartedAt = null;
        progress.reason = null;
        progress.lag = Math.max(0, Number(batch.offsetLag()));
        return;
      }
      // 1b. At most what the model scores in maxBatchMs; kafkajs fetches the rest again.
      const cap = this.recordCap(model);
      if (nAll > cap) {
        msgs = fetched.slice(0, start + cap);
        lastOffset = msgs[msgs.length - 1].offset;
      }
      const n = msgs.length - start;

      // 2. Decode, validate, features.
      await this.step('score', () => codec.prepare(msgs.slice(start).map((m) => m.value)));
      const dim = model.inputDim;
      let spec: RecordBinding<T>;
      try {
        spec = this.bindingFor(model);
      } catch (e) {
        throw new BatchFailedError('score', describeError(e).message, { retriable: false, cause: e });
      }
      features = this.takeBuffer(n * dim);
      const rows: T[] = [];
      const rowMsg: number[] = [];
      const rejected: RejectedRecord[] = [];
      for (let i = start; i < msgs.length; i++) {
        const m = msgs[i];
        try {
          const rec = codec.decode(m.value);
          const row = rows.length;
          spec.writeFeatures(rec, features, row);
          // Values that overflow float32 (e.g. 1e300) become ±Infinity in the row.
          let s = 0;
          const o = row * dim;
          for (let j = 0; j < dim; j++) s += features[o + j];
          if (!Number.isFinite(s))
            throw new ValidationError('NON_FINITE', 'a feature is not finite in float32 (overflow)');
          const id = spec.recordId(rec);
          if (id.indexOf('\u0000') >= 0)
            throw new ValidationError('BAD_ID', 'id contains a NUL character', 'id');
          rows.push(rec);
          rowMsg.push(i);
        } catch (e) {
          if (e instanceof DecodeError || e instanceof ValidationError) {
            rejected.push({ message: m, error: e });
          } else if (e instanceof StreamConfigError) {
            throw new BatchFailedError('score', e.message, { retriable: false, cause: e });
          } else {
            rejected.push({ message: m, error: new DecodeError('BAD_BODY', describeError(e).message, e) });
          }
        }
      }

      // 3. Score once, threshold.
      const nRows = rows.length;
      let scoreMs = 0;
      let scores: ScoreBatch | null = null;
      let anomaly: Float64Array | null = null;
      let decisions: Uint8Array | null = null;
      if (nRows > 0) {
        const ts = performance.now();
        const pred = await model.predict(features.subarray(0, nRows * dim), nRows);
        scores = pred.batch;
        anomaly = pred.score;
        decisions = pred.decisions;
        scoreMs = performance.now() - ts;
        metrics?.scoreSeconds.observe({ kind }, scoreMs / 1000);
        const per = scoreMs / nRows;
        const known = this.scoreCost.get(model);
        this.scoreCost.set(model, known === undefined ? per : (known + per) / 2);
        // A record the model could not score (NaN / ±Infinity: an overflow inside the graph) must not
        // pass as "not flagged": it is dead-lettered like an invalid record, in source order.
        let bad = 0;
        for (let r = 0; r < nRows; r++) {
          const a = anomaly[r];
          if (Number.isFinite(a)) continue;
          bad++;
          rejected.push({
            message: msgs[rowMsg[r]],
            error: new ValidationError(
              'NON_FINITE_SCORE',
              `the ${model.score} score of model ${model.version} is ${String(a)} (log p ${String(scores.logpMean[r])}, rate ${String(scores.rate[r])})`,
            ),
          });
        }
        if (bad > 0)
          rejected.sort((x, y) => {
            const d = BigInt(x.message.offset) - BigInt(y.message.offset);
            return d < 0n ? -1 : d > 0n ? 1 : 0;
          });
      }

      // 4. Dead letters first (they must be durable before the offsets move).
      if (rejected.length > 0) {
        const ctx = { topic, partition, kind, consumerGroup: this.o.groupId };
        const sender = this.dlq;
        if (!sender) throw new ConsumerStoppingError();
        // A redelivered batch (an earlier attempt failed after some chunks went out) sends only the rest.
        const upTo = this.dlqSentUpTo.get(partition) ?? -1n;
        const pending = upTo < 0n ? rejected : rejected.filter((r) => BigInt(r.message.offset) > upTo);
        const sent = await this.step('dlq', () =>
          sender.send(pending, ctx, (done) => {
            const last = done[done.length - 1];
            if (last) this.dlqSentUpTo.set(partition, BigInt(last.message.offset));
          }),
        );
        if (sent.truncated > 0) metrics?.deadLettersTruncated.inc({ kind, topic }, sent.truncated);
        // One log line per reason and batch (a burst of thousands of bad records is a few lines).
        const byReason = new Map<string, { n: number; first: RejectedRecord; last: RejectedRecord }>();
        for (const r of rejected) {
          const g = byReason.get(r.error.reason);
          if (g) {
            g.n++;
            g.last = r;
          } else byReason.set(r.error.reason, { n: 1, first: r, last: r });
        }
        for (const [reason, g] of byReason) {
          metrics?.recordsDeadLettered.inc({ kind, topic, reason }, g.n);
          this.log.warn(
            {
              partition,
              reason,
              records: g.n,
              firstOffset: g.first.message.offset,
              lastOffset: g.last.message.offset,
              err: g.first.error.message,
              ...(sent.truncated > 0 ? { truncated: sent.truncated } : {}),
            },
            g.n === 1 ? 'record dead-lettered' : 'records dead-lettered',
          );
        }
      }

      // 5. Flags + counters + high-water mark in one transaction.
      const records: BatchRecord[] = new Array<BatchRecord>(n);
      let flagged = 0;
      for (let r = 0, k = 0; k < n; k++) {
        const i = start + k;
        const off = msgs[i].offset;
        if (r < nRows && rowMsg[r] === i) {
          const a = (anomaly as Float64Array)[r];
          const decision = (decisions as Uint8Array)[r];
          if (decision === FLAGGED) {
            flagged++;
            records[k] = {
              offset: off,
              outcome: 'flagged',
              flag: this.flagOf(rows[r], r, a, model, scores as ScoreBatch),
            };
          } else if (decision === NON_FINITE) {
            records[k] = { offset: off, outcome: 'dead_lettered' }; // sent to the DLQ in step 4
          } else records[k] = { offset: off, outcome: 'scored' };
          r++;
        } else {
          records[k] = { offset: off, outcome: 'dead_lettered' };
        }
      }
      const td = performance.now();
      const markFingerprint = recordFingerprint(msgs[msgs.length - 1]);
      const incarnation = this.incarnation.get(partition) ?? 0;
      const res = await this.step('db', () =>
        this.store.writeBatch({
          topic,
          partition,
          kind,
          records,
          consumerGroup: this.o.groupId,
          incarnation,
          markFingerprint,
          publish: this.flagPublisher !== null,
        }),
      );
      const dbMs = performance.now() - td;
      metrics?.dbWriteSeconds.observe({ kind }, dbMs / 1000);
      this.hwm.set(partition, BigInt(res.lastOffset));

      // 5b. The flags topic: this batch's flags (and any a failed publish left pending) go out after
      // the DB commit and before the offsets move. A retriable failure defers the partition; its
      // redelivery is skipped by the high-water mark but publishes what is still pending.
      const publisher = this.flagPublisher;
      if (publisher) await this.step('flags', () => publisher.publishPending(topic, partition));

      // 6. Offsets.
      await this.commit(p, topic, partition, lastOffset);
      const committedAt = Date.now();
      progress.lastProgressAt = committedAt;
      progress.batchStartedAt = null;
      progress.reason = null;
      const retried = this.retryState.get(partition);
      if (retried) {
        this.retryState.delete(partition);
        this.log.info({ partition, attempts: retried.attempt + 1 }, 'batch committed after retries');
      }
      const left = fetched.length - msgs.length;
      progress.lag = Math.max(0, Number(batch.offsetLag())) + left;
      const durationMs = performance.now() - t0;
      metrics?.recordsScored.inc({ kind, topic }, res.counted.scored);
      metrics?.recordsFlagged.inc({ kind, topic }, res.counted.flagged);
      metrics?.batches.inc({ kind, topic });
      metrics?.batchSeconds.observe({ kind, topic }, durationMs / 1000);
      metrics?.batchSize.observe({ kind }, msgs.length);
      if (msgs.length < fetched.length) metrics?.batchesCut.inc({ kind, topic });
      metrics?.consumerLag.set(
        { kind, topic, partition: String(partition) },
        Number(batch.offsetLag()) + left,
      );
      if (res.skipped > 0) metrics?.recordsSkipped.inc({ kind, topic }, res.skipped);
      let eventTimes: Float64Array | undefined;
      if (this.o.emitEventTimes) {
        eventTimes = new Float64Array(nRows);
        const b = this.bindingFor(model);
        for (let r = 0; r < nRows; r++) eventTimes[r] = b.eventTime(rows[r]);
      }
      const ev: BatchEvent = {
        kind,
        topic,
        partition,
        firstOffset,
        lastOffset,
        records: msgs.length,
        scored: res.counted.scored,
        flagged: res.counted.flagged,
        deadLettered: res.counted.deadLettered,
        skipped: start + res.skipped,
        leftForNextFetch: left,
        modelVersion: model.version,
        durationMs,
        scoreMs,
        dbMs,
        committedAt,
        ...(eventTimes ? { eventTimes } : {}),
      };
      this.log.debug(
        {
          partition,
          firstOffset,
          lastOffset,
          records: msgs.length,
          flagged,
          deadLettered: rejected.length,
          ms: Math.round(durationMs),
        },
        'batch committed',
      );
      this.emit('batch', ev);
    } catch (err) {
      progress.batchStartedAt = null;
      let e = err;
      if (e instanceof RetryLater) {
        try {
          this.deferPartition(p, partition, e);
          return; // not committed: redelivered after the backoff
        } catch (e2) {
          e = e2;
        }
      }
      progress.reason = `batch failed: ${describeError(e).message}`;
      if (e instanceof ConsumerStoppingError) {
        this.log.info(
          { partition, firstOffset, lastOffset },
          'batch abandoned (stopping); it will be redelivered',
        );
        throw e;
      }
      if (e instanceof BatchFailedError && !e.retriable) {
        this.log.error(
          { partition, firstOffset, err: describeError(e) },
          'batch failed (not retriable); stopping the consumer',
        );
        this.emit('fatal', e);
        void this.stop();
      }
      throw e;
    } finally {
      clearInterval(hb);
      if (features) this.giveBuffer(features);
      this.o.models.release(model);
      this.inFlight -= fetched.length;
      if (this.inFlight <= maxInFlight / 2) this.resumeTopic('backpressure');
    }
  }

  /** Records a batch of this model may score within maxBatchMs (see {@link ScoringConsumerOptions.maxBatchMs}). */
  private recordCap(model: ActiveModel): number {
    const per = this.scoreCost.get(model);
    if (per === undefined) return FIRST_BATCH_RECORDS;
    const budget = this.o.maxBatchMs ?? DEFAULT_MAX_BATCH_MS;
    return per > 0 ? Math.max(1, Math.floor(budget / per)) : Number.MAX_SAFE_INTEGER;
  }

  /**
   * A batch reaches back to (or below) the mark loaded from PostgreSQL: is it the topic PostgreSQL saw
   * (a redelivery: skip what the mark covers) or a topic deleted and created again under the same name
   * (offsets restart at 0: nothing of it is in PostgreSQL)? Decided by the record AT the mark:
   *   - the partition ends at or before the mark (high watermark <= mark): that record does not exist,
   *     so this is not the log the mark was written for → recreated;
   *   - the batch holds the mark's offset: same fingerprint (timestamp, key, value) → redelivery, else
   *     recreated;
   *   - the batch spans the mark's offset without holding it (compaction, transaction markers): it
   *     cannot be told; taken as a redelivery;
   *   - the batch ends before the mark: 'seek' — the consumer looks at the record at the mark first.
   * Why not Kafka's own signals: kafkajs 2.2 does not expose topic ids, and "the group has no
   * committed offset" also holds after a crash before a new group's first offset commit, where
   * re-scoring would duplicate that batch's flags.
   */
  private verifyMark(
    batch: EachBatchPayload['batch'],
    hwm: bigint,
    fingerprint: string,
  ): 'redelivery' | 'recreated' | 'seek' {
    if (BigInt(batch.highWatermark) <= hwm) return 'recreated';
    const at = batch.messages.find((m) => BigInt(m.offset) === hwm);
    if (at) return recordFingerprint(at) === fingerprint ? 'redelivery' : 'recreated';
    const last = batch.messages[batch.messages.length - 1];
    return last !== undefined && BigInt(last.offset) >= hwm ? 'redelivery' : 'seek';
  }

  /** The kind's binding to this model (made once per model; checked when the model was loaded). */
  private bindingFor(model: ActiveModel): RecordBinding<T> {
    let b = this.bindings.get(model);
    if (!b) {
      try {
        b = this.o.kind.bind(model.manifest);
      } catch (e) {
        throw new StreamConfigError(`model ${model.version}: ${describeError(e).message}`, e);
      }
      this.bindings.set(model, b);
    }
    return b;
  }

  private flagOf(rec: T, r: number, score: number, model: ActiveModel, s: ScoreBatch): FlagFields {
    const spec = this.bindingFor(model);
    return {
      recordId: cleanText(spec.recordId(rec)),
      score,
      waic: s.waic[r],
      logpMean: s.logpMean[r],
      logpVar: s.logpVar[r],
      rate: s.rate[r],
      threshold: model.threshold,
      modelVersion: model.version,
      eventTime: spec.eventTime(rec),
      payload: {
        ...spec.payload(rec),
        member_logp: memberLogp(s, r),
        ...memberCritics(s, r),
        ...featureDistance(s, r),
      },
      scoreName: model.score,
    };
  }

  private async commit(
    p: EachBatchPayload,
    topic: string,
    partition: number,
    lastOffset: string,
  ): Promise<void> {
    p.resolveOffset(lastOffset);
    const next = (BigInt(lastOffset) + 1n).toString();
    try {
      await p.commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition, offset: next }] }] });
    } catch (e) {
      // The DB already holds the batch: a redelivery is skipped by the high-water mark. Rethrow so
      // kafkajs rejoins (typically a rebalance).
      this.log.warn(
        { partition, offset: next, err: describeError(e) },
        'offset commit failed; the batch may be redelivered (and skipped)',
      );
      throw e;
    }
  }
}

/** Used by input specs: messages as kafkajs hands them. */
export type { KafkaMessage };
