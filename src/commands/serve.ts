/**
 * `gensemble serve`: the scoring consumers plus /metrics, /healthz, /readyz, and the analyst console
 * (src/console) on its own port when CONSOLE_TOKEN is set (or --console). Runs until SIGTERM or
 * SIGINT, then finishes the batches in progress, commits their offsets, disconnects and exits 0
 * (1 when a consumer stopped on a non-retriable error, or shutdown overran SHUTDOWN_TIMEOUT_MS).
 */
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config.js';
import { createLogger } from '../log.js';
import { StreamService } from '../stream/service.js';
import { describeError } from '../stream/errors.js';

interface ServeFlags {
  kinds: string[];
  modelTransactions?: string;
  modelFrames?: string;
  /** --model <kind>=<dir>, repeatable. */
  model: Record<string, string>;
  http: boolean;
  /** From --console / --no-console; undefined = the CONSOLE variable. */
  console?: boolean;
  consolePort?: number;
}

function parsePort(v: string): number {
  const n = Number(v);
  if (!/^\d{1,5}$/.test(v) || n > 65535)
    throw new InvalidArgumentError(`--console-port takes 0..65535, got "${v}"`);
  return n;
}

/** Kind names (checked against the kind registry when the service starts: one clear line). */
function parseKinds(v: string): string[] {
  const kinds = v
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const bad = kinds.filter((k) => !/^[a-z][a-z0-9_]{0,39}$/.test(k));
  if (bad.length > 0 || kinds.length === 0)
    throw new InvalidArgumentError(
      `--kinds takes kind names, comma-separated (e.g. transactions,frames), got "${v}"`,
    );
  return [...new Set(kinds)];
}

function parseModelDir(v: string, prev: Record<string, string>): Record<string, string> {
  const m = /^([a-z][a-z0-9_]{0,39})=(.+)$/.exec(v);
  if (!m) throw new InvalidArgumentError(`--model takes <kind>=<checkpoint dir>, got "${v}"`);
  return { ...prev, [m[1]]: m[2] };
}

export function register(program: Command): void {
  program
    .command('serve')
    .description(
      'score the Kafka topics with the trained models, write flags to PostgreSQL, serve /metrics /healthz /readyz',
    )
    .option(
      '--kinds <list>',
      'input kinds to consume (comma-separated; built-in or declared in KINDS_DIR)',
      parseKinds,
      ['transactions', 'frames'],
    )
    .option(
      '--model <kind=dir>',
      "checkpoint directory of a kind's model (repeatable; default: the kind's active registry version)",
      parseModelDir,
      {},
    )
    .option(
      '--model-transactions <dir>',
      'checkpoint directory of the transactions model (default: active registry version, else MODEL_TRANSACTIONS)',
    )
    .option(
      '--model-frames <dir>',
      'checkpoint directory of the frames model (default: active registry version, else MODEL_FRAMES)',
    )
    .option('--no-http', 'do not start the HTTP server')
    .option(
      '--console',
      'start the analyst console (needs CONSOLE_TOKEN; default: CONSOLE, auto = when the token is set)',
    )
    .option('--no-console', 'do not start the analyst console')
    .option('--console-port <port>', 'port of the analyst console (default CONSOLE_PORT, 9465)', parsePort)
    .action(async (flags: ServeFlags) => {
      const code = await runServe(flags);
      if (code !== 0) process.exitCode = code;
    });
}

export async function runServe(f: ServeFlags): Promise<number> {
  const env = loadConfig();
  if (f.consolePort !== undefined) env.CONSOLE_PORT = f.consolePort;
  const logger = createLogger({ level: env.LOG_LEVEL, name: 'gensemble-serve' });
  let fatal: Error | null = null;
  let wake: (() => void) | null = null;
  const stopRequested = new Promise<string>((resolve) => {
    const on = (sig: NodeJS.Signals) => resolve(sig);
    process.once('SIGTERM', on);
    process.once('SIGINT', on);
    wake = () => resolve('fatal');
  });
  const modelDirs: Record<string, string> = { ...f.model };
  if (f.modelTransactions) modelDirs.transactions = f.modelTransactions;
  if (f.modelFrames) modelDirs.frames = f.modelFrames;
  const svc = await StreamService.start({
    env,
    kinds: f.kinds,
    modelDirs,
    logger,
    http: f.http,
    ...(f.console !== undefined ? { console: f.console } : {}),
    onFatal: (e) => {
      fatal ??= e;
      wake?.();
    },
  });
  logger.info({ kinds: f.kinds, http: svc.http?.url ?? null, console: svc.console?.url ?? null }, 'serving');
  const why = await stopRequested;
  logger.info({ signal: why }, 'shutting down: finishing batches in progress');
  let timer: NodeJS.Timeout | undefined;
  const overran = await Promise.race([
    svc.stop().then(() => false),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), env.SHUTDOWN_TIMEOUT_MS);
    }),
  ]).catch((e: unknown) => {
    logger.error({ err: describeError(e) }, 'shutdown failed');
    return true;
  });
  clearTimeout(timer);
  const code = fatal !== null || overran ? 1 : 0;
  if (overran) logger.error({ timeoutMs: env.SHUTDOWN_TIMEOUT_MS }, 'shutdown did not finish in time');
  if (fatal !== null) logger.error({ err: describeError(fatal) }, 'stopped after a non-retriable error');
  logger.info({ exitCode: code }, 'bye');
  // Nothing should be left, but never hang after a finished shutdown.
  setTimeout(() => process.exit(code), 1000).unref();
  return code;
}
