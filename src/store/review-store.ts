/**
 * Reviews of flags (table reviews, migration 20261205000000) and the analyst console's review queue.
 *
 * A review is an analyst's decision about one flag: fraud, not_fraud or unsure, with an optional
 * note, who and when. Reviews are append-only; a flag's review state is its latest review, whose
 * label flags.review_label caches (written in the same transaction) for the queue's filter.
 *
 * The queue is paged with keyset pagination: a page ends with a cursor holding the sort key of its
 * last row (flagged_at or score, then id), and the next page starts strictly after it, so a page costs
 * the same at the millionth row as at the first, and rows arriving meanwhile never shift a page.
 */
import type { Knex } from 'knex';
import { z } from 'zod';
import { StoreInputError } from './errors.js';
import { kindName, type FlagRow, type InputKind } from './flag-store.js';

export const REVIEW_LABELS = ['fraud', 'not_fraud', 'unsure'] as const;
export type ReviewLabel = (typeof REVIEW_LABELS)[number];
/** Queue filter on the review state: a label, or no review yet, or any review. */
export const REVIEW_STATES = ['unreviewed', 'reviewed', ...REVIEW_LABELS] as const;
export type ReviewState = (typeof REVIEW_STATES)[number];
export const QUEUE_ORDERS = ['newest', 'score'] as const;
export type QueueOrder = (typeof QUEUE_ORDERS)[number];

/** Most flags one review action may label at once. */
export const MAX_BULK_REVIEW = 500;
const MAX_PAGE = 200;

export interface Review {
  id: string;
  flagId: string;
  label: ReviewLabel;
  note: string;
  reviewer: string;
  reviewedAt: Date;
}

export interface QueueRow extends FlagRow {
  /** The flag's latest review, or null. */
  review: Omit<Review, 'id' | 'flagId'> | null;
}

export interface QueuePage {
  rows: QueueRow[];
  /** Cursor of the next page (pass as `after`), or null on the last page. */
  next: string | null;
}

const flagId = z.string().regex(/^[1-9]\d{0,18}$/, 'must be a flag id');
const printable = (max: number) =>
  z
    .string()
    .max(max)
    .refine(
      // eslint-disable-next-line no-control-regex
      (s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(s),
      'must not contain control characters',
    );

export const queueQuerySchema = z
  .object({
    kind: kindName.optional(),
    since: z.date().optional(),
    until: z.date().optional(),
    minScore: z.number().finite().optional(),
    maxScore: z.number().finite().optional(),
    modelVersion: z.string().min(1).max(200).optional(),
    review: z.enum(REVIEW_STATES).optional(),
    order: z.enum(QUEUE_ORDERS).default('newest'),
    after: z.string().max(200).optional(),
    limit: z.number().int().min(1).max(MAX_PAGE).default(50),
  })
  .strict();
export type QueueQuery = z.input<typeof queueQuerySchema>;

export const reviewInputSchema = z
  .object({
    flagIds: z.array(flagId).min(1).max(MAX_BULK_REVIEW),
    label: z.enum(REVIEW_LABELS),
    note: printable(2000).default(''),
    reviewer: printable(200).pipe(z.string().min(1)),
  })
  .strict();
export type ReviewInput = z.input<typeof reviewInputSchema>;

function parse<S extends z.ZodType>(schema: S, v: unknown, what: string): z.output<S> {
  const r = schema.safeParse(v);
  if (!r.success) {
    const i = r.error.issues[0];
    throw new StoreInputError(
      `${what}: ${r.error.issues.map((x) => `${x.path.join('.') || what}: ${x.message}`).join('; ')}`,
      i.path.join('.') || what,
    );
  }
  return r.data;
}

/** Cursor: base64url JSON [order, sort key, id]. The key is a UTC timestamp (µs) or a score. */
const cursorSchema = z.tuple([z.enum(QUEUE_ORDERS), z.union([z.string().max(40), z.number()]), flagId]);
const TS_KEY = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export function encodeCursor(order: QueueOrder, key: string | number, id: string): string {
  return Buffer.from(JSON.stringify([order, key, id])).toString('base64url');
}

function decodeCursor(order: QueueOrder, cursor: string): [string | number, string] {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new StoreInputError('after: not a queue cursor', 'after');
  }
  const c = cursorSchema.safeParse(v);
  if (
    !c.success ||
    c.data[0] !== order ||
    (order === 'newest'
      ? typeof c.data[1] !== 'string' || !TS_KEY.test(c.data[1])
      : typeof c.data[1] !== 'number')
  )
    throw new StoreInputError('after: not a queue cursor for this order', 'after');
  return [c.data[1], c.data[2]];
}

interface QueueDbRow {
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
  flagged_at_key: string;
  payload: Record<string, unknown>;
  r_label: ReviewLabel | null;
  r_note: string | null;
  r_reviewer: string | null;
  r_reviewed_at: Date | null;
}

const QUEUE_SELECT = `
  SELECT f.id, f.kind, f.record_id, f.score, f.threshold, f.waic, f.logp_mean, f.logp_var, f.rate,
         f.model_version, f.source_topic, f.source_partition, f.source_offset, f.event_time, f.flagged_at,
         to_char(f.flagged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS flagged_at_key,
         f.payload, r.label AS r_label, r.note AS r_note, r.reviewer AS r_reviewer,
         r.reviewed_at AS r_reviewed_at
    FROM flags f
    LEFT JOIN LATERAL (
      SELECT label, note, reviewer, reviewed_at FROM reviews
       WHERE reviews.flag_id = f.id ORDER BY reviewed_at DESC, id DESC LIMIT 1) r ON true`;

function fromDb(r: QueueDbRow): QueueRow {
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
    review:
      r.r_label === null
        ? null
        : {
            label: r.r_label,
            note: r.r_note ?? '',
            reviewer: r.r_reviewer ?? '',
            reviewedAt: r.r_reviewed_at as Date,
          },
  };
}

export class ReviewStore {
  constructor(private readonly db: Knex) {}

  /** One page of the review queue. Inputs are validated; SQL is parameterised. */
  async queue(query: QueueQuery = {}): Promise<QueuePage> {
    const q = parse(queueQuerySchema, query, 'queue');
    const where: string[] = [];
    const b: Knex.RawBinding[] = [];
    if (q.kind) {
      where.push('f.kind = ?');
      b.push(q.kind);
    }
    if (q.since) {
      where.push('f.flagged_at >= ?');
      b.push(q.since);
    }
    if (q.until) {
      where.push('f.flagged_at < ?');
      b.push(q.until);
    }
    if (q.minScore !== undefined) {
      where.push('f.score >= ?');
      b.push(q.minScore);
    }
    if (q.maxScore !== undefined) {
      where.push('f.score <= ?');
      b.push(q.maxScore);
    }
    if (q.modelVersion) {
      where.push('f.model_version = ?');
      b.push(q.modelVersion);
    }
    // flags.review_label caches the latest review's label (kept by review(); migration 20261205010000).
    if (q.review === 'unreviewed') where.push('f.review_label IS NULL');
    else if (q.review === 'reviewed') where.push('f.review_label IS NOT NULL');
    else if (q.review) {
      where.push('f.review_label = ?');
      b.push(q.review);
    }
    if (q.after !== undefined) {
      const [key, id] = decodeCursor(q.order, q.after);
      where.push(
        q.order === 'newest'
          ? '(f.flagged_at, f.id) < (?::timestamptz, ?::bigint)'
          : '(f.score, f.id) < (?, ?::bigint)',
      );
      b.push(key, id);
    }
    const order = q.order === 'newest' ? 'f.flagged_at DESC, f.id DESC' : 'f.score DESC, f.id DESC';
    const sql = `${QUEUE_SELECT}${where.length ? `\n   WHERE ${where.join('\n     AND ')}` : ''}
   ORDER BY ${order} LIMIT ?`;
    b.push(q.limit + 1);
    const res = await this.db.raw<{ rows: QueueDbRow[] }>(sql, b);
    const more = res.rows.length > q.limit;
    const rows = res.rows.slice(0, q.limit);
    const last = rows[rows.length - 1];
    return {
      rows: rows.map(fromDb),
      next:
        more && last
          ? encodeCursor(q.order, q.order === 'newest' ? last.flagged_at_key : last.score, String(last.id))
          : null,
    };
  }

  /** One flag with its latest review, or undefined. */
  async flag(id: string): Promise<QueueRow | undefined> {
    const fid = parse(flagId, id, 'flag id');
    const res = await this.db.raw<{ rows: QueueDbRow[] }>(`${QUEUE_SELECT} WHERE f.id = ?::bigint`, [fid]);
    return res.rows[0] ? fromDb(res.rows[0]) : undefined;
  }

  /** Every review of a flag, newest first. */
  async history(id: string): Promise<Review[]> {
    const fid = parse(flagId, id, 'flag id');
    const rows = await this.db('reviews')
      .select<
        {
          id: string;
          flag_id: string;
          label: ReviewLabel;
          note: string;
          reviewer: string;
          reviewed_at: Date;
        }[]
      >('id', 'flag_id', 'label', 'note', 'reviewer', 'reviewed_at')
      .where('flag_id', fid)
      .orderBy([
        { column: 'reviewed_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ]);
    return rows.map((r) => ({
      id: String(r.id),
      flagId: String(r.flag_id),
      label: r.label,
      note: r.note,
      reviewer: r.reviewer,
      reviewedAt: r.reviewed_at,
    }));
  }

  /**
   * Records one review per flag id (ids of flags that do not exist are ignored) and sets the flags'
   * review_label, in one transaction. Returns the ids reviewed. The flags are locked first (in id
   * order, so concurrent bulk reviews cannot deadlock) and reviewed_at is taken after the locks, so
   * the latest review by (reviewed_at, id) is also the one whose label the flag keeps.
   */
  async review(input: ReviewInput): Promise<string[]> {
    const r = parse(reviewInputSchema, input, 'review');
    const ids = [...new Set(r.flagIds)];
    return this.db.transaction(async (trx) => {
      const locked = await trx.raw<{ rows: { id: string }[] }>(
        `SELECT id FROM flags WHERE id = ANY(?::bigint[]) ORDER BY id FOR UPDATE`,
        [ids as unknown as Knex.RawBinding],
      );
      const found = locked.rows.map((x) => String(x.id));
      if (found.length === 0) return [];
      await trx.raw(
        `INSERT INTO reviews (flag_id, label, note, reviewer, reviewed_at)
         SELECT id, ?, ?, ?, clock_timestamp() FROM unnest(?::bigint[]) AS id ORDER BY id`,
        [r.label, r.note, r.reviewer, found as unknown as Knex.RawBinding],
      );
      await trx.raw(`UPDATE flags SET review_label = ? WHERE id = ANY(?::bigint[])`, [
        r.label,
        found as unknown as Knex.RawBinding,
      ]);
      return found;
    });
  }

  /** Distinct model versions seen in flags (for the queue's filter), newest registry rows first. */
  async modelVersions(): Promise<string[]> {
    const rows = await this.db('model_versions')
      .select<{ version: string }[]>('version')
      .orderBy([
        { column: 'created_at', order: 'desc' },
        { column: 'id', order: 'desc' },
      ]);
    return rows.map((r) => r.version);
  }
}
