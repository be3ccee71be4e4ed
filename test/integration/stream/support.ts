/**
 * Shared pieces of the stream integration tests: input records from the real data sets, producing
 * them, reading back counters / flags / dead letters, and the offline reference scoring (the engine
 * directly, no stream code).
 */
import { join } from 'node:path';
import type { Kafka, Message } from 'kafkajs';
import type { Knex } from 'knex';
import { pino, type Logger } from 'pino';
import { loadCreditCardCsv } from '../../../src/data/credit.js';
import { loadMnist } from '../../../src/data/datasets.js';
import { CriticScorer } from '../../../src/engine/critic-scorer.js';
import { VaeWganScorer } from '../../../src/engine/family-scorer.js';
import { carriedInputStatistics, InputStatisticsScorer } from '../../../src/engine/feature-scorer.js';
import { loadCheckpoint } from '../../../src/engine/checkpoint.js';
import { autoEngine, createEnsembleScorer } from '../../../src/engine/ensemble-scorer.js';
import { anomalyScores, needsComplexity } from '../../../src/engine/score-rules.js';
import { TRANSACTION_PCA_FIELDS, type ImageFrame, type Transaction } from '../../../src/schemas/schemas.js';
import { ModelSource } from '../../../src/stream/model-source.js';
import type { StreamMetrics } from '../../../src/stream/metrics.js';
import type { ScoringConsumer } from '../../../src/stream/consumer.js';
import { createTransactionsConsumer } from '../../../consumers/transactions.js';
import { createFramesConsumer } from '../../../consumers/frames.js';
import { expect } from 'vitest';
import { testDataDir, testModel, type TestModel, type TestModelOptions } from '../../helpers/models.js';
import { createTopic, deleteTopics, testKafka } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { waitFor } from '../../helpers/wait.js';
import { imageFrameCodec, transactionCodec } from '../../../src/schemas/codec.js';

export function quietLogger(): Logger {
  return pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
}

export interface InProcessConsumersOptions {
  kafka: Kafka;
  db: Knex;
  logger: Logger;
  metrics?: StreamMetrics;
  dlqTopic: string;
  /** Group id prefix (each kind consumes in `<groupId>.<kind>`). */
  groupId: string;
  transactions: { dir: string; topic: string };
  frames: { dir: string; topic: string };
}

/**
 * Both kinds' scoring consumers in-process (transactions, then frames), each scoring from its own
 * ModelSource (one ONNX thread). `stop()` stops whatever was started, also after a failed start.
 */
export class InProcessConsumers {
  readonly consumers: ScoringConsumer<unknown>[] = [];
  readonly sources: ModelSource[] = [];

  async start(o: InProcessConsumersOptions): Promise<void> {
    const metrics = o.metrics !== undefined ? { metrics: o.metrics } : {};
    for (const kind of ['transactions', 'frames'] as const) {
      const { dir, topic } = o[kind];
      const models = await ModelSource.open({
        kind,
        dir,
        scorer: { intraOpNumThreads: 1 },
        logger: o.logger,
        ...metrics,
      });
      this.sources.push(models);
      const deps = {
        kafka: o.kafka,
        db: o.db,
        models,
        logger: o.logger,
        ...metrics,
        dlqTopic: o.dlqTopic,
        groupId: o.groupId,
        topic,
      };
      const c = kind === 'transactions' ? createTransactionsConsumer(deps) : createFramesConsumer(deps);
      this.consumers.push(c as unknown as ScoringConsumer<unknown>);
    }
    for (const c of this.consumers) await c.start();
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.consumers.map((c) => c.stop()));
    await Promise.allSettled(this.sources.map((s) => s.close()));
  }
}

export interface TxInput {
  records: Transaction[];
  /** Raw rows [n, 30] as the CSV holds them (float32). */
  raw: Float32Array;
}

/** The first n rows of the credit subset as Transactions (ids tx-<row>), event_time = base + row. */
export async function creditTransactions(n: number, base = Date.now()): Promise<TxInput> {
  const data = await loadCreditCardCsv(join(testDataDir(), 'creditcard', 'creditcard-subset.csv.gz'), {
    maxRows: n,
  });
  if (data.n < n) throw new Error(`credit subset has only ${data.n} rows`);
  const records: Transaction[] = [];
  for (let i = 0; i < n; i++) {
    const f = data.features.subarray(i * 30, (i + 1) * 30);
    const r: Record<string, unknown> = {
      id: `tx-${i}`,
      event_time: base + i,
      time_seconds: f[0],
      amount: f[29],
      card_id: `card-${i % 97}`,
      merchant_id: null,
    };
    TRANSACTION_PCA_FIELDS.forEach((name, j) => (r[name] = f[j + 1]));
    records.push(r as Transaction);
  }
  return { records, raw: data.features.slice(0, n * 30) };
}

export interface FrameInput {
  records: ImageFrame[];
  raw: Float32Array;
}

/** `nMnist` MNIST test frames, then `nNoise` uniform-noise frames and `nFlip` upside-down MNIST frames. */
export async function mixedFrames(
  nMnist: number,
  nNoise: number,
  nFlip: number,
  base = Date.now(),
): Promise<FrameInput> {
  const mnist = await loadMnist(testDataDir(), 'test', { verify: false });
  const px = mnist.images.pixels;
  const D = 784;
  const n = nMnist + nNoise + nFlip;
  const raw = new Float32Array(n * D);
  const records: ImageFrame[] = [];
  let seed = 12345;
  const rnd = () => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed >>> 24;
  };
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(D);
    let ood: string | null = null;
    if (i < nMnist) b.set(px.subarray(i * D, (i + 1) * D));
    else if (i < nMnist + nNoise) {
      ood = 'noise-uniform';
      for (let j = 0; j < D; j++) b[j] = rnd();
    } else {
      ood = 'vflip';
      const s = (i - nMnist - nNoise) * D;
      for (let r = 0; r < 28; r++) for (let c = 0; c < 28; c++) b[(27 - r) * 28 + c] = px[s + r * 28 + c];
    }
    for (let j = 0; j < D; j++) raw[i * D + j] = b[j];
    records.push({
      id: `frame-${i}`,
      source: ood ?? 'mnist',
      width: 28,
      height: 28,
      channels: 1,
      pixels: b,
      event_time: base + i,
      label: i < nMnist ? mnist.labels[i] : null,
      ood_kind: ood,
    });
  }
  return { records, raw };
}

/** Transactions keyed by their position ("0", "1", ...), Avro single-object encoded, produced in chunks. */
export async function produceTransactions(
  kafka: Kafka,
  topic: string,
  records: readonly Transaction[],
  chunk?: number,
): Promise<void> {
  const codec = transactionCodec();
  const messages = records.map((r, i) => ({ key: String(i), value: codec.encode(r) }));
  await produceAll(kafka, topic, messages, chunk);
}

/** Produce messages in chunks (idempotent producer, acks=all), round-robin over partitions by key. */
export async function produceAll(
  kafka: Kafka,
  topic: string,
  messages: Message[],
  chunk = 1000,
): Promise<void> {
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  try {
    for (let i = 0; i < messages.length; i += chunk)
      await p.send({ topic, acks: -1, messages: messages.slice(i, i + chunk) });
  } finally {
    await p.disconnect();
  }
}

export interface Totals {
  scored: number;
  flagged: number;
  deadLettered: number;
}

export async function counterTotals(db: Knex, topic: string): Promise<Totals> {
  const r = await db('stream_counters')
    .where('topic', topic)
    .sum({ scored: 'scored', flagged: 'flagged', dead: 'dead_lettered' })
    .first<{ scored: string | null; flagged: string | null; dead: string | null }>();
  return {
    scored: Number(r?.scored ?? 0),
    flagged: Number(r?.flagged ?? 0),
    deadLettered: Number(r?.dead ?? 0),
  };
}

export interface DbFlag {
  record_id: string;
  score: number;
  threshold: number;
  model_version: string;
  source_partition: number;
  source_offset: string;
  event_time: Date | null;
}

export async function flagsOf(db: Knex, topic: string): Promise<DbFlag[]> {
  return db('flags')
    .where('source_topic', topic)
    .select<DbFlag[]>(
      'record_id',
      'score',
      'threshold',
      'model_version',
      'source_partition',
      'source_offset',
      'event_time',
    )
    .orderBy([{ column: 'source_partition' }, { column: 'source_offset' }]);
}

/** Scores rows through the engine directly: the model's score and threshold from its manifest. */
/**
 * The execution_provider label the stream reports for the model in `dir` with default options: 'native'
 * where 'auto' picks the fused kernel, else onnxruntime's 'cpu'.
 */
export async function expectedEngineLabel(dir: string): Promise<'native' | 'cpu'> {
  const { spec } = await loadCheckpoint(dir);
  return autoEngine(spec) === 'native' ? 'native' : 'cpu';
}

export async function offlineScores(
  dir: string,
  raw: Float32Array,
  n: number,
): Promise<{ scores: Float64Array; threshold: number }> {
  const loaded = await loadCheckpoint(dir);
  const { manifest, spec, onnxPath, critics } = loaded;
  const rule = manifest.scoreRule;
  // the engine the stream picks for this model (the native kernel for MLPs where built, else
  // onnxruntime), so that a record at the threshold is decided alike
  const vae = await createEnsembleScorer(spec, onnxPath, {
    intraOpNumThreads: 1,
    inputComplexity: needsComplexity(rule.score, rule),
  });
  // a 'vae+wgan' model: the critic graph too, composed by the engine's own scorer
  const composed = critics
    ? new VaeWganScorer(vae, await CriticScorer.create(critics.onnxBytes, { intraOpNumThreads: 1 }))
    : vae;
  // and the input statistics' graph, for the dose statistics 'feature_maha' and 'feature_knn'
  const inputStatistics = carriedInputStatistics(loaded);
  const scorer = inputStatistics
    ? await InputStatisticsScorer.create(composed, inputStatistics, spec.transform, { intraOpNumThreads: 1 })
    : composed;
  try {
    const batch = await scorer.scoreBatch(raw, n);
    const scores = anomalyScores(batch, rule.score, rule);
    const t = manifest.thresholds.find((x) => x.score === rule.score);
    if (!t) throw new Error('no threshold');
    return { scores, threshold: t.value };
  } finally {
    await scorer.close();
  }
}

/** Relative float32 agreement (a few ulps). */
export function closeF32(a: number, b: number): boolean {
  return Math.abs(a - b) <= 4 * 2 ** -23 * Math.max(1, Math.abs(a), Math.abs(b));
}

/**
 * Agreement of two computations of the SAME score of one record, the stream's and the offline
 * engine's. For scores read straight off the ensemble (log p, WAIC, …) that is float32 precision; the
 * 'dose' family is a nonlinear function of those float32 statistics (kernel densities: −log f grows
 * quadratically in the tails), and onnxruntime may give a statistic one ulp apart for different
 * chunkings of the same records, so the two agree to 1e-3 relative, not to a few ulps. A wrong rule,
 * model or record differs by far more.
 */
export function closeScore(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(a), Math.abs(b));
}

/**
 * The ids the stream must have flagged (offline score > threshold) and those within {@link closeScore}
 * of the threshold, whose flag may go either way between two computations.
 */
export function expectedFlags(
  scores: ArrayLike<number>,
  threshold: number,
  idOf: (i: number) => string,
): { flagged: Map<string, number>; borderline: Set<string> } {
  const flagged = new Map<string, number>();
  const borderline = new Set<string>();
  for (let i = 0; i < scores.length; i++) {
    const s = scores[i];
    if (closeScore(s, threshold)) borderline.add(idOf(i));
    else if (s > threshold) flagged.set(idOf(i), s);
  }
  return { flagged, borderline };
}

/** `ids` without the borderline ones, as a set (for comparing flagged sets). */
export function decided(ids: Iterable<string>, borderline: Set<string>): Set<string> {
  return new Set([...ids].filter((id) => !borderline.has(id)));
}

/**
 * A TCP proxy in front of PostgreSQL that a test can take down (listener closed, every connection
 * reset) and bring back on the same port: "the database went away".
 */
export class PgOutageProxy {
  private server: import('node:net').Server | null = null;
  private readonly sockets = new Set<import('node:net').Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async up(): Promise<void> {
    const net = await import('node:net');
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream);
      upstream.pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as import('node:net').AddressInfo).port;
    this.server = server;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = null;
    for (const sock of this.sockets) sock.destroy();
    this.sockets.clear();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

/**
 * A running frames stream for one model (real broker + PostgreSQL): an isolated schema, a transactions
 * model (the consumers run both kinds), the frames model built with `model`, three fresh topics, the
 * mixed frames ({@link mixedFrames}) produced with our codec, and both consumers in-process.
 */
export interface FramesStream {
  kafka: Kafka;
  pg: IsolatedSchema;
  model: TestModel;
  frameTopic: string;
  frames: FrameInput;
  stop(): Promise<void>;
}

export async function startFramesStream(
  prefix: string,
  model: TestModelOptions,
  counts: { mnist: number; noise: number; flip: number },
): Promise<FramesStream> {
  const kafka = testKafka(`stream-${prefix}`);
  const running = new InProcessConsumers();
  let pg: IsolatedSchema | undefined;
  const topics: string[] = [];
  const stop = async (): Promise<void> => {
    await running.stop();
    await pg?.drop();
    await deleteTopics(kafka, topics).catch(() => undefined);
  };
  try {
    const [schema, txModel, frameModel, txTopic, frameTopic, dlq] = await Promise.all([
      createIsolatedSchema({ prefix: `stream_${prefix}` }),
      testModel('transactions'),
      testModel('frames', model),
      createTopic(kafka, { prefix: `tx-${prefix}` }),
      createTopic(kafka, { prefix: `frames-${prefix}` }),
      createTopic(kafka, { prefix: `dlq-${prefix}` }),
    ]);
    pg = schema;
    topics.push(txTopic, frameTopic, dlq);
    const frames = await mixedFrames(counts.mnist, counts.noise, counts.flip);
    const fc = imageFrameCodec();
    await produceAll(
      kafka,
      frameTopic,
      frames.records.map((r) => ({ key: r.id, value: fc.encode(r) })),
      100,
    );
    await running.start({
      kafka,
      db: schema.db,
      logger: quietLogger(),
      dlqTopic: dlq,
      groupId: `${prefix}-${Date.now()}`,
      transactions: { dir: txModel.dir, topic: txTopic },
      frames: { dir: frameModel.dir, topic: frameTopic },
    });
    return { kafka, pg: schema, model: frameModel, frameTopic, frames, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/**
 * Waits until all `n` frames are scored, then checks the frames topic's flags against the offline
 * engine: nothing dead-lettered, the counters equal the flag rows, the flagged set equals the frames
 * whose offline score exceeds the threshold (borderline ones either way), each stored score and
 * threshold equal the offline ones. Returns the flags and the offline reference.
 */
export async function expectFlagsEqualOffline(
  s: FramesStream,
  n: number,
): Promise<{ flags: DbFlag[]; ref: Awaited<ReturnType<typeof offlineScores>> }> {
  await waitFor(async () => (await counterTotals(s.pg.db, s.frameTopic)).scored >= n, {
    timeoutMs: 180_000,
    intervalMs: 250,
    what: 'every frame scored',
  });
  const totals = await counterTotals(s.pg.db, s.frameTopic);
  expect(totals).toMatchObject({ scored: n, deadLettered: 0 });
  const ref = await offlineScores(s.model.dir, s.frames.raw, n);
  const { flagged: expected, borderline } = expectedFlags(ref.scores, ref.threshold, (i) => `frame-${i}`);
  const flags = await flagsOf(s.pg.db, s.frameTopic);
  expect(totals.flagged).toBe(flags.length);
  expect(
    decided(
      flags.map((f) => f.record_id),
      borderline,
    ),
  ).toEqual(new Set(expected.keys()));
  for (const f of flags) {
    const want = expected.get(f.record_id) ?? ref.scores[Number(f.record_id.slice(6))];
    if (!closeScore(f.score, want)) expect.fail(`${f.record_id}: stream score ${f.score}, offline ${want}`);
    expect(f.threshold).toBe(ref.threshold);
  }
  return { flags, ref };
}
