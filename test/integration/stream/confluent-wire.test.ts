/**
 * SCHEMA_REGISTRY_URL switches both sides: what the replay producer writes in the Confluent wire
 * format is decoded by the consumers `serve` runs (StreamService), and a consumer takes either
 * framing on the same topic by its magic byte (c3 01 single-object, 00 Confluent). The registry is an
 * in-process HTTP stand-in (test/helpers/schema-registry.ts) driven by the real
 * @kafkajs/confluent-schema-registry client; broker and PostgreSQL are real.
 * Without SCHEMA_REGISTRY_URL a Confluent-framed record is dead-lettered with a reason saying so.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { testKafka, createTopic, deleteTopics, collectMessages } from '../../helpers/kafka.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { kafkaBrokers, databaseUrl } from '../../helpers/services.js';
import { waitFor } from '../../helpers/wait.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { startFakeSchemaRegistry, type FakeSchemaRegistry } from '../../helpers/schema-registry.js';
import { loadConfig } from '../../../src/config.js';
import { producerCodec } from '../../../src/replay/codec.js';
import { TRANSACTION_SPEC, transactionCodec } from '../../../src/schemas/codec.js';
import { StreamService } from '../../../src/stream/service.js';
import { parseDeadLetter } from '../../../src/stream/dlq.js';
import { counterTotals, creditTransactions, produceAll, quietLogger, type TxInput } from './support.js';

const N = 300;

describe('Confluent wire format end to end (real Kafka + PostgreSQL)', () => {
  let kafka: Kafka;
  let pg: IsolatedSchema;
  let model: TestModel;
  let tx: TxInput;
  let registry: FakeSchemaRegistry;
  const topics: string[] = [];
  const services: StreamService[] = [];

  beforeAll(async () => {
    kafka = testKafka('stream-confluent');
    [pg, model, tx, registry] = await Promise.all([
      createIsolatedSchema({ prefix: 'stream_confluent' }),
      testModel('transactions'),
      creditTransactions(N),
      startFakeSchemaRegistry(),
    ]);
  });

  afterAll(async () => {
    await Promise.allSettled(services.map((s) => s.stop()));
    await registry?.close();
    await pg?.drop();
    await deleteTopics(kafka, topics).catch(() => undefined);
  });

  async function mixedTopic(): Promise<{ topic: string; dlq: string; confluent: Set<number> }> {
    const [topic, dlq] = await Promise.all([
      createTopic(kafka, { prefix: 'tx-confluent' }),
      createTopic(kafka, { prefix: 'dlq-confluent' }),
    ]);
    topics.push(topic, dlq);
    // What `gensemble replay` writes with SCHEMA_REGISTRY_URL set (registers <topic>-value) ...
    const conf = await producerCodec(TRANSACTION_SPEC, topic, registry.url);
    expect(conf.wireFormat).toBe('confluent');
    // ... mixed with single-object records of another producer.
    const so = transactionCodec();
    const confluent = new Set<number>();
    const messages = tx.records.map((r, i) => {
      const useConfluent = i % 3 !== 0;
      if (useConfluent) confluent.add(i);
      const value = useConfluent ? conf.encode(r) : so.encode(r);
      expect(value[0]).toBe(useConfluent ? 0x00 : 0xc3);
      return { key: String(i), value };
    });
    await produceAll(kafka, topic, messages, 100);
    return { topic, dlq, confluent };
  }

  async function serve(topic: string, dlq: string, schemaRegistryUrl: string): Promise<StreamService> {
    const env = loadConfig({
      KAFKA_BROKERS: kafkaBrokers().join(','),
      DATABASE_URL: databaseUrl(),
      DATABASE_SCHEMA: pg.schema,
      TOPIC_TRANSACTIONS: topic,
      TOPIC_DLQ: dlq,
      KAFKA_GROUP_ID: `confluent-${randomBytes(4).toString('hex')}`,
      SCHEMA_REGISTRY_URL: schemaRegistryUrl,
      ORT_THREADS: '1',
      MODEL_RELOAD_MS: '60000',
    });
    const svc = await StreamService.start({
      env,
      kinds: ['transactions'],
      modelDirs: { transactions: model.dir },
      logger: quietLogger(),
      http: false,
    });
    services.push(svc);
    return svc;
  }

  it('serve with SCHEMA_REGISTRY_URL scores a topic of both framings; nothing dead-lettered', async () => {
    const { topic, dlq } = await mixedTopic();
    const svc = await serve(topic, dlq, registry.url);
    await waitFor(
      async () => {
        const t = await counterTotals(pg.db, topic);
        return t.scored + t.deadLettered >= N;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'every record accounted for' },
    );
    expect(await counterTotals(pg.db, topic)).toMatchObject({ scored: N, deadLettered: 0 });
    expect(registry.fetches).toBeGreaterThanOrEqual(1); // the consumer fetched the writer schema by id
    await svc.stop();
  });

  it('serve without SCHEMA_REGISTRY_URL: single-object records scored, Confluent ones dead-lettered saying why', async () => {
    const { topic, dlq, confluent } = await mixedTopic();
    const svc = await serve(topic, dlq, '');
    await waitFor(
      async () => {
        const t = await counterTotals(pg.db, topic);
        return t.scored + t.deadLettered >= N;
      },
      { timeoutMs: 60_000, intervalMs: 200, what: 'every record accounted for' },
    );
    expect(await counterTotals(pg.db, topic)).toMatchObject({
      scored: N - confluent.size,
      deadLettered: confluent.size,
    });
    await svc.stop();
    const reader = kafka.consumer({ groupId: `dlq-reader-${randomBytes(4).toString('hex')}` });
    await reader.connect();
    await reader.subscribe({ topic: dlq, fromBeginning: true });
    try {
      const letters = (await (await collectMessages(reader)).waitFor(confluent.size, 30_000)).map((m) =>
        parseDeadLetter(m.value as Buffer),
      );
      expect(new Set(letters.map((l) => Number(l.source.offset)))).toEqual(confluent);
      for (const l of letters) {
        expect(l.reason).toBe('UNKNOWN_SCHEMA_ID');
        expect(l.error).toMatch(/Confluent wire format.*SCHEMA_REGISTRY_URL/);
      }
    } finally {
      await reader.disconnect();
    }
  });
});
