import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { createTopic, deleteTopics, testKafka } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { databaseUrl, kafkaBrokers } from '../../helpers/services.js';
import { waitFor } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { loadConfig } from '../../../src/config.js';
import { transactionCodec } from '../../../src/schemas/codec.js';
import { TRANSACTION_PCA_FIELDS, type Transaction } from '../../../src/schemas/schemas.js';
import { StreamService } from '../../../src/stream/service.js';
import { counterTotals, creditTransactions, produceAll, quietLogger } from '../stream/support.js';

/**
 * `gensemble serve` (the StreamService, in process) with CONSOLE_TOKEN set starts the console next to
 * the consumers: the overview shows the stream's counters and the consumer lag from the service's
 * gauge, the DLQ page the records the consumer dead-lettered, the queue the flags with their member
 * scores; stopping the service closes the console.
 */
const TOKEN = randomBytes(18).toString('base64url');
const N = 150;
const ODD = 5;

let pg: IsolatedSchema;
let kafka: Kafka;
let model: TestModel;
const topics: string[] = [];

beforeAll(async () => {
  kafka = testKafka('console-serve-test');
  [pg, model] = await Promise.all([
    createIsolatedSchema({ prefix: 'console_serve' }),
    testModel('transactions'),
  ]);
});

afterAll(async () => {
  await deleteTopics(kafka, topics).catch(() => undefined);
  await pg?.drop();
});

describe('serve with the console', () => {
  it('serves the console on its own port, fed by the running stream', async () => {
    const topic = await createTopic(kafka, { prefix: 'console-serve-tx' });
    const dlq = await createTopic(kafka, { prefix: 'console-serve-dlq' });
    topics.push(topic, dlq);
    const tx = await creditTransactions(N);
    // Five far-off transactions (every PCA feature at ±25: flagged) and two records that are not Avro
    // (dead-lettered).
    for (let i = 0; i < ODD; i++) {
      const r: Record<string, unknown> = { ...tx.records[i], id: `odd-${i}`, amount: 5000 };
      TRANSACTION_PCA_FIELDS.forEach((f, j) => (r[f] = (j % 2 === 0 ? 25 : -25) + i));
      tx.records.push(r as Transaction);
    }
    const codec = transactionCodec();
    await produceAll(kafka, topic, [
      ...tx.records.map((r, i) => ({ key: String(i), value: codec.encode(r) })),
      { key: 'junk-1', value: Buffer.from('not avro at all') },
      { key: 'junk-2', value: Buffer.from([0xc3, 0x01, 1, 2]) },
    ]);
    const env = loadConfig({
      KAFKA_BROKERS: kafkaBrokers().join(','),
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: pg.schema,
      TOPIC_TRANSACTIONS: topic,
      TOPIC_DLQ: dlq,
      KAFKA_GROUP_ID: `console-serve-${randomBytes(4).toString('hex')}`,
      ORT_THREADS: '1',
      MODEL_RELOAD_MS: '60000',
      CONSOLE_TOKEN: TOKEN,
      CONSOLE_PORT: '0',
    });
    const svc = await StreamService.start({
      env,
      kinds: ['transactions'],
      modelDirs: { transactions: model.dir },
      logger: quietLogger(),
      http: false,
    });
    try {
      expect(svc.console?.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const url = svc.console!.url;
      const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
      await waitFor(
        async () => {
          const t = await counterTotals(pg.db, topic);
          return t.scored + t.deadLettered >= N + ODD + 2;
        },
        { timeoutMs: 90_000, intervalMs: 200, what: 'every record accounted for' },
      );
      expect((await fetch(`${url}/api/overview`)).status).toBe(401);
      const overview = (await (await fetch(`${url}/api/overview`, auth)).json()) as {
        series: Record<string, number[][]>;
        lag: { topic: string; partition: number; lag: number }[] | null;
      };
      const [, scored, flagged, dead] = overview.series.transactions;
      const flags = await pg.db('flags').where({ source_topic: topic }).select('record_id');
      expect(flags.map((f: { record_id: string }) => f.record_id)).toEqual(
        expect.arrayContaining(['odd-0', 'odd-1', 'odd-2', 'odd-3', 'odd-4']),
      );
      expect(scored.reduce((a, b) => a + b, 0)).toBe(N + ODD);
      expect(flagged.reduce((a, b) => a + b, 0)).toBe(flags.length);
      expect(dead.reduce((a, b) => a + b, 0)).toBe(2);
      expect(overview.lag?.find((l) => l.topic === topic)).toMatchObject({ partition: 0, lag: 0 });

      const queue = (await (await fetch(`${url}/api/queue?kind=transactions&order=score`, auth)).json()) as {
        rows: { recordId: string; payload: { member_logp?: number[]; features?: Record<string, number> } }[];
      };
      expect(queue.rows.map((r) => r.recordId).sort()).toEqual(
        flags.map((f: { record_id: string }) => f.record_id).sort(),
      );
      expect(queue.rows[0].payload.member_logp).toHaveLength(model.manifest.members.length);
      expect(queue.rows[0].payload.features?.V1).toEqual(expect.any(Number));

      const dlqPage = await (await fetch(`${url}/dlq`, auth)).text();
      expect(dlqPage).toContain(`${topic}/0/${N + ODD}`);
      expect(dlqPage).toContain(`${topic}/0/${N + ODD + 1}`);
    } finally {
      await svc.stop();
    }
    await expect(fetch(`${svc.console!.url}/healthz`)).rejects.toThrow();
  });
});
