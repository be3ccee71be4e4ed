/**
 * The start-up API-version check (src/stream/broker-check.ts) against the real broker of this run
 * (Kafka 4.x by default, 3.9 in CI's second run): it reads the broker's ApiVersions table through
 * kafkajs, finds every API `serve` needs accepted at the version kafkajs sends, and passes.
 */
import { describe, expect, it } from 'vitest';
import { testKafka } from '../../helpers/kafka.js';
import {
  assertBrokerApis,
  brokerApiVersions,
  checkApiVersions,
  kafkajsApis,
  SERVE_APIS,
} from '../../../src/stream/broker-check.js';

describe('broker API versions (real Kafka)', () => {
  it('every API serve needs is accepted at the version kafkajs sends; the check passes', async () => {
    const kafka = testKafka('broker-check');
    const tables = await brokerApiVersions(kafka);
    expect(tables.length).toBeGreaterThan(0);
    const apis = kafkajsApis();
    for (const { broker, versions } of tables) {
      const verdicts = checkApiVersions(versions, apis);
      const failing = verdicts.filter((v) => v.required && !v.ok).map((v) => v.name);
      expect(failing, broker).toEqual([]);
      expect(
        verdicts
          .filter((v) => v.required)
          .map((v) => v.name)
          .sort(),
      ).toEqual([...SERVE_APIS].sort());
      // kafkajs sends its newest Fetch version (11) to both Kafka 3.9 and 4.x.
      expect(verdicts.find((v) => v.name === 'Fetch')?.negotiated, broker).toBe(11);
    }
    const debug: unknown[] = [];
    await assertBrokerApis(kafka, {
      debug: (o: unknown) => void debug.push(o),
      warn: () => undefined,
    } as never);
    expect(debug).toHaveLength(tables.length);
  });
});
