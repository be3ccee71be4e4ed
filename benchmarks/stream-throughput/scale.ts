/**
 * Scale-out benchmark: instances × partitions. For every pair (instances ∈ --instances, partitions ∈
 * --partitions), `gensemble serve` runs as that many child processes in one consumer group (each its
 * own Node process, ORT_THREADS=1); this process is only the producer and the observer.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npx tsx benchmarks/stream-throughput/scale.ts \
 *     [--records 200000] [--instances 1,2,3] [--partitions 1,3,6] [--rate 8000] [--latency-seconds 15] \
 *     [--md BENCHMARKS.md] [--out benchmarks/results/stream-scale]
 *
 * Per pair:
 *   1. drain: the instances start on the empty topic; once the group is stable with all of them, the
 *      --records transactions (encoded beforehand) are produced as fast as the producer goes;
 *      records/s = records / (first sample that saw every record committed − first send), from the
 *      group's committed offsets sampled every 250 ms (consumer lag over time → lag.svg; ±0.25 s).
 *      The producer's own rate is reported beside it (an upper bound of what can be measured). The
 *      serve processes' CPU-seconds over the same span (utime + stime from /proc; start-up, model load
 *      and join excluded) give records per CPU-second.
 *   2. latency: then the producer sends --rate records/s for --latency-seconds (every 50 ms a send,
 *      event_time = send time); end-to-end latency = flag row's flagged_at (PostgreSQL's now() in the
 *      batch's transaction) − event_time, over the flagged records (≈1.5% of them), p50/p99.
 * Model: the production transactions default (5 members, K = 16), cached in benchmarks/.cache. Each
 * pair gets its own topic, group and PostgreSQL schema (dropped at the end).
 */
import { appendFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadavg, cpus } from 'node:os';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { cliOptions } from '../lib/args.js';
import { creditTransaction, streamTxModel } from '../lib/stream-data.js';
import { BENCH_ROOT } from '../lib/cache.js';
import { lineSvg } from '../lib/plots.js';
import { createKnex, migrateLatest } from '../../src/store/knex.js';
import { createTopicsAndWait } from '../../src/stream/kafka.js';
import { transactionCodec } from '../../src/schemas/codec.js';
import type { Transaction } from '../../src/schemas/schemas.js';

const opt = cliOptions();
const N = Number(opt('--records', '200000'));
const INSTANCES = opt('--instances', '1,2,3').split(',').map(Number);
const PARTS = opt('--partitions', '1,3,6').split(',').map(Number);
const RATE = Number(opt('--rate', '8000'));
const LAT_S = Number(opt('--latency-seconds', '15'));
const MD = opt('--md', '');
const OUT = opt('--out', join(BENCH_ROOT, 'results', 'stream-scale'));
const DATA = process.env.GENSEMBLE_DATA_DIR || join(BENCH_ROOT, '..', '..', 'shared', 'datasets');
const brokers = (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',');
const DATABASE_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const BIN = fileURLToPath(new URL('../../bin/gensemble.js', import.meta.url));
const log = (s: string) => process.stderr.write(`[scale-bench] ${s}\n`);
const kafka = new Kafka({ clientId: 'scale-bench', brokers, logLevel: logLevel.ERROR });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TICK = Number(process.env.CLK_TCK ?? 100);

// ---- data and model ----------------------------------------------------------------------------
const { credit, model } = await streamTxModel(DATA, log);
const codec = transactionCodec();
const tx = (i: number, eventTime: number): Transaction => creditTransaction(credit, i, `s-${i}`, eventTime);

async function withAdmin<T>(fn: (a: ReturnType<Kafka['admin']>) => Promise<T>): Promise<T> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    // fields after the command: state(0) … utime(11) stime(12)
    return (Number(rest[11]) + Number(rest[12])) / TICK;
  } catch {
    return 0;
  }
}

interface PairResult {
  instances: number;
  partitions: number;
  seconds: number;
  recordsPerSec: number;
  produceRate: number;
  cpuSeconds: number;
  perCpuSecond: number;
  lag: { x: number; y: number }[];
  latency: { n: number; p50: number; p99: number; max: number; achieved: number };
}

const pct = (sorted: number[], q: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

async function runPair(instances: number, partitions: number): Promise<PairResult> {
  const tag = `${instances}x${partitions}-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  const topic = `bench-scale-${tag}`;
  const dlq = `bench-scale-dlq-${tag}`;
  const schema = `bench_scale_${tag.replace(/-/g, '_')}`;
  const group = `bench-scale-${tag}`;
  await withAdmin((a) =>
    createTopicsAndWait(a, [
      { topic, numPartitions: partitions },
      { topic: dlq, numPartitions: 1 },
    ]),
  );
  const admin0 = createKnex({ databaseUrl: DATABASE_URL, pool: { min: 0, max: 1 } });
  await admin0.raw('CREATE SCHEMA ??', [schema]);
  await admin0.destroy();
  const db = createKnex({ databaseUrl: DATABASE_URL, searchPath: [schema], pool: { min: 0, max: 2 } });
  await migrateLatest(db);

  // 1. The drain set, encoded up front (production is then only sends).
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  const t0 = Date.now();
  const chunks: Message[][] = [];
  for (let s = 0; s < N; s += 2000) {
    const msgs: Message[] = [];
    for (let i = s; i < Math.min(N, s + 2000); i++)
      msgs.push({ key: String(i), value: codec.encode(tx(i, t0)) });
    chunks.push(msgs);
  }

  const env = {
    ...process.env,
    KAFKA_BROKERS: brokers.join(','),
    DATABASE_URL,
    DATABASE_SCHEMA: schema,
    TOPIC_TRANSACTIONS: topic,
    TOPIC_DLQ: dlq,
    KAFKA_GROUP_ID: group,
    LOG_LEVEL: 'warn',
    ORT_THREADS: '1',
    MODEL_RELOAD_MS: '60000',
  };
  const children: ChildProcess[] = [];
  for (let i = 0; i < instances; i++)
    children.push(
      spawn(
        process.execPath,
        [BIN, 'serve', '--kinds', 'transactions', '--model-transactions', model.dir, '--no-http'],
        {
          env,
          stdio: ['ignore', 'ignore', 'inherit'],
        },
      ),
    );
  const consumerGroup = `${group}.transactions`;
  const committed = async (): Promise<number> =>
    withAdmin(async (a) => {
      const [r] = await a.fetchOffsets({ groupId: consumerGroup, topics: [topic] });
      return r.partitions.reduce((s, x) => s + Math.max(0, Number(x.offset)), 0);
    });
  const lag: { x: number; y: number }[] = [];
  const start = Date.now();
  // The instances start on the empty topic; once the group is stable with every instance in it
  // (start-up, model load and joins behind them), the drain set is produced as fast as the producer
  // goes (its own rate is reported: it bounds the figure from above), and the drain is timed from the
  // first send to the sample that saw every record committed; CPU of the serve processes likewise.
  for (;;) {
    const g = await withAdmin((a) => a.describeGroups([consumerGroup]));
    const grp = g.groups[0];
    if (grp?.state === 'Stable' && grp.members.length === instances) break;
    if (Date.now() - start > 120_000)
      throw new Error(`${instances}×${partitions}: group not stable after 120 s`);
    await sleep(50);
  }
  const first = Date.now();
  const cpuAtFirst = children.reduce((s, ch) => s + cpuSeconds(ch.pid), 0);
  const producing = (async () => {
    let next = 0;
    const worker = async () => {
      while (next < chunks.length) await p.send({ topic, acks: -1, messages: chunks[next++] });
    };
    await Promise.all([worker(), worker()]);
    return Date.now();
  })();
  let last = 0;
  let prev = 0;
  for (;;) {
    const c = await committed();
    const now = Date.now();
    lag.push({ x: (now - first) / 1000, y: N - c });
    if (c > prev) last = now;
    prev = c;
    if (c >= N) break;
    if (now - start > 600_000)
      throw new Error(`${instances}×${partitions}: not drained after 600 s (${c}/${N})`);
    await sleep(250);
  }
  const producedAt = await producing;
  const produceRate = N / ((producedAt - first) / 1000);
  const seconds = (last - first) / 1000;
  const cpu = children.reduce((s, ch) => s + cpuSeconds(ch.pid), 0) - cpuAtFirst;

  // 2. Latency at a fixed offered rate.
  const latStart = Date.now();
  let sent = 0;
  const perTick = Math.max(1, Math.round(RATE / 20));
  while (Date.now() - latStart < LAT_S * 1000) {
    const tick = Date.now();
    const msgs: Message[] = [];
    for (let k = 0; k < perTick; k++, sent++)
      msgs.push({ key: String(N + sent), value: codec.encode(tx(N + sent, Date.now())) });
    await p.send({ topic, acks: -1, messages: msgs });
    const wait = 50 - (Date.now() - tick);
    if (wait > 0) await sleep(wait);
  }
  const achieved = sent / ((Date.now() - latStart) / 1000);
  const deadline = Date.now() + 120_000;
  while ((await committed()) < N + sent && Date.now() < deadline) await sleep(250);
  await p.disconnect();
  const rows = await db('flags')
    .where('event_time', '>=', new Date(latStart))
    .select<{ ms: number }[]>(db.raw('extract(epoch from (flagged_at - event_time)) * 1000 as ms'));
  const lat = rows.map((r) => Number(r.ms)).sort((a, b) => a - b);

  const counted = (await db('stream_counters')
    .where('topic', topic)
    .sum({ scored: 'scored', dead: 'dead_lettered' })
    .first()) as { scored: string | null; dead: string | null };
  if (Number(counted.scored) !== N + sent || Number(counted.dead) !== 0)
    throw new Error(
      `${instances}×${partitions}: counters ${JSON.stringify(counted)}, expected ${N + sent} scored`,
    );
  for (const ch of children) ch.kill('SIGTERM');
  await Promise.all(
    children.map((ch) => new Promise((r) => (ch.exitCode !== null ? r(null) : ch.once('exit', r)))),
  );
  await db.raw('DROP SCHEMA ?? CASCADE', [schema]);
  await db.destroy();
  await withAdmin((a) => a.deleteTopics({ topics: [topic, dlq] })).catch(() => undefined);
  const r: PairResult = {
    instances,
    partitions,
    seconds,
    recordsPerSec: N / seconds,
    produceRate,
    cpuSeconds: cpu,
    perCpuSecond: N / cpu,
    lag,
    latency: {
      n: lat.length,
      p50: pct(lat, 0.5),
      p99: pct(lat, 0.99),
      max: lat[lat.length - 1] ?? NaN,
      achieved,
    },
  };
  log(
    `${instances} instance(s) × ${partitions} partition(s): ${Math.round(r.recordsPerSec)} records/s, ` +
      `${Math.round(r.perCpuSecond)} per CPU-s; latency at ${Math.round(achieved)}/s p50 ${Math.round(r.latency.p50)} ms p99 ${Math.round(r.latency.p99)} ms (n=${lat.length})`,
  );
  return r;
}

const load0 = loadavg()[0];
const results: PairResult[] = [];
for (const i of INSTANCES) for (const pp of PARTS) results.push(await runPair(i, pp));

mkdirSync(OUT, { recursive: true });
writeFileSync(
  join(OUT, 'lag.svg'),
  await lineSvg(
    results.map((r) => ({ name: `${r.instances} inst × ${r.partitions} part`, points: r.lag })),
    `consumer lag while draining ${N.toLocaleString('en-US')} transactions`,
    'seconds since the first send',
    'records not yet committed',
  ),
);
writeFileSync(
  join(OUT, 'results.json'),
  JSON.stringify({ records: N, rate: RATE, latencySeconds: LAT_S, results }, null, 1),
);

const fmt = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const lines = [
  '',
  `scale-out: ${N.toLocaleString('en-US')} transactions drained, then ${RATE}/s offered for ${LAT_S} s; ` +
    `serve processes with ORT_THREADS=1; ${cpus().length} cores; load average at start ${load0.toFixed(2)}; ` +
    `lag plot: ${join(OUT, 'lag.svg').replace(BENCH_ROOT, 'benchmarks')}`,
  '',
  '| instances | partitions | drain records/s | producer records/s | records per CPU-second | latency offered → achieved | p50 | p99 | max |',
  '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.map(
    (r) =>
      `| ${r.instances} | ${r.partitions} | ${fmt(r.recordsPerSec)} | ${fmt(r.produceRate)} | ${fmt(r.perCpuSecond)} | ${RATE} → ${fmt(r.latency.achieved)}/s | ${fmt(r.latency.p50)} ms | ${fmt(r.latency.p99)} ms | ${fmt(r.latency.max)} ms |`,
  ),
  '',
];
process.stdout.write(lines.join('\n'));
if (MD) appendFileSync(MD, lines.join('\n'));
