/**
 * The load generator of the stream benchmark's latency phase, in its own process (so that producing
 * does not share the event loop and CPU time of the measured consumer): sends Avro transactions (rows
 * of the credit subset, event_time = send time) at a fixed rate, `rate/100` records every 10 ms, for
 * `--seconds`, with an idempotent producer and acks = all; prints one JSON line
 * `{"sent": N, "seconds": T, "startedAt": ms}` on stdout when every send is acknowledged.
 *
 *   npx tsx benchmarks/stream-throughput/rate-producer.ts --brokers 127.0.0.1:9092 --topic T \
 *     --rate 10000 --seconds 15 [--data DIR]
 */
import { join } from 'node:path';
import { Kafka, logLevel, type Message } from 'kafkajs';
import { loadCreditCardCsv } from '../../src/data/credit.js';
import { transactionCodec } from '../../src/schemas/codec.js';
import { creditTransaction } from '../lib/stream-data.js';
import { BENCH_ROOT } from '../lib/cache.js';

const args = process.argv.slice(2);
const opt = (name: string, dflt?: string): string => {
  const i = args.indexOf(name);
  const v = i >= 0 ? args[i + 1] : dflt;
  if (v === undefined) throw new Error(`rate-producer: ${name} is required`);
  return v;
};
const brokers = opt('--brokers').split(',');
const topic = opt('--topic');
const rate = Number(opt('--rate', '10000'));
const seconds = Number(opt('--seconds', '15'));
const data = opt(
  '--data',
  process.env.GENSEMBLE_DATA_DIR || join(BENCH_ROOT, '..', '..', 'shared', 'datasets'),
);
if (!(rate > 0) || !(seconds > 0)) throw new Error('rate-producer: --rate and --seconds must be positive');

const credit = await loadCreditCardCsv(join(data, 'creditcard', 'creditcard-subset.csv.gz'));
const txc = transactionCodec();
const message = (i: number, eventTime: number): Message => ({
  value: txc.encode(creditTransaction(credit, i, `tx-${i}`, eventTime)),
});
const kafka = new Kafka({ clientId: 'stream-bench-producer', brokers, logLevel: logLevel.ERROR });
const prod = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
await prod.connect();
const perTick = Math.max(1, Math.round(rate / 100));
const tStart = Date.now();
let sent = 0;
let ticks = 0;
let inflight: Promise<unknown>[] = [];
while (Date.now() - tStart < seconds * 1000) {
  const due = tStart + ticks * 10;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  const now = Date.now();
  const msgs: Message[] = new Array(perTick);
  for (let k = 0; k < perTick; k++) msgs[k] = message(sent + k, now);
  sent += perTick;
  ticks++;
  inflight.push(prod.send({ topic, acks: -1, messages: msgs }));
  if (inflight.length > 50) {
    await Promise.all(inflight);
    inflight = [];
  }
}
await Promise.all(inflight);
const elapsed = (Date.now() - tStart) / 1000;
await prod.disconnect();
process.stdout.write(`${JSON.stringify({ sent, seconds: elapsed, startedAt: tStart })}\n`);
