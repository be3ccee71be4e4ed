/**
 * The console's DLQ page: the last dead letters of the dead-letter topic, read from Kafka (dead
 * letters are not stored in PostgreSQL; the stream only counts them there).
 *
 * Bounded in count and time: per partition the last `perPartition` records before the high watermark,
 * read by a short-lived consumer of a throw-away group (deleted afterwards; it commits nothing), which
 * gives up after `timeoutMs`. Results are cached for `cacheMs` so that reloading the page does not
 * start a consumer each time.
 */
import { randomBytes } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import { DLQ_REASON_HEADER, DLQ_SOURCE_HEADER } from '../stream/dlq.js';

export interface DeadLetterRow {
  partition: number;
  offset: string;
  /** Kafka timestamp of the dead letter (ms). */
  timestamp: number;
  reason: string;
  /** topic/partition/offset of the rejected record. */
  source: string;
  kind: string;
  error: string;
  field: string | null;
  valueLength: number | null;
}

export interface DeadLetterReaderOptions {
  kafka: Kafka;
  topic: string;
  perPartition?: number;
  timeoutMs?: number;
  cacheMs?: number;
}

export interface DeadLetterReport {
  rows: DeadLetterRow[];
  /** Why the list may be incomplete (timed out, topic missing), or null. */
  note: string | null;
  readAt: Date;
}

function text(v: unknown, max = 2000): string {
  return typeof v === 'string' ? v.slice(0, max) : '';
}

/** One dead letter as the console shows it (from the envelope, else from the headers). */
export function parseDeadLetter(m: {
  partition: number;
  offset: string;
  timestamp: string;
  value: Buffer | null;
  headers?: Record<string, Buffer | string | (Buffer | string)[] | undefined>;
}): DeadLetterRow {
  let env: Record<string, unknown> = {};
  try {
    const v: unknown = JSON.parse(m.value?.toString('utf8') ?? 'null');
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) env = v as Record<string, unknown>;
  } catch {
    // not an envelope: fall back on the headers
  }
  const header = (name: string): string => {
    const h = m.headers?.[name];
    const one = Array.isArray(h) ? h[0] : h;
    return one === undefined ? '' : one.toString();
  };
  const src = env.source as Record<string, unknown> | undefined;
  return {
    partition: m.partition,
    offset: m.offset,
    timestamp: Number(m.timestamp),
    reason: text(env.reason, 200) || header(DLQ_REASON_HEADER),
    source:
      src && typeof src === 'object'
        ? `${text(src.topic, 249)}/${String(src.partition)}/${text(src.offset, 40)}`
        : header(DLQ_SOURCE_HEADER),
    kind: text(env.kind, 64),
    error: text(env.error),
    field: typeof env.field === 'string' ? env.field.slice(0, 200) : null,
    valueLength: typeof env.valueLength === 'number' ? env.valueLength : null,
  };
}

export class DeadLetterReader {
  private cache: { at: number; report: Promise<DeadLetterReport> } | null = null;
  private readonly perPartition: number;
  private readonly timeoutMs: number;
  private readonly cacheMs: number;

  constructor(private readonly o: DeadLetterReaderOptions) {
    this.perPartition = Math.max(1, Math.min(o.perPartition ?? 50, 1000));
    this.timeoutMs = o.timeoutMs ?? 5000;
    this.cacheMs = o.cacheMs ?? 10_000;
  }

  /** The last dead letters, newest first (cached). */
  recent(): Promise<DeadLetterReport> {
    const now = Date.now();
    if (!this.cache || now - this.cache.at > this.cacheMs) {
      const report = this.read().catch((e: unknown): DeadLetterReport => ({
        rows: [],
        note: `could not read ${this.o.topic}: ${(e as Error)?.message ?? String(e)}`,
        readAt: new Date(),
      }));
      this.cache = { at: now, report };
    }
    return this.cache.report;
  }

  private async read(): Promise<DeadLetterReport> {
    const { kafka, topic } = this.o;
    const admin = kafka.admin();
    await admin.connect();
    const groupId = `gensemble-console-dlq-${randomBytes(6).toString('hex')}`;
    try {
      const topics = await admin.listTopics();
      if (!topics.includes(topic))
        return { rows: [], note: `topic ${topic} does not exist (yet)`, readAt: new Date() };
      const offsets = await admin.fetchTopicOffsets(topic);
      const wanted = new Map<number, { start: bigint; end: bigint }>();
      for (const o of offsets) {
        const high = BigInt(o.high);
        const low = BigInt(o.low);
        const start = high - BigInt(this.perPartition) > low ? high - BigInt(this.perPartition) : low;
        if (high > start) wanted.set(o.partition, { start, end: high });
      }
      if (wanted.size === 0) return { rows: [], note: null, readAt: new Date() };
      const rows: DeadLetterRow[] = [];
      const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200, allowAutoTopicCreation: false });
      let timer: NodeJS.Timeout | undefined;
      let timedOut = false;
      try {
        await consumer.connect();
        await consumer.subscribe({ topic, fromBeginning: true });
        const done = new Promise<void>((resolve) => {
          const pending = new Set(wanted.keys());
          timer = setTimeout(() => {
            timedOut = true;
            resolve();
          }, this.timeoutMs);
          void consumer.run({
            autoCommit: false,
            eachMessage: async ({ partition, message }) => {
              const w = wanted.get(partition);
              if (!w || !pending.has(partition)) return;
              const off = BigInt(message.offset);
              if (off >= w.start && off < w.end) rows.push(parseDeadLetter({ partition, ...message }));
              if (off >= w.end - 1n) {
                pending.delete(partition);
                if (pending.size === 0) resolve();
              }
            },
          });
          for (const [partition, w] of wanted)
            consumer.seek({ topic, partition, offset: w.start.toString() });
        });
        await done;
      } finally {
        clearTimeout(timer);
        await consumer.disconnect().catch(() => undefined);
        await admin.deleteGroups([groupId]).catch(() => undefined);
      }
      rows.sort((a, b) => b.timestamp - a.timestamp || b.partition - a.partition);
      return {
        rows,
        note: timedOut ? `stopped reading after ${this.timeoutMs} ms; the list may be incomplete` : null,
        readAt: new Date(),
      };
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
  }
}
