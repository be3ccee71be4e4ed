import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Consumer, type IHeaders, type ITopicConfig, type KafkaConfig } from 'kafkajs';
import { createTopicsAndWait } from '../../src/stream/kafka.js';
import { kafkaBrokers } from './services.js';
import { WaitTimeoutError, withTimeout } from './wait.js';

/**
 * Kafka helpers for integration tests (after kafkajs' own testHelpers): random topic names so test
 * files never share state, and bounded waits on consumed messages and group joins.
 */

/** A kafkajs client on the test broker. Logging is off unless KAFKAJS_LOG_LEVEL (e.g. WARN) is set. */
export function testKafka(clientId = 'gensemble-test', extra: Partial<KafkaConfig> = {}): Kafka {
  const level = process.env.KAFKAJS_LOG_LEVEL?.toUpperCase() as keyof typeof logLevel | undefined;
  return new Kafka({
    clientId,
    brokers: kafkaBrokers(),
    logLevel: level !== undefined && level in logLevel ? logLevel[level] : logLevel.NOTHING,
    retry: { retries: 8, initialRetryTime: 100 },
    ...extra,
  });
}

/** `test-<prefix>-<time>-<random>`: unique per call, valid as a Kafka topic or group id. */
export function randomName(prefix = 'topic'): string {
  return `test-${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

export interface CreateTopicOptions {
  prefix?: string;
  partitions?: number;
  configEntries?: ITopicConfig['configEntries'];
}

/** Create a fresh topic (random name) and wait until every partition has a leader. */
export async function createTopic(kafka: Kafka, opts: CreateTopicOptions = {}): Promise<string> {
  const topic = randomName(opts.prefix ?? 'topic');
  const admin = kafka.admin();
  await admin.connect();
  try {
    const created = await createTopicsAndWait(
      admin,
      [
        {
          topic,
          numPartitions: opts.partitions ?? 1,
          ...(opts.configEntries ? { configEntries: opts.configEntries } : {}),
        },
      ],
      { timeoutMs: 30_000 },
    );
    if (!created) throw new Error(`topic ${topic} already existed`);
  } finally {
    await admin.disconnect();
  }
  return topic;
}

/** Delete topics (best effort cleanup; random names make cleanup optional). */
export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}

/**
 * Resolve when `consumer` next joins its group (kafkajs instrumentation event GROUP_JOIN). Call it
 * BEFORE `consumer.run()` so the event cannot be missed. Rejects if the consumer crashes first.
 */
export function waitForGroupJoin(
  consumer: Consumer,
  timeoutMs: number,
): Promise<{ groupId: string; memberId: string; memberAssignment: Record<string, number[]> }> {
  const removers: Array<() => void> = [];
  const joined = new Promise<{
    groupId: string;
    memberId: string;
    memberAssignment: Record<string, number[]>;
  }>((resolve, reject) => {
    removers.push(
      consumer.on(consumer.events.GROUP_JOIN, (e) => {
        resolve({
          groupId: e.payload.groupId,
          memberId: e.payload.memberId,
          memberAssignment: e.payload.memberAssignment,
        });
      }),
    );
    removers.push(
      consumer.on(consumer.events.CRASH, (e) => {
        // a crash kafkajs restarts the consumer after (a retriable error) still ends in a join
        if (!e.payload.restart)
          reject(new Error(`consumer crashed before joining its group: ${e.payload.error.message}`));
      }),
    );
  });
  return withTimeout(joined, timeoutMs, () => 'the consumer group join').finally(() => {
    for (const remove of removers) remove();
  });
}

export interface ReceivedMessage {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: IHeaders;
  timestamp: string;
}

export interface MessageCollector {
  /** Every message received so far, in arrival order. */
  readonly messages: ReceivedMessage[];
  /** Resolve with the messages once at least `count` have arrived; bounded by `timeoutMs`. */
  waitFor(count: number, timeoutMs: number): Promise<ReceivedMessage[]>;
}

/**
 * Start `consumer` (already connected and subscribed) with an eachMessage handler that records every
 * message. A consumer crash that kafkajs does not recover from makes pending waits fail at once
 * instead of at their deadline; one it restarts the consumer after (a retriable error such as "the
 * coordinator is loading", seen when a fresh broker creates __consumer_offsets for the first group) is
 * not a failure: the consumer goes on and the wait with it.
 */
export async function collectMessages(consumer: Consumer): Promise<MessageCollector> {
  const messages: ReceivedMessage[] = [];
  const waiters: Array<{ count: number; resolve: () => void; reject: (e: Error) => void }> = [];
  let crashed: Error | undefined;
  const settle = () => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      const w = waiters[i]!;
      if (crashed) w.reject(crashed);
      else if (messages.length >= w.count) w.resolve();
      else continue;
      waiters.splice(i, 1);
    }
  };
  consumer.on(consumer.events.CRASH, (e) => {
    if (e.payload.restart) return;
    crashed = new Error(`consumer crashed: ${e.payload.error.message}`);
    settle();
  });
  await consumer.run({
    eachMessage: async ({ topic, partition, message }) => {
      messages.push({
        topic,
        partition,
        offset: message.offset,
        key: message.key,
        value: message.value,
        headers: message.headers ?? {},
        timestamp: message.timestamp,
      });
      settle();
    },
  });
  return {
    messages,
    async waitFor(count, timeoutMs) {
      if (crashed) throw crashed;
      if (messages.length < count) {
        const arrived = new Promise<void>((resolve, reject) => waiters.push({ count, resolve, reject }));
        await withTimeout(arrived, timeoutMs, () => `${count} messages (received ${messages.length})`);
      }
      return messages;
    },
  };
}

/**
 * Run `consumer` (connected and subscribed) and resolve with the first `count` messages it receives,
 * or reject with WaitTimeoutError after `timeoutMs`.
 */
export async function waitForMessages(
  consumer: Consumer,
  count: number,
  timeoutMs: number,
): Promise<ReceivedMessage[]> {
  const started = Date.now();
  const collector = await collectMessages(consumer);
  const left = timeoutMs - (Date.now() - started);
  if (left <= 0) throw new WaitTimeoutError(`consumer did not start within ${timeoutMs} ms`);
  const all = await collector.waitFor(count, left);
  return all.slice(0, count);
}
