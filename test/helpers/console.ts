import type { Knex } from 'knex';

/** What the helpers need of a hono app (its in-process `request`). */
export interface RequestApp {
  request(path: string, init?: RequestInit): Response | Promise<Response>;
}

/** Console test helpers: flags inserted straight into the table, and a logged-in session. */

export interface TestFlag {
  kind?: 'transactions' | 'frames';
  recordId?: string;
  score?: number;
  threshold?: number;
  modelVersion?: string;
  flaggedAt?: Date;
  payload?: Record<string, unknown>;
  topic?: string;
}

let offsetSeq = 0;

/** Inserts flags (defaults filled in); returns their ids in input order. */
export async function insertFlags(db: Knex, flags: TestFlag[]): Promise<string[]> {
  const rows = flags.map((f) => ({
    source_topic: f.topic ?? 'test.flags',
    source_partition: 0,
    source_offset: offsetSeq++,
    record_id: f.recordId ?? `rec-${offsetSeq}`,
    kind: f.kind ?? 'transactions',
    score: f.score ?? 10,
    waic: -(f.score ?? 10),
    logp_mean: -5,
    logp_var: 1,
    rate: 2,
    threshold: f.threshold ?? 5,
    model_version: f.modelVersion ?? 'tx-v1',
    flagged_at: f.flaggedAt ?? new Date(),
    payload: JSON.stringify(f.payload ?? { amount: 12.5 }),
  }));
  const out: string[] = [];
  for (let i = 0; i < rows.length; i += 1000) {
    const ids = await db('flags')
      .insert(rows.slice(i, i + 1000))
      .returning<{ id: string }[]>('id');
    out.push(...ids.map((r) => String(r.id)));
  }
  return out;
}

/** Cookie header value from the Set-Cookie headers of a response (name=value pairs only). */
export function cookiesOf(res: Response): string {
  return res.headers
    .getSetCookie()
    .map((c) => c.split(';')[0])
    .filter((c) => !c.endsWith('='))
    .join('; ');
}

export function hiddenValue(html: string, name: string): string {
  const m = new RegExp(`name="${name}" value="([^"]*)"`).exec(html);
  if (!m) throw new Error(`no hidden field ${name}`);
  return m[1];
}

/** Logs in through the form; returns the session cookie header and the session's CSRF token. */
export async function login(
  app: RequestApp,
  token: string,
  reviewer = 'alice',
): Promise<{ cookie: string; csrf: string }> {
  const form = await app.request('/login');
  const pre = cookiesOf(form);
  const body = new URLSearchParams({ _login: hiddenValue(await form.text(), '_login'), reviewer, token });
  const res = await app.request('/login', {
    method: 'POST',
    headers: { cookie: pre, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  if (res.status !== 303) throw new Error(`login failed: ${res.status}`);
  const cookie = cookiesOf(res);
  const home = await app.request('/queue', { headers: { cookie } });
  return { cookie, csrf: hiddenValue(await home.text(), '_csrf') };
}
