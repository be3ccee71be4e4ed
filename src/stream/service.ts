/**
 * Everything `gensemble serve` runs, as one object that tests and benchmarks can start in-process:
 * PostgreSQL pool, kafkajs client, a shared idempotent DLQ producer, one {@link ModelSource} and one
 * {@link ScoringConsumer} per input kind, the metrics registry and (optionally) the HTTP server.
 */
import type { Producer } from 'kafkajs';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Env } from '../config.js';
import { createKnex, knexOptionsFromEnv } from '../store/knex.js';
import { ModelRegistry } from '../store/model-registry.js';
import { redactDatabaseUrl } from '../store/db-url.js';
import { createKindConsumer, type ConsumerDeps } from './kind-consumer.js';
import { KindRegistry } from '../kinds/registry.js';
import { loadKindRegistry } from '../kinds/load.js';
import { startHttpServer, type RunningHttpServer } from '../http/server.js';
import type { ScoringConsumer } from './consumer.js';
import { StreamConfigError, describeError } from './errors.js';
import { createKafka, kafkaLogLevel } from './kafka.js';
import { assertBrokerApis } from './broker-check.js';
import { createStreamMetrics, type StreamMetrics } from './metrics.js';
import { ModelSource } from './model-source.js';
import type avro from 'avsc';
import { WriterSchemaTable, fingerprintHex } from '../store/writer-schemas.js';
import type { SingleObjectCodecOptions } from '../schemas/codec.js';
import { createSchemaRegistry } from '../schemas/confluent.js';
import { checkConsoleToken, startConsole, type RunningConsole } from '../console/server.js';
import { DeadLetterReader } from '../console/dlq-reader.js';

export interface StreamServiceOptions {
  env: Env;
  /** Names of the kinds to consume (each in the kind registry). */
  kinds: readonly string[];
  /** The kind registry (default: the built-in kinds plus those declared in KINDS_DIR). */
  kindRegistry?: KindRegistry;
  /** Checkpoint directory per kind given on the command line: used as is (no registry lookup). */
  modelDirs?: Readonly<Record<string, string>>;
  logger: Logger;
  metrics?: StreamMetrics;
  /** Start the HTTP server (default true). */
  http?: boolean;
  /**
   * Start the analyst console: true = on (CONSOLE_TOKEN required), false = off, undefined = the
   * CONSOLE variable (auto: on when CONSOLE_TOKEN is set).
   */
  console?: boolean;
  /** Extra consumer tuning (tests, benchmarks). */
  tuning?: ConsumerDeps['tuning'];
  /** Called once when a consumer stops on a non-retriable error. */
  onFatal?: (e: Error) => void;
}

/**
 * The `partitions` readiness check: true, or a line naming every stalled partition with how long it
 * has made no progress and why.
 */
export function partitionsReadiness(
  consumers: readonly Pick<ScoringConsumer<unknown>, 'stalledPartitions'>[],
  now = Date.now(),
): true | string {
  const stalled = consumers.flatMap((c) => c.stalledPartitions(now));
  if (stalled.length === 0) return true;
  return (
    'stalled: ' +
    stalled
      .map((s) => `${s.kind} ${s.topic}[${s.partition}] for ${Math.round(s.sinceMs / 1000)} s (${s.reason})`)
      .join('; ')
  );
}

export class StreamService {
  readonly consumers: ScoringConsumer<unknown>[] = [];
  readonly models: ModelSource[] = [];
  http: RunningHttpServer | null = null;
  /** The analyst console, when it runs. */
  console: RunningConsole | null = null;
  private producer: Producer | null = null;
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly db: Knex,
    readonly metrics: StreamMetrics,
    private readonly o: StreamServiceOptions,
  ) {}

  static async start(o: StreamServiceOptions): Promise<StreamService> {
    const env = o.env;
    if (o.kinds.length === 0) throw new StreamConfigError('no input kinds to serve');
    const log = o.logger;
    const kindRegistry = o.kindRegistry ?? (await loadKindRegistry(env.KINDS_DIR));
    // Every kind is known before anything connects (one clear line otherwise).
    const kinds = o.kinds.map((k) => {
      try {
        return kindRegistry.get(k);
      } catch (e) {
        throw new StreamConfigError(describeError(e).message, e);
      }
    });
    const consoleMode = o.console === true ? 'on' : o.console === false ? 'off' : env.CONSOLE;
    // Refuse to start (before connecting to anything) when the console is asked for without a token.
    const consoleOn = consoleMode === 'on' || (consoleMode === 'auto' && env.CONSOLE_TOKEN !== '');
    if (consoleOn) checkConsoleToken(env.CONSOLE_TOKEN);
    else if (consoleMode === 'auto')
      log.warn('analyst console off: set CONSOLE_TOKEN (at least 16 characters) to turn it on');
    const db = createKnex(
      knexOptionsFromEnv(env, {
        pool: { min: 0, max: 4 + 2 * env.STREAM_PARTITIONS_CONCURRENCY },
        applicationName: 'gensemble-serve',
      }),
    );
    const svc = new StreamService(db, o.metrics ?? createStreamMetrics(), o);
    try {
      log.info(
        {
          kinds: o.kinds,
          database: redactDatabaseUrl(env.DATABASE_URL),
          schema: env.DATABASE_SCHEMA || '(default)',
          brokers: env.KAFKA_BROKERS,
          dlqTopic: env.TOPIC_DLQ,
          flagsTopic: env.TOPIC_FLAGS || '(off)',
          wireFormats: env.SCHEMA_REGISTRY_URL !== '' ? 'single-object + confluent' : 'single-object',
        },
        'starting stream service',
      );
      try {
        await db.raw('select 1 from stream_offsets limit 1');
      } catch (e) {
        throw new StreamConfigError(
          `PostgreSQL is not usable (${describeError(e).message}); is DATABASE_URL right and the database migrated (npm run migrate)?`,
          e,
        );
      }
      const kafka = createKafka({
        clientId: env.KAFKA_CLIENT_ID,
        brokers: env.KAFKA_BROKERS.split(','),
        logger: log,
        level: kafkaLogLevel(process.env.KAFKAJS_LOG_LEVEL),
      });
      // One clear error now if the broker dropped a protocol version kafkajs needs (not mid-stream).
      await assertBrokerApis(kafka, log);
      svc.producer = kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        allowAutoTopicCreation: true,
      });
      await svc.producer.connect();
      // One setting for both sides: with SCHEMA_REGISTRY_URL `replay` writes the Confluent wire
      // format, and the consumers decode it (next to single-object records, by the magic byte).
      const schemaRegistry =
        env.SCHEMA_REGISTRY_URL !== '' ? createSchemaRegistry(env.SCHEMA_REGISTRY_URL) : undefined;
      const registry = new ModelRegistry(db);
      const writerSchemas = new WriterSchemaTable(db);
      for (const kindDef of kinds) {
        const kind = kindDef.name;
        const explicit = o.modelDirs?.[kind];
        const defaultDir = kindDef.modelDir(env);
        const models = await ModelSource.open({
          kind,
          ...(explicit !== undefined ? { dir: explicit } : defaultDir !== '' ? { dir: defaultDir } : {}),
          ...(explicit === undefined ? { registry } : {}),
          accept: (m) => void kindDef.bind(m),
          scorer: {
            ...(env.SCORE_CHUNK > 0 ? { chunkSize: env.SCORE_CHUNK } : {}),
            executionProvider: env.ORT_EXECUTION_PROVIDER,
            engine: env.SCORING_ENGINE,
            ...(env.ORT_THREADS > 0 ? { intraOpNumThreads: env.ORT_THREADS } : {}),
            warn: (m) => log.warn({ kind }, m),
          },
          reloadMs: env.MODEL_RELOAD_MS,
          logger: log,
          metrics: svc.metrics,
        });
        svc.models.push(models);
        const codecOptions: SingleObjectCodecOptions = {
          lookup: async (fps) =>
            (await writerSchemas.byFingerprints(kind, fps)).map((r) => r.schema as avro.Schema),
          lookupMissTtlMs: env.SCHEMA_LOOKUP_MISS_TTL_MS,
          onLookup: (e) =>
            e.ok
              ? log.info(
                  { kind, fingerprint: fingerprintHex(e.fingerprint) },
                  'registered writer schema loaded',
                )
              : log.warn(
                  { kind, fingerprint: fingerprintHex(e.fingerprint), err: e.error },
                  'registered writer schema does not resolve against the reader schema; its records are dead-lettered',
                ),
        };
        const deps: ConsumerDeps = {
          kafka,
          db,
          models,
          logger: log,
          metrics: svc.metrics,
          topic: kindDef.topic(env),
          dlqTopic: env.TOPIC_DLQ,
          groupId: env.KAFKA_GROUP_ID,
          dlqProducer: svc.producer,
          ...(env.TOPIC_FLAGS !== '' ? { flagsTopic: env.TOPIC_FLAGS } : {}),
          codecOptions,
          ...(schemaRegistry ? { schemaRegistry } : {}),
          tuning: {
            partitionsConsumedConcurrently: env.STREAM_PARTITIONS_CONCURRENCY,
            maxBytesPerPartition: env.STREAM_MAX_BYTES_PER_PARTITION,
            maxWaitTimeInMs: env.STREAM_MAX_WAIT_MS,
            retry: { maxMs: env.STREAM_RETRY_MAX_MS },
            stallMs: env.STREAM_STALL_MS,
            maxBatchMs: env.STREAM_MAX_BATCH_MS,
            dlqRetry: { maxAttempts: env.STREAM_DLQ_MAX_ATTEMPTS },
            ...(env.STREAM_DLQ_MAX_MESSAGE_BYTES > 0
              ? { dlqMaxMessageBytes: env.STREAM_DLQ_MAX_MESSAGE_BYTES }
              : {}),
            ...o.tuning,
          },
        };
        const c = createKindConsumer(kindDef, deps);
        c.on('fatal', (e) => o.onFatal?.(e));
        svc.consumers.push(c);
      }
      if (o.http ?? true) {
        svc.http = await startHttpServer({
          host: env.HTTP_HOST,
          port: env.HTTP_PORT,
          registry: svc.metrics.registry,
          logger: log,
          readiness: {
            consumers: () => {
              const waiting = svc.consumers.filter((c) => !c.ready).map((c) => c.kind);
              return waiting.length === 0 ? true : `not joined: ${waiting.join(', ')}`;
            },
            partitions: () => partitionsReadiness(svc.consumers),
            database: async () => {
              await db.raw('select 1');
              return true;
            },
          },
        });
      }
      if (consoleOn) {
        const dlq = new DeadLetterReader({ kafka, topic: env.TOPIC_DLQ });
        svc.console = await startConsole({
          host: env.CONSOLE_HOST,
          port: env.CONSOLE_PORT,
          token: env.CONSOLE_TOKEN,
          db,
          logger: log,
          kinds: o.kinds,
          dlqTopic: env.TOPIC_DLQ,
          deadLetters: () => dlq.recent(),
          lag: async () =>
            (await svc.metrics.consumerLag.get()).values.map((v) => ({
              kind: String(v.labels.kind ?? ''),
              topic: String(v.labels.topic ?? ''),
              partition: Number(v.labels.partition ?? -1),
              lag: v.value,
            })),
        });
      }
      for (const c of svc.consumers) await c.start();
      return svc;
    } catch (e) {
      await svc.stop().catch(() => undefined);
      throw e;
    }
  }

  /** Every consumer has joined its group. */
  get ready(): boolean {
    return this.consumers.length > 0 && this.consumers.every((c) => c.ready);
  }

  /** Finish the batches in progress, commit, leave the groups, close everything. Idempotent. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await Promise.allSettled(this.consumers.map((c) => c.stop()));
      await Promise.allSettled(this.models.map((m) => m.close()));
      if (this.producer) await this.producer.disconnect().catch(() => undefined);
      if (this.http) await this.http.close();
      if (this.console) await this.console.close();
      await this.db.destroy();
      this.o.logger.info('stream service stopped');
    })();
    return this.stopping;
  }
}
