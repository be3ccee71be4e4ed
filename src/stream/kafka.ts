/** A kafkajs client whose log lines go through pino (JSON), at WARN unless asked otherwise. */
import { Kafka, logLevel, type KafkaConfig, type LogEntry } from 'kafkajs';
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
