/**
 * A scoring consumer for any input kind: the kind's codec (single-object, plus the Confluent wire
 * format when a schema registry is configured, told apart per record by the magic byte) and the
 * generic {@link ScoringConsumer}. consumers/*.ts are thin wrappers over this for the built-in kinds;
 * `gensemble serve` builds one per served kind from the kind registry.
 */
import type { Kafka, Producer } from 'kafkajs';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { KindDefinition } from '../kinds/types.js';
import type {
  RecordCodec,
  RecordSpec,
  SingleObjectCodec,
  SingleObjectCodecOptions,
} from '../schemas/codec.js';
import { ConfluentCodec, FramingCodec, type SchemaRegistryClient } from '../schemas/confluent.js';
import { ScoringConsumer, type ScoringConsumerOptions } from './consumer.js';
import { StreamConfigError, describeError } from './errors.js';
import type { StreamMetrics } from './metrics.js';
import type { ModelSource } from './model-source.js';

export interface ConsumerDeps {
  kafka: Kafka;
  db: Knex;
  models: ModelSource;
  logger: Logger;
  metrics?: StreamMetrics;
  /** Input topic. */
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
      'kafka' | 'db' | 'topic' | 'groupId' | 'dlqTopic' | 'kind' | 'codec' | 'models' | 'logger' | 'metrics'
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

/** The scoring consumer of one kind. Throws StreamConfigError when the current model does not fit it. */
export function createKindConsumer<T>(
  kind: KindDefinition<T>,
  o: ConsumerDeps & { codec?: RecordCodec<T> },
): ScoringConsumer<T> {
  try {
    kind.bind(o.models.current.manifest);
  } catch (e) {
    throw new StreamConfigError(`the ${kind.name} consumer: ${describeError(e).message}`, e);
  }
  return new ScoringConsumer<T>({
    ...o.tuning,
    kafka: o.kafka,
    db: o.db,
    topic: o.topic,
    groupId: groupFor(o.groupId, kind.name),
    dlqTopic: o.dlqTopic,
    kind,
    codec: o.codec ?? consumerCodec(kind.record, kind.codec(o.codecOptions), o.schemaRegistry),
    models: o.models,
    logger: o.logger,
    ...(o.metrics ? { metrics: o.metrics } : {}),
    ...(o.dlqProducer ? { dlqProducer: o.dlqProducer } : {}),
    ...(o.flagsTopic ? { flagsTopic: o.flagsTopic } : {}),
  });
}
