import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { DEFAULT_DATABASE_URL, redactDatabaseUrl } from '../../src/store/db-url.js';
import { waitFor } from './wait.js';

/**
 * How the test run finds its Kafka broker and PostgreSQL, in this order:
 *   1. environment: KAFKA_BROKERS / DATABASE_URL;
 *   2. testcontainers, when a Docker engine answers (skip with GENSEMBLE_TEST_DOCKER=0);
 *   3. local: scripts/kafka (started here if not running; a broker a test run started is stopped
 *      by the last concurrent test run to finish) and the PostgreSQL at the default URL.
 */

export const REPO_DIR = fileURLToPath(new URL('../../', import.meta.url));
export const KAFKA_SCRIPT = path.join(REPO_DIR, 'scripts', 'kafka');

export type ServiceSource = 'env' | 'testcontainers' | 'local';

export interface ResolvedService {
  url: string;
  source: ServiceSource;
  /** Undo what resolving started (stop a container or the broker we started); no-op otherwise. */
  stop(): Promise<void>;
}

const noop = async () => {};

/** True when host:port accepts a TCP connection within timeoutMs. */
export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export interface ScriptResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run scripts/kafka with extra environment; never throws on a non-zero exit. */
export function runKafkaScript(
  args: string[],
  env: Record<string, string> = {},
  timeoutMs = 240_000,
): Promise<ScriptResult> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      [KAFKA_SCRIPT, ...args],
      { env: { ...process.env, ...env }, timeout: timeoutMs, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code =
          err === null
            ? 0
            : typeof (err as { code?: unknown }).code === 'number'
              ? (err as { code: number }).code
              : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Resolves when a kafkajs admin client can list topics on `brokers`. */
export async function kafkaAnswers(brokers: string, timeoutMs: number): Promise<void> {
  const kafka = new Kafka({
    clientId: 'gensemble-test-setup',
    brokers: brokers.split(','),
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: 2000,
  });
  await waitFor(
    async () => {
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.listTopics();
        return true;
      } finally {
        await admin.disconnect().catch(() => {});
      }
    },
    { timeoutMs, intervalMs: 500, what: `Kafka at ${brokers} to answer` },
  );
}

/** Resolves when PostgreSQL at `url` runs a query. */
export async function postgresAnswers(url: string, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
      try {
        await client.connect();
        await client.query('SELECT 1');
        return true;
      } finally {
        await client.end().catch(() => {});
      }
    },
    { timeoutMs, intervalMs: 500, what: `PostgreSQL at ${redactDatabaseUrl(url)} to answer` },
  );
}

/**
 * Quick check for a Docker engine: without DOCKER_HOST or a known socket there is none (no waiting);
 * otherwise ask testcontainers, bounded to a few seconds.
 */
export async function dockerAvailable(): Promise<boolean> {
  if (process.env.GENSEMBLE_TEST_DOCKER === '0') return false;
  const home = os.homedir();
  const candidates = [
    '/var/run/docker.sock',
    path.join(home, '.docker', 'run', 'docker.sock'),
    path.join(home, '.docker', 'desktop', 'docker.sock'),
    process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, 'docker.sock') : '',
    process.env.XDG_RUNTIME_DIR ? path.join(process.env.XDG_RUNTIME_DIR, 'podman', 'podman.sock') : '',
  ].filter((p) => p !== '');
  const hint =
    (process.env.DOCKER_HOST ?? '') !== '' ||
    existsSync(path.join(home, '.testcontainers.properties')) ||
    candidates.some((p) => existsSync(p));
  if (!hint) return false;
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), 10_000);
    });
    const found = await Promise.race([getContainerRuntimeClient().then(() => true), timeout]);
    clearTimeout(timer);
    return found;
  } catch {
    return false;
  }
}

export async function resolveKafka(docker: boolean): Promise<ResolvedService> {
  const fromEnv = process.env.KAFKA_BROKERS?.trim();
  if (fromEnv) {
    await kafkaAnswers(fromEnv, 30_000);
    return { url: fromEnv, source: 'env', stop: noop };
  }
  if (docker) {
    const { KafkaContainer } = await import('@testcontainers/kafka');
    // Confluent Platform 7.9 ships Apache Kafka 3.9 (scripts/kafka's KAFKA_VERSION=3.9; its default is 4.x).
    const container = await new KafkaContainer('confluentinc/cp-kafka:7.9.0').withKraft().start();
    const url = `${container.getHost()}:${container.getMappedPort(9093)}`;
    await kafkaAnswers(url, 60_000);
    return {
      url,
      source: 'testcontainers',
      stop: async () => {
        await container.stop();
      },
    };
  }
  // Local broker from scripts/kafka (its default ports unless KAFKA_PORT etc. are set).
  const host = process.env.KAFKA_HOST ?? '127.0.0.1';
  const url = `${host}:${process.env.KAFKA_PORT ?? '9092'}`;
  const status = await runKafkaScript(['status'], {}, 30_000);
  if (status.code !== 0) {
    const started = await runKafkaScript(['start']);
    if (started.code !== 0) {
      throw new Error(`scripts/kafka start failed (exit ${started.code}):\n${started.stderr.slice(-4000)}`);
    }
    markStartedByTests();
  }
  await kafkaAnswers(url, 30_000);
  const lease = takeLease();
  return {
    url,
    source: 'local',
    stop: async () => {
      lease.release();
      if (!shouldStopBroker()) return;
      const stopped = await runKafkaScript(['stop'], {}, 90_000);
      if (stopped.code !== 0) throw new Error(`scripts/kafka stop failed:\n${stopped.stderr}`);
    },
  };
}

/*
 * Several vitest runs may share the local broker (other terminals on the same machine). Each run
 * holds a lease file named by its PID; a broker that a test run started is stopped by the last run
 * to leave. A broker started by hand or by .ci/run (no marker) is never stopped by tests.
 */
function kafkaDataDir(): string {
  return process.env.KAFKA_DATA_DIR ?? path.join(REPO_DIR, '.kafka', process.env.KAFKA_PORT ?? '9092');
}

function brokerPid(): string {
  try {
    return readFileSync(path.join(kafkaDataDir(), 'kafka.pid'), 'utf8').trim();
  } catch {
    return '';
  }
}

function markStartedByTests(): void {
  writeFileSync(path.join(kafkaDataDir(), 'started-by-tests'), brokerPid());
}

function takeLease(): { release(): void } {
  const dir = path.join(kafkaDataDir(), 'test-leases');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, String(process.pid));
  writeFileSync(file, '');
  return { release: () => rmSync(file, { force: true }) };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function shouldStopBroker(): boolean {
  const dir = path.join(kafkaDataDir(), 'test-leases');
  const others = existsSync(dir)
    ? readdirSync(dir).filter((f) => /^\d+$/.test(f) && Number(f) !== process.pid && pidAlive(Number(f)))
    : [];
  if (others.length > 0) return false;
  const marker = path.join(kafkaDataDir(), 'started-by-tests');
  let startedBy = '';
  try {
    startedBy = readFileSync(marker, 'utf8').trim();
  } catch {
    return false;
  }
  const current = brokerPid();
  if (startedBy === '' || startedBy !== current) return false;
  rmSync(marker, { force: true });
  return true;
}

export async function resolvePostgres(docker: boolean): Promise<ResolvedService> {
  const fromEnv = process.env.DATABASE_URL?.trim();
  if (fromEnv) {
    await postgresAnswers(fromEnv, 30_000);
    return { url: fromEnv, source: 'env', stop: noop };
  }
  if (docker) {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:16-alpine').start();
    const url = container.getConnectionUri();
    await postgresAnswers(url, 60_000);
    return {
      url,
      source: 'testcontainers',
      stop: async () => {
        await container.stop();
      },
    };
  }
  try {
    await postgresAnswers(DEFAULT_DATABASE_URL, 15_000);
  } catch (err) {
    throw new Error(
      `PostgreSQL is not answering at ${DEFAULT_DATABASE_URL}. Set DATABASE_URL, or start it ` +
        `(Debian: pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start).`,
      { cause: err },
    );
  }
  return { url: DEFAULT_DATABASE_URL, source: 'local', stop: noop };
}
