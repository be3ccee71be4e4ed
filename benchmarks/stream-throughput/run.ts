/**
 * Stream throughput benchmark: Kafka topic → scoring consumer → committed flags in PostgreSQL.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npx tsx benchmarks/stream-throughput/run.ts \
 *     [--tx 1000000] [--frames 20000] [--frames-arch mlp|conv] [--rate 10000] [--latency-seconds 20] [--partitions 2] [--md BENCHMARKS.md]
 *
 * 1. Transactions, sustained: pre-produce N Avro transactions (Kaggle credit rows, cycled), then time
 *    the consumer from its first batch to the last committed offset (records/s), sampling RSS every
 *    second (flat = last-quarter mean within 10% of the second-quarter mean).
 * 2. Frames: the same for N MNIST test frames, beside the engine alone (the scorer the stream picks, on the
 *    same frames in the consumer's batch sizes): glue overhead = 1 − stream/engine.
 * 3. Latency at a fixed offered load: a producer in a process of its own (rate-producer.ts;
 *    --inline-producer: in this process) sends transactions at --rate records/s (every 10 ms a
 *    send of rate/100, event_time = send time) for --latency-seconds; latency = offsets committed
 *    (after the DB transaction) − event_time, per record; p50/p95/p99/max after a 2 s warm-up.
 *
 * Models: the production defaults (5 members, K = 16; credit MLP 30→32→8→30→30, MNIST MLP
 * 784→512→16→512→784) trained briefly with buildModel (weights do not change the cost), cached in
 * benchmarks/.cache. The DB is a private schema, dropped at the end. The sustained phases pre-produce
 * their data from this process before the consumer starts; the latency phase's load generator is a
 * process of its own. The broker and PostgreSQL run on the same machine (2 cores shared by all).
 */
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { pino } from 'pino';
import { cliOptions } from '../lib/args.js';
import { streamTxModel } from '../lib/stream-data.js';
import { buildOrLoad } from '../lib/cache.js';
import { loadMnist } from '../../src/data/datasets.js';
import { createEnsembleScorer } from '../../src/engine/ensemble-scorer.js';
import { carriedInputStatistics, InputStatisticsScorer } from '../../src/engine/feature-scorer.js';
import { MAF_DEFAULTS } from '../../src/engine/spec.js';
import { needsComplexity } from '../../src/engine/score-rules.js';
import { createKnex, migrateLatest } from '../../src/store/knex.js';
import { createTopicsAndWait } from '../../src/stream/kafka.js';
import { transactionCodec, imageFrameCodec } from '../../src/schemas/codec.js';
import { TRANSACTION_PCA_FIELDS, type ImageFrame, type Transaction } from '../../src/schemas/schemas.js';
import { ModelSource } from '../../src/stream/model-source.js';
import { createTransactionsConsumer } from '../../consumers/transactions.js';
import { createFramesConsumer } from '../../consumers/frames.js';
import type { BatchEvent, ScoringConsumer } from '../../src/stream/consumer.js';
import { BENCH_ROOT } from '../lib/cache.js';

const args = process.argv.slice(2);
const opt = cliOptions(args);
const N_TX = Number(opt('--tx', '1000000'));
const N_FRAMES = Number(opt('--frames', '20000'));
const RATE = Number(opt('--rate', '10000'));
const LAT_S = Number(opt('--latency-seconds', '20'));
/** --inline-producer: the latency phase's producer in this process (the old behaviour). */
const INLINE_PRODUCER = args.includes('--inline-producer');
const PARTITIONS = Number(opt('--partitions', '2'));
const MD = opt('--md', '');
const ORT_THREADS = Number(opt('--ort-threads', '0'));
/**
 * --frames-arch conv: the frames model is the paper's conv VAE with the MAF prior (base 8, Dz 16,
 * MAF 6 × (512, 512), the detection issue's default) instead of the frames kind's default MLP.
 */
const FRAMES_ARCH = opt('--frames-arch', 'mlp');
if (FRAMES_ARCH !== 'mlp' && FRAMES_ARCH !== 'conv')
  throw new Error(`--frames-arch mlp|conv, got ${FRAMES_ARCH}`);
const DATA = process.env.GENSEMBLE_DATA_DIR || join(BENCH_ROOT, '..', '..', 'shared', 'datasets');
const brokers = (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',');
const log = (s: string) => process.stderr.write(`[stream-bench] ${s}\n`);

const kafka = new Kafka({ clientId: 'stream-bench', brokers, logLevel: logLevel.ERROR });
const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const schema = `bench_stream_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const admin0 = createKnex({ pool: { min: 0, max: 1 } });
await admin0.raw('CREATE SCHEMA ??', [schema]);
await admin0.destroy();
const db = createKnex({ searchPath: [schema], pool: { min: 0, max: 8 } });
await migrateLatest(db);
const topics: string[] = [];

async function topic(prefix: string, partitions: number): Promise<string> {
  const name = `bench-${prefix}-${Date.now().toString(36)}`;
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsAndWait(admin, [{ topic: name, numPartitions: partitions }]);
  await admin.disconnect();
  topics.push(name);
  return name;
}

async function produce(
  t: string,
  n: number,
  make: (i: number) => Message,
  chunk = 2000,
  parallel = 4,
): Promise<number> {
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    for (;;) {
      const start = next;
      if (start >= n) return;
      next = Math.min(n, start + chunk);
      const msgs: Message[] = new Array(next - start);
      for (let i = start; i < next; i++) msgs[i - start] = make(i);
      await p.send({ topic: t, acks: -1, messages: msgs });
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  await p.disconnect();
  return n / ((performance.now() - t0) / 1000);
}

// ---- data and models --------------------------------------------------------------------------
log(`data ${DATA}; brokers ${brokers.join(',')}; schema ${schema}`);
const { credit, model: txModel } = await streamTxModel(DATA, log);
const mnistTrain = await loadMnist(DATA, 'train', { verify: false });
const nFrTrain = 10_000;
const frRaw = new Float32Array(nFrTrain * 784);
for (let i = 0; i < frRaw.length; i++) frRaw[i] = mnistTrain.images.pixels[i];
const frModel = await buildOrLoad(
  FRAMES_ARCH === 'conv' ? 'stream-frames-conv' : 'stream-frames',
  {
    kind: 'frames',
    raw: frRaw,
    n: nFrTrain,
    d: 784,
    members: 5,
    steps: FRAMES_ARCH === 'conv' ? 20 : 50,
    seed: 0,
    ...(FRAMES_ARCH === 'conv'
      ? {
          model: {
            arch: { kind: 'conv', height: 28, width: 28, channels: 1, base: 8, latentDim: 16 },
            prior: { kind: 'maf', layers: MAF_DEFAULTS.layers, hidden: [...MAF_DEFAULTS.hidden] },
          },
        }
      : {}),
  },
  { log },
);

const txc = transactionCodec();
const txRecords: Transaction[] = [];
for (let i = 0; i < Math.min(credit.n, 50_000); i++) {
  const f = credit.features.subarray(i * 30, i * 30 + 30);
  const r: Record<string, unknown> = {
    id: '',
    event_time: 0,
    time_seconds: f[0],
    amount: f[29],
    card_id: null,
    merchant_id: null,
  };
  TRANSACTION_PCA_FIELDS.forEach((name, j) => (r[name] = f[j + 1]));
  txRecords.push(r as Transaction);
}
const txMessage = (i: number, eventTime = Date.now()): Message => {
  const base = txRecords[i % txRecords.length];
  return { value: txc.encode({ ...base, id: `tx-${i}`, event_time: eventTime }) };
};

const scorerOpts = { ...(ORT_THREADS > 0 ? { intraOpNumThreads: ORT_THREADS } : {}) };

interface RunResult {
  records: number;
  seconds: number;
  perSecond: number;
  batches: BatchEvent[];
  rss: number[];
}

async function consume(
  kind: 'transactions' | 'frames',
  t: string,
  n: number,
  dir: string,
  opts: { emitEventTimes?: boolean; onBatch?: (b: BatchEvent) => void } = {},
) {
  const models = await ModelSource.open({ kind, dir, scorer: scorerOpts });
  const deps = {
    kafka,
    db,
    models,
    logger,
    topic: t,
    dlqTopic: `${t}-dlq`,
    groupId: `bench-${Date.now()}`,
    tuning: {
      partitionsConsumedConcurrently: PARTITIONS,
      maxBytesPerPartition: kind === 'frames' ? 4 << 20 : 8 << 20,
      maxWaitTimeInMs: 20,
      emitEventTimes: opts.emitEventTimes ?? false,
    },
  };
  const c = (kind === 'transactions'
    ? createTransactionsConsumer(deps)
    : createFramesConsumer(deps)) as unknown as ScoringConsumer<unknown>;
  const batches: BatchEvent[] = [];
  let done = 0;
  let firstStart = 0;
  let lastCommit = 0;
  let resolveAll: () => void = () => undefined;
  const all = new Promise<void>((r) => (resolveAll = r));
  c.on('batch', (b) => {
    if (firstStart === 0) firstStart = b.committedAt - b.durationMs;
    batches.push({ ...b, eventTimes: undefined });
    opts.onBatch?.(b);
    done += b.scored + b.deadLettered;
    lastCommit = b.committedAt;
    if (done >= n) resolveAll();
  });
  const joined = new Promise<void>((r) => c.once('joined', () => r()));
  await c.start();
  await joined;
  return {
    consumer: c,
    models,
    finished: all.then(() => ({ seconds: (lastCommit - firstStart) / 1000, batches })),
    stop: async () => {
      await c.stop();
      await models.close();
    },
  };
}

function rssSampler(): { stop: () => number[] } {
  const s: number[] = [];
  const t = setInterval(() => s.push(process.memoryUsage().rss), 1000);
  return {
    stop: () => {
      clearInterval(t);
      return s;
    },
  };
}

async function sustained(
  kind: 'transactions' | 'frames',
  n: number,
  dir: string,
  make: (i: number) => Message,
  chunk: number,
): Promise<RunResult> {
  const t = await topic(kind === 'transactions' ? 'tx' : 'frames', PARTITIONS);
  log(`${kind}: producing ${n} records to ${t} ...`);
  const prodRate = await produce(t, n, make, chunk);
  log(`${kind}: produced at ${Math.round(prodRate)} records/s; consuming ...`);
  const rss = rssSampler();
  const run = await consume(kind, t, n, dir);
  const { seconds, batches } = await run.finished;
  const samples = rss.stop();
  await run.stop();
  const res = { records: n, seconds, perSecond: n / seconds, batches, rss: samples };
  const sum = (f: (b: BatchEvent) => number) => batches.reduce((x, b) => x + f(b), 0);
  log(
    `${kind}: ${n} records in ${seconds.toFixed(2)} s = ${Math.round(res.perSecond)} records/s (${batches.length} batches; ` +
      `total batch ${(sum((b) => b.durationMs) / 1000).toFixed(2)} s = score ${(sum((b) => b.scoreMs) / 1000).toFixed(2)} s + db ${(sum((b) => b.dbMs) / 1000).toFixed(2)} s + rest)`,
  );
  return res;
}

// ---- 1. transactions sustained ---------------------------------------------------------------
const tx = await sustained('transactions', N_TX, txModel.dir, (i) => txMessage(i, 0), 4000);
const q = (a: number[], lo: number, hi: number) => {
  const s = a.slice(
    Math.floor(a.length * lo),
    Math.max(Math.floor(a.length * lo) + 1, Math.floor(a.length * hi)),
  );
  return s.reduce((x, y) => x + y, 0) / s.length;
};
const rssQ2 = q(tx.rss, 0.25, 0.5);
const rssQ4 = q(tx.rss, 0.75, 1);
const rssMax = Math.max(...tx.rss);
const rssDrift = rssQ4 / rssQ2 - 1;
const flagsTx = Number(
  (await db('flags').where('source_topic', 'like', 'bench-tx-%').count<{ count: string }[]>('* as count'))[0]
    .count,
);

// ---- 2. frames sustained + engine baseline ------------------------------------------------------
const mnistTest = await loadMnist(DATA, 'test', { verify: false });
const fc = imageFrameCodec();
const frameMsg = (i: number): Message => {
  const j = i % mnistTest.images.count;
  const f: ImageFrame = {
    id: `f-${i}`,
    source: 'mnist',
    width: 28,
    height: 28,
    channels: 1,
    pixels: Buffer.from(mnistTest.images.pixels.subarray(j * 784, j * 784 + 784)),
    event_time: Date.now(),
    label: null,
    ood_kind: null,
  };
  return { value: fc.encode(f) };
};
const fr =
  N_FRAMES > 0
    ? await sustained('frames', N_FRAMES, frModel.dir, frameMsg, 500)
    : { records: 0, seconds: 1, perSecond: 0, batches: [{ records: 1 } as BatchEvent], rss: [] };
const meanBatch = Math.max(1, Math.round(fr.batches.reduce((s, b) => s + b.records, 0) / fr.batches.length));
// the engine baseline does what the consumer's scorer does: with the input complexity when the
// model's flag rule needs it, and the input statistics (Gaussian, nearest record) the model carries
const frRule = frModel.checkpoint.manifest.scoreRule;
// the engine the stream's model source picks for this model (SCORING_ENGINE, else 'auto')
const vaeEngine = await createEnsembleScorer(frModel.checkpoint.spec, join(frModel.dir, 'model.onnx'), {
  ...scorerOpts,
  inputComplexity: needsComplexity(frRule.score, frRule),
});
const frStatistics = carriedInputStatistics(frModel.checkpoint);
const engine = frStatistics
  ? await InputStatisticsScorer.create(vaeEngine, frStatistics, frModel.checkpoint.spec.transform, scorerOpts)
  : vaeEngine;
const nEng = Math.max(1, Math.min(N_FRAMES, 10_000));
const engX = new Float32Array(nEng * 784);
for (let i = 0; i < engX.length; i++) engX[i] = mnistTest.images.pixels[i % mnistTest.images.pixels.length];
await engine.scoreBatch(engX.subarray(0, 784 * Math.min(meanBatch, nEng)), Math.min(meanBatch, nEng));
const te = performance.now();
for (let s = 0; s < nEng; s += meanBatch) {
  const m = Math.min(meanBatch, nEng - s);
  await engine.scoreBatch(engX.subarray(s * 784, (s + m) * 784), m);
}
const engineRate = nEng / ((performance.now() - te) / 1000);
await engine.close();
log(
  `frames: engine alone ${Math.round(engineRate)} frames/s at batch ${meanBatch}; stream ${Math.round(fr.perSecond)} (${((fr.perSecond / engineRate) * 100).toFixed(1)}%)`,
);

// ---- 3. latency at a fixed offered load ---------------------------------------------------------
const lt = await topic('tx-latency', PARTITIONS);
/** [event time, latency] of every committed record after warmCut; the warm-up is cut again at the end. */
const samples: Array<[number, number]> = [];
const warmUntil = Date.now() + 2000 + 10_000; // set properly when production starts
let warmCut = warmUntil;
const run = await consume('transactions', lt, Number.MAX_SAFE_INTEGER, txModel.dir, {
  emitEventTimes: true,
  onBatch: (b) => {
    if (!b.eventTimes) return;
    for (const et of b.eventTimes) if (et >= warmCut) samples.push([et, b.committedAt - et]);
  },
});
const perTick = Math.max(1, Math.round(RATE / 100));
let sent = 0;
let achieved = 0;
log(
  `latency: offering ${RATE} records/s for ${LAT_S} s (${perTick} every 10 ms) from ${INLINE_PRODUCER ? 'this process' : 'a producer process of its own'} ...`,
);
const prod = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
await prod.connect();
if (INLINE_PRODUCER) {
  const tStart = Date.now();
  warmCut = tStart + 2000;
  let ticks = 0;
  let inflight: Promise<unknown>[] = [];
  while (LAT_S > 0 && Date.now() - tStart < LAT_S * 1000) {
    const due = tStart + ticks * 10;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const now = Date.now();
    const msgs: Message[] = new Array(perTick);
    for (let k = 0; k < perTick; k++) msgs[k] = txMessage(sent + k, now);
    sent += perTick;
    ticks++;
    inflight.push(prod.send({ topic: lt, acks: -1, messages: msgs }));
    if (inflight.length > 50) {
      await Promise.all(inflight);
      inflight = [];
    }
  }
  await Promise.all(inflight);
  achieved = sent / Math.max(0.001, (Date.now() - tStart) / 1000);
} else if (LAT_S > 0) {
  // The load generator in a process of its own (rate-producer.ts), so that producing shares neither
  // the event loop nor the CPU accounting of the measured consumer. Warm-up: its first 2 s.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      fileURLToPath(new URL('./rate-producer.ts', import.meta.url)),
      '--brokers',
      brokers.join(','),
      '--topic',
      lt,
      '--rate',
      String(RATE),
      '--seconds',
      String(LAT_S),
      '--data',
      DATA,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  warmCut = Date.now(); // the real cut (its first send + 2 s) is applied when it reports its start
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) throw new Error(`rate-producer exited with ${code}`);
  const res = JSON.parse(out.trim().split('\n').pop() ?? '{}') as {
    sent: number;
    seconds: number;
    startedAt: number;
  };
  warmCut = res.startedAt + 2000;
  sent = res.sent;
  achieved = res.sent / Math.max(0.001, res.seconds);
}
const drainDeadline = Date.now() + 30_000;
while (Date.now() < drainDeadline) {
  const c = await db('stream_offsets')
    .where('source_topic', lt)
    .sum<{ s: string }[]>({ s: db.raw('last_offset + 1') });
  if (Number(c[0].s) >= sent) break;
  await new Promise((r) => setTimeout(r, 100));
}
await prod.disconnect();
await run.stop();
// after the drain: every record the producer sent is committed (or the drain timed out)
const lat = samples.filter(([et]) => et >= warmCut).map(([, l]) => l);
if (lat.length === 0) lat.push(NaN);
lat.sort((a, b) => a - b);
const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];

// ---- report --------------------------------------------------------------------------------------
const flagsRate = (flagsTx / N_TX) * 100;
const row = (a: string, b: string, c: string) => `| ${a} | ${b} | ${c} |`;
const table = [
  row('measurement', 'value', 'target'),
  row('---', '---:', '---'),
  row(
    `transactions sustained (${N_TX.toLocaleString('en')} records, topic → committed flags)`,
    `${Math.round(tx.perSecond).toLocaleString('en')} records/s`,
    '≥ 50,000 records/s',
  ),
  row('  flagged (rows written to flags)', `${flagsTx.toLocaleString('en')} (${flagsRate.toFixed(2)}%)`, ''),
  row('  mean batch', `${Math.round(tx.records / tx.batches.length)} records`, ''),
  row(
    `frames sustained (${N_FRAMES.toLocaleString('en')} MNIST frames, ${FRAMES_ARCH === 'conv' ? 'conv VAE base 8 + MAF' : 'MLP VAE'})`,
    `${Math.round(fr.perSecond).toLocaleString('en')} frames/s`,
    '',
  ),
  row(
    `engine alone, same frames, batch ${meanBatch}`,
    `${Math.round(engineRate).toLocaleString('en')} frames/s`,
    '',
  ),
  row('frames stream / engine', `${((fr.perSecond / engineRate) * 100).toFixed(1)}%`, '≥ 80%'),
  row(
    `latency at ${RATE.toLocaleString('en')} records/s offered (achieved ${Math.round(achieved).toLocaleString('en')}), ${lat.length.toLocaleString('en')} records`,
    `p50 ${pct(50)} ms, p95 ${pct(95)} ms, p99 ${pct(99)} ms, max ${lat[lat.length - 1]} ms`,
    'p99 ≤ 250 ms',
  ),
  row(
    `RSS over the ${N_TX.toLocaleString('en')}-transaction run (${tx.rss.length} samples)`,
    `2nd quarter ${(rssQ2 / 2 ** 20).toFixed(0)} MiB, last quarter ${(rssQ4 / 2 ** 20).toFixed(0)} MiB (${(rssDrift * 100).toFixed(1)}%), max ${(rssMax / 2 ** 20).toFixed(0)} MiB`,
    'flat within 10%',
  ),
].join('\n');
process.stdout.write(table + '\n');

if (MD) {
  const cmd =
    `KAFKA_BROKERS=${brokers.join(',')} npx tsx benchmarks/stream-throughput/run.ts ${args.filter((a, i) => !(a === '--md' || args[i - 1] === '--md')).join(' ')}`.trim();
  const load = (await import('node:os'))
    .loadavg()
    .map((x) => x.toFixed(1))
    .join(' ');
  appendFileSync(
    MD,
    `\n## Stream throughput\n\n` +
      `Kafka (scripts/kafka, KRaft, same machine) → \`ScoringConsumer\` (kafkajs eachBatch, ${PARTITIONS} partitions consumed concurrently) → ` +
      `one \`scoreBatch\` per Kafka batch (onnxruntime-node, CPU) → flags + counters + high-water mark in one PostgreSQL transaction → offset commit. ` +
      `Models: production defaults (M = 5, K = 16). Measured ${new Date().toISOString().slice(0, 10)}, load average at the end ${load} (other jobs share the 2 cores).\n\n` +
      `    ${cmd}\n\n${table}\n`,
  );
  log(`appended to ${MD}`);
}

// ---- cleanup -------------------------------------------------------------------------------------
const admin = kafka.admin();
await admin.connect();
const existing = new Set(await admin.listTopics());
await admin
  .deleteTopics({ topics: [...topics, ...topics.map((t) => `${t}-dlq`)].filter((t) => existing.has(t)) })
  .catch(() => undefined);
await admin.disconnect();
await db.raw('DROP SCHEMA ?? CASCADE', [schema]);
await db.destroy();
process.exit(0);
