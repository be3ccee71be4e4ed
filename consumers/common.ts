/**
 * What every input kind's consumer factory needs: services, names and options shared by
 * consumers/transactions.ts and consumers/frames.ts (and `gensemble serve`).
 */
import type { Kafka, Producer } from 'kafkajs';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { StreamMetrics } from '../src/stream/metrics.js';
import type { ModelSource } from '../src/stream/model-source.js';
import type { ScoringConsumerOptions } from '../src/stream/consumer.js';
import type {
  RecordCodec,
  RecordSpec,
  SingleObjectCodec,
  SingleObjectCodecOptions,
} from '../src/schemas/codec.js';
import { ConfluentCodec, FramingCodec, type SchemaRegistryClient } from '../src/schemas/confluent.js';

export interface ConsumerDeps {
  kafka: Kafka;
  db: Knex;
  models: ModelSource;
  logger: Logger;
  metrics?: StreamMetrics;
  /** Input topic (default from the environment: TOPIC_TRANSACTIONS / TOPIC_FRAMES). */
  topic: string;
  dlqTopic: string;
  /** Group id prefix; each kind consumes in its own group `<groupId>.<kind>`. */
  groupId: string;
  dlqProducer?: Producer;
  /** Also publish flags on this topic (TOPIC_FLAGS; empty or unset: off). */
  flagsTopic?: string;
  /** Options of the kind's single-object codec (e.g. a lookup of writer schemas registered at run time). */
  codecOptions?: SingleObjectCodecOptions;
  /**
   * The Confluent schema registry (SCHEMA_REGISTRY_URL): with it, records in the Confluent wire format
   * are decoded too (writer schemas fetched by id); without it they are dead-lettered.
   */
  schemaRegistry?: SchemaRegistryClient;
  /** Extra consumer tuning (fetch sizes, retry, concurrency, event times). */
  tuning?: Partial<
    Omit<
      ScoringConsumerOptions<unknown>,
      'kafka' | 'db' | 'topic' | 'groupId' | 'dlqTopic' | 'spec' | 'models' | 'logger' | 'metrics'
    >
  >;
}

export function groupFor(prefix: string, kind: string): string {
  return `${prefix}.${kind}`;
}

/**
 * A consumer's codec: single-object records (0xC3 0x01) and, with a schema registry, Confluent ones
 * (0x00), told apart per record by the first byte, so one topic may carry both.
 */
export function consumerCodec<T>(
  spec: RecordSpec<T>,
  singleObject: SingleObjectCodec<T>,
  registry?: SchemaRegistryClient,
): RecordCodec<T> {
  return new FramingCodec(singleObject, registry ? ConfluentCodec.forDecoding(spec, registry) : null);
}
