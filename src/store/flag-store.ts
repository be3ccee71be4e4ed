/**
 * Flags and per-minute counters in PostgreSQL.
 *
 * Exactly-once per source record and consumer group: `writeBatch` runs in ONE transaction that
 *   1. locks the row of (consumer group, topic, partition) in stream_offsets and reads its high-water
 *      mark (last_offset) and the topic incarnation it belongs to (a newer incarnation — the topic
 *      was deleted and created again — starts from an empty mark),
 *   2. drops every record with offset <= last_offset (already accounted for by an earlier commit),
 *   3. inserts the flags of the rest (ON CONFLICT (consumer_group, source_topic, source_partition,
 *      source_incarnation, source_offset) DO NOTHING, a second guard),
 *   4. adds their scored / flagged / dead-lettered counts to the group's current-minute counters row,
 *   5. moves last_offset to the batch's highest offset, with the fingerprint of the record there.
 * Another consumer group (re-scoring the topic with a new model) has its own marks, flags and
 * counters: it skips nothing the first group did.
 * A batch redelivered after a crash between the DB commit and the Kafka offset commit therefore
 * changes nothing: neither flags nor counters are counted twice. This relies on Kafka's per-partition
 * order: the consumer writes a partition's records in offset order and never skips ahead.
 */
import { createHash } from 'node:crypto';
import type { Knex } from 'knex';
import { z } from 'zod';
import { StoreInputError } from './errors.js';

/**
 * A kind's name. Which kinds exist is the kind registry's business (src/kinds: built-in and
 * user-declared); the store checks the form only (the same as the table's CHECK constraint).
 */
export const KIND_NAME_PATTERN = /^[a-z][a-z0-9_]{0,39}$/;
export const kindName = z
  .string()
  .regex(KIND_NAME_PATTERN, 'must be a kind name (a-z first, then a-z, 0-9, _; at most 40)');
export type InputKind = string;

/**
 * What identifies the record at a partition's high-water mark: SHA-256 (hex, first 32 digits) of its
 * timestamp, key and value. A redelivered record has the same; the record at the same offset of a
 * topic deleted and created again (almost surely) does not.
 */
export function recordFingerprint(m: {
  timestamp?: string | null;
  key?: Buffer | null;
  value?: Buffer | null;
}): string {
  const h = createHash('sha256');
  h.update(String(m.timestamp ?? ''));
  h.update('\u0000');
  h.update(String(m.key?.length ?? -1));
  h.update('\u0000');
  if (m.key) h.update(m.key);
  h.update('\u0000');
  if (m.value) h.update(m.value);
  return h.digest('hex').slice(0, 32);
}

/** A Kafka offset as kafkajs gives it (string) or as a number / bigint. */
export type KafkaOffset = string | number | bigint;

/** The scores of one flagged record. */
export interface FlagFields {
  recordId: string;
  /** The thresholded score (the model's score_name; higher = more anomalous). */
  score: number;
  waic: number;
  logpMean: number;
  logpVar: number;
  rate: number;
  threshold: number;
  modelVersion: string;
  /** Event time of the record, ms since the epoch (or a Date); null when unknown. */
  eventTime: number | Date | null;
  /** Small JSON summary (e.g. amount, label, ood_kind); keep it to a few fields. */
  payload?: Record<string, unknown>;
  /** Which score `score` is (the model's score name), e.g. neg_logp. */
  scoreName?: string;
}

/** What happened to one record of a batch. */
export type BatchRecord =
  | { offset: KafkaOffset; outcome: 'scored' }
  | { offset: KafkaOffset; outcome: 'flagged'; flag: FlagFields }
  | { offset: KafkaOffset; outcome: 'dead_lettered' };

/** The records of one partition handled in one consumer batch. */
export interface PartitionBatch {
  topic: string;
  partition: number;
  kind: InputKind;
  records: readonly BatchRecord[];
  /**
   * The Kafka consumer group whose progress this is (default ''): each group has its own mark, flags
   * and counters, so a second group re-scoring the topic skips nothing.
   */
  consumerGroup?: string;
  /**
   * Which life of the topic the offsets belong to (default 0). The consumer bumps it when it finds
   * the topic deleted and created again (see ScoringConsumer): a higher incarnation starts from an
   * empty mark, and its flags do not collide with the old topic's at the same offsets.
   */
  incarnation?: number;
  /** Fingerprint of the record at the batch's highest offset (see `recordFingerprint`). */
  markFingerprint?: string | null;
  /** The flags are to be published on the flags topic: written with publish_pending (the outbox). */
  publish?: boolean;
}

/** A flag waiting to be published on the flags topic (see `pendingFlags`). */
export type PendingFlag = Omit<FlagRow, 'payload'> & { scoreName: string | null };

/** A partition's high-water mark for one consumer group. */
export interface PartitionMark {
  lastOffset: string;
  incarnation: number;
  /** Fingerprint of the record at lastOffset; null for marks written before it was kept. */
  fingerprint: string | null;
}

export interface WriteBatchResult {
  /** Flag rows inserted now. */
  inserted: number;
  /** Records dropped because an earlier commit already covered their offset. */
  skipped: number;
  /** What was added to the counters. */
  counted: { scored: number; flagged: number; deadLettered: number };
  /** The partition's high-water mark after this write (string, int64). */
  lastOffset: string;
}

export interface FlagRow {
  id: string;
  kind: InputKind;
  recordId: string;
  score: number;
  threshold: number;
  waic: number;
  logpMean: number;
  logpVar: number;
  rate: number;
  modelVersion: string;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: string;
  eventTime: Date | null;
  flaggedAt: Date;
  payload: Record<string, unknown>;
}

export interface FlagRateRow {
  minute: Date;
  kind: InputKind;
  scored: number;
  flagged: number;
  deadLettered: number;
  /** flagged / scored; null when nothing was scored in that minute. */
  flagRate: number | null;
}

export interface FlagStoreOptions {
  /** Flags per INSERT statement (default 10,000). */
  insertChunk?: number;
}

const MAX_LIMIT = 10_000;
const DURATION_RE = /^(\d{1,6})(s|m|h|d)$/;
const DURATION_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
/** Free-text filters: printable, no control characters. */
const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => ![...s].some(isControl), 'must not contain control characters');
function isControl(ch: string): boolean {
  const c = ch.charCodeAt(0);
  return c < 0x20 || c === 0x7f;
}
const numeric = z.union([
  z.number(),
  z
    .string()
    .trim()
    .regex(/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/, 'must be a number')
    .transform(Number),
]);

/** `since`: a Date, an ISO-8601 timestamp, or a duration back from now such as 15m, 2h, 7d. */
const sinceSchema = z.union([z.date(), z.string().trim().min(1).max(64)]).transform((v, ctx) => {
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) ctx.addIssue({ code: 'custom', message: 'invalid date' });
    return v;
  }
  const d = DURATION_RE.exec(v);
  if (d) return new Date(Date.now() - Number(d[1]) * DURATION_MS[d[2] as keyof typeof DURATION_MS]);
  if (!/^\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v)) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO-8601 time or a duration like 15m, 2h, 7d' });
    return z.NEVER;
  }
  const t = new Date(v);
  if (Number.isNaN(t.getTime())) {
    ctx.addIssue({ code: 'custom', message: 'is not a valid time' });
    return z.NEVER;
  }
  return t;
});

export const flagQuerySchema = z
  .object({
    since: sinceSchema.optional(),
    kind: kindName.optional(),
    minScore: numeric.pipe(z.number().finite()).optional(),
    limit: numeric.pipe(z.number().int().min(1).max(MAX_LIMIT)).default(100),
    modelVersion: text(200).optional(),
    topic: text(249).optional(),
  })
  .strict();

/** Filters of `queryFlags`, as a user (or the CLI) gives them. */
export type FlagQuery = z.input<typeof flagQuerySchema>;

export const flagRateQuerySchema = z
  .object({
    since: sinceSchema.optional(),
    kind: kindName.optional(),
    limit: numeric.pipe(z.number().int().min(1).max(MAX_LIMIT)).default(60),
  })
  .strict();
export type FlagRateQuery = z.input<typeof flagRateQuerySchema>;

function parseInput<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input ?? {});
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = issue.path.join('.') || undefined;
    throw new StoreInputError(
      r.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; '),
      field,
    );
  }
  return r.data;
}

function toOffset(o: KafkaOffset): bigint {
  let b: bigint;
  try {
    b = typeof o === 'bigint' ? o : BigInt(o);
  } catch {
    throw new StoreInputError(`offset ${JSON.stringify(String(o))} is not an integer`, 'offset');
  }
  if (b < 0n || b > 0x7fffffffffffffffn) {
    throw new StoreInputError(`offset ${b} is outside 0..2^63-1`, 'offset');
  }
  return b;
}

function toDate(t: number | Date | null): Date | null {
  if (t === null) return null;
  const d = t instanceof Date ? t : new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

interface FlagDbRow {
  id: string;
  kind: InputKind;
  record_id: string;
  score: number;
  threshold: number;
  waic: number;
  logp_mean: number;
  logp_var: number;
  rate: number;
  model_version: string;
  source_topic: string;
  source_partition: number;
  source_offset: string;
  event_time: Date | null;
  flagged_at: Date;
  payload: Record<string, unknown>;
}

const FLAG_COLUMNS = [
  'id',
  'kind',
  'record_id',
  'score',
  'threshold',
  'waic',
  'logp_mean',
  'logp_var',
  'rate',
  'model_version',
  'source_topic',
  'source_partition',
  'source_offset',
  'event_time',
  'flagged_at',
  'payload',
] as const;

function fromDb(r: FlagDbRow): FlagRow {
  return {
    id: String(r.id),
    kind: r.kind,
    recordId: r.record_id,
    score: r.score,
    threshold: r.threshold,
    waic: r.waic,
    logpMean: r.logp_mean,
    logpVar: r.logp_var,
    rate: r.rate,
    modelVersion: r.model_version,
    sourceTopic: r.source_topic,
    sourcePartition: r.source_partition,
    sourceOffset: String(r.source_offset),
    eventTime: r.event_time,
    flaggedAt: r.flagged_at,
    payload: r.payload,
  };
}

/** The flags of one batch, column by column (bind parameters of the unnest INSERT). */
class FlagColumns {
  offset: string[] = [];
  recordId: string[] = [];
  score: number[] = [];
  waic: number[] = [];
  logpMean: number[] = [];
  logpVar: number[] = [];
  rate: number[] = [];
  threshold: number[] = [];
  modelVersion: string[] = [];
  /** ISO-8601 strings (or null), cast to timestamptz by PostgreSQL. */
  eventTime: (string | null)[] = [];
  payload: string[] = [];
  scoreName: (string | null)[] = [];

  get length(): number {
    return this.offset.length;
  }

  push(off: bigint, f: FlagFields): void {
    this.offset.push(off.toString());
    this.recordId.push(f.recordId);
    this.score.push(f.score);
    this.waic.push(f.waic);
    this.logpMean.push(f.logpMean);
    this.logpVar.push(f.logpVar);
    this.rate.push(f.rate);
    this.threshold.push(f.threshold);
    this.modelVersion.push(f.modelVersion);
    this.eventTime.push(toDate(f.eventTime)?.toISOString() ?? null);
    this.payload.push(JSON.stringify(f.payload ?? {}));
    this.scoreName.push(f.scoreName ?? null);
  }

  slice(a: number, b: number): FlagColumns {
    const c = new FlagColumns();
    for (const k of Object.keys(this) as (keyof FlagColumns)[]) {
      (c as unknown as Record<string, unknown[]>)[k] = (this as unknown as Record<string, unknown[]>)[
        k
      ].slice(a, b);
    }
    return c;
  }
}

export class FlagStore {
  private readonly insertChunk: number;

  constructor(
    private readonly db: Knex,
    opts: FlagStoreOptions = {},
  ) {
    this.insertChunk = Math.max(1, Math.min(opts.insertChunk ?? 10_000, 100_000));
  }

  /**
   * Writes one partition batch exactly once (see the module comment). Runs in `trx` when given
   * (the caller commits), else in its own transaction. Throws StoreInputError for bad offsets or
   * topic/partition, before touching the database.
   */
  async writeBatch(batch: PartitionBatch, trx?: Knex.Transaction): Promise<WriteBatchResult> {
    if (typeof batch.topic !== 'string' || batch.topic.length === 0) {
      throw new StoreInputError('topic must be a non-empty string', 'topic');
    }
    if (!Number.isInteger(batch.partition) || batch.partition < 0) {
      throw new StoreInputError(`partition ${batch.partition} must be an integer >= 0`, 'partition');
    }
    if (!KIND_NAME_PATTERN.test(batch.kind)) {
      throw new StoreInputError(`kind "${batch.kind}" is not a kind name`, 'kind');
    }
    const offsets = batch.records.map((r) => toOffset(r.offset));
    if (trx) return this.writeIn(trx, batch, offsets);
    return this.db.transaction((t) => this.writeIn(t, batch, offsets));
  }

  private async writeIn(
    trx: Knex.Transaction,
    batch: PartitionBatch,
    offsets: bigint[],
  ): Promise<WriteBatchResult> {
    const group = batch.consumerGroup ?? '';
    const incarnation = batch.incarnation ?? 0;
    if (group !== '') {
      // A mark written before marks were kept per group (consumer_group ''): the first group that
      // writes this partition after the upgrade takes it over (the deployment's one group, usually).
      await trx.raw(
        `UPDATE stream_offsets SET consumer_group = ?
          WHERE consumer_group = '' AND source_topic = ? AND source_partition = ?
            AND NOT EXISTS (SELECT 1 FROM stream_offsets o WHERE o.consumer_group = ?
                               AND o.source_topic = ? AND o.source_partition = ?)`,
        [group, batch.topic, batch.partition, group, batch.topic, batch.partition],
      );
    }
    // Lock (creating if needed) the partition's high-water mark row and read it.
    const hwmRes = await trx.raw<{ rows: { last_offset: string; incarnation: number }[] }>(
      `INSERT INTO stream_offsets (consumer_group, source_topic, source_partition, last_offset, incarnation)
       VALUES (?, ?, ?, -1, ?)
       ON CONFLICT (consumer_group, source_topic, source_partition)
       DO UPDATE SET last_offset = stream_offsets.last_offset
       RETURNING last_offset, incarnation`,
      [group, batch.topic, batch.partition, incarnation],
    );
    const rowIncarnation = hwmRes.rows[0].incarnation;
    // A newer incarnation of the topic starts from nothing; a batch of an older one (a consumer that
    // has not noticed the recreation, e.g. a zombie member) changes nothing.
    const hwm =
      incarnation > rowIncarnation
        ? -1n
        : incarnation < rowIncarnation
          ? 0x7fffffffffffffffn
          : BigInt(hwmRes.rows[0].last_offset);

    let scored = 0;
    let flagged = 0;
    let deadLettered = 0;
    let skipped = 0;
    let maxOffset = hwm;
    // Flags as column arrays: one INSERT ... SELECT FROM unnest(...) per chunk, 14 bind parameters
    // however many rows (faster to build and parse than a VALUES list with 14 per row).
    const cols = new FlagColumns();
    const seen = new Set<bigint>();
    batch.records.forEach((r, i) => {
      const off = offsets[i];
      if (off <= hwm || seen.has(off)) {
        skipped++;
        return;
      }
      seen.add(off);
      if (off > maxOffset) maxOffset = off;
      if (r.outcome === 'dead_lettered') {
        deadLettered++;
        return;
      }
      scored++;
      if (r.outcome === 'flagged') {
        flagged++;
        cols.push(off, r.flag);
      }
    });

    let inserted = 0;
    for (let i = 0; i < cols.length; i += this.insertChunk) {
      const c = cols.slice(i, i + this.insertChunk);
      const res = await trx.raw<{ rowCount: number | null }>(
        `INSERT INTO flags (consumer_group, source_incarnation, publish_pending, source_topic,
                            source_partition, kind, source_offset, record_id, score, waic, logp_mean,
                            logp_var, rate, threshold, model_version, event_time, payload, score_name)
         SELECT ?, ?, ?, ?, ?, ?, u.* FROM unnest(?::bigint[], ?::text[], ?::float8[], ?::float8[],
                                         ?::float8[], ?::float8[], ?::float8[], ?::float8[], ?::text[],
                                         ?::timestamptz[], ?::jsonb[], ?::text[]) AS u
         ON CONFLICT (consumer_group, source_topic, source_partition, source_incarnation, source_offset)
         DO NOTHING`,
        [
          group,
          incarnation,
          batch.publish ?? false,
          batch.topic,
          batch.partition,
          batch.kind,
          c.offset,
          c.recordId,
          c.score,
          c.waic,
          c.logpMean,
          c.logpVar,
          c.rate,
          c.threshold,
          c.modelVersion,
          c.eventTime,
          c.payload,
          c.scoreName,
        ] as unknown as readonly Knex.RawBinding[],
      );
      inserted += res.rowCount ?? 0;
    }

    if (scored + deadLettered > 0) {
      await trx.raw(
        // One row per partition: its only writer is the partition's owner, so batches of different
        // partitions never wait for each other's transactions on a shared counter row.
        `INSERT INTO stream_counters (minute, kind, topic, consumer_group, source_partition, scored, flagged,
                                      dead_lettered)
         VALUES (date_trunc('minute', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (minute, kind, topic, consumer_group, source_partition) DO UPDATE
            SET scored = stream_counters.scored + excluded.scored,
                flagged = stream_counters.flagged + excluded.flagged,
                dead_lettered = stream_counters.dead_lettered + excluded.dead_lettered`,
        [batch.kind, batch.topic, group, batch.partition, scored, flagged, deadLettered],
      );
    }
    if (incarnation > rowIncarnation || (incarnation === rowIncarnation && maxOffset > hwm)) {
      await trx.raw(
        `UPDATE stream_offsets
            SET last_offset = ?, incarnation = ?, mark_fingerprint = ?, updated_at = now()
          WHERE consumer_group = ? AND source_topic = ? AND source_partition = ?`,
        [
          maxOffset.toString(),
          incarnation,
          batch.markFingerprint ?? null,
          group,
          batch.topic,
          batch.partition,
        ],
      );
    }
    return {
      inserted,
      skipped,
      counted: { scored, flagged, deadLettered },
      lastOffset: (incarnation < rowIncarnation ? hwm : maxOffset).toString(),
    };
  }

  /**
   * Highest committed offset per partition of `topic` (string int64). A consumer can seek to
   * last + 1 on assignment; records at or below it would be skipped anyway.
   */
  async committedOffsets(topic: string, consumerGroup = ''): Promise<Map<number, string>> {
    const marks = await this.committedMarks(topic, consumerGroup);
    return new Map([...marks].map(([p, m]) => [p, m.lastOffset]));
  }

  /**
   * The marks of `consumerGroup` per partition of `topic`; a partition without one of its own falls
   * back to a mark written before marks were kept per group (consumer_group '').
   */
  async committedMarks(topic: string, consumerGroup = ''): Promise<Map<number, PartitionMark>> {
    const rows = await this.db('stream_offsets')
      .select<
        {
          consumer_group: string;
          source_partition: number;
          last_offset: string;
          incarnation: number;
          mark_fingerprint: string | null;
        }[]
      >('consumer_group', 'source_partition', 'last_offset', 'incarnation', 'mark_fingerprint')
      .where('source_topic', topic)
      .whereIn('consumer_group', consumerGroup === '' ? [''] : [consumerGroup, ''])
      .orderBy('consumer_group', 'asc');
    const out = new Map<number, PartitionMark>();
    // '' sorts first: the group's own row (later) overrides the legacy one.
    for (const r of rows)
      out.set(r.source_partition, {
        lastOffset: String(r.last_offset),
        incarnation: r.incarnation,
        fingerprint: r.mark_fingerprint,
      });
    return out;
  }

  /**
   * Flags of one partition (for one consumer group) still waiting for the flags topic, in offset
   * order, at most `limit`.
   */
  async pendingFlags(
    topic: string,
    partition: number,
    consumerGroup = '',
    limit = 1000,
  ): Promise<PendingFlag[]> {
    const rows = await this.db('flags')
      .select<(FlagDbRow & { score_name: string | null })[]>(...FLAG_COLUMNS, 'score_name')
      .where({
        publish_pending: true,
        consumer_group: consumerGroup,
        source_topic: topic,
        source_partition: partition,
      })
      .orderBy([{ column: 'source_incarnation' }, { column: 'source_offset' }])
      .limit(limit);
    return rows.map((r) => {
      const { payload: _payload, ...flag } = fromDb(r);
      void _payload;
      return { ...flag, scoreName: r.score_name };
    });
  }

  /** Marks flags as published on the flags topic (no longer pending). */
  async markPublished(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.db.raw('UPDATE flags SET publish_pending = false WHERE id = ANY(?::bigint[])', [
      ids as unknown as Knex.RawBinding,
    ]);
  }

  /** Flags matching the filters, newest first. Inputs are validated; SQL is parameterised. */
  async queryFlags(query: FlagQuery = {}): Promise<FlagRow[]> {
    const q = parseInput(flagQuerySchema, query);
    const sql = this.db('flags').select<FlagDbRow[]>(...FLAG_COLUMNS);
    if (q.since) sql.where('flagged_at', '>=', q.since);
    if (q.kind) sql.where('kind', q.kind);
    if (q.minScore !== undefined) sql.where('score', '>=', q.minScore);
    if (q.modelVersion) sql.where('model_version', q.modelVersion);
    if (q.topic) sql.where('source_topic', q.topic);
    const rows = await sql
      .orderBy([
        { column: 'flagged_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ])
      .limit(q.limit);
    return rows.map(fromDb);
  }

  /** Per-minute volume and flag rate (view flag_rate_per_minute), newest minute first. */
  async flagRatePerMinute(query: FlagRateQuery = {}): Promise<FlagRateRow[]> {
    const q = parseInput(flagRateQuerySchema, query);
    const sql = this.db('flag_rate_per_minute').select<
      {
        minute: Date;
        kind: InputKind;
        scored: string;
        flagged: string;
        dead_lettered: string;
        flag_rate: number | null;
      }[]
    >('minute', 'kind', 'scored', 'flagged', 'dead_lettered', 'flag_rate');
    if (q.since) sql.where('minute', '>=', q.since);
    if (q.kind) sql.where('kind', q.kind);
    const rows = await sql
      .orderBy([
        { column: 'minute', order: 'desc' },
        { column: 'kind', order: 'asc' },
      ])
      .limit(q.limit);
    return rows.map((r) => ({
      minute: r.minute,
      kind: r.kind,
      scored: Number(r.scored),
      flagged: Number(r.flagged),
      deadLettered: Number(r.dead_lettered),
      flagRate: r.flag_rate === null ? null : Number(r.flag_rate),
    }));
  }
}
