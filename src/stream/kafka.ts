/** A kafkajs client whose log lines go through pino (JSON), at WARN unless asked otherwise. */
import { Kafka, logLevel, type Admin, type ITopicConfig, type KafkaConfig, type LogEntry } from 'kafkajs';
import type { Logger } from 'pino';

const LEVELS: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export function kafkaLogLevel(name: string | undefined): logLevel {
  const n = (name ?? 'WARN').toUpperCase();
  return n in logLevel ? logLevel[n as keyof typeof logLevel] : logLevel.WARN;
}

export function createKafka(o: {
  clientId: string;
  brokers: string[];
  logger: Logger;
  level?: logLevel;
  extra?: Partial<KafkaConfig>;
}): Kafka {
  const base = o.logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: o.clientId,
    brokers: o.brokers,
    logLevel: o.level ?? logLevel.WARN,
    logCreator:
      () =>
      ({ namespace, level, log }: LogEntry) => {
        const {
          message,
          timestamp: _t,
          logger: _l,
          ...rest
        } = log as { message: string; timestamp?: string; logger?: string } & Record<string, unknown>;
        void _t;
        void _l;
        const fn = LEVELS[level] ?? 'info';
        base[fn]({ namespace, ...rest }, message);
      },
    retry: { retries: 10, initialRetryTime: 300 },
    ...o.extra,
  });
}

export interface NewTopic {
  topic: string;
  numPartitions?: number;
  replicationFactor?: number;
  configEntries?: ITopicConfig['configEntries'];
}

/** Error types a freshly created topic's metadata may show for a moment on a KRaft broker. */
const NOT_YET_VISIBLE = new Set(['UNKNOWN_TOPIC_OR_PARTITION', 'LEADER_NOT_AVAILABLE']);

/**
 * Create topics, then wait (bounded) until every one of their partitions has a leader. Returns whether
 * kafkajs created them (false: they all existed already).
 *
 * kafkajs' own `waitForLeaders` retries only LEADER_NOT_AVAILABLE; a KRaft broker may first answer the
 * metadata request for a just-created topic with UNKNOWN_TOPIC_OR_PARTITION ("This server does not
 * host this topic-partition"), which kafkajs then throws out of createTopics although the topic was
 * created. Here both are "not visible yet" and polled until `timeoutMs`.
 */
export async function createTopicsAndWait(
  admin: Admin,
  topics: NewTopic[],
  opts: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<boolean> {
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const intervalMs = opts.intervalMs ?? 100;
  const created = await admin.createTopics({
    topics: topics.map((t) => ({ replicationFactor: 1, ...t })),
    waitForLeaders: false,
    timeout: timeoutMs,
  });
  const names = topics.map((t) => t.topic);
  const deadline = Date.now() + timeoutMs;
  let last = 'no metadata yet';
  for (;;) {
    try {
      const { topics: meta } = await admin.fetchTopicMetadata({ topics: names });
      const pending = meta.filter(
        (m) =>
          m.partitions.length === 0 || m.partitions.some((p) => p.leader < 0 || p.partitionErrorCode !== 0),
      );
      if (pending.length === 0 && meta.length === names.length) return created;
      last = `no leader yet for ${pending.map((m) => m.name).join(', ')}`;
    } catch (e) {
      const type = (e as { type?: string }).type;
      if (type === undefined || !NOT_YET_VISIBLE.has(type)) throw e;
      last = type;
    }
    if (Date.now() >= deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for topic leaders of ${names.join(', ')} (${last})`,
      );
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
