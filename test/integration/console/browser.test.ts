import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kafka } from 'kafkajs';
import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { startConsole, type RunningConsole } from '../../../src/console/server.js';
import { DeadLetterReader } from '../../../src/console/dlq-reader.js';
import { ModelRegistry } from '../../../src/store/model-registry.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { insertFlags } from '../../helpers/console.js';
import { createTopic, deleteTopics, testKafka } from '../../helpers/kafka.js';
import { mixedFrames, produceAll } from '../stream/support.js';

/**
 * The analyst console in a real browser: Debian's Chromium (`apt-get install chromium`) driven by
 * puppeteer-core (which never downloads a browser of its own). Logs in, sees the overview chart
 * (and sees it follow counters written while the page is open), opens a frame flag and sees its
 * image, labels flags (one, then a bulk selection), activates a model through the confirmation, reads
 * the DLQ page; a hostile record id never runs as script.
 *
 * Without Chromium the test is skipped with a loud warning, except under CI=true where it fails.
 * CONSOLE_SCREENSHOT_DIR=docs/console saves a screenshot of each page (what the README shows).
 */
function findChromium(): string | null {
  const env = process.env.CHROMIUM_PATH;
  if (env) return existsSync(env) ? env : null;
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      const p = execFileSync('which', [name], { encoding: 'utf8' }).trim();
      if (p) return p;
    } catch {
      // not on PATH
    }
  }
  return null;
}

const CHROMIUM = findChromium();
const IN_CI = Boolean(process.env.CI) && process.env.CI !== 'false';
const TOKEN = 'browser-test-token-0123456789';
const SHOTS = process.env.CONSOLE_SCREENSHOT_DIR ? resolve(process.env.CONSOLE_SCREENSHOT_DIR) : null;

if (!CHROMIUM && !IN_CI) {
  console.warn(
    '\n' +
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n' +
      '!!! console browser test SKIPPED: no chromium on PATH (apt-get install chromium) !!!\n' +
      '!!! (under CI=true this is a failure)                                           !!!\n' +
      '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n',
  );
}

describe.runIf(!CHROMIUM && IN_CI)('console in a real browser (CI)', () => {
  it('needs Debian chromium', () => {
    throw new Error(
      'chromium is not installed: .ci/run installs it (apt-get install chromium); CHROMIUM_PATH overrides',
    );
  });
});

describe.runIf(CHROMIUM !== null)('console in a real browser', () => {
  let iso: IsolatedSchema;
  let kafka: Kafka;
  let dlqTopic: string;
  let consoleSrv: RunningConsole;
  let browser: Browser;
  let page: Page;
  let frameIds: string[];
  let txIds: string[];
  const dialogs: string[] = [];

  const shot = async (name: string) => {
    if (!SHOTS) return;
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, `${name}.png`) as `${string}.png` });
  };

  const go = async (path: string) => {
    await page.goto(`${consoleSrv.url}${path}`, { waitUntil: 'load' });
  };

  const clickAndWait = async (selector: string) => {
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click(selector)]);
  };

  beforeAll(async () => {
    iso = await createIsolatedSchema({ prefix: 'console_browser' });
    kafka = testKafka('console-browser-test');
    dlqTopic = await createTopic(kafka, { prefix: 'console-browser-dlq' });
    await produceAll(
      kafka,
      dlqTopic,
      ['TRUNCATED', 'SHAPE_MISMATCH'].map((reason, i) => ({
        key: `gensemble.frames/0/${i}`,
        value: JSON.stringify({
          type: 'gensemble.DeadLetter',
          version: 1,
          reason,
          errorCode: 'DECODE_ERROR',
          error:
            reason === 'TRUNCATED' ? 'value ends at byte 12 of 800' : 'frame is 32x32, the model takes 28x28',
          field: null,
          kind: 'frames',
          consumerGroup: 'gensemble-scorer.frames',
          source: {
            topic: 'gensemble.frames',
            partition: 0,
            offset: String(40 + i),
            timestamp: '0',
            key: null,
          },
          value: null,
          valueLength: 12,
          headers: {},
          deadLetteredAt: new Date().toISOString(),
        }),
      })),
    );
    // Frames with real MNIST / noise pixels, as the frames consumer stores them.
    const frames = await mixedFrames(4, 2, 0);
    const now = Date.now();
    frameIds = await insertFlags(
      iso.db,
      frames.records.map((f, i) => ({
        kind: 'frames' as const,
        recordId: f.id,
        score: 300 + i * 40,
        threshold: 250,
        modelVersion: 'frames-v2',
        flaggedAt: new Date(now - (6 - i) * 1000),
        topic: 'gensemble.frames',
        payload: {
          source: f.source,
          width: 28,
          height: 28,
          channels: 1,
          pixels: f.pixels.toString('base64'),
          ...(f.ood_kind ? { ood_kind: f.ood_kind } : { label: f.label }),
          member_logp: [-310.2 - i, -295.7 - i, -330.9 - i],
        },
      })),
    );
    txIds = await insertFlags(iso.db, [
      ...Array.from({ length: 5 }, (_, i) => ({
        recordId: `tx-${1000 + i}`,
        score: 40 + i,
        threshold: 31.5,
        modelVersion: 'transactions-v1',
        flaggedAt: new Date(now - 20_000 - i * 1000),
        payload: {
          amount: 99.5 + i,
          card_id: `card-${i}`,
          features: Object.fromEntries([
            ['time_seconds', 40_000 + i],
            ...Array.from({ length: 28 }, (_, j) => [`V${j + 1}`, Number((Math.sin(i + j) * 3).toFixed(6))]),
          ]),
          member_logp: [-55.1, -60.2, -48.9],
        },
      })),
      {
        recordId: '<script>window.__pwned=1;alert(1)</script>',
        score: 35,
        threshold: 31.5,
        flaggedAt: new Date(now - 30_000),
      },
    ]);
    await iso.db.raw(
      `INSERT INTO stream_counters (minute, kind, topic, consumer_group, source_partition, scored, flagged, dead_lettered)
       SELECT date_trunc('minute', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - make_interval(mins => m), k, 't', 'g', 0,
              400 + 30 * m, 4 + m % 3, m % 2
         FROM generate_series(0, 14) m, unnest(ARRAY['transactions', 'frames']) k`,
    );
    const reg = new ModelRegistry(iso.db);
    // Manifest fields as `gensemble models register` stores them (a summary of the checkpoint's).
    const manifest = (fpr: number, v: number, score: string) => ({
      members: [{ seed: 1 }, { seed: 2 }, { seed: 3 }],
      k: 16,
      trainingConfig: { steps: 2000, nTrain: 16_000, bestValIwae: [v / -10, v / -10 - 0.2, v / -10 + 0.1] },
      thresholds: [{ score, value: v, targetFpr: fpr, calibrationSize: 2000 }],
    });
    await reg.register({
      version: 'transactions-v1',
      kind: 'transactions',
      checkpointPath: '/models/tx1',
      threshold: 31.5,
      scoreName: 'neg_waic',
      manifest: manifest(0.01, 31.5, 'neg_waic'),
      activate: true,
    });
    await reg.register({
      version: 'frames-v1',
      kind: 'frames',
      checkpointPath: '/models/fr1',
      threshold: 240,
      scoreName: 'neg_logp',
      manifest: manifest(0.01, 240, 'neg_logp'),
      activate: true,
    });
    await reg.register({
      version: 'frames-v2',
      kind: 'frames',
      checkpointPath: '/models/fr2',
      threshold: 250,
      scoreName: 'neg_logp',
      manifest: manifest(0.005, 250, 'neg_logp'),
    });

    const dlq = new DeadLetterReader({ kafka, topic: dlqTopic, timeoutMs: 20_000 });
    consoleSrv = await startConsole({
      host: '127.0.0.1',
      port: 0,
      token: TOKEN,
      db: iso.db,
      dlqTopic,
      deadLetters: () => dlq.recent(),
      overviewRefreshMs: 1000,
      // No consumers run in this test: the lag rows are what the service's gauge would give.
      lag: async () => [
        { kind: 'transactions', topic: 'gensemble.transactions', partition: 0, lag: 0 },
        { kind: 'frames', topic: 'gensemble.frames', partition: 0, lag: 12 },
      ],
    });
    browser = await puppeteer.launch({
      executablePath: CHROMIUM as string,
      headless: true,
      args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
    });
    page = await browser.newPage();
    await page.setViewport({ width: 1180, height: 760 });
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await consoleSrv?.close();
    if (kafka && dlqTopic) await deleteTopics(kafka, [dlqTopic]).catch(() => undefined);
    await iso?.drop();
  });

  it('logs in and sees the overview chart follow new counters', async () => {
    await go('/queue');
    expect(new URL(page.url()).pathname).toBe('/login');
    await shot('login');
    await page.type('input[name=reviewer]', 'Ada Analyst');
    await page.type('input[name=token]', 'not-the-token-0000000');
    await clickAndWait('form.login button');
    expect(await page.$eval('#login-error', (e) => e.textContent)).toContain('Wrong token');
    await page.type('input[name=reviewer]', 'Ada Analyst');
    await page.type('input[name=token]', TOKEN);
    await clickAndWait('form.login button');
    expect(new URL(page.url()).pathname).toBe('/');
    await page.waitForSelector('#chart-frames canvas');
    await page.waitForSelector('#chart-transactions canvas');
    expect(await page.$eval('#active-models', (e) => e.textContent)).toContain('frames-v1');
    expect(await page.$eval('#lag', (e) => e.textContent)).toContain('gensemble.frames');
    await shot('overview');
    // Counters written while the page is open reach the chart without a reload (the latest minute's
    // row, not "now": the minute may have turned since the rows were written).
    await iso.db.raw(
      `UPDATE stream_counters SET scored = scored + 5000
        WHERE kind = 'frames' AND minute = (SELECT max(minute) FROM stream_counters WHERE kind = 'frames')`,
    );
    await page.waitForFunction(
      `(JSON.parse(document.getElementById('charts').getAttribute('data-drawn') || '{}').frames || []).some((v) => v >= 5000)`,
      { timeout: 20_000 },
    );
  });

  it('opens a frame flag and sees its image and member scores', async () => {
    await go('/queue?kind=frames&order=score');
    await page.waitForSelector('#queue');
    await shot('queue');
    await clickAndWait(`#queue tr[data-flag-id="${frameIds[0]}"] a`);
    await page.waitForSelector('img#frame');
    await page.waitForFunction(`document.getElementById('frame').complete`);
    const size = await page.$eval('img#frame', (img) => {
      const i = img as unknown as { naturalWidth: number; naturalHeight: number };
      return [i.naturalWidth, i.naturalHeight];
    });
    expect(size).toEqual([224, 224]);
    expect(await page.$eval('#member-scores', (e) => e.textContent)).toContain('-310.2');
    await page.type('#review-form input[name=note]', 'a 7 drawn oddly, not an attack');
    await clickAndWait('#review-form button[value=not_fraud]');
    expect(await page.$eval('#notice', (e) => e.textContent)).toContain('marked 1 flag(s) as not fraud');
    expect(await page.$eval('#history', (e) => e.textContent)).toContain('Ada Analyst');
    await shot('flag');
  });

  it('opens a transaction flag and sees its fields', async () => {
    await go(`/flags/${txIds[0]}`);
    const text = await page.$eval('#flag-fields', (e) => e.textContent);
    expect(text).toContain('V28');
    expect(text).toContain('card-0');
    await shot('transaction');
  });

  it('labels a selection in bulk; the hostile record id stays text', async () => {
    await go('/queue?kind=transactions');
    expect(await page.$eval('#queue', (e) => e.textContent)).toContain(
      '<script>window.__pwned=1;alert(1)</script>',
    );
    expect(await page.evaluate('window.__pwned')).toBeUndefined();
    await page.click('#select-all');
    await page.type('#bulk input[name=note]', 'card testing burst');
    await clickAndWait('#bulk button[value=fraud]');
    expect(await page.$eval('#notice', (e) => e.textContent)).toContain(
      `marked ${txIds.length} flag(s) as fraud`,
    );
    const rows = await iso.db('reviews').where({ label: 'fraud' }).select('flag_id', 'reviewer');
    expect(rows.map((r: { flag_id: string }) => String(r.flag_id)).sort()).toEqual([...txIds].sort());
    expect(new Set(rows.map((r: { reviewer: string }) => r.reviewer))).toEqual(new Set(['Ada Analyst']));
    await go('/queue?review=fraud');
    expect(await page.$$eval('#queue tr[data-flag-id]', (r) => r.length)).toBe(txIds.length);
    expect(dialogs).toEqual([]);
  });

  it('activates a model after the confirmation', async () => {
    await go('/models');
    expect(await page.$eval('#models-frames', (e) => e.textContent)).toContain(
      'flags neg_logp > 250, target FPR 0.005 on 2000 held-out normals',
    );
    await shot('models');
    await clickAndWait('#models-frames tr[data-version="frames-v2"] button.activate');
    expect(await page.$eval('main', (e) => e.textContent)).toContain('It replaces frames-v1');
    expect((await new ModelRegistry(iso.db).getActive('frames'))?.version).toBe('frames-v1');
    await clickAndWait('#confirm-activate button');
    expect(await page.$eval('#notice', (e) => e.textContent)).toContain('activated frames-v2');
    expect(await page.$eval('#models-frames tr.active', (e) => e.getAttribute('data-version'))).toBe(
      'frames-v2',
    );
    expect((await new ModelRegistry(iso.db).getActive('frames'))?.version).toBe('frames-v2');
  });

  it('shows the recent dead letters', async () => {
    await go('/dlq');
    const text = await page.$eval('#dlq', (e) => e.textContent);
    expect(text).toContain('TRUNCATED');
    expect(text).toContain('gensemble.frames/0/41');
    await shot('dlq');
  });
});
