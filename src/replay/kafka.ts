/**
 * kafkajs clients for the replay producers (and the demo): brokers and client id from the validated
 * config, kafkajs' own log lines routed to pino on stderr (stdout stays clean for data).
 */
import { Kafka, logLevel, type LogEntry, type logCreator } from 'kafkajs';
import { createLogger } from '../log.js';
import type { Env } from '../config.js';

const PINO_LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = {
  [logLevel.ERROR]: 'error',
  [logLevel.WARN]: 'warn',
  [logLevel.INFO]: 'info',
  [logLevel.DEBUG]: 'debug',
};

export const pinoLogCreator: logCreator = () => {
  const log = createLogger({ name: 'kafkajs' });
  return ({ level, label, log: entry }: LogEntry) => {
    const { message, ...rest } = entry;
    const method = PINO_LEVEL[level] ?? 'info';
    log[method]({ label, ...rest }, message);
  };
};

/** kafkajs log level: WARN when LOG_LEVEL is info or quieter, else the matching level. */
function kafkaLogLevel(level: Env['LOG_LEVEL']): logLevel {
  switch (level) {
    case 'silent':
      return logLevel.NOTHING;
    case 'fatal':
    case 'error':
      return logLevel.ERROR;
    case 'debug':
    case 'trace':
      return logLevel.DEBUG;
    default:
      return logLevel.WARN;
  }
}

export function createKafka(
  env: Pick<Env, 'KAFKA_BROKERS' | 'KAFKA_CLIENT_ID' | 'LOG_LEVEL'>,
  clientSuffix = 'replay',
): Kafka {
  return new Kafka({
    clientId: `${env.KAFKA_CLIENT_ID}-${clientSuffix}`,
    brokers: env.KAFKA_BROKERS.split(',').map((b) => b.trim()),
    logLevel: kafkaLogLevel(env.LOG_LEVEL),
    logCreator: pinoLogCreator,
    retry: { retries: 8, initialRetryTime: 200 },
  });
}
