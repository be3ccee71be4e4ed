import { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * Every environment variable gensemble reads, validated once at start-up. `.env.example` lists the
 * same variables; a test keeps the two in step. CLI flags override these values.
 */
const int = (def: number, min = 0, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max).default(def);

export const envSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .default('postgres://postgres@127.0.0.1:5432/test'),
  KAFKA_BROKERS: z
    .string()
    .regex(/^[^\s,]+:\d+(,[^\s,]+:\d+)*$/, 'must be host:port[,host:port...]')
    .default('127.0.0.1:9092'),
  KAFKA_CLIENT_ID: z.string().min(1).default('gensemble'),
  KAFKA_GROUP_ID: z.string().min(1).default('gensemble-scorer'),
  TOPIC_TRANSACTIONS: z.string().min(1).default('gensemble.transactions'),
  TOPIC_FRAMES: z.string().min(1).default('gensemble.frames'),
  TOPIC_DLQ: z.string().min(1).default('gensemble.dlq'),
  /** Optional topic where flags are also published (Avro `Flag`). Empty = off. */
  TOPIC_FLAGS: z.string().default(''),
  /** Confluent schema registry; when set, the Confluent wire format is used instead of single-object. */
  SCHEMA_REGISTRY_URL: z.union([z.literal(''), z.url()]).default(''),
  /** Checkpoint directory of the transactions model / frames model. */
  MODEL_TRANSACTIONS: z.string().default('models/transactions'),
  MODEL_FRAMES: z.string().default('models/frames'),
  /**
   * Directory of user-declared input kinds: one JSON declaration per kind (schema, id, features; see
   * the README). Missing directory = no user kinds; empty = none looked for.
   */
  KINDS_DIR: z.string().default('kinds'),
  GENSEMBLE_DATA_DIR: z.string().default('./data'),
  HTTP_HOST: z.string().default('127.0.0.1'),
  HTTP_PORT: int(9464, 0, 65535),
  /**
   * The analyst console of `gensemble serve`: on (refuses to start without CONSOLE_TOKEN), off, or
   * auto (on when CONSOLE_TOKEN is set, else off with a warning).
   */
  CONSOLE: z.enum(['auto', 'on', 'off']).default('auto'),
  /** Address and port of the console (loopback by default: expose it deliberately). */
  CONSOLE_HOST: z.string().default('127.0.0.1'),
  CONSOLE_PORT: int(9465, 0, 65535),
  /** The console's shared secret (no default credential; at least 16 characters). */
  CONSOLE_TOKEN: z.string().min(16, 'must have at least 16 characters').or(z.literal('')).default(''),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** onnxruntime execution provider: cpu, or cuda where its add-on is installed (falls back to cpu). */
  ORT_EXECUTION_PROVIDER: z.enum(['cpu', 'cuda']).default('cpu'),
  /** onnxruntime intra-op threads, also the native scorer's threads; 0 = the default (all cores). */
  ORT_THREADS: int(0, 0, 256),
  /**
   * Which implementation scores the VAE ensembles: auto (the fused native kernel where it is built and
   * fits the model: MLP, standard prior; else onnxruntime), native (fail at start when it cannot) or onnx.
   */
  SCORING_ENGINE: z.enum(['auto', 'onnx', 'native']).default('auto'),
  /** Largest batch handed to onnxruntime at once; 0 = the scorer's default, sized from the model (K·D). */
  SCORE_CHUNK: int(0, 0, 1 << 20),
  /** How often the consumer checks for a new active model version (ms). */
  MODEL_RELOAD_MS: int(5000, 100),
  /** PostgreSQL schema holding gensemble's tables (search_path); empty = the server's default. */
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_$]{0,62}$/, 'must be a plain SQL identifier')
    .or(z.literal(''))
    .default(''),
  /**
   * Partitions a consumer scores at the same time. Above 1, a partition whose batch is stuck (a
   * retry in progress) does not hold up the others.
   */
  STREAM_PARTITIONS_CONCURRENCY: int(4, 1, 64),
  /** Most bytes fetched per partition and request (larger = bigger batches). */
  STREAM_MAX_BYTES_PER_PARTITION: int(8 << 20, 1024, 1 << 30),
  /** Longest a fetch waits for data when a partition is idle (ms; bounds latency at low load). */
  STREAM_MAX_WAIT_MS: int(100, 0, 60_000),
  /** Upper bound of the retry backoff while PostgreSQL or the dead-letter topic is unavailable (ms). */
  STREAM_RETRY_MAX_MS: int(10_000, 100, 600_000),
  /** A partition with records to process and no committed batch for this long is reported stalled (/readyz, metric; ms). */
  STREAM_STALL_MS: int(60_000, 100, 86_400_000),
  /**
   * Most scoring time of one batch (ms): a fetched batch is cut to what the model scores in this time
   * and the rest is fetched again, so a slow model never holds a batch past the group's rebalance timeout.
   */
  STREAM_MAX_BATCH_MS: int(5_000, 50, 50_000),
  /** Message size limit of the dead-letter topic (bytes); 0 = read the topic's max.message.bytes at start. */
  STREAM_DLQ_MAX_MESSAGE_BYTES: int(0, 0, 1 << 30),
  /** Attempts to produce a dead-letter chunk while the topic is unavailable before the consumer stops (exit 1). */
  STREAM_DLQ_MAX_ATTEMPTS: int(30, 1, 1_000_000),
  /** A writer-schema fingerprint not found in writer_schemas is looked up again only after this long (ms). */
  SCHEMA_LOOKUP_MISS_TTL_MS: int(1000, 0, 3_600_000),
  /** How long `serve` waits for the batches in progress on SIGTERM/SIGINT before exiting anyway (ms). */
  SHUTDOWN_TIMEOUT_MS: int(30_000, 1000, 600_000),
});

export type Env = z.infer<typeof envSchema>;

/** Parse and validate the environment; throws ConfigError naming each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Env {
  const relevant: Record<string, string | undefined> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const v = env[key];
    // An empty string means "not set" for variables with defaults.
    if (v !== undefined && v !== '') relevant[key] = v;
  }
  const parsed = envSchema.safeParse(relevant);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid environment: ${lines.join('; ')}`);
  }
  return parsed.data;
}
