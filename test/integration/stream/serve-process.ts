/**
 * `gensemble serve` as a child process (bin/gensemble.js through tsx): its JSON log lines, its HTTP
 * URL once it listens, and its exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { kafkaBrokers, databaseUrl } from '../../helpers/services.js';

const BIN = fileURLToPath(new URL('../../../bin/gensemble.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The environment of a test `serve`: the test's broker and database, one transactions topic. */
export function serveEnv(o: {
  schema: string;
  topic: string;
  dlq: string;
  group: string;
  extra?: Record<string, string>;
}): Record<string, string> {
  return {
    KAFKA_BROKERS: kafkaBrokers().join(','),
    DATABASE_URL: databaseUrl(),
    DATABASE_SCHEMA: o.schema,
    TOPIC_TRANSACTIONS: o.topic,
    TOPIC_DLQ: o.dlq,
    KAFKA_GROUP_ID: o.group,
    HTTP_PORT: '0',
    LOG_LEVEL: 'info',
    ORT_THREADS: '1',
    MODEL_RELOAD_MS: '60000',
    ...o.extra,
  };
}

export interface ServeProcess {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the HTTP server's URL once it logs that it listens. */
  url: Promise<string>;
  logs: string[];
  /** Log lines parsed as JSON (pino), in order. */
  entries(): Array<Record<string, unknown> & { msg?: string }>;
  running(): boolean;
}

export function startServe(env: Record<string, string>, args: string[]): ServeProcess {
  const child = spawn(process.execPath, [BIN, 'serve', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let resolveUrl: (u: string) => void = () => undefined;
  const url = new Promise<string>((r) => (resolveUrl = r));
  let buf = '';
  child.stderr?.on('data', (d: Buffer) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      logs.push(line);
      try {
        const j = JSON.parse(line) as { msg?: string; url?: string };
        if (j.msg?.startsWith('http server listening') && j.url) resolveUrl(j.url);
      } catch {
        /* not JSON */
      }
    }
  });
  child.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on('exit', (code, signal) => r({ code, signal })),
  );
  return {
    child,
    exited,
    url,
    logs,
    entries: () =>
      logs.flatMap((l) => {
        try {
          return [JSON.parse(l) as Record<string, unknown> & { msg?: string }];
        } catch {
          return [];
        }
      }),
    running: () => child.exitCode === null && child.signalCode === null,
  };
}
