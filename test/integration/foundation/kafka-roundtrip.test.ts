import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompressionTypes, type Kafka } from 'kafkajs';
import {
  collectMessages,
  createTopic,
  deleteTopics,
  randomName,
  testKafka,
  waitForGroupJoin,
  waitForMessages,
} from '../../helpers/kafka.js';

const PARTITIONS = 3;
const TOTAL = 1000;

describe('real Kafka broker: produce and consume 1,000 messages with kafkajs', () => {
  let kafka: Kafka;
  const topics: string[] = [];

  beforeAll(() => {
    kafka = testKafka('foundation-roundtrip');
  });
  afterAll(async () => {
    await deleteTopics(kafka, topics).catch(() => {});
  });

  it('creates a topic with the requested partitions on the broker', async () => {
    const topic = await createTopic(kafka, { prefix: 'create', partitions: PARTITIONS });
    topics.push(topic);
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(await admin.listTopics()).toContain(topic);
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const parts = meta.topics[0]!.partitions;
      expect(parts.map((p) => p.partitionId).sort()).toEqual([0, 1, 2]);
      for (const p of parts) expect(p.leader).toBeGreaterThanOrEqual(0);
    } finally {
      await admin.disconnect();
    }
  });

  it('delivers every message exactly once, in order within each partition', async () => {
    const topic = await createTopic(kafka, { prefix: 'roundtrip', partitions: PARTITIONS });
    topics.push(topic);

    const consumer = kafka.consumer({ groupId: randomName('group'), maxWaitTimeInMs: 100 });
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await Promise.all([consumer.connect(), producer.connect()]);
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const joined = waitForGroupJoin(consumer, 60_000);
      const collector = await collectMessages(consumer);
      const join = await joined;
      expect(join.memberAssignment[topic]?.slice().sort()).toEqual([0, 1, 2]);

      // Message i goes to partition i % 3, in ten sequential sends of 100 (one gzip'd).
      for (let start = 0; start < TOTAL; start += 100) {
        await producer.send({
          topic,
          acks: -1,
          compression: start === 500 ? CompressionTypes.GZIP : CompressionTypes.None,
          messages: Array.from({ length: 100 }, (_, j) => {
            const i = start + j;
            return {
              partition: i % PARTITIONS,
              key: `k${i}`,
              value: JSON.stringify({ i }),
              headers: { seq: String(i) },
            };
          }),
        });
      }

      const got = await collector.waitFor(TOTAL, 90_000);
      expect(got).toHaveLength(TOTAL);

      // Exactly the values 0..999, each once.
      const values = got.map((m) => (JSON.parse(m.value!.toString('utf8')) as { i: number }).i);
      expect([...values].sort((a, b) => a - b)).toEqual(Array.from({ length: TOTAL }, (_, i) => i));

      for (let p = 0; p < PARTITIONS; p++) {
        const inPartition = got.filter((m) => m.partition === p);
        // Produced order within the partition: p, p+3, p+6, ...
        const expected = Array.from({ length: TOTAL }, (_, i) => i).filter((i) => i % PARTITIONS === p);
        expect(inPartition.map((m) => (JSON.parse(m.value!.toString()) as { i: number }).i)).toEqual(
          expected,
        );
        // Offsets 0, 1, 2, ... with no gaps (fresh topic, non-transactional producer).
        expect(inPartition.map((m) => Number(m.offset))).toEqual(expected.map((_, k) => k));
        for (const m of inPartition) {
          const i = (JSON.parse(m.value!.toString()) as { i: number }).i;
          expect(m.key?.toString()).toBe(`k${i}`);
          expect(m.headers.seq?.toString()).toBe(String(i));
        }
      }
    } finally {
      await Promise.all([consumer.disconnect(), producer.disconnect()]);
    }
  });

  it('waitForMessages returns the first n messages of a pre-filled topic', async () => {
    const topic = await createTopic(kafka, { prefix: 'prefilled' });
    topics.push(topic);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic, messages: ['a', 'b', 'c', 'd', 'e'].map((value) => ({ value })) });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: randomName('group'), maxWaitTimeInMs: 100 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const got = await waitForMessages(consumer, 4, 60_000);
      expect(got.map((m) => m.value?.toString())).toEqual(['a', 'b', 'c', 'd']);
    } finally {
      await consumer.disconnect();
    }
  });

  it('message waits fail with a timeout naming the shortfall when too few messages arrive', async () => {
    const topic = await createTopic(kafka, { prefix: 'timeout' });
    topics.push(topic);
    const consumer = kafka.consumer({ groupId: randomName('group'), maxWaitTimeInMs: 100 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      const joined = waitForGroupJoin(consumer, 60_000);
      const collector = await collectMessages(consumer);
      await joined;
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, messages: [{ value: 'only one' }] });
      await producer.disconnect();
      await expect(collector.waitFor(2, 1500)).rejects.toThrow(/2 messages \(received 1\)/);
      expect(collector.messages.map((m) => m.value?.toString())).toEqual(['only one']);
    } finally {
      await consumer.disconnect();
    }
  });
});
