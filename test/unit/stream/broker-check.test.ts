import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import {
  assertBrokerApis,
  BrokerApiVersionError,
  checkApiVersions,
  describeUnsupported,
  kafkajsApis,
  SERVE_APIS,
  type BrokerApiVersions,
} from '../../../src/stream/broker-check.js';

/** Tables built from [min, max] pairs by api key. */
const table = (t: Record<number, [number, number]>): BrokerApiVersions =>
  Object.fromEntries(
    Object.entries(t).map(([k, [minVersion, maxVersion]]) => [k, { minVersion, maxVersion }]),
  );

// ApiVersions answers of the real brokers (scripts/kafka), the APIs kafkajs 2.2.4 implements or knows.
const KAFKA_3_9_2 = table({
  0: [0, 11], 1: [0, 17], 2: [0, 9], 3: [0, 12], 8: [0, 9], 9: [0, 9], 10: [0, 6], 11: [0, 9], 12: [0, 4],
  13: [0, 5], 14: [0, 5], 15: [0, 5], 16: [0, 5], 17: [0, 1], 18: [0, 4], 19: [0, 7], 20: [0, 6], 21: [0, 2],
  22: [0, 5], 24: [0, 5], 25: [0, 4], 26: [0, 4], 28: [0, 4], 29: [0, 3], 30: [0, 3], 31: [0, 3], 32: [0, 4],
  33: [0, 2], 36: [0, 2], 37: [0, 3], 42: [0, 2], 45: [0, 0], 46: [0, 0],
}); // prettier-ignore
const KAFKA_4_4_0 = table({
  0: [0, 13], 1: [4, 18], 2: [1, 11], 3: [0, 13], 8: [2, 10], 9: [1, 10], 10: [0, 6], 11: [0, 9], 12: [0, 4],
  13: [0, 5], 14: [0, 5], 15: [0, 6], 16: [0, 5], 17: [0, 1], 18: [0, 5], 19: [2, 7], 20: [1, 6], 21: [0, 2],
  22: [0, 5], 24: [0, 5], 25: [0, 4], 26: [0, 5], 28: [0, 6], 29: [1, 3], 30: [1, 3], 31: [1, 3], 32: [1, 4],
  33: [0, 2], 36: [0, 2], 37: [0, 3], 42: [0, 3], 45: [0, 1], 46: [0, 0],
}); // prettier-ignore

const apis = kafkajsApis();
const byName = (verdicts: ReturnType<typeof checkApiVersions>) => new Map(verdicts.map((v) => [v.name, v]));

describe('kafkajsApis', () => {
  it('lists the versions kafkajs 2.2.4 implements, without the APIs it does not', () => {
    const m = new Map(apis.map((a) => [a.name, a]));
    expect(m.get('Fetch')).toEqual({
      name: 'Fetch',
      apiKey: 1,
      versions: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
    });
    expect(m.get('Produce')?.versions).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(m.get('OffsetFetch')?.versions).toEqual([1, 2, 3, 4]);
    expect(m.get('GroupCoordinator')?.apiKey).toBe(10);
    expect(m.has('LeaderAndIsr')).toBe(false);
    expect(m.has('OffsetForLeaderEpoch')).toBe(false);
    for (const name of SERVE_APIS) expect(m.has(name), name).toBe(true);
  });
});

describe('checkApiVersions', () => {
  it('Kafka 3.9.2: every API accepted at the newest version kafkajs implements', () => {
    const v = checkApiVersions(KAFKA_3_9_2, apis);
    expect(v.filter((x) => !x.ok)).toEqual([]);
    const m = byName(v);
    expect(m.get('Fetch')?.negotiated).toBe(11);
    expect(m.get('Produce')?.negotiated).toBe(7);
    expect(m.get('ListOffsets')?.negotiated).toBe(3);
    expect(m.get('ApiVersions')?.negotiated).toBe(2);
  });

  it('Kafka 4.4.0 (old versions removed, KIP-896): still every API accepted', () => {
    const v = checkApiVersions(KAFKA_4_4_0, apis);
    expect(v.filter((x) => !x.ok)).toEqual([]);
    const m = byName(v);
    expect(m.get('Fetch')).toMatchObject({
      negotiated: 11,
      broker: { minVersion: 4, maxVersion: 18 },
      required: true,
    });
    expect(m.get('OffsetCommit')).toMatchObject({ negotiated: 5, broker: { minVersion: 2, maxVersion: 10 } });
    expect(m.get('DescribeAcls')).toMatchObject({ negotiated: 1, ok: true, required: false });
  });

  it('flags an API whose lowest accepted version is above what kafkajs implements, or that is missing', () => {
    const broker = table({ ...Object.fromEntries(Object.entries(KAFKA_4_4_0).map(([k, r]) => [k, [r.minVersion, r.maxVersion]])), 1: [12, 18], 8: [6, 10], 29: [2, 3] }); // prettier-ignore
    delete broker[2];
    const v = checkApiVersions(broker, apis);
    const bad = v.filter((x) => !x.ok);
    expect(bad.map((x) => [x.name, x.required])).toEqual([
      ['Fetch', true],
      ['ListOffsets', true],
      ['OffsetCommit', true],
      ['DescribeAcls', false],
    ]);
    expect(byName(v).get('Fetch')).toMatchObject({ negotiated: 11, ok: false });
    expect(byName(v).get('ListOffsets')).toMatchObject({ broker: null, negotiated: null, ok: false });
    expect(describeUnsupported(bad.slice(0, 2))).toBe(
      'Fetch (api key 1: kafkajs sends v0-v11, broker accepts v12-v18); ListOffsets (api key 2: kafkajs sends v0-v3, broker does not offer it)',
    );
  });

  it('flags a broker maximum below the versions kafkajs implements (no common version)', () => {
    const v = byName(checkApiVersions(table({ 9: [0, 0], 10: [0, 0] }), apis));
    expect(v.get('OffsetFetch')).toMatchObject({ negotiated: null, ok: false });
    expect(v.get('GroupCoordinator')).toMatchObject({ negotiated: 0, ok: true });
  });

  it('uses Kafka names in messages (FindCoordinator, not kafkajs GroupCoordinator)', () => {
    const v = checkApiVersions(table({ 10: [3, 6] }), apis).filter((x) => x.name === 'GroupCoordinator');
    expect(describeUnsupported(v)).toBe(
      'FindCoordinator (api key 10: kafkajs sends v0-v2, broker accepts v3-v6)',
    );
  });
});

/** A kafkajs-shaped client whose private createCluster answers with fixed tables per node. */
function fakeKafka(nodes: BrokerApiVersions[]): Kafka {
  const sym = Symbol('private:Kafka:createCluster');
  return {
    [sym]: () => ({
      brokerPool: {
        versions: nodes[0],
        metadata: { brokers: nodes.map((_, i) => ({ nodeId: i + 1, host: 'h', port: 9000 + i })) },
      },
      connect: async () => undefined,
      disconnect: async () => undefined,
      refreshMetadata: async () => undefined,
      getNodeIds: () => nodes.map((_, i) => i + 1),
      findBroker: async ({ nodeId }: { nodeId: number }) => ({ versions: nodes[nodeId - 1] }),
    }),
  } as unknown as Kafka;
}

function recordingLogger() {
  const lines: Array<{ level: string; obj: unknown; msg: string }> = [];
  const rec = (level: string) => (obj: unknown, msg: string) => void lines.push({ level, obj, msg });
  return { lines, logger: { debug: rec('debug'), warn: rec('warn') } as never };
}

describe('assertBrokerApis', () => {
  it('passes on a Kafka 4.4.0 broker and logs the negotiated versions at debug', async () => {
    const { lines, logger } = recordingLogger();
    await assertBrokerApis(fakeKafka([KAFKA_4_4_0]), logger);
    expect(lines.map((l) => l.level)).toEqual(['debug']);
    expect(lines[0]!.obj).toMatchObject({
      broker: 'node 1 (h:9000)',
      negotiated: { Fetch: 11, FindCoordinator: 2 },
    });
  });

  it('throws ONE error naming every API any broker no longer accepts', async () => {
    const { lines, logger } = recordingLogger();
    const bad = {
      ...KAFKA_4_4_0,
      1: { minVersion: 12, maxVersion: 18 },
      9: { minVersion: 5, maxVersion: 10 },
    };
    const err = await assertBrokerApis(fakeKafka([KAFKA_4_4_0, bad]), logger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BrokerApiVersionError);
    const e = err as BrokerApiVersionError;
    expect(e.code).toBe('STREAM_CONFIG_INVALID');
    expect(e.unsupported).toEqual([{ broker: 'node 2 (h:9001)', apis: ['Fetch', 'OffsetFetch'] }]);
    expect(e.message).toMatch(
      /no longer accepts protocol versions that kafkajs needs: node 2 \(h:9001\): Fetch .*; OffsetFetch/,
    );
    expect(lines.filter((l) => l.level === 'warn')).toEqual([]);
  });

  it('only warns about APIs serve does not use', async () => {
    const { lines, logger } = recordingLogger();
    await assertBrokerApis(fakeKafka([{ ...KAFKA_4_4_0, 29: { minVersion: 2, maxVersion: 3 } }]), logger);
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.msg)).toEqual([
      "broker does not accept kafkajs' versions of APIs serve does not use: DescribeAcls (api key 29: kafkajs sends v0-v1, broker accepts v2-v3)",
    ]);
  });
});
