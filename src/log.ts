import { pino, type Logger, type LoggerOptions } from 'pino';

/** Keys whose values never reach a log line (credentials in URLs: redactDatabaseUrl, store/db-url.ts). */
const REDACT = [
  'password',
  '*.password',
  'databaseUrl',
  '*.databaseUrl',
  'sasl',
  '*.sasl',
  'connectionString',
];

export function createLogger(opts: { level?: string; name?: string; destination?: number } = {}): Logger {
  const options: LoggerOptions = {
    name: opts.name ?? 'gensemble',
    level: opts.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT, censor: '***' },
    base: { pid: process.pid },
  };
  // Logs go to stderr (fd 2) by default so that stdout stays clean for data (CSV, JSON Lines, tables).
  return pino(options, pino.destination({ dest: opts.destination ?? 2, sync: true }));
}

export type { Logger };
