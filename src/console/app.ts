/**
 * The analyst console as a hono app (see README "Analyst console"): overview, review queue, flag
 * detail with the frame's image, review actions, models (activate with a confirmation), DLQ.
 * Authentication and CSRF: see auth.ts. Every page is rendered by views.ts (escaped by default).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono, type Context } from 'hono';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { FlagStore, KIND_NAME_PATTERN, type InputKind } from '../store/flag-store.js';
import { ModelRegistry } from '../store/model-registry.js';
import { StoreInputError, ModelNotFoundError } from '../store/errors.js';
import {
  QUEUE_ORDERS,
  REVIEW_LABELS,
  REVIEW_STATES,
  ReviewStore,
  type QueueQuery,
} from '../store/review-store.js';
import { LOGIN_COOKIE, SESSION_COOKIE, SessionStore, randomToken, safeEqual, type Session } from './auth.js';
import type { DeadLetterReport } from './dlq-reader.js';
import { framePixelsOf, framePng } from './png.js';
import {
  confirmActivatePage,
  dlqPage,
  errorPage,
  flagPage,
  loginPage,
  modelsPage,
  overviewPage,
  overviewSeries,
  queuePage,
  type Fragment,
  type LagRow,
  type PageContext,
} from './views.js';

export interface ConsoleAppOptions {
  db: Knex;
  /** CONSOLE_TOKEN: the shared secret (no default). */
  token: string;
  logger?: Logger;
  /** Kinds shown on the models page (default both). */
  kinds?: readonly InputKind[];
  /** Consumer lag per partition (from the service's metrics); absent when no consumers run here. */
  lag?: () => Promise<LagRow[]>;
  /** Recent dead letters; absent without a Kafka client. */
  deadLetters?: () => Promise<DeadLetterReport>;
  dlqTopic?: string;
  sessionTtlMs?: number;
  /** How often the overview page refreshes its chart (ms, default 10,000). */
  overviewRefreshMs?: number;
}

type Vars = { Variables: { session: Session | null; bearer: boolean } };

const HERE = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

interface Asset {
  body: Buffer;
  type: string;
}

function loadAssets(): Record<string, Asset> {
  const uplotDir = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  return {
    'uplot.iife.min.js': {
      body: readFileSync(join(uplotDir, 'uPlot.iife.min.js')),
      type: 'text/javascript; charset=utf-8',
    },
    'uplot.min.css': { body: readFileSync(join(uplotDir, 'uPlot.min.css')), type: 'text/css; charset=utf-8' },
    'console.js': {
      body: readFileSync(join(HERE, 'static', 'console.js')),
      type: 'text/javascript; charset=utf-8',
    },
    'console.css': {
      body: readFileSync(join(HERE, 'static', 'console.css')),
      type: 'text/css; charset=utf-8',
    },
  };
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

/** Query-string filters of the queue → a validated QueueQuery (bad values → StoreInputError). */
const DURATION_RE = /^(\d{1,6})(m|h|d)$/;
function parseTime(v: string, name: string): Date {
  const d = DURATION_RE.exec(v);
  if (d) return new Date(Date.now() - Number(d[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[d[2] as 'm']);
  const t = new Date(v);
  if (!/^\d{4}-\d{2}-\d{2}/.test(v) || Number.isNaN(t.getTime()))
    throw new StoreInputError(`${name}: must be an ISO-8601 time or a duration like 15m, 2h, 7d`, name);
  return t;
}
function parseNumber(v: string, name: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new StoreInputError(`${name}: must be a number`, name);
  return n;
}
const FILTER_KEYS = ['kind', 'since', 'until', 'minScore', 'maxScore', 'model', 'review', 'order'] as const;

export function queueQueryOf(
  q: Record<string, string>,
  kinds: readonly string[] = ['transactions', 'frames'],
): {
  query: QueueQuery;
  filters: Record<string, string>;
} {
  const filters: Record<string, string> = {};
  for (const k of FILTER_KEYS) if (q[k] !== undefined && q[k] !== '') filters[k] = q[k].slice(0, 200);
  const query: QueueQuery = { limit: 50 };
  if (filters.kind) {
    if (!KIND_NAME_PATTERN.test(filters.kind) || !kinds.includes(filters.kind))
      throw new StoreInputError('kind: unknown kind', 'kind');
    query.kind = filters.kind;
  }
  if (filters.since) query.since = parseTime(filters.since, 'since');
  if (filters.until) query.until = parseTime(filters.until, 'until');
  if (filters.minScore) query.minScore = parseNumber(filters.minScore, 'minScore');
  if (filters.maxScore) query.maxScore = parseNumber(filters.maxScore, 'maxScore');
  if (filters.model) query.modelVersion = filters.model;
  if (filters.review) {
    if (!(REVIEW_STATES as readonly string[]).includes(filters.review))
      throw new StoreInputError('review: unknown review state', 'review');
    query.review = filters.review as (typeof REVIEW_STATES)[number];
  }
  if (filters.order) {
    if (!(QUEUE_ORDERS as readonly string[]).includes(filters.order))
      throw new StoreInputError('order: newest or score', 'order');
    query.order = filters.order as (typeof QUEUE_ORDERS)[number];
  }
  if (q.after) query.after = q.after;
  return { query, filters };
}

/** A local path to come back to after an action (never another origin). */
function localPath(v: unknown, fallback: string): string {
  return typeof v === 'string' && /^\/(queue|flags\/\d+)(\?[^\s]*)?$/.test(v) && v.length <= 2000
    ? v
    : fallback;
}

function first(v: unknown): string {
  if (Array.isArray(v)) return typeof v[0] === 'string' ? v[0] : '';
  return typeof v === 'string' ? v : '';
}

function all(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string');
  return typeof v === 'string' ? [v] : [];
}

export function createConsoleApp(o: ConsoleAppOptions): Hono<Vars> {
  const sessions = new SessionStore(o.token, o.sessionTtlMs !== undefined ? { ttlMs: o.sessionTtlMs } : {});
  const flags = new FlagStore(o.db);
  const reviews = new ReviewStore(o.db);
  const registry = new ModelRegistry(o.db);
  const kinds = o.kinds ?? ['transactions', 'frames'];
  const assets = loadAssets();
  const app = new Hono<Vars>();

  const page = async (c: Context<Vars>, body: Fragment, status: 200 | 400 | 403 | 404 = 200) =>
    c.html(await body, status);
  const ctxOf = (c: Context<Vars>): PageContext => {
    const s = c.get('session');
    const notice = c.req.query('notice');
    return {
      csrf: s?.csrf ?? '',
      reviewer: s?.reviewer ?? 'token',
      ...(notice ? { notice: notice.slice(0, 300) } : {}),
    };
  };

  app.use('*', async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
  });

  app.onError((e, c) => {
    if (e instanceof StoreInputError || e instanceof ModelNotFoundError)
      return page(
        c,
        errorPage(c.get('session') ? ctxOf(c) : null, 'Bad request', e.message),
        e instanceof ModelNotFoundError ? 404 : 400,
      );
    o.logger?.error({ err: e.message }, 'console request failed');
    return c.text('internal error\n', 500);
  });

  app.get('/static/:name', (c) => {
    const a = assets[c.req.param('name')];
    if (!a) return c.text('not found\n', 404);
    return c.body(new Uint8Array(a.body), 200, { 'content-type': a.type });
  });
  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  // --- login ------------------------------------------------------------------------------------
  app.get('/favicon.ico', (c) => c.body(null, 204));
  app.get('/login', async (c) => {
    // Reuse a pre-login token already set (another tab, or a redirect the browser followed meanwhile)
    // so that an open login form stays valid.
    const had = getCookie(c, LOGIN_COOKIE);
    const pre = had && /^[\w-]{16,64}$/.test(had) ? had : randomToken(16);
    setCookie(c, LOGIN_COOKIE, pre, { httpOnly: true, sameSite: 'Strict', path: '/login', maxAge: 3600 });
    return page(c, loginPage(pre));
  });
  app.post('/login', async (c) => {
    const body = await c.req.parseBody();
    const pre = getCookie(c, LOGIN_COOKIE);
    const sent = first(body._login);
    const fresh = () => {
      const p = randomToken(16);
      setCookie(c, LOGIN_COOKIE, p, { httpOnly: true, sameSite: 'Strict', path: '/login', maxAge: 3600 });
      return p;
    };
    if (!pre || !sent || !safeEqual(pre, sent))
      return page(c, loginPage(fresh(), 'The login form expired; try again.'), 403);
    if (sessions.lockedOut) return c.text('too many failed logins; wait a minute\n', 429);
    const reviewer = first(body.reviewer).trim().slice(0, 200);
    // eslint-disable-next-line no-control-regex
    if (reviewer === '' || /[\u0000-\u001f\u007f]/.test(reviewer))
      return page(c, loginPage(fresh(), 'Give your name: it is stored with your reviews.'), 400);
    const s = sessions.login(first(body.token), reviewer);
    if (!s) {
      o.logger?.warn('console login refused: wrong token');
      return page(c, loginPage(fresh(), 'Wrong token.'), 403);
    }
    deleteCookie(c, LOGIN_COOKIE, { path: '/login' });
    setCookie(c, SESSION_COOKIE, s.id, { httpOnly: true, sameSite: 'Strict', path: '/' });
    o.logger?.info({ reviewer }, 'console login');
    return c.redirect('/', 303);
  });

  // --- everything else needs a session or the bearer token ---------------------------------------
  app.use('*', async (c, next) => {
    const auth = c.req.header('authorization');
    if (auth !== undefined) {
      const m = /^Bearer (.+)$/.exec(auth);
      if (!m || !sessions.checkToken(m[1]))
        return c.text('unauthorized\n', 401, { 'www-authenticate': 'Bearer' });
      c.set('session', null);
      c.set('bearer', true);
      return next();
    }
    const s = sessions.get(getCookie(c, SESSION_COOKIE));
    if (!s) {
      if (c.req.method === 'GET' && !c.req.path.startsWith('/api/')) return c.redirect('/login', 303);
      return c.text('unauthorized\n', 401);
    }
    c.set('session', s);
    c.set('bearer', false);
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      // CSRF: the session's token in the form (or a header), compared in constant time.
      const ct = c.req.header('content-type') ?? '';
      let sent = c.req.header('x-csrf-token') ?? '';
      if (
        sent === '' &&
        (ct.startsWith('application/x-www-form-urlencoded') || ct.startsWith('multipart/form-data'))
      ) {
        const body = await c.req.parseBody({ all: true });
        sent = first(body._csrf);
      }
      if (sent === '' || !safeEqual(sent, s.csrf)) {
        o.logger?.warn({ path: c.req.path }, 'console request refused: missing or wrong CSRF token');
        return c.text('forbidden: missing or wrong CSRF token\n', 403);
      }
    }
    return next();
  });

  app.post('/logout', (c) => {
    sessions.logout(getCookie(c, SESSION_COOKIE));
    deleteCookie(c, SESSION_COOKIE, { path: '/' });
    return c.redirect('/login', 303);
  });

  const overviewData = async () => {
    const [rates, models, lag] = await Promise.all([
      flags.flagRatePerMinute({ since: '60m', limit: 10_000 }),
      registry.list(),
      o.lag ? o.lag() : Promise.resolve(null),
    ]);
    return { rates, models, lag };
  };

  app.get('/', async (c) => page(c, overviewPage(ctxOf(c), await overviewData(), o.overviewRefreshMs)));
  app.get('/api/overview', async (c) => {
    const d = await overviewData();
    return c.json({
      series: overviewSeries(d.rates),
      lag: d.lag,
      active: d.models
        .filter((m) => m.active)
        .map((m) => ({ kind: m.kind, version: m.version, score: m.scoreName, threshold: m.threshold })),
    });
  });

  app.get('/queue', async (c) => {
    const { query, filters } = queueQueryOf(c.req.query(), kinds);
    const [res, modelVersions] = await Promise.all([reviews.queue(query), reviews.modelVersions()]);
    const self = c.req.url.slice(c.req.url.indexOf('/queue'));
    return page(c, queuePage(ctxOf(c), { rows: res.rows, next: res.next, filters, modelVersions, self }));
  });

  app.get('/api/queue', async (c) => {
    const { query } = queueQueryOf(c.req.query(), kinds);
    return c.json(await reviews.queue(query));
  });

  app.get('/flags/:id/image.png', async (c) => {
    const f = await reviews.flag(c.req.param('id'));
    const px = f ? framePixelsOf(f.payload) : null;
    if (!px) return c.text('no image\n', 404);
    const scale = Number(c.req.query('scale') ?? 8);
    return c.body(new Uint8Array(framePng(px, Number.isFinite(scale) ? scale : 8)), 200, {
      'content-type': 'image/png',
    });
  });

  app.get('/flags/:id', async (c) => {
    const id = c.req.param('id');
    const f = await reviews.flag(id);
    if (!f) return page(c, errorPage(ctxOf(c), 'Not found', `no flag ${id}`), 404);
    const history = await reviews.history(id);
    return page(c, flagPage(ctxOf(c), { flag: f, history, hasImage: framePixelsOf(f.payload) !== null }));
  });

  app.post('/reviews', async (c) => {
    const body = await c.req.parseBody({ all: true });
    const label = first(body.label);
    const ids = all(body.ids);
    const back = localPath(first(body.back), '/queue');
    if (!(REVIEW_LABELS as readonly string[]).includes(label))
      throw new StoreInputError('label: fraud, not_fraud or unsure', 'label');
    if (ids.length === 0) return c.redirect(withNotice(back, 'select at least one flag'), 303);
    const s = c.get('session');
    const done = await reviews.review({
      flagIds: ids,
      label: label as (typeof REVIEW_LABELS)[number],
      note: first(body.note).trim(),
      reviewer: s?.reviewer ?? first(body.reviewer).trim().slice(0, 200) ?? 'api',
    });
    o.logger?.info({ reviewer: s?.reviewer ?? 'api', label, flags: done.length }, 'flags reviewed');
    if (c.get('bearer')) return c.json({ reviewed: done });
    return c.redirect(withNotice(back, `marked ${done.length} flag(s) as ${label.replace('_', ' ')}`), 303);
  });

  app.get('/models', async (c) => page(c, modelsPage(ctxOf(c), await registry.list(), kinds)));

  app.post('/models/activate', async (c) => {
    const body = await c.req.parseBody({ all: true });
    const version = first(body.version);
    const m = await registry.show(version);
    if (first(body.confirm) !== 'yes')
      return page(c, confirmActivatePage(ctxOf(c), m, await registry.getActive(m.kind)));
    await registry.activate(m.version);
    o.logger?.info(
      { version: m.version, kind: m.kind, by: c.get('session')?.reviewer ?? 'api' },
      'model activated from the console',
    );
    if (c.get('bearer')) return c.json({ activated: m.version });
    return c.redirect(`/models?notice=${encodeURIComponent(`activated ${m.version}`)}`, 303);
  });

  app.get('/dlq', async (c) =>
    page(c, dlqPage(ctxOf(c), o.deadLetters ? await o.deadLetters() : null, o.dlqTopic ?? '')),
  );

  app.notFound((c) => c.text('not found\n', 404));
  return app;
}

function withNotice(path: string, notice: string): string {
  const u = new URL(path, 'http://console.invalid');
  u.searchParams.set('notice', notice);
  return u.pathname + u.search;
}
