import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import { DeadLetterReader } from '../../../src/console/dlq-reader.js';
import { DLQ_REASON_HEADER, DLQ_SOURCE_HEADER } from '../../../src/stream/dlq.js';
import { createTopic, deleteTopics, testKafka } from '../../helpers/kafka.js';
import { produceAll } from '../stream/support.js';

/** The console's DLQ page reads the last dead letters of each partition from the real broker. */
let kafka: Kafka;
const topics: string[] = [];

beforeAll(() => {
  kafka = testKafka('console-dlq-test');
});

afterAll(async () => {
  await deleteTopics(kafka, topics).catch(() => undefined);
});

function envelope(i: number): { key: string; value: string; headers: Record<string, string> } {
  return {
    key: `in/0/${i}`,
    value: JSON.stringify({
      type: 'gensemble.DeadLetter',
      version: 1,
      reason: i % 2 === 0 ? 'TRUNCATED' : 'NON_FINITE',
      errorCode: 'DECODE_ERROR',
      error: `record ${i} <b>bad</b>`,
      field: null,
      kind: 'frames',
      consumerGroup: 'g',
      source: { topic: 'in', partition: 0, offset: String(i), timestamp: '0', key: null },
      value: null,
      valueLength: i,
      headers: {},
      deadLetteredAt: new Date().toISOString(),
    }),
    headers: { [DLQ_REASON_HEADER]: 'x', [DLQ_SOURCE_HEADER]: `in/0/${i}` },
  };
}

describe('DeadLetterReader', () => {
  it('returns the last N per partition, newest first, and says when the topic does not exist', async () => {
    const topic = await createTopic(kafka, { prefix: 'console-dlq', partitions: 2 });
    topics.push(topic);
    await produceAll(
      kafka,
      topic,
      Array.from({ length: 30 }, (_, i) => ({ ...envelope(i), partition: i % 2 })),
    );
    const reader = new DeadLetterReader({ kafka, topic, perPartition: 5, timeoutMs: 20_000 });
    const report = await reader.recent();
    expect(report.note).toBeNull();
    expect(report.rows).toHaveLength(10);
    // The last 5 of each partition: offsets 10..14 of partition 0 (records 20..28 even) and 1.
    expect(report.rows.map((r) => Number(r.source.split('/')[2])).sort((a, b) => a - b)).toEqual([
      20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
    ]);
    expect(new Set(report.rows.map((r) => r.reason))).toEqual(new Set(['TRUNCATED', 'NON_FINITE']));
    expect(await reader.recent()).toBe(report); // cached
    const missing = await new DeadLetterReader({ kafka, topic: `${topic}-missing` }).recent();
    expect(missing.rows).toEqual([]);
    expect(missing.note).toMatch(/does not exist/);
  });
});
