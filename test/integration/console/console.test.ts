import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PNG } from 'pngjs';
import { createConsoleApp } from '../../../src/console/app.js';
import { ModelRegistry } from '../../../src/store/model-registry.js';
import { ReviewStore } from '../../../src/store/review-store.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { cookiesOf, hiddenValue, insertFlags, login } from '../../helpers/console.js';

/**
 * The analyst console against a real PostgreSQL (private schema): authentication, CSRF, escaping of
 * hostile payloads, the review queue (keyset pages, filters), review actions, model activation with a
 * confirmation, and the frame image. Requests go to the hono app in process (no port).
 */
const TOKEN = 'test-console-token-0123456789';
const HOSTILE = '<script>alert(1)</script>';
const HOSTILE_ATTR = '"><img src=x onerror=alert(2)>';

let iso: IsolatedSchema;
let app: ReturnType<typeof createConsoleApp>;
let ids: string[];
let hostileId: string;
let frameId: string;

const form = (cookie: string, fields: Record<string, string | string[]>): RequestInit => {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) body.append(k, x);
  return { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body };
};

beforeAll(async () => {
  iso = await createIsolatedSchema({ prefix: 'console' });
  app = createConsoleApp({ db: iso.db, token: TOKEN });
  const t0 = Date.now() - 60_000;
  ids = await insertFlags(
    iso.db,
    Array.from({ length: 120 }, (_, i) => ({
      recordId: `tx-${i}`,
      score: 100 + ((i * 37) % 120),
      flaggedAt: new Date(t0 + i * 100),
      modelVersion: i % 2 === 0 ? 'tx-v1' : 'tx-v2',
    })),
  );
  [hostileId] = await insertFlags(iso.db, [
    { recordId: HOSTILE, payload: { amount: 1, card_id: HOSTILE_ATTR, merchant_id: '</td></tr><h1>x</h1>' } },
  ]);
  const pixels = Buffer.alloc(28 * 28);
  for (let i = 0; i < pixels.length; i++) pixels[i] = i % 28 < 14 ? 255 : 0;
  [frameId] = await insertFlags(iso.db, [
    {
      kind: 'frames',
      recordId: 'frame-1',
      modelVersion: 'fr-v1',
      payload: {
        source: 'mnist',
        width: 28,
        height: 28,
        channels: 1,
        pixels: pixels.toString('base64'),
        member_logp: [-101.5, -99.25],
      },
    },
  ]);
});

afterAll(async () => {
  await iso?.drop();
});

describe('console authentication', () => {
  it('refuses unauthenticated requests: pages redirect to /login, APIs and posts get 401', async () => {
    for (const path of [
      '/',
      '/queue',
      `/flags/${ids[0]}`,
      '/models',
      '/dlq',
      `/flags/${frameId}/image.png`,
    ]) {
      const res = await app.request(path);
      expect(res.status, path).toBe(303);
      expect(res.headers.get('location')).toBe('/login');
    }
    expect((await app.request('/api/queue')).status).toBe(401);
    const post = await app.request('/reviews', form('', { ids: ids[0], label: 'fraud' }));
    expect(post.status).toBe(401);
    const bogus = await app.request('/queue', { headers: { cookie: 'gensemble_session=forged' } });
    expect(bogus.status).toBe(303);
  });

  it('refuses a wrong token at login and over bearer auth', async () => {
    const page = await app.request('/login');
    const pre = cookiesOf(page);
    const res = await app.request(
      '/login',
      form(pre, {
        _login: hiddenValue(await page.text(), '_login'),
        reviewer: 'eve',
        token: 'wrong-token-0123456789',
      }),
    );
    expect(res.status).toBe(403);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('gensemble_session='))).toBe(false);
    expect((await app.request('/api/queue', { headers: { authorization: 'Bearer nope' } })).status).toBe(401);
    expect((await app.request('/api/queue', { headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(
      200,
    );
  });

  it('refuses a login post without the login form cookie (login CSRF)', async () => {
    const res = await app.request('/login', form('', { _login: 'x', reviewer: 'eve', token: TOKEN }));
    expect(res.status).toBe(403);
  });

  it('logs in with the token: session cookie HttpOnly and SameSite=Strict', async () => {
    const page = await app.request('/login');
    const res = await app.request(
      '/login',
      form(cookiesOf(page), {
        _login: hiddenValue(await page.text(), '_login'),
        reviewer: 'alice',
        token: TOKEN,
      }),
    );
    expect(res.status).toBe(303);
    const c = res.headers.getSetCookie().find((x) => x.startsWith('gensemble_session='));
    expect(c).toMatch(/HttpOnly/i);
    expect(c).toMatch(/SameSite=Strict/i);
    const home = await app.request('/', { headers: { cookie: cookiesOf(res) } });
    expect(home.status).toBe(200);
    expect(home.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(home.headers.get('x-frame-options')).toBe('DENY');
  });
});

describe('CSRF', () => {
  it('refuses a forged post (session cookie, no or wrong CSRF token) and changes nothing', async () => {
    const { cookie } = await login(app, TOKEN);
    const none = await app.request('/reviews', form(cookie, { ids: ids[0], label: 'fraud' }));
    expect(none.status).toBe(403);
    const wrong = await app.request(
      '/reviews',
      form(cookie, { ids: ids[0], label: 'fraud', _csrf: 'guess' }),
    );
    expect(wrong.status).toBe(403);
    const act = await app.request('/models/activate', form(cookie, { version: 'x', confirm: 'yes' }));
    expect(act.status).toBe(403);
    const out = await app.request('/logout', form(cookie, {}));
    expect(out.status).toBe(403);
    expect(await iso.db('reviews').count<{ count: string }[]>('* as count')).toEqual([{ count: '0' }]);
  });

  it('another session’s CSRF token does not work either', async () => {
    const a = await login(app, TOKEN, 'a');
    const b = await login(app, TOKEN, 'b');
    const res = await app.request('/reviews', form(a.cookie, { ids: ids[0], label: 'fraud', _csrf: b.csrf }));
    expect(res.status).toBe(403);
  });
});

describe('escaping', () => {
  it('renders a hostile record id and payload as text in the queue and the flag page', async () => {
    const { cookie } = await login(app, TOKEN);
    for (const path of ['/queue', `/flags/${hostileId}`]) {
      const body = await (await app.request(path, { headers: { cookie } })).text();
      expect(body, path).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(body, path).not.toContain('<script>alert(1)');
      expect(body, path).not.toContain('<img src=x');
      expect(body, path).not.toContain('<h1>x</h1>');
    }
  });

  it('escapes a hostile notice and filter value echoed back', async () => {
    const { cookie } = await login(app, TOKEN);
    const q = new URLSearchParams({ notice: HOSTILE, since: '"><script>x</script>' });
    const body = await (await app.request(`/queue?${q}`, { headers: { cookie } })).text();
    expect(body).not.toContain('<script>alert(1)');
    expect(body).not.toContain('<script>x');
  });
});

describe('review queue', () => {
  it('pages newest first with keyset cursors: no row twice, none skipped', async () => {
    const store = new ReviewStore(iso.db);
    const seen: string[] = [];
    let after: string | undefined;
    for (;;) {
      const p = await store.queue({ kind: 'transactions', limit: 50, ...(after ? { after } : {}) });
      seen.push(...p.rows.map((r) => r.id));
      if (!p.next) break;
      after = p.next;
    }
    expect(seen).toEqual([hostileId, ...[...ids].reverse()]);
  });

  it('pages by score (highest first) and filters by score, model and time', async () => {
    const store = new ReviewStore(iso.db);
    const all: { id: string; score: number }[] = [];
    let after: string | undefined;
    for (;;) {
      const p = await store.queue({
        order: 'score',
        modelVersion: 'tx-v2',
        minScore: 150,
        limit: 7,
        ...(after ? { after } : {}),
      });
      all.push(...p.rows.map((r) => ({ id: r.id, score: r.score })));
      if (!p.next) break;
      after = p.next;
    }
    expect(all.every((r) => r.score >= 150)).toBe(true);
    expect(all.map((r) => r.score)).toEqual([...all.map((r) => r.score)].sort((a, b) => b - a));
    expect(new Set(all.map((r) => r.id)).size).toBe(all.length);
    expect(all.length).toBe(
      Array.from({ length: 120 }, (_, i) => i).filter((i) => i % 2 === 1 && 100 + ((i * 37) % 120) >= 150)
        .length,
    );
    await expect(
      store.queue({ order: 'score', after: (await store.queue({ limit: 1 })).next! }),
    ).rejects.toThrow(/cursor/);
  });

  it('labels a selection (bulk) and one flag; filters by review state; latest review wins', async () => {
    const { cookie, csrf } = await login(app, TOKEN, 'bob');
    const pick = [ids[0], ids[1], ids[2]];
    const res = await app.request(
      '/reviews',
      form(cookie, {
        _csrf: csrf,
        ids: pick,
        label: 'fraud',
        note: 'card testing',
        back: '/queue?kind=transactions',
      }),
    );
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\/queue\?kind=transactions&notice=/);
    const one = await app.request(
      '/reviews',
      form(cookie, { _csrf: csrf, ids: ids[2], label: 'not_fraud', back: `/flags/${ids[2]}` }),
    );
    expect(one.headers.get('location')).toMatch(new RegExp(`^/flags/${ids[2]}\\?notice=`));
    const evil = await app.request(
      '/reviews',
      form(cookie, { _csrf: csrf, ids: ids[3], label: 'unsure', back: 'https://evil.example/' }),
    );
    expect(evil.headers.get('location')).toMatch(/^\/queue\?notice=/);
    const store = new ReviewStore(iso.db);
    expect((await store.queue({ review: 'fraud' })).rows.map((r) => r.id).sort()).toEqual(
      [ids[0], ids[1]].sort(),
    );
    expect((await store.queue({ review: 'not_fraud' })).rows.map((r) => r.id)).toEqual([ids[2]]);
    expect((await store.queue({ review: 'reviewed', limit: 200 })).rows.length).toBe(4);
    const unreviewed = await store.queue({ review: 'unreviewed', limit: 200 });
    expect(unreviewed.rows.some((r) => pick.includes(r.id))).toBe(false);
    const history = await store.history(ids[2]);
    expect(history.map((h) => [h.label, h.reviewer])).toEqual([
      ['not_fraud', 'bob'],
      ['fraud', 'bob'],
    ]);
    // flags.review_label follows the latest review.
    const labels = await iso
      .db('flags')
      .whereIn('id', [...pick, ids[3]])
      .select('id', 'review_label');
    expect(
      Object.fromEntries(
        labels.map((l: { id: string; review_label: string }) => [String(l.id), l.review_label]),
      ),
    ).toEqual({
      [ids[0]]: 'fraud',
      [ids[1]]: 'fraud',
      [ids[2]]: 'not_fraud',
      [ids[3]]: 'unsure',
    });
    const page = await (await app.request('/queue?review=fraud', { headers: { cookie } })).text();
    expect(page).toContain('tx-0');
    expect(page).not.toContain('>tx-2<');
  });

  it('rejects bad filters with 400', async () => {
    const { cookie } = await login(app, TOKEN);
    for (const q of ['kind=cats', 'minScore=abc', 'review=maybe', 'since=yesterday', 'after=garbage'])
      expect((await app.request(`/queue?${q}`, { headers: { cookie } })).status, q).toBe(400);
  });
});

describe('flags and models', () => {
  it('renders a frame flag’s image from its stored pixels, and its member scores', async () => {
    const { cookie } = await login(app, TOKEN);
    const body = await (await app.request(`/flags/${frameId}`, { headers: { cookie } })).text();
    expect(body).toContain(`src="/flags/${frameId}/image.png"`);
    expect(body).toContain('-101.5');
    const png = await app.request(`/flags/${frameId}/image.png`, { headers: { cookie } });
    expect(png.headers.get('content-type')).toBe('image/png');
    const img = PNG.sync.read(Buffer.from(await png.arrayBuffer()));
    expect([img.width, img.height]).toEqual([224, 224]);
    expect(img.data[0]).toBe(255); // left half white
    expect(img.data[(0 * 224 + 200) * 4]).toBe(0); // right half black
    expect((await app.request(`/flags/${ids[0]}/image.png`, { headers: { cookie } })).status).toBe(404);
  });

  it('activates a model only after the confirmation', async () => {
    const reg = new ModelRegistry(iso.db);
    await reg.register({
      version: 'tx-v1',
      kind: 'transactions',
      checkpointPath: '/m/1',
      threshold: 5,
      scoreName: 'neg_waic',
      activate: true,
      manifest: { thresholds: [{ score: 'neg_waic', value: 5, targetFpr: 0.01, calibrationSize: 1000 }] },
    });
    await reg.register({
      version: 'tx-v2',
      kind: 'transactions',
      checkpointPath: '/m/2',
      threshold: 6,
      scoreName: 'neg_waic',
    });
    const { cookie, csrf } = await login(app, TOKEN);
    const models = await (await app.request('/models', { headers: { cookie } })).text();
    expect(models).toContain('tx-v2');
    const ask = await app.request('/models/activate', form(cookie, { _csrf: csrf, version: 'tx-v2' }));
    expect(ask.status).toBe(200);
    expect(await ask.text()).toContain('It replaces');
    expect((await reg.getActive('transactions'))?.version).toBe('tx-v1');
    const yes = await app.request(
      '/models/activate',
      form(cookie, { _csrf: csrf, version: 'tx-v2', confirm: 'yes' }),
    );
    expect(yes.status).toBe(303);
    expect((await reg.getActive('transactions'))?.version).toBe('tx-v2');
    const overview = await (await app.request('/', { headers: { cookie } })).text();
    expect(overview).toContain('tx-v2');
    const missing = await app.request(
      '/models/activate',
      form(cookie, { _csrf: csrf, version: 'nope', confirm: 'yes' }),
    );
    expect(missing.status).toBe(404);
  });

  it('shows per-minute counters on the overview API', async () => {
    await iso.db.raw(
      `INSERT INTO stream_counters (minute, kind, topic, consumer_group, source_partition, scored, flagged, dead_lettered)
       VALUES (date_trunc('minute', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', 'frames', 't', 'g', 0, 100, 7, 2)`,
    );
    const res = await app.request('/api/overview', { headers: { authorization: `Bearer ${TOKEN}` } });
    const j = (await res.json()) as { series: Record<string, number[][]> };
    expect(j.series.frames.slice(1)).toEqual([[100], [7], [2]]);
  });
});

describe('migration 20261205010000 (flags.review_label)', () => {
  it('fills review_label from the latest review of flags reviewed before it', async () => {
    const mig = await createIsolatedSchema({ prefix: 'console_mig', migrate: false });
    try {
      // Migrate up to (and including) the reviews migration only.
      for (;;) {
        const [, names] = (await mig.db.migrate.up()) as [number, string[]];
        if (names.some((n) => n.includes('20261205000000_reviews'))) break;
        if (names.length === 0) throw new Error('reviews migration not found');
      }
      const [a, b] = await insertFlags(mig.db, [{}, {}]);
      await mig.db('reviews').insert([
        { flag_id: a, label: 'fraud', reviewer: 'x', reviewed_at: new Date(Date.now() - 2000) },
        { flag_id: a, label: 'unsure', reviewer: 'y', reviewed_at: new Date(Date.now() - 1000) },
      ]);
      await mig.db.migrate.latest();
      const rows = await mig.db('flags').select('id', 'review_label').orderBy('id');
      expect(
        rows.map((r: { id: string; review_label: string | null }) => [String(r.id), r.review_label]),
      ).toEqual([
        [a, 'unsure'],
        [b, null],
      ]);
      // Down to before the review_label migration (later migrations first).
      for (;;) {
        const [, names] = (await mig.db.migrate.down()) as [number, string[]];
        if (names.some((n) => n.includes('20261205010000_flags_review_label'))) break;
        if (names.length === 0) throw new Error('review_label migration not undone');
      }
      expect(
        (
          await mig.db.raw(
            `SELECT column_name FROM information_schema.columns WHERE table_schema = ? AND table_name = 'flags' AND column_name = 'review_label'`,
            [mig.schema],
          )
        ).rows,
      ).toEqual([]);
    } finally {
      await mig.drop();
    }
  });
});
