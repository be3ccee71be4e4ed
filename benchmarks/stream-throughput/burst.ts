/**
 * Burst benchmark: how fast the scoring consumer gets through a burst of records it must dead-letter
 * (a writer schema it does not know: what every consumer sees when an upstream producer rolls out a
 * new schema version), interleaved with valid records.
 *
 *   KAFKA_BROKERS=127.0.0.1:9092 npx tsx benchmarks/stream-throughput/burst.ts \
 *     [--bad 100000] [--valid 5000] [--partitions 3] [--concurrency 3] [--md BENCHMARKS.md]
 *
 * Two runs over the same pre-produced topic, each with a fresh consumer group and dead-letter topic:
 *   1. a dead-letter topic with the broker's default max.message.bytes (1 MiB);
 *   2. a dead-letter topic with max.message.bytes = 64 KiB (many small chunks).
 * Timed from the consumer's start to the moment PostgreSQL's counters account for every record
 * (scored + dead-lettered), with every dead letter on the DLQ topic. Before this change the consumer
 * made no progress at all on such a burst (one produce request above the broker's limit, retried
 * forever). Model: the production transactions default (5 members, K = 16), cached in
 * benchmarks/.cache. The DB is a private schema, dropped at the end.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import avro from 'avsc';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { pino } from 'pino';
import { cliOptions } from '../lib/args.js';
import { creditTransaction, streamTxModel } from '../lib/stream-data.js';
import { BENCH_ROOT } from '../lib/cache.js';
import { createKnex, migrateLatest } from '../../src/store/knex.js';
import { createTopicsAndWait } from '../../src/stream/kafka.js';
import { transactionCodec } from '../../src/schemas/codec.js';
import { TRANSACTION_SCHEMA, type Transaction } from '../../src/schemas/schemas.js';
import { frameSingleObject } from '../../src/schemas/single-object.js';
import { fingerprintOf } from '../../src/schemas/writer-schemas.js';
import { ModelSource } from '../../src/stream/model-source.js';
import { createTransactionsConsumer } from '../../consumers/transactions.js';
import type { BatchEvent } from '../../src/stream/consumer.js';

const opt = cliOptions();
const N_BAD = Number(opt('--bad', '100000'));
const N_VALID = Number(opt('--valid', '5000'));
const PARTITIONS = Number(opt('--partitions', '3'));
const CONCURRENCY = Number(opt('--concurrency', '3'));
const MD = opt('--md', '');
const DATA = process.env.GENSEMBLE_DATA_DIR || join(BENCH_ROOT, '..', '..', 'shared', 'datasets');
const brokers = (process.env.KAFKA_BROKERS || '127.0.0.1:9092').split(',');
const log = (s: string) => process.stderr.write(`[burst-bench] ${s}\n`);
const kafka = new Kafka({ clientId: 'burst-bench', brokers, logLevel: logLevel.ERROR });
const logger = pino({ level: process.env.LOG_LEVEL ?? 'warn' });
const schema = `bench_burst_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

async function createTopic(
  prefix: string,
  partitions: number,
  config: Record<string, string> = {},
): Promise<string> {
  const name = `bench-${prefix}-${Date.now().toString(36)}-${randomBytes(2).toString('hex')}`;
  const admin = kafka.admin();
  await admin.connect();
  await createTopicsAndWait(admin, [
    {
      topic: name,
      numPartitions: partitions,
      configEntries: Object.entries(config).map(([n, value]) => ({ name: n, value })),
    },
  ]);
  await admin.disconnect();
  return name;
}

async function topicCount(t: string): Promise<number> {
  const admin = kafka.admin();
  await admin.connect();
  const offs = await admin.fetchTopicOffsets(t);
  await admin.disconnect();
  return offs.reduce((s, o) => s + Number(o.high) - Number(o.low), 0);
}

// ---- data and model ----------------------------------------------------------------------------
const { credit, model } = await streamTxModel(DATA, log);

const base = TRANSACTION_SCHEMA as { fields: unknown[] } & Record<string, unknown>;
const V2 = {
  ...base,
  fields: [...base.fields, { name: 'channel', type: 'string', default: 'web' }],
} as avro.Schema;
const v2Type = avro.Type.forSchema(V2);
const v2Fp = fingerprintOf(V2).fingerprint;
const codec = transactionCodec();
const tx = (i: number): Transaction => creditTransaction(credit, i, `b-${i}`, Date.now());

const total = N_BAD + N_VALID;
const every = Math.max(1, Math.round(total / Math.max(1, N_VALID)));
async function produceBurst(): Promise<string> {
  const source = await createTopic('burst-src', PARTITIONS);
  log(`producing ${total} records (${N_BAD} in an unknown writer schema) to ${source}`);
  const p = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await p.connect();
  let valid = 0;
  for (let s = 0; s < total; s += 2000) {
    const msgs: Message[] = [];
    for (let i = s; i < Math.min(total, s + 2000); i++) {
      const isValid = valid < N_VALID && i % every === 0;
      if (isValid) valid++;
      msgs.push({
        key: String(i),
        value: isValid
          ? codec.encode(tx(i))
          : frameSingleObject(v2Fp, v2Type.toBuffer({ ...tx(i), channel: 'app' })),
      });
    }
    await p.send({ topic: source, acks: -1, messages: msgs });
  }
  await p.disconnect();
  log(`valid records: ${valid}`);
  return source;
}

const admin0 = createKnex({ pool: { min: 0, max: 1 } });
await admin0.raw('CREATE SCHEMA ??', [schema]);
await admin0.destroy();
const db = createKnex({ searchPath: [schema], pool: { min: 0, max: 8 } });
await migrateLatest(db);

interface Row {
  label: string;
  seconds: number;
  scored: number;
  dead: number;
  batches: number;
  dlqMessages: number;
}

async function run(label: string, dlqConfig: Record<string, string>): Promise<Row> {
  // Each run reads its own copy of the burst (production is not timed).
  const source = await produceBurst();
  const dlq = await createTopic('burst-dlq', 1, dlqConfig);
  const models = await ModelSource.open({ kind: 'transactions', dir: model.dir, logger });
  const c = createTransactionsConsumer({
    kafka,
    db,
    models,
    logger,
    topic: source,
    dlqTopic: dlq,
    groupId: `burst-${Date.now().toString(36)}`,
    tuning: { partitionsConsumedConcurrently: CONCURRENCY },
  });
  let scored = 0;
  let dead = 0;
  let batches = 0;
  let resolveDone: () => void = () => undefined;
  const done = new Promise<void>((r) => (resolveDone = r));
  c.on('batch', (b: BatchEvent) => {
    scored += b.scored;
    dead += b.deadLettered;
    batches++;
    if (scored + dead >= total) resolveDone();
  });
  c.on('fatal', (e) => {
    log(`fatal: ${e.message}`);
    process.exit(1);
  });
  const t0 = performance.now();
  await c.start();
  const timeout = setTimeout(() => {
    log(`${label}: not done after 600 s (${scored} scored, ${dead} dead-lettered)`);
    process.exit(1);
  }, 600_000);
  await done;
  const seconds = (performance.now() - t0) / 1000;
  clearTimeout(timeout);
  await c.stop();
  await models.close();
  const dlqMessages = await topicCount(dlq);
  log(`${label}: ${seconds.toFixed(2)} s, ${scored} scored, ${dead} dead-lettered, DLQ holds ${dlqMessages}`);
  return { label, seconds, scored, dead, batches, dlqMessages };
}

const load0 = loadavg()[0];
const rows = [
  await run('DLQ max.message.bytes 1 MiB (broker default)', {}),
  await run('DLQ max.message.bytes 64 KiB', { 'max.message.bytes': '65536' }),
];
await db.raw('DROP SCHEMA ?? CASCADE', [schema]);
await db.destroy();

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const lines = [
  '',
  `burst: ${fmt(N_BAD)} unknown-schema + ${fmt(N_VALID)} valid transactions, ${PARTITIONS} partitions, ` +
    `${CONCURRENCY} partitions at a time; load average at start ${load0.toFixed(2)}`,
  '',
  '| dead-letter topic | wall time | records/s | dead-lettered/s | scored | dead-lettered | batches | on the DLQ topic |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map(
    (r) =>
      `| ${r.label} | ${r.seconds.toFixed(2)} s | ${fmt(total / r.seconds)} | ${fmt(r.dead / r.seconds)} | ${fmt(r.scored)} | ${fmt(r.dead)} | ${r.batches} | ${fmt(r.dlqMessages)} |`,
  ),
  '',
];
process.stdout.write(lines.join('\n'));
if (MD) appendFileSync(MD, lines.join('\n'));
