/**
 * Publishes flags on the flags topic (TOPIC_FLAGS) as Avro `gensemble.Flag` records in single-object
 * encoding, keyed by their source "<topic>/<partition>/<offset>" (the dead letters' key), through the
 * consumer's idempotent producer (acks=all).
 *
 * Guarantee: at least once, after the PostgreSQL commit. The flags table is the outbox: a flag is
 * written with `publish_pending` in the batch's transaction, and the consumer publishes the
 * partition's pending flags after that commit and BEFORE it commits the Kafka offsets. A publish that
 * fails leaves them pending and the batch uncommitted; its redelivery is skipped by the high-water
 * mark (the flags and counters are already in PostgreSQL), but it publishes the pending flags before
 * committing — so a flag can be published twice (same key and content: de-duplicate on the key),
 * never lost, and never published before it is in PostgreSQL.
 *
 * Errors follow the dead-letter topic's rules ({@link classifyProduceError}): a retriable one
 * (broker restarting, leader moving, not enough replicas) is {@link FlagsTopicUnavailableError},
 * which the consumer retries later with backoff, bounded like the dead-letter topic
 * (STREAM_DLQ_MAX_ATTEMPTS); one that can never succeed (authorization, an invalid topic, a record
 * too large) stops the consumer.
 */
import type { Message, Producer } from 'kafkajs';
import { GensembleError } from '../errors.js';
import { flagCodec } from '../schemas/codec.js';
import type { FlagRecord } from '../schemas/schemas.js';
import type { FlagStore, PendingFlag } from '../store/flag-store.js';
import { classifyProduceError } from './dlq-sender.js';
import { BatchFailedError, ConsumerStoppingError, describeError } from './errors.js';

/** The flags topic did not take a chunk for a reason that may go away. */
export class FlagsTopicUnavailableError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('FLAGS_TOPIC_UNAVAILABLE', message, { retriable: true, cause });
  }
}

/** The Avro record of a stored flag. */
export function flagRecordOf(p: PendingFlag): FlagRecord {
  return {
    source_topic: p.sourceTopic,
    source_partition: p.sourcePartition,
    source_offset: Number(p.sourceOffset),
    record_id: p.recordId,
    kind: p.kind,
    score_name: p.scoreName ?? '',
    score: p.score,
    threshold: p.threshold,
    waic: p.waic,
    logp_mean: p.logpMean,
    logp_var: p.logpVar,
    rate: p.rate,
    model_version: p.modelVersion,
    event_time: (p.eventTime ?? p.flaggedAt).getTime(),
    flagged_at: p.flaggedAt.getTime(),
  };
}

export interface FlagPublisherOptions {
  producer: () => Producer | null;
  topic: string;
  store: FlagStore;
  consumerGroup: string;
  signal: AbortSignal;
  /** Flags per produce request (default 500). */
  chunk?: number;
}

export class FlagPublisher {
  private readonly codec = flagCodec();

  constructor(private readonly o: FlagPublisherOptions) {}

  get topic(): string {
    return this.o.topic;
  }

  /** Publishes every pending flag of the partition (oldest first); returns how many went out. */
  async publishPending(topic: string, partition: number): Promise<number> {
    const chunk = this.o.chunk ?? 500;
    let total = 0;
    for (;;) {
      const pending = await this.o.store.pendingFlags(topic, partition, this.o.consumerGroup, chunk);
      if (pending.length === 0) return total;
      const messages: Message[] = pending.map((p) => ({
        key: `${p.sourceTopic}/${p.sourcePartition}/${p.sourceOffset}`,
        value: this.codec.encode(flagRecordOf(p)),
      }));
      await this.produce(messages);
      await this.o.store.markPublished(pending.map((p) => p.id));
      total += pending.length;
      if (pending.length < chunk) return total;
    }
  }

  private async produce(messages: Message[]): Promise<void> {
    const producer = this.o.producer();
    if (!producer || this.o.signal.aborted) throw new ConsumerStoppingError();
    try {
      await producer.send({ topic: this.o.topic, acks: -1, messages });
    } catch (e) {
      const d = describeError(e);
      if (classifyProduceError(e) === 'retriable')
        throw new FlagsTopicUnavailableError(`flags topic ${this.o.topic} unavailable: ${d.message}`, e);
      throw new BatchFailedError('flags', `flags topic ${this.o.topic}: ${d.message} (not retriable)`, {
        retriable: false,
        cause: e,
      });
    }
  }
}
