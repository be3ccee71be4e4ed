/**
 * `npm run demo` (scripts/demo.ts) as a real child process (`npx tsx scripts/demo.ts --small`) against
 * the test broker and PostgreSQL the integration harness resolved, in a private schema
 * (DATABASE_SCHEMA) with fresh model directories, so the training path runs too.
 *
 * Checks: exit 0; the printed summary accounts for every replayed record (replayed = scored +
 * dead-lettered, per the "replayed …" line and the counters table); the flags and counters in
 * PostgreSQL agree with the printout; nothing the demo started is still running afterwards (every
 * process the demo spawned carries a tag in its environment; none may be alive, so none can hold a
 * listening port). A second run with a data directory that lacks creditcard/ (and the OoD sets) takes
 * its transactions from the repository's demo sample (data/sample/), trains a transactions model on
 * it, and notes the OoD sets it dropped.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { databaseUrl, kafkaBrokers } from '../../helpers/services.js';
import { testDataDir } from '../../helpers/models.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHILD_LIMIT_MS = 170_000;

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  tag: string;
}

function runDemo(args: string[], env: Record<string, string>): Promise<DemoRun> {
  const tag = `gensemble-demo-test-${randomBytes(6).toString('hex')}`;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, GENSEMBLE_DEMO_TEST_TAG: tag };
  delete childEnv.GENSEMBLE_CREDIT_CSV;
  delete childEnv.GENSEMBLE_DATA_DIR;
  delete childEnv.DEMO_TRANSACTIONS;
  delete childEnv.DEMO_FRAMES;
  return new Promise((resolvePromise, reject) => {
    const child = spawn('npx', ['tsx', 'scripts/demo.ts', ...args], {
      cwd: ROOT,
      env: childEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGTERM'), CHILD_LIMIT_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, out, err, tag });
    });
  });
}

/** Live processes whose environment carries `tag` (i.e. the demo and anything it spawned). */
async function taggedProcesses(tag: string): Promise<{ pid: number; cmd: string; ports: number[] }[]> {
  const listening = await listeningSockets();
  const found: { pid: number; cmd: string; ports: number[] }[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const environ = await readFile(`/proc/${name}/environ`, 'latin1');
      if (!environ.includes(`GENSEMBLE_DEMO_TEST_TAG=${tag}`)) continue;
      const cmd = (await readFile(`/proc/${name}/cmdline`, 'latin1')).split('\0').join(' ');
      const ports: number[] = [];
      for (const fd of await readdir(`/proc/${name}/fd`).catch(() => [] as string[])) {
        const link = await readlink(`/proc/${name}/fd/${fd}`).catch(() => '');
        const m = /^socket:\[(\d+)\]$/.exec(link);
        const port = m ? listening.get(m[1]) : undefined;
        if (port !== undefined) ports.push(port);
      }
      found.push({ pid: Number(name), cmd, ports });
    } catch {
      /* gone, or not ours to read */
    }
  }
  return found;
}

/** socket inode → port of every TCP socket in LISTEN state. */
async function listeningSockets(): Promise<Map<string, number>> {
  const map = new Map<string, number>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(f, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue;
      map.set(cols[9], parseInt(cols[1].split(':')[1], 16));
    }
  }
  return map;
}

async function listeningPorts(): Promise<Set<number>> {
  return new Set((await listeningSockets()).values());
}

interface Printed {
  runId: string;
  tx: number;
  frauds: number;
  frames: number;
  frameKinds: Record<string, number>;
  summary: { replayed: number; scored: number; dead: number; flagged: number; rows: number };
  table: Record<string, { scored: number; flagged: number; dead: number }>;
}

function parseOutput(out: string): Printed {
  const runId = /gensemble\.(demo-[a-z0-9]+)\.frames/.exec(out)?.[1];
  expect(runId, out).toBeDefined();
  const both = /replayed (\d+) transactions \((\d+) frauds\) and (\d+) frames \(([^)]*)\)/.exec(out);
  const framesOnly = /replayed (\d+) frames \(([^)]*)\); no transactions/.exec(out);
  const m = both ?? framesOnly;
  expect(m, out).not.toBeNull();
  const kindsText = (both ? both[4] : framesOnly?.[2]) ?? '';
  const frameKinds = Object.fromEntries(
    kindsText.split(', ').map((kv) => {
      const [k, v] = kv.split(' ');
      return [k, Number(v)];
    }),
  );
  const s =
    /summary: replayed (\d+) records = (\d+) scored \+ (\d+) dead-lettered; (\d+) flagged \((\d+) rows in the flags table\)/.exec(
      out,
    );
  expect(s, out).not.toBeNull();
  const table: Printed['table'] = {};
  const section = out.split('=== What was flagged ===')[1]?.split('\n\n')[0] ?? '';
  for (const line of section.split('\n')) {
    const r = /^(transactions|frames)\s+(\d+)\s+(\d+)\s+(\d+)\s*$/.exec(line);
    if (r) table[r[1]] = { scored: Number(r[2]), flagged: Number(r[3]), dead: Number(r[4]) };
  }
  const [, a, b, c, d, e] = (s as RegExpExecArray).map(Number);
  return {
    runId: runId as string,
    tx: both ? Number(both[1]) : 0,
    frauds: both ? Number(both[2]) : 0,
    frames: both ? Number(both[3]) : Number(framesOnly?.[1]),
    frameKinds,
    summary: { replayed: a, scored: b, dead: c, flagged: d, rows: e },
    table,
  };
}

let pg: IsolatedSchema;
let tmp: string;
let env: Record<string, string>;

beforeAll(async () => {
  pg = await createIsolatedSchema({ prefix: 'demo' });
  tmp = await mkdtemp(join(tmpdir(), 'gensemble-demo-test-'));
  env = {
    KAFKA_BROKERS: kafkaBrokers().join(','),
    DATABASE_URL: databaseUrl(),
    DATABASE_SCHEMA: pg.schema,
    MODEL_TRANSACTIONS: join(tmp, 'models', 'transactions'),
    MODEL_FRAMES: join(tmp, 'models', 'frames'),
  };
});
afterAll(async () => {
  await pg?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function expectNothingLeft(run: DemoRun, portsBefore: Set<number>): Promise<void> {
  const left = await taggedProcesses(run.tag);
  const portsAfter = await listeningPorts();
  const newPorts = [...portsAfter].filter((p) => !portsBefore.has(p));
  expect(
    left,
    `processes the demo left running (new listening ports on the machine: ${newPorts.join(', ') || 'none'})`,
  ).toEqual([]);
}

describe('npm run demo (scripts/demo.ts) as a child process', () => {
  it('transactions and frames: exit 0, every replayed record accounted for, flags in PostgreSQL, nothing left running', async () => {
    const portsBefore = await listeningPorts();
    const run = await runDemo(['--small', '--data-dir', testDataDir()], env);
    expect(run.signal, `killed after ${CHILD_LIMIT_MS} ms\n${run.out}\n${run.err}`).toBeNull();
    expect(run.code, `${run.out}\n${run.err}`).toBe(0);
    const p = parseOutput(run.out);

    // The printout accounts for every replayed record.
    expect(p.tx).toBeGreaterThan(0);
    expect(p.frauds).toBeGreaterThan(0);
    expect(p.frames).toBe(300);
    expect(Object.values(p.frameKinds).reduce((a, b) => a + b, 0)).toBe(p.frames);
    expect(p.summary.replayed).toBe(p.tx + p.frames);
    expect(p.summary.scored + p.summary.dead).toBe(p.summary.replayed);
    expect(p.table.transactions.scored + p.table.transactions.dead).toBe(p.tx);
    expect(p.table.frames.scored + p.table.frames.dead).toBe(p.frames);
    // The demo's own records are all valid: every one is scored, none dead-lettered.
    expect(p.table.transactions).toMatchObject({ scored: p.tx, dead: 0 });
    expect(p.table.frames).toMatchObject({ scored: p.frames, dead: 0 });
    expect(p.table.transactions.flagged).toBeGreaterThan(0);
    expect(p.summary.flagged).toBe(p.table.transactions.flagged + p.table.frames.flagged);

    // PostgreSQL agrees: counters, one flag row per flagged record, all from this run's topics.
    const topics = [`gensemble.${p.runId}.transactions`, `gensemble.${p.runId}.frames`];
    const counters = await pg
      .db('stream_counters')
      .select('topic')
      .sum({ scored: 'scored', flagged: 'flagged', dead: 'dead_lettered' })
      .whereIn('topic', topics)
      .groupBy('topic');
    const byTopic = Object.fromEntries(
      counters.map((c: Record<string, unknown>) => [
        String(c.topic),
        { scored: Number(c.scored), flagged: Number(c.flagged), dead: Number(c.dead) },
      ]),
    );
    expect(byTopic[topics[0]]).toEqual(p.table.transactions);
    expect(byTopic[topics[1]]).toEqual(p.table.frames);
    const flags = await pg
      .db('flags')
      .select<{ kind: string; record_id: string; source_topic: string; score: number; threshold: number }[]>(
        'kind',
        'record_id',
        'source_topic',
        'score',
        'threshold',
      )
      .whereIn('source_topic', topics);
    expect(flags.length).toBe(p.summary.flagged);
    expect(flags.length).toBe(p.summary.rows);
    expect(new Set(flags.map((f) => f.record_id)).size).toBe(flags.length);
    for (const f of flags) {
      expect(f.record_id.startsWith(`${p.runId}-`)).toBe(true);
      expect(f.score).toBeGreaterThan(f.threshold);
    }
    // Uniform-noise frames are far outside MNIST: the frames model flags them, so frame flags exist.
    expect(p.frameKinds.uniform ?? 0).toBeGreaterThan(0);
    expect(flags.filter((f) => f.kind === 'frames').length).toBeGreaterThanOrEqual(p.frameKinds.uniform);
    // Both models were registered and are active, in this schema only.
    const active = await pg.db('model_versions').select('kind').where('active', true).orderBy('kind');
    expect(active.map((r: { kind: string }) => r.kind)).toEqual(['frames', 'transactions']);

    await expectNothingLeft(run, portsBefore);
  });

  it("a data directory without creditcard/ (and without the OoD sets): transactions from the repository's demo sample, with notes", async () => {
    const data = join(tmp, 'data-mnist-only');
    await mkdir(data, { recursive: true });
    await symlink(join(testDataDir(), 'mnist'), join(data, 'mnist'));
    const portsBefore = await listeningPorts();
    // A fresh transactions model directory: this run trains on the sample (frames: the first run's model).
    const run = await runDemo(['--small', '--data-dir', data], {
      ...env,
      MODEL_TRANSACTIONS: join(tmp, 'models-sample', 'transactions'),
    });
    expect(run.signal, `killed after ${CHILD_LIMIT_MS} ms\n${run.out}\n${run.err}`).toBeNull();
    expect(run.code, `${run.out}\n${run.err}`).toBe(0);
    expect(run.out).toMatch(
      /transactions from \S+data\/sample\/creditcard-sample\.csv\.gz \(the repository's demo sample\)/,
    );
    expect(run.out).toMatch(/note: transactions from the repository's demo sample/);
    expect(run.out).not.toMatch(/skipping transactions/);
    expect(run.out).toMatch(/model transactions: training a small ensemble on \d+ normal records/);
    expect(run.out).toMatch(
      /note: OoD frames without notMNIST \(notmnist\/\), Fashion-MNIST \(fashion-mnist\/\), Omniglot \(omniglot\/\)/,
    );
    const p = parseOutput(run.out);
    expect(p.tx).toBe(300 + p.frauds);
    expect(p.frauds).toBe(40);
    expect(p.frames).toBe(300);
    for (const k of Object.keys(p.frameKinds))
      expect(['none', 'uniform', 'gaussian', 'hflip', 'vflip']).toContain(k);
    expect(p.summary.replayed).toBe(p.tx + p.frames);
    expect(p.summary.scored + p.summary.dead).toBe(p.summary.replayed);
    expect(p.table.transactions.scored + p.table.transactions.dead).toBe(p.tx);
    expect(p.table.frames.scored + p.table.frames.dead).toBe(p.frames);
    // The demo's own records are all valid: every one is scored, none dead-lettered.
    expect(p.table.transactions).toMatchObject({ scored: p.tx, dead: 0 });
    expect(p.table.frames).toMatchObject({ scored: p.frames, dead: 0 });
    expect(p.table.transactions.flagged).toBeGreaterThan(0);

    const flags = await pg
      .db('flags')
      .select<{ kind: string; record_id: string }[]>('kind', 'record_id')
      .where('source_topic', 'like', `gensemble.${p.runId}.%`);
    expect(flags.length).toBe(p.summary.flagged);
    expect(new Set(flags.map((f) => f.kind))).toEqual(new Set(['frames', 'transactions']));

    await expectNothingLeft(run, portsBefore);
  });
});
