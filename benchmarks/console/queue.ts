/**
 * Review-queue speed with 1,000,000 flags (issue 13: first page ≤ 200 ms server time).
 *
 *   npx tsx benchmarks/console/queue.ts [--flags 1000000] [--reviews 20000] [--runs 7]
 *
 * In a private schema of DATABASE_URL (dropped at the end, also on error): migrates to latest, inserts
 * N flags server-side (one INSERT … SELECT FROM generate_series per 100,000 rows: no client round trip
 * per row; 90% transactions with a small payload and member scores, 10% frames with a 784-byte
 * pixel payload; flagged_at spread over 7 days; 4 model versions per kind; score = threshold +
 * exponential), reviews a random R of them (fraud / not_fraud / unsure, a tenth reviewed twice) and
 * sets flags.review_label from the latest review as ReviewStore.review() does, ANALYZE,
 * then times the console's first page — the whole request through the hono app (session check, query,
 * HTML rendering), in process, no network — for each filter set: median and max of `runs` requests
 * after one warm-up. Also times a deep page (after 20 pages of keyset cursors).
 */
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { createConsoleApp } from '../../src/console/app.js';
import { createKnex, migrateLatest } from '../../src/store/knex.js';
import { ReviewStore } from '../../src/store/review-store.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

const N = arg('flags', 1_000_000);
const R = arg('reviews', 20_000);
const RUNS = arg('runs', 7);
const URL_ = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TOKEN = randomBytes(24).toString('base64url');

async function main(): Promise<void> {
  const schema = `bench_console_${Date.now().toString(36)}`;
  const admin = createKnex({ databaseUrl: URL_, pool: { min: 0, max: 1 } });
  await admin.raw('CREATE SCHEMA ??', [schema]);
  await admin.destroy();
  const db = createKnex({ databaseUrl: URL_, searchPath: [schema], pool: { min: 0, max: 4 } });
  try {
    await migrateLatest(db);
    const t0 = performance.now();
    const pixels = Buffer.alloc(784, 7).toString('base64');
    const CHUNK = 100_000;
    for (let lo = 0; lo < N; lo += CHUNK) {
      const hi = Math.min(N, lo + CHUNK) - 1;
      await db.raw(
        `INSERT INTO flags (source_topic, source_partition, source_offset, record_id, kind, score, waic, logp_mean,
                            logp_var, rate, threshold, model_version, event_time, flagged_at, payload, score_name)
         SELECT CASE WHEN g % 10 = 0 THEN 'gensemble.frames' ELSE 'gensemble.transactions' END, g % 8, g,
                'rec-' || g, k, th + s, -(th + s), -th - s, 1.5, 3.2, th,
                k || '-v' || (g % 4), ts, ts,
                CASE WHEN k = 'frames'
                     THEN jsonb_build_object('source', 'mnist', 'width', 28, 'height', 28, 'channels', 1,
                                             'pixels', ?::text, 'member_logp', jsonb_build_array(-th - s, -th - s - 1))
                     ELSE jsonb_build_object('amount', round((random() * 500)::numeric, 2), 'card_id', 'card-' || (g % 5000),
                                             'member_logp', jsonb_build_array(-th - s, -th - s - 2, -th - s + 1)) END,
                'neg_waic'
           FROM (SELECT g, CASE WHEN g % 10 = 0 THEN 'frames' ELSE 'transactions' END AS k,
                        CASE WHEN g % 10 = 0 THEN 250.0 ELSE 31.5 END AS th,
                        -ln(1 - random()) * 10 AS s,
                        now() - (random() * interval '7 days') AS ts
                   FROM generate_series(?::bigint, ?::bigint) g) x`,
        [pixels, lo, hi],
      );
      process.stderr.write(`\rinserted ${hi + 1} / ${N} flags`);
    }
    process.stderr.write('\n');
    await db.raw(
      `INSERT INTO reviews (flag_id, label, note, reviewer, reviewed_at)
       SELECT id, (ARRAY['fraud', 'not_fraud', 'unsure'])[1 + (id % 3)], 'bench', 'bench', now() - interval '1 hour'
         FROM flags TABLESAMPLE BERNOULLI (?) LIMIT ?`,
      [(100 * R) / N, R],
    );
    // A second opinion on a tenth of them (the latest review is the state).
    await db.raw(
      `INSERT INTO reviews (flag_id, label, note, reviewer)
       SELECT flag_id, 'fraud', 'second look', 'bench' FROM reviews WHERE id % 10 = 0`,
    );
    // What ReviewStore.review() keeps on the flag: the latest review's label.
    await db.raw(
      `UPDATE flags f SET review_label = l.label
         FROM (SELECT DISTINCT ON (flag_id) flag_id, label FROM reviews ORDER BY flag_id, reviewed_at DESC, id DESC) l
        WHERE l.flag_id = f.id`,
    );
    await db.raw('ANALYZE flags');
    await db.raw('ANALYZE reviews');
    const loadS = (performance.now() - t0) / 1000;
    const counts = await db.raw<{ rows: { flags: string; reviews: string }[] }>(
      `SELECT (SELECT count(*) FROM flags) AS flags, (SELECT count(*) FROM reviews) AS reviews`,
    );

    const app = createConsoleApp({ db, token: TOKEN });
    const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
    const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
    const cases: [string, string][] = [
      ['no filter, newest first', ''],
      ['no filter, highest score first', 'order=score'],
      ['kind=frames, newest', 'kind=frames'],
      ['kind=transactions, highest score, score ≥ 60', 'kind=transactions&order=score&minScore=60'],
      ['model version (1 of 8), newest', 'model=transactions-v2'],
      [
        'time range (a 1 h window 2 days ago), newest',
        `since=${iso(49 * 3_600_000)}&until=${iso(48 * 3_600_000)}`,
      ],
      ['time range, highest score', `since=${iso(49 * 3_600_000)}&until=${iso(48 * 3_600_000)}&order=score`],
      ['score between 40 and 41, newest', 'minScore=40&maxScore=41'],
      ['review=unreviewed, newest', 'review=unreviewed'],
      ['review=unreviewed, kind=frames, highest score', 'review=unreviewed&kind=frames&order=score'],
      ['review=fraud, newest', 'review=fraud'],
      ['review=not_fraud, highest score', 'review=not_fraud&order=score'],
      ['review=reviewed (any label), newest', 'review=reviewed'],
      ['review=unsure, kind=frames, newest', 'review=unsure&kind=frames'],
      [
        'kind + model + score ≥ 45 + unreviewed, newest',
        'kind=transactions&model=transactions-v1&minScore=45&review=unreviewed',
      ],
    ];
    const time = async (path: string): Promise<{ median: number; max: number; rows: number }> => {
      let rows = 0;
      const r0 = await app.request(path, auth); // warm-up (plans, caches)
      if (r0.status !== 200) throw new Error(`${path}: HTTP ${r0.status}`);
      const ms: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t = performance.now();
        const res = await app.request(path, auth);
        const body = await res.text();
        ms.push(performance.now() - t);
        rows = (body.match(/data-flag-id=/g) ?? []).length;
      }
      ms.sort((a, b) => a - b);
      return { median: ms[Math.floor(ms.length / 2)], max: ms[ms.length - 1], rows };
    };
    const results: { name: string; median: number; max: number; rows: number }[] = [];
    for (const [name, q] of cases) results.push({ name, ...(await time(`/queue${q ? `?${q}` : ''}`)) });
    // Page 21 of the unfiltered queue through keyset cursors.
    const store = new ReviewStore(db);
    let after: string | null = null;
    for (let i = 0; i < 20; i++) after = (await store.queue({ limit: 50, ...(after ? { after } : {}) })).next;
    results.push({
      name: 'page 21 (keyset cursor), newest',
      ...(await time(`/queue?after=${encodeURIComponent(after ?? '')}`)),
    });

    const load = os
      .loadavg()
      .map((x) => x.toFixed(2))
      .join(', ');
    console.log(
      `\nReview queue, first page (50 rows) server time: ${counts.rows[0].flags} flags, ${counts.rows[0].reviews} reviews`,
    );
    console.log(
      `(load ${loadS.toFixed(0)} s; ${RUNS} requests per case after a warm-up; load average ${load}; ${os.cpus().length} CPUs)\n`,
    );
    console.log('| filter | rows | median ms | max ms |');
    console.log('| --- | --: | --: | --: |');
    for (const r of results)
      console.log(`| ${r.name} | ${r.rows} | ${r.median.toFixed(1)} | ${r.max.toFixed(1)} |`);
    const worst = Math.max(...results.map((r) => r.median));
    console.log(`\nworst median ${worst.toFixed(1)} ms: ${worst <= 200 ? 'within' : 'OVER'} the 200 ms goal`);
  } finally {
    await db.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]).catch(() => undefined);
    await db.destroy();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
