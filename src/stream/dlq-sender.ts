/**
 * Produces a batch's dead letters so that they always fit, and retries only what can succeed.
 *
 * - **Size.** Dead letters go out in chunks bounded by count and bytes, below the dead-letter topic's
 *   `max.message.bytes` (read from the topic's config at start; a safe default otherwise). An envelope
 *   that alone is larger than that goes out truncated (original value and headers replaced by their
 *   length, SHA-256 and first bytes). If the broker still answers MESSAGE_TOO_LARGE (its limit is lower
 *   than we were told), the chunk is halved, down to one truncated envelope; only an envelope that does
 *   not fit even truncated is fatal.
 * - **Errors.** Classified by what they are: kafkajs errors carry `retriable` (a wrapped
 *   KafkaJSNumberOfRetriesExceeded is judged by its cause). A retriable one becomes
 *   {@link DlqUnavailableError}, which the consumer retries later with backoff and jitter, a bounded
 *   number of times, without holding up its other partitions; what can never succeed (authorization,
 *   an invalid topic) becomes a non-retriable {@link BatchFailedError}: the consumer stops with a clear
 *   error instead of looping.
 */
import kafkajs, { type Admin, type Message, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import {
  chunkMessages,
  deadLetterMessage,
  deadLetters,
  messageBytes,
  type DeadLetter,
  type DeadLetterContext,
  type RejectedRecord,
} from './dlq.js';
import { GensembleError } from '../errors.js';
import { BatchFailedError, ConsumerStoppingError, describeError } from './errors.js';

/** Kafka's own default `max.message.bytes` is 1,048,588; stay a little below a round megabyte. */
export const DEFAULT_DLQ_MAX_MESSAGE_BYTES = 1_000_000;
/** Room left for the record batch header and per-record framing beyond {@link messageBytes}. */
const BATCH_OVERHEAD_BYTES = 512;
/** The smallest limit a truncated envelope can be expected to fit. */
const MIN_LIMIT_BYTES = 4096;

export type ProduceErrorClass = 'too-large' | 'retriable' | 'fatal';

const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

interface ErrorLike {
  name?: unknown;
  type?: unknown;
  retriable?: unknown;
  cause?: unknown;
  originalError?: unknown;
  errors?: unknown;
}

function chain(e: unknown): ErrorLike[] {
  const out: ErrorLike[] = [];
  let cur: unknown = e;
  for (let i = 0; i < 8 && cur !== null && typeof cur === 'object'; i++) {
    out.push(cur as ErrorLike);
    const c = cur as ErrorLike;
    cur = c.cause ?? c.originalError;
  }
  return out;
}

/**
 * What a failed `producer.send` means for the chunk: too large (split or truncate), retriable (wait
 * and try again) or fatal (it will never succeed).
 */
export function classifyProduceError(e: unknown): ProduceErrorClass {
  const errs = chain(e);
  if (errs.some((x) => typeof x.type === 'string' && TOO_LARGE.has(x.type))) return 'too-large';
  // A kafkajs retry loop that ran out: what it was retrying decides.
  const inner = errs.find((x) => x.name !== 'KafkaJSNumberOfRetriesExceeded') ?? errs[0];
  if (inner === undefined) return 'retriable';
  if (inner.retriable === false) return 'fatal';
  return 'retriable';
}

/** Reads `max.message.bytes` of a topic; undefined when the topic does not exist (yet) or cannot be described. */
export async function readTopicMaxMessageBytes(admin: Admin, topic: string): Promise<number | undefined> {
  try {
    // A missing topic first: describing it makes kafkajs log an ERROR line of its own
    // ("This server does not host this topic-partition") although the answer is simply "unknown".
    if (!(await admin.listTopics()).includes(topic)) return undefined;
    const r = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [
        { type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] },
      ],
    });
    const entry = r.resources[0]?.configEntries.find((c) => c.configName === 'max.message.bytes');
    const v = entry ? Number(entry.configValue) : NaN;
    return Number.isFinite(v) && v > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/** The dead-letter topic did not take a chunk for a reason that may go away (broker down, leader moving). */
export class DlqUnavailableError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('DLQ_UNAVAILABLE', message, { retriable: true, cause });
  }
}

export interface DlqSenderOptions {
  producer: () => Producer | null;
  topic: string;
  /** The topic's message size limit (bytes). */
  maxMessageBytes: number;
  /** Most dead letters per produce request (default 500). */
  maxBatchMessages?: number;
  logger?: Logger;
  signal: AbortSignal;
}

export interface DlqSendResult {
  sent: number;
  truncated: number;
  requests: number;
  /** Chunks split after the broker answered MESSAGE_TOO_LARGE. */
  splits: number;
}

export class DlqSender {
  private limit: number;

  constructor(private readonly o: DlqSenderOptions) {
    this.limit = Math.max(MIN_LIMIT_BYTES, o.maxMessageBytes);
  }

  /** The size limit currently used (it shrinks when the broker proves it lower). */
  get maxMessageBytes(): number {
    return this.limit;
  }

  private get budget(): number {
    return this.limit - BATCH_OVERHEAD_BYTES;
  }

  /**
   * Sends the dead letters of one batch, chunk by chunk, in source order. Throws
   * {@link DlqUnavailableError} (retriable: the caller retries later), BatchFailedError (never
   * retriable) or ConsumerStoppingError.
   */
  async send(
    rejected: readonly RejectedRecord[],
    ctx: DeadLetterContext,
    /** Called after each chunk is durable on the topic, with its records in source order. */
    onSent?: (records: readonly RejectedRecord[]) => void,
  ): Promise<DlqSendResult> {
    const res: DlqSendResult = { sent: 0, truncated: 0, requests: 0, splits: 0 };
    if (rejected.length === 0) return res;
    const letters = deadLetters(rejected, ctx, this.budget);
    const queue = chunkMessages(letters, this.budget, this.o.maxBatchMessages ?? 500);
    while (queue.length > 0) {
      const chunk = queue.shift() as DeadLetter[];
      const outcome = await this.produce(chunk);
      res.requests++;
      if (outcome === 'ok') {
        onSent?.(chunk.map((l) => l.source));
        res.sent += chunk.length;
        res.truncated += chunk.filter((l) => l.truncated).length;
        continue;
      }
      // MESSAGE_TOO_LARGE: the broker's limit is lower than assumed.
      const bytes = chunk.reduce((s, l) => s + messageBytes(l.message), 0);
      if (chunk.length > 1) {
        res.splits++;
        this.limit = Math.max(MIN_LIMIT_BYTES, Math.min(this.limit, Math.floor(bytes / 2)));
        const mid = Math.ceil(chunk.length / 2);
        queue.unshift(chunk.slice(0, mid), chunk.slice(mid));
        this.o.logger?.warn(
          { topic: this.o.topic, messages: chunk.length, bytes, newLimit: this.limit },
          'dead-letter chunk too large for the broker; splitting it',
        );
        continue;
      }
      const one = chunk[0];
      if (!one.truncated) {
        this.limit = Math.max(MIN_LIMIT_BYTES, Math.min(this.limit, bytes - 1));
        const message: Message = deadLetterMessage(one.source, one.ctx, true);
        queue.unshift([{ message, source: one.source, ctx: one.ctx, truncated: true }]);
        this.o.logger?.warn(
          { topic: this.o.topic, bytes, source: one.message.key?.toString() },
          'dead letter too large for the broker; sending it truncated',
        );
        continue;
      }
      throw new BatchFailedError(
        'dlq',
        `a dead letter of ${bytes} bytes does not fit the dead-letter topic ${this.o.topic} even ` +
          `truncated (broker answered MESSAGE_TOO_LARGE); raise the topic's max.message.bytes`,
        { retriable: false },
      );
    }
    return res;
  }

  private async produce(chunk: readonly DeadLetter[]): Promise<'ok' | 'too-large'> {
    const producer = this.o.producer();
    if (!producer || this.o.signal.aborted) throw new ConsumerStoppingError();
    try {
      await producer.send({ topic: this.o.topic, acks: -1, messages: chunk.map((l) => l.message) });
      return 'ok';
    } catch (e) {
      const cls = classifyProduceError(e);
      const d = describeError(e);
      if (cls === 'too-large') return 'too-large';
      if (cls === 'fatal')
        throw new BatchFailedError('dlq', `dead-letter topic ${this.o.topic}: ${d.message} (not retriable)`, {
          retriable: false,
          cause: e,
        });
      throw new DlqUnavailableError(`dead-letter topic ${this.o.topic} unavailable: ${d.message}`, e);
    }
  }
}
