import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { portOpen, runKafkaScript } from '../../helpers/resolve-services.js';

/**
 * scripts/kafka on its own ports (19092/19093 or the next free pair) and data dir, so the broker the rest of the suite
 * uses is not touched: start twice keeps one broker; stop ends that PID and closes both ports.
 */

/** First free (client, controller) pair among 19092/19093, 19192/19193, ... (another broker may run). */
async function freePortPair(): Promise<[number, number]> {
  for (let base = 19092; base < 19992; base += 100) {
    if (!(await portOpen('127.0.0.1', base)) && !(await portOpen('127.0.0.1', base + 1)))
      return [base, base + 1];
  }
  throw new Error('no free port pair in 19092..19992');
}

let PORT = 0;
let CONTROLLER_PORT = 0;

function hasJava(): boolean {
  try {
    execFileSync('java', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** PIDs of live processes whose command line mentions `needle`. */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const state = /State:\s+(\w)/.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1];
      if (cmd.includes(needle) && state !== 'Z') pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

describe.skipIf(!hasJava())('scripts/kafka start/stop', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'gensemble-kafka-script-'));
  const env: Record<string, string> = { KAFKA_DATA_DIR: dataDir, KAFKA_HEAP_OPTS: '-Xms128m -Xmx384m' };
  const propsFile = path.join(dataDir, 'server.properties');
  const pidFile = path.join(dataDir, 'kafka.pid');
  let firstPid = 0;

  beforeAll(async () => {
    [PORT, CONTROLLER_PORT] = await freePortPair();
    env.KAFKA_PORT = String(PORT);
    env.KAFKA_CONTROLLER_PORT = String(CONTROLLER_PORT);
  });

  afterAll(async () => {
    await runKafkaScript(['stop'], env, 90_000); // in case a test failed midway
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts a broker that a client can use', async () => {
    const r = await runKafkaScript(['start'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`127.0.0.1:${PORT}`);
    firstPid = Number(readFileSync(pidFile, 'utf8').trim());
    expect(firstPid).toBeGreaterThan(0);
    expect(processesMentioning(`kafka.Kafka ${propsFile}`)).toEqual([firstPid]);
    expect(await portOpen('127.0.0.1', PORT)).toBe(true);
    expect(await portOpen('127.0.0.1', CONTROLLER_PORT)).toBe(true);

    const kafka = new Kafka({
      clientId: 'script-test',
      brokers: [`127.0.0.1:${PORT}`],
      logLevel: logLevel.NOTHING,
    });
    const admin = kafka.admin();
    await admin.connect();
    try {
      // The script's readiness check created this topic through the real broker.
      expect(await admin.listTopics()).toContain('__gensemble_ready');
      const cluster = await admin.describeCluster();
      expect(cluster.brokers).toEqual([{ nodeId: 1, host: '127.0.0.1', port: PORT }]);
    } finally {
      await admin.disconnect();
    }
  });

  it('a second start keeps the running broker (one PID)', async () => {
    const r = await runKafkaScript(['start'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/already running/);
    expect(Number(readFileSync(pidFile, 'utf8').trim())).toBe(firstPid);
    expect(processesMentioning(`kafka.Kafka ${propsFile}`)).toEqual([firstPid]);
    const s = await runKafkaScript(['status'], env, 30_000);
    expect(s.code).toBe(0);
    expect(s.stdout).toContain(`pid=${firstPid}`);
    const version = (await runKafkaScript(['version'], env, 30_000)).stdout.trim();
    expect(s.stdout).toContain(` version=${version} `);
  });

  it('stop ends that PID and closes both ports; a second stop is a no-op', async () => {
    const r = await runKafkaScript(['stop'], env, 90_000);
    expect(r.code, r.stderr).toBe(0);
    expect(processesMentioning(`kafka.Kafka ${propsFile}`)).toEqual([]);
    expect(existsSync(`/proc/${firstPid}/cmdline`) && processesMentioning(propsFile).includes(firstPid)).toBe(
      false,
    );
    expect(existsSync(pidFile)).toBe(false);
    expect(await portOpen('127.0.0.1', PORT)).toBe(false);
    expect(await portOpen('127.0.0.1', CONTROLLER_PORT)).toBe(false);

    const again = await runKafkaScript(['stop'], env, 30_000);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/not running/);
    const s = await runKafkaScript(['status'], env, 30_000);
    expect(s.code).toBe(3);
  });

  it('refuses to start on a port another process holds, and rejects bad settings', async () => {
    const server: Server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as { port: number }).port;
    const otherDir = mkdtempSync(path.join(os.tmpdir(), 'gensemble-kafka-busy-'));
    try {
      const r = await runKafkaScript(
        ['start'],
        {
          KAFKA_PORT: String(port),
          KAFKA_CONTROLLER_PORT: String(CONTROLLER_PORT),
          KAFKA_DATA_DIR: otherDir,
        },
        60_000,
      );
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(new RegExp(`port 127\\.0\\.0\\.1:${port} is in use`));
      expect(existsSync(path.join(otherDir, 'kafka.pid'))).toBe(false);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(otherDir, { recursive: true, force: true });
    }
    const bad = await runKafkaScript(['start'], { ...env, KAFKA_PORT: 'abc' }, 30_000);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/KAFKA_PORT must be a non-negative integer/);
    const usage = await runKafkaScript(['frobnicate'], env, 30_000);
    expect(usage.code).toBe(2);
  });
});

describe('scripts/kafka KAFKA_VERSION', () => {
  const pom = readFileSync(new URL('../../../scripts/kafka-pom/pom.xml', import.meta.url), 'utf8');
  const prop = (name: string) => new RegExp(`<${name}>([^<]+)</${name}>`).exec(pom)?.[1];

  it('defaults to the pom version (4.x); 3 and 3.9 select the 3.9 release; anything else is refused', async () => {
    const version = async (v: string) => {
      const r = await runKafkaScript(['version'], { KAFKA_VERSION: v }, 30_000);
      return r.code === 0 ? r.stdout.trim() : `exit ${r.code}: ${r.stderr.trim()}`;
    };
    expect(prop('kafka.version')).toMatch(/^4\.\d+\.\d+$/);
    expect(prop('kafka3.version')).toMatch(/^3\.9\.\d+$/);
    expect(await version('')).toBe(prop('kafka.version'));
    expect(await version('4')).toBe(prop('kafka.version'));
    expect(await version('3')).toBe(prop('kafka3.version'));
    expect(await version('3.9')).toBe(prop('kafka3.version'));
    expect(await version('4.1.1')).toBe('4.1.1');
    expect(await version('2.8.2')).toMatch(/exit 1: .*not supported by this script/);
    expect(await version('latest')).toMatch(/exit 1: .*KAFKA_VERSION must be/);
  });

  it.skipIf(!hasJava())('refuses to start an older Kafka on a data directory a newer one ran', async () => {
    const [port, controller] = await freePortPair();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'gensemble-kafka-downgrade-'));
    try {
      mkdirSync(path.join(dir, 'data'));
      writeFileSync(path.join(dir, 'data', 'meta.properties'), 'version=1\n');
      writeFileSync(path.join(dir, 'kafka.version'), '4.99.0\n');
      const r = await runKafkaScript(
        ['start'],
        { KAFKA_DATA_DIR: dir, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controller) },
        120_000,
      );
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/was last run by Kafka 4\.99\.0, which Kafka 4\.\d+\.\d+ cannot read/);
      expect(existsSync(path.join(dir, 'kafka.pid'))).toBe(false);
      expect(await portOpen('127.0.0.1', port)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
