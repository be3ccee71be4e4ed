/**
 * Start-up check that the Kafka broker(s) still accept the protocol API versions kafkajs 2.2.4 speaks.
 *
 * kafkajs asks each broker for its ApiVersions table and then sends, per API, the newest version both
 * sides know: min(newest version kafkajs implements, broker's max). It never compares that with the
 * broker's *lowest* accepted version, so a broker that dropped old versions (Kafka 4.x, KIP-896)
 * would only fail later, mid-stream, with UNSUPPORTED_VERSION on the first request of that API. This
 * module computes the same choice up front and fails `gensemble serve` at start with one error that
 * names every API the broker no longer accepts.
 *
 * The version tables come from kafkajs internals (the package exposes neither its request definitions
 * nor the ApiVersions response): `kafkajs/src/protocol/requests` for what kafkajs implements, and a
 * Cluster made through the client's private createCluster for what each broker accepts.
 */
import { createRequire } from 'node:module';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { StreamConfigError } from './errors.js';

/** One broker's ApiVersions table as kafkajs keeps it: api key -> accepted range. */
export type BrokerApiVersions = Record<number, { minVersion: number; maxVersion: number }>;

/** An API kafkajs implements: its name in kafkajs, the Kafka api key, the versions it can send. */
export interface ClientApi {
  name: string;
  apiKey: number;
  versions: number[];
}

export interface ApiVerdict extends ClientApi {
  /** The broker's accepted range, or null when it does not list the API at all. */
  broker: { minVersion: number; maxVersion: number } | null;
  /** The version kafkajs will send (its own choice rule), or null when it cannot send any. */
  negotiated: number | null;
  /** The broker accepts the version kafkajs will send. */
  ok: boolean;
  /** `serve` needs this API (otherwise only admin operations it never calls use it). */
  required: boolean;
}

/**
 * The APIs `gensemble serve` sends through kafkajs: metadata, the classic consumer group protocol,
 * fetch + offsets, the idempotent producer (scored output, dead letters, flags) and the dead-letter
 * topic's config lookup. kafkajs names FindCoordinator "GroupCoordinator".
 */
export const SERVE_APIS: readonly string[] = [
  'ApiVersions',
  'Metadata',
  'Produce',
  'Fetch',
  'ListOffsets',
  'OffsetCommit',
  'OffsetFetch',
  'GroupCoordinator',
  'JoinGroup',
  'SyncGroup',
  'Heartbeat',
  'LeaveGroup',
  'InitProducerId',
  'DescribeConfigs',
];

/** Kafka's own names where kafkajs uses older ones (for messages a broker operator recognises). */
const KAFKA_NAMES: Record<string, string> = { GroupCoordinator: 'FindCoordinator' };
export const kafkaApiName = (name: string): string => KAFKA_NAMES[name] ?? name;

const require = createRequire(import.meta.url);

/** Every API the installed kafkajs implements, with the versions it can send (ascending). */
export function kafkajsApis(): ClientApi[] {
  const apiKeys = require('kafkajs/src/protocol/requests/apiKeys.js') as Record<string, number>;
  const { requests } = require('kafkajs/src/protocol/requests/index.js') as {
    requests: Record<string, { versions: Array<string | number> } | undefined>;
  };
  const out: ClientApi[] = [];
  for (const [name, apiKey] of Object.entries(apiKeys)) {
    const versions = (requests[name]?.versions ?? []).map(Number).sort((a, b) => a - b);
    if (versions.length > 0) out.push({ name, apiKey, versions });
  }
  return out;
}

/**
 * Pure decision: for each API the client implements, the version kafkajs would send to a broker with
 * this table (kafkajs' rule: min(newest implemented, broker max)) and whether the broker accepts it.
 */
export function checkApiVersions(
  broker: BrokerApiVersions,
  apis: readonly ClientApi[],
  required: readonly string[] = SERVE_APIS,
): ApiVerdict[] {
  return apis.map((api) => {
    const range = broker[api.apiKey];
    const accepted = range && Number.isInteger(range.maxVersion) ? range : null;
    let negotiated: number | null = null;
    if (accepted && api.versions.length > 0) {
      const pick = Math.min(Math.max(...api.versions), accepted.maxVersion);
      negotiated = api.versions.includes(pick) ? pick : null;
    }
    const ok =
      accepted !== null &&
      negotiated !== null &&
      negotiated >= accepted.minVersion &&
      negotiated <= accepted.maxVersion;
    return {
      ...api,
      broker: accepted ? { minVersion: accepted.minVersion, maxVersion: accepted.maxVersion } : null,
      negotiated,
      ok,
      required: required.includes(api.name),
    };
  });
}

/** One line per failing API: what kafkajs can send, what the broker accepts. */
export function describeUnsupported(verdicts: readonly ApiVerdict[]): string {
  return verdicts
    .filter((v) => !v.ok)
    .map((v) => {
      const ours = `kafkajs sends v${Math.min(...v.versions)}-v${Math.max(...v.versions)}`;
      const theirs = v.broker
        ? `broker accepts v${v.broker.minVersion}-v${v.broker.maxVersion}`
        : 'broker does not offer it';
      return `${kafkaApiName(v.name)} (api key ${v.apiKey}: ${ours}, ${theirs})`;
    })
    .join('; ');
}

/** Thrown at start-up when a broker no longer accepts an API version `serve` needs. */
export class BrokerApiVersionError extends StreamConfigError {
  constructor(
    message: string,
    readonly unsupported: Array<{ broker: string; apis: string[] }>,
  ) {
    super(message);
  }
}

interface InternalBroker {
  versions: BrokerApiVersions | null;
  connect(): Promise<void>;
}
interface InternalCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  refreshMetadata(): Promise<void>;
  getNodeIds(): number[];
  findBroker(o: { nodeId: number }): Promise<InternalBroker>;
  brokerPool: {
    versions: BrokerApiVersions | null;
    metadata?: { brokers?: Array<{ nodeId: number; host: string; port: number }> };
  };
}

/**
 * The ApiVersions table of every broker in the cluster (seed broker first, then each node from the
 * metadata), read through a short-lived kafkajs Cluster of this client.
 */
export async function brokerApiVersions(
  kafka: Kafka,
): Promise<Array<{ broker: string; versions: BrokerApiVersions }>> {
  const create = Object.getOwnPropertySymbols(kafka).find(
    (s) => s.description === 'private:Kafka:createCluster',
  );
  const factory = create ? (kafka as unknown as Record<symbol, unknown>)[create] : undefined;
  if (typeof factory !== 'function') {
    throw new Error(
      'this kafkajs version does not expose createCluster; cannot read the broker API versions',
    );
  }
  const cluster = (factory as (o: object) => InternalCluster)({});
  try {
    await cluster.connect();
    const seed = cluster.brokerPool.versions;
    await cluster.refreshMetadata();
    const hosts = new Map(
      (cluster.brokerPool.metadata?.brokers ?? []).map((b) => [b.nodeId, `${b.host}:${b.port}`]),
    );
    const nodes: Array<{ broker: string; versions: BrokerApiVersions }> = [];
    for (const nodeId of cluster.getNodeIds()) {
      const b = await cluster.findBroker({ nodeId });
      if (b.versions)
        nodes.push({ broker: `node ${nodeId} (${hosts.get(nodeId) ?? '?'})`, versions: b.versions });
    }
    // The seed broker is one of the nodes; it counts on its own only when the metadata listed none.
    return nodes.length > 0 ? nodes : seed ? [{ broker: 'seed broker', versions: seed }] : [];
  } finally {
    await cluster.disconnect().catch(() => undefined);
  }
}

/**
 * Fails (BrokerApiVersionError, one message) when any broker no longer accepts a version of an API
 * `serve` needs that kafkajs can send; warns about APIs only admin operations use; logs the negotiated
 * versions at debug.
 */
export async function assertBrokerApis(
  kafka: Kafka,
  logger: Pick<Logger, 'debug' | 'warn'>,
  o: { required?: readonly string[]; apis?: readonly ClientApi[] } = {},
): Promise<void> {
  const apis = o.apis ?? kafkajsApis();
  const unsupported: Array<{ broker: string; apis: string[]; text: string }> = [];
  for (const { broker, versions } of await brokerApiVersions(kafka)) {
    const verdicts = checkApiVersions(versions, apis, o.required ?? SERVE_APIS);
    logger.debug(
      {
        broker,
        negotiated: Object.fromEntries(
          verdicts.map((v) => [
            kafkaApiName(v.name),
            v.negotiated === null ? null : v.ok ? v.negotiated : `v${v.negotiated} refused`,
          ]),
        ),
      },
      'Kafka API versions negotiated by kafkajs',
    );
    const optional = verdicts.filter((v) => !v.ok && !v.required);
    if (optional.length > 0) {
      logger.warn(
        { broker },
        `broker does not accept kafkajs' versions of APIs serve does not use: ${describeUnsupported(optional)}`,
      );
    }
    const bad = verdicts.filter((v) => !v.ok && v.required);
    if (bad.length > 0)
      unsupported.push({
        broker,
        apis: bad.map((v) => kafkaApiName(v.name)),
        text: describeUnsupported(bad),
      });
  }
  if (unsupported.length > 0) {
    throw new BrokerApiVersionError(
      `the Kafka broker no longer accepts protocol versions that kafkajs needs: ${unsupported
        .map((u) => `${u.broker}: ${u.text}`)
        .join(' | ')}; use a broker that still accepts them (scripts/kafka: KAFKA_VERSION=3.9)`,
      unsupported.map(({ broker, apis: names }) => ({ broker, apis: names })),
    );
  }
}
