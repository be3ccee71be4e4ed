/**
 * The console's pages, rendered server-side with hono's `html` tagged template: every interpolated
 * value is HTML-escaped unless it is itself an `html` fragment, so a flag id like `<script>` renders
 * as text. `raw` is used nowhere in this file. Scripts are static files (CSP forbids inline ones);
 * data for them travels in data- attributes (escaped like any attribute value).
 */
import { html } from 'hono/html';
import type { HtmlEscapedString } from 'hono/utils/html';
import type { ModelVersion } from '../store/model-registry.js';
import type { FlagRateRow, InputKind } from '../store/flag-store.js';
import {
  QUEUE_ORDERS,
  REVIEW_LABELS,
  REVIEW_STATES,
  type QueueRow,
  type Review,
  type ReviewLabel,
} from '../store/review-store.js';
import type { DeadLetterReport } from './dlq-reader.js';

export type Fragment = HtmlEscapedString | Promise<HtmlEscapedString>;

export interface PageContext {
  /** CSRF token of the session (hidden field of every form). */
  csrf: string;
  reviewer: string;
  /** Flash message from the last action. */
  notice?: string;
}

const LABEL_TEXT: Record<ReviewLabel, string> = { fraud: 'fraud', not_fraud: 'not fraud', unsure: 'unsure' };

function fmtTime(d: Date | null): string {
  return d
    ? d
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z')
    : '';
}

function fmtNum(v: number, digits = 4): string {
  return Number.isFinite(v) ? String(Number(v.toPrecision(digits))) : String(v);
}

function csrfField(ctx: PageContext): Fragment {
  return html`<input type="hidden" name="_csrf" value="${ctx.csrf}" />`;
}

export function layout(title: string, active: string, ctx: PageContext | null, body: Fragment): Fragment {
  const nav = (href: string, name: string) =>
    html`<a href="${href}" class="${active === name ? 'active' : ''}">${name}</a>`;
  return html`<!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>${title} · gensemble console</title>
        <link rel="stylesheet" href="/static/uplot.min.css" />
        <link rel="stylesheet" href="/static/console.css" />
      </head>
      <body>
        <header>
          <strong>gensemble</strong>
          ${
            ctx
              ? html`<nav>
                    ${nav('/', 'Overview')} ${nav('/queue', 'Review queue')} ${nav('/models', 'Models')}
                    ${nav('/dlq', 'DLQ')}
                  </nav>
                  <form method="post" action="/logout" class="logout">
                    ${csrfField(ctx)}<span>${ctx.reviewer}</span> <button type="submit">Log out</button>
                  </form>`
              : ''
          }
        </header>
        <main>
          ${ctx?.notice ? html`<p class="notice" id="notice">${ctx.notice}</p>` : ''}
          <h1>${title}</h1>
          ${body}
        </main>
        <script src="/static/uplot.iife.min.js"></script>
        <script src="/static/console.js"></script>
      </body>
    </html>`;
}

export function loginPage(loginCsrf: string, error?: string): Fragment {
  return layout(
    'Log in',
    '',
    null,
    html`${error ? html`<p class="error" id="login-error">${error}</p>` : ''}
      <form method="post" action="/login" class="login">
        <input type="hidden" name="_login" value="${loginCsrf}" />
        <label>Your name (stored with your reviews) <input name="reviewer" required maxlength="200" /></label>
        <label
          >Console token <input name="token" type="password" required autocomplete="current-password"
        /></label>
        <button type="submit">Log in</button>
      </form>`,
  );
}

export interface LagRow {
  kind: string;
  topic: string;
  partition: number;
  lag: number;
}

export interface OverviewData {
  rates: FlagRateRow[];
  lag: LagRow[] | null;
  models: ModelVersion[];
}

/** Per kind: minute (s since epoch) ascending, scored, flagged, dead-lettered; for uPlot. */
export function overviewSeries(rates: FlagRateRow[]): Record<string, number[][]> {
  const byKind: Record<string, FlagRateRow[]> = {};
  for (const r of rates) (byKind[r.kind] ??= []).push(r);
  const out: Record<string, number[][]> = {};
  for (const [kind, rows] of Object.entries(byKind)) {
    rows.sort((a, b) => a.minute.getTime() - b.minute.getTime());
    out[kind] = [
      rows.map((r) => r.minute.getTime() / 1000),
      rows.map((r) => r.scored),
      rows.map((r) => r.flagged),
      rows.map((r) => r.deadLettered),
    ];
  }
  return out;
}

function thresholdOf(m: ModelVersion): { targetFpr: number | null } {
  const ths = m.manifest.thresholds;
  if (Array.isArray(ths)) {
    for (const t of ths as { score?: unknown; targetFpr?: unknown }[])
      if (t && t.score === m.scoreName && typeof t.targetFpr === 'number') return { targetFpr: t.targetFpr };
  }
  return { targetFpr: null };
}

export function overviewPage(ctx: PageContext, d: OverviewData, refreshMs = 10_000): Fragment {
  const active = d.models.filter((m) => m.active);
  const totals = (kind: string) =>
    d.rates
      .filter((r) => r.kind === kind)
      .reduce((a, r) => ({ s: a.s + r.scored, f: a.f + r.flagged, d: a.d + r.deadLettered }), {
        s: 0,
        f: 0,
        d: 0,
      });
  const kinds = [...new Set(d.rates.map((r) => r.kind))].sort();
  return layout(
    'Overview',
    'Overview',
    ctx,
    html`<section>
        <h2>Last 60 minutes, per minute</h2>
        <div
          id="charts"
          data-refresh="/api/overview"
          data-refresh-ms="${refreshMs}"
          data-series="${JSON.stringify(overviewSeries(d.rates))}"
        ></div>
        <table id="totals">
          <tr>
            <th>kind</th>
            <th>scored</th>
            <th>flagged</th>
            <th>dead-lettered</th>
          </tr>
          ${kinds.map((k) => {
            const t = totals(k);
            return html`<tr>
              <td>${k}</td>
              <td>${t.s}</td>
              <td>${t.f}</td>
              <td>${t.d}</td>
            </tr>`;
          })}
          ${
            kinds.length === 0
              ? html`<tr>
                  <td colspan="4">nothing scored in the last hour</td>
                </tr>`
              : ''
          }
        </table>
      </section>
      <section>
        <h2>Active models</h2>
        <table id="active-models">
          <tr>
            <th>kind</th>
            <th>version</th>
            <th>family</th>
            <th>score</th>
            <th>threshold</th>
            <th>target FPR</th>
          </tr>
          ${active.map(
            (m) =>
              html`<tr>
                <td>${m.kind}</td>
                <td>${m.version}</td>
                <td>${m.family}</td>
                <td>${m.scoreName}</td>
                <td>${fmtNum(m.threshold, 6)}</td>
                <td>${thresholdOf(m).targetFpr ?? '—'}</td>
              </tr>`,
          )}
          ${
            active.length === 0
              ? html`<tr>
                  <td colspan="5">no active model</td>
                </tr>`
              : ''
          }
        </table>
      </section>
      <section>
        <h2>Consumer lag</h2>
        ${
          d.lag === null
            ? html`<p>not available (the console runs without the scoring consumers)</p>`
            : html`<table id="lag">
                <tr>
                  <th>kind</th>
                  <th>topic</th>
                  <th>partition</th>
                  <th>lag (records)</th>
                </tr>
                ${d.lag.map(
                  (l) =>
                    html`<tr>
                      <td>${l.kind}</td>
                      <td>${l.topic}</td>
                      <td>${l.partition}</td>
                      <td>${l.lag}</td>
                    </tr>`,
                )}
                ${
                  d.lag.length === 0
                    ? html`<tr>
                        <td colspan="4">no batch consumed yet</td>
                      </tr>`
                    : ''
                }
              </table>`
        }
      </section>`,
  );
}

export interface QueueView {
  rows: QueueRow[];
  next: string | null;
  /** The filters as given (query-string values), to refill the form and build links. */
  filters: Record<string, string>;
  modelVersions: string[];
  /** This page's URL (path + query), where actions come back to. */
  self: string;
}

function queueLink(filters: Record<string, string>, extra: Record<string, string>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...filters, ...extra })) if (v !== '' && k !== 'after') p.set(k, v);
  if (extra.after) p.set('after', extra.after);
  const s = p.toString();
  return s ? `/queue?${s}` : '/queue';
}

function option(value: string, label: string, selected: string | undefined): Fragment {
  return html`<option value="${value}" ${value === (selected ?? '') ? 'selected' : ''}>${label}</option>`;
}

function reviewBadge(r: QueueRow['review']): Fragment {
  if (!r) return html`<span class="badge none">unreviewed</span>`;
  return html`<span class="badge ${r.label}">${LABEL_TEXT[r.label]}</span>`;
}

function summary(row: QueueRow): string {
  const p = row.payload;
  if (row.kind === 'transactions') {
    const parts: string[] = [];
    if (p.amount !== undefined) parts.push(`amount ${String(p.amount)}`);
    if (typeof p.card_id === 'string') parts.push(`card ${p.card_id}`);
    if (typeof p.merchant_id === 'string') parts.push(`merchant ${p.merchant_id}`);
    return parts.join(', ');
  }
  const parts: string[] = [];
  if (typeof p.source === 'string') parts.push(p.source);
  if (p.width !== undefined) parts.push(`${String(p.width)}×${String(p.height)}`);
  if (typeof p.ood_kind === 'string') parts.push(`ood ${p.ood_kind}`);
  return parts.join(', ');
}

export function reviewButtons(): Fragment {
  return html`${REVIEW_LABELS.map(
    (l) => html`<button type="submit" name="label" value="${l}" class="label-${l}">${LABEL_TEXT[l]}</button>`,
  )}`;
}

export function queuePage(ctx: PageContext, v: QueueView): Fragment {
  const f = v.filters;
  return layout(
    'Review queue',
    'Review queue',
    ctx,
    html`<form method="get" action="/queue" class="filters" id="filters">
        <label
          >kind
          <select name="kind">
            ${option('', 'any', f.kind)}${option('transactions', 'transactions', f.kind)}${option('frames', 'frames', f.kind)}
          </select></label
        >
        <label
          >since <input name="since" value="${f.since ?? ''}" placeholder="2h, 7d or ISO time" size="12"
        /></label>
        <label>until <input name="until" value="${f.until ?? ''}" placeholder="ISO time" size="12" /></label>
        <label>score ≥ <input name="minScore" value="${f.minScore ?? ''}" size="6" /></label>
        <label>score ≤ <input name="maxScore" value="${f.maxScore ?? ''}" size="6" /></label>
        <label
          >model
          <select name="model">
            ${option('', 'any', f.model)}${v.modelVersions.map((m) => option(m, m, f.model))}
          </select></label
        >
        <label
          >review
          <select name="review">
            ${option('', 'any', f.review)}${REVIEW_STATES.map((s) => option(s, s.replace('_', ' '), f.review))}
          </select></label
        >
        <label
          >order
          <select name="order">
            ${QUEUE_ORDERS.map((o) => option(o, o === 'newest' ? 'newest first' : 'highest score first', f.order))}
          </select></label
        >
        <button type="submit">Filter</button>
      </form>
      <form method="post" action="/reviews" id="bulk">
        ${csrfField(ctx)}
        <input type="hidden" name="back" value="${v.self}" />
        <div class="bulk-actions">
          <label><input type="checkbox" id="select-all" /> all on this page</label>
          <input name="note" placeholder="note (optional)" maxlength="2000" size="30" />
          mark selected as ${reviewButtons()}
        </div>
        <table id="queue">
          <tr>
            <th></th>
            <th>id</th>
            <th>kind</th>
            <th>record</th>
            <th>score</th>
            <th>threshold</th>
            <th>model</th>
            <th>flagged at</th>
            <th>details</th>
            <th>review</th>
          </tr>
          ${v.rows.map(
            (r) =>
              html`<tr data-flag-id="${r.id}">
                <td><input type="checkbox" name="ids" value="${r.id}" class="select" /></td>
                <td><a href="/flags/${r.id}">${r.id}</a></td>
                <td>${r.kind}</td>
                <td class="record-id">${r.recordId}</td>
                <td>${fmtNum(r.score, 6)}</td>
                <td>${fmtNum(r.threshold, 6)}</td>
                <td>${r.modelVersion}</td>
                <td>${fmtTime(r.flaggedAt)}</td>
                <td>
                  ${
                    r.kind === 'frames' && typeof r.payload.pixels === 'string'
                      ? html`<img class="thumb" src="/flags/${r.id}/image.png?scale=2" alt="" />`
                      : ''
                  }
                  ${summary(r)}
                </td>
                <td>${reviewBadge(r.review)}</td>
              </tr>`,
          )}
          ${
            v.rows.length === 0
              ? html`<tr>
                  <td colspan="10">no flags match</td>
                </tr>`
              : ''
          }
        </table>
      </form>
      <p class="pager">
        <a href="${queueLink(f, {})}">first page</a>
        ${v.next ? html` · <a href="${queueLink(f, { after: v.next })}" id="next-page">next page</a>` : ''}
      </p>`,
  );
}

function field(name: string, value: unknown): Fragment {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    // A nested record (e.g. a transaction's features): a compact grid of name = value, 6 a row.
    const entries = Object.entries(value as Record<string, unknown>);
    const rows: [string, unknown][][] = [];
    for (let i = 0; i < entries.length; i += 6) rows.push(entries.slice(i, i + 6));
    return html`<tr>
      <th>${name}</th>
      <td>
        <table class="grid">
          ${rows.map(
            (row) =>
              html`<tr>
                ${row.map(
                  ([k, v]) =>
                    html`<th>${k}</th>
                      <td>${typeof v === 'string' ? v : JSON.stringify(v)}</td>`,
                )}
              </tr>`,
          )}
        </table>
      </td>
    </tr>`;
  }
  const shown = typeof value === 'string' ? value : JSON.stringify(value);
  return html`<tr>
    <th>${name}</th>
    <td>${shown}</td>
  </tr>`;
}

export interface FlagView {
  flag: QueueRow;
  history: Review[];
  hasImage: boolean;
}

export function flagPage(ctx: PageContext, v: FlagView): Fragment {
  const f = v.flag;
  const { pixels: _pixels, member_logp: memberLogp, ...fields } = f.payload;
  void _pixels;
  const members = Array.isArray(memberLogp) ? (memberLogp as unknown[]) : [];
  return layout(
    `Flag ${f.id}`,
    'Review queue',
    ctx,
    html`<div class="flag">
        ${
          f.kind === 'frames'
            ? v.hasImage
              ? html`<img id="frame" src="/flags/${f.id}/image.png" alt="flagged frame ${f.recordId}" />`
              : html`<p>no pixels stored with this flag (flagged before the payload kept them)</p>`
            : ''
        }
        <table id="flag-fields">
          ${field('record id', f.recordId)} ${field('kind', f.kind)} ${field('score', fmtNum(f.score, 8))}
          ${field('threshold', fmtNum(f.threshold, 8))} ${field('WAIC', fmtNum(f.waic, 8))}
          ${field('mean log p', fmtNum(f.logpMean, 8))} ${field('var log p', fmtNum(f.logpVar, 8))}
          ${field('rate', fmtNum(f.rate, 8))} ${field('model', f.modelVersion)}
          ${field('Kafka source', `${f.sourceTopic}/${f.sourcePartition}/${f.sourceOffset}`)}
          ${field('event time', fmtTime(f.eventTime))} ${field('flagged at', fmtTime(f.flaggedAt))}
          ${Object.entries(fields).map(([k, val]) => field(k, val))}
        </table>
        ${
          members.length > 0
            ? html`<h2>Member scores (log p per ensemble member)</h2>
                <table id="member-scores">
                  <tr>
                    ${members.map((_, i) => html`<th>member ${i + 1}</th>`)}
                  </tr>
                  <tr>
                    ${members.map((m) => html`<td>${typeof m === 'number' ? fmtNum(m, 7) : 'n/a'}</td>`)}
                  </tr>
                </table>`
            : ''
        }
      </div>
      <h2>Review</h2>
      <p>current: ${reviewBadge(f.review)}</p>
      <form method="post" action="/reviews" id="review-form">
        ${csrfField(ctx)}
        <input type="hidden" name="ids" value="${f.id}" />
        <input type="hidden" name="back" value="/flags/${f.id}" />
        <input name="note" placeholder="note (optional)" maxlength="2000" size="40" />
        ${reviewButtons()}
      </form>
      ${
        v.history.length > 0
          ? html`<h2>History</h2>
              <table id="history">
                <tr>
                  <th>when</th>
                  <th>who</th>
                  <th>label</th>
                  <th>note</th>
                </tr>
                ${v.history.map(
                  (h) =>
                    html`<tr>
                      <td>${fmtTime(h.reviewedAt)}</td>
                      <td>${h.reviewer}</td>
                      <td>${LABEL_TEXT[h.label]}</td>
                      <td>${h.note}</td>
                    </tr>`,
                )}
              </table>`
          : ''
      }`,
  );
}

/** What the manifest says about a version: ensemble, training, calibration (and any evaluation). */
export function manifestFigures(m: ModelVersion): string[] {
  const man = m.manifest;
  const bits: string[] = [];
  const num = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);
  const members = Array.isArray(man.members) ? man.members.length : num(man.members);
  const tc = (man.trainingConfig ?? {}) as Record<string, unknown>;
  const ens: string[] = [];
  if (members !== null) ens.push(`${members} members`);
  if (num(man.k) !== null) ens.push(`K = ${String(man.k)}`);
  if (num(tc.steps) !== null) ens.push(`${String(tc.steps)} steps`);
  if (num(tc.nTrain) !== null) ens.push(`${String(tc.nTrain)} training records`);
  if (ens.length) bits.push(ens.join(', '));
  const iwae = Array.isArray(tc.bestValIwae)
    ? (tc.bestValIwae as unknown[]).filter((v) => num(v) !== null)
    : [];
  if (iwae.length)
    bits.push(`validation IWAE per member: ${iwae.map((v) => fmtNum(v as number, 6)).join(', ')}`);
  const ths = Array.isArray(man.thresholds) ? (man.thresholds as Record<string, unknown>[]) : [];
  const rule = ths.find((t) => t && t.score === m.scoreName);
  if (rule)
    bits.push(
      `flags ${m.scoreName} > ${fmtNum(Number(rule.value), 6)}, target FPR ${String(rule.targetFpr)} on ${String(rule.calibrationSize)} held-out normals`,
    );
  if (ths.length > 1) bits.push(`${ths.length} calibrated scores`);
  for (const key of ['evaluation', 'metrics', 'benchmark'])
    if (man[key] !== undefined) bits.push(`${key}: ${JSON.stringify(man[key]).slice(0, 400)}`);
  return bits;
}

export function modelsPage(ctx: PageContext, models: ModelVersion[], kinds: readonly InputKind[]): Fragment {
  return layout(
    'Models',
    'Models',
    ctx,
    html`${kinds.map((kind) => {
      const rows = models.filter((m) => m.kind === kind);
      return html`<section>
        <h2>${kind}</h2>
        <table class="models" id="models-${kind}">
          <tr>
            <th>version</th>
            <th>score</th>
            <th>threshold</th>
            <th>created</th>
            <th>manifest</th>
            <th></th>
          </tr>
          ${rows.map(
            (m) =>
              html`<tr data-version="${m.version}" class="${m.active ? 'active' : ''}">
                <td>${m.version}</td>
                <td>${m.scoreName}</td>
                <td>${fmtNum(m.threshold, 6)}</td>
                <td>${fmtTime(m.createdAt)}</td>
                <td class="figures">${manifestFigures(m).map((b) => html`<div>${b}</div>`)}</td>
                <td>
                  ${
                    m.active
                      ? html`<strong>active</strong>`
                      : html`<form method="post" action="/models/activate">
                          ${csrfField(ctx)}<input type="hidden" name="version" value="${m.version}" />
                          <button type="submit" class="activate">Activate…</button>
                        </form>`
                  }
                </td>
              </tr>`,
          )}
          ${
            rows.length === 0
              ? html`<tr>
                  <td colspan="7">no registered version</td>
                </tr>`
              : ''
          }
        </table>
      </section>`;
    })}`,
  );
}

export function confirmActivatePage(
  ctx: PageContext,
  m: ModelVersion,
  current: ModelVersion | undefined,
): Fragment {
  return layout(
    'Activate a model',
    'Models',
    ctx,
    html`<p>
        Make <strong>${m.version}</strong> the active ${m.kind} model? The scoring consumers load it within
        MODEL_RELOAD_MS and score every following batch with it (threshold ${fmtNum(m.threshold, 6)} on
        ${m.scoreName}). ${current ? html`It replaces <strong>${current.version}</strong>.` : ''}
      </p>
      <form method="post" action="/models/activate" id="confirm-activate">
        ${csrfField(ctx)}
        <input type="hidden" name="version" value="${m.version}" />
        <input type="hidden" name="confirm" value="yes" />
        <button type="submit">Yes, activate ${m.version}</button>
        <a href="/models">Cancel</a>
      </form>`,
  );
}

export function dlqPage(ctx: PageContext, report: DeadLetterReport | null, topic: string): Fragment {
  return layout(
    'Dead letters',
    'DLQ',
    ctx,
    html`${
      report === null
        ? html`<p>not available: the console runs without a Kafka client</p>`
        : html`<p>
              The most recent records of <code>${topic}</code>, read from Kafka at ${fmtTime(report.readAt)}.
            </p>
            ${report.note ? html`<p class="notice">${report.note}</p>` : ''}
            <table id="dlq">
              <tr>
                <th>dead-lettered</th>
                <th>reason</th>
                <th>source</th>
                <th>kind</th>
                <th>error</th>
                <th>field</th>
                <th>bytes</th>
              </tr>
              ${report.rows.map(
                (r) =>
                  html`<tr>
                    <td>${fmtTime(new Date(r.timestamp))}</td>
                    <td>${r.reason}</td>
                    <td>${r.source}</td>
                    <td>${r.kind}</td>
                    <td>${r.error}</td>
                    <td>${r.field ?? ''}</td>
                    <td>${r.valueLength ?? ''}</td>
                  </tr>`,
              )}
              ${
                report.rows.length === 0
                  ? html`<tr>
                      <td colspan="7">no dead letters</td>
                    </tr>`
                  : ''
              }
            </table>`
    }`,
  );
}

export function errorPage(ctx: PageContext | null, title: string, message: string): Fragment {
  return layout(title, '', ctx, html`<p class="error">${message}</p>`);
}
