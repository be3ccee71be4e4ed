import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlagStore, type FlagFields } from '../../../src/store/flag-store.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { databaseUrl } from '../../helpers/services.js';
import { errorLines, runCli } from './run-cli.js';

let s: IsolatedSchema;
let env: Record<string, string>;

const flag = (recordId: string, score: number, modelVersion = 'm1'): FlagFields => ({
  recordId,
  score,
  waic: -score,
  logpMean: -score,
  logpVar: 0.5,
  rate: 3,
  threshold: 10,
  modelVersion,
  eventTime: Date.UTC(2026, 0, 1),
  payload: { note: "it's fine" },
});

/** A fingerprint of the whole flags table (independent of the CLI). */
async function snapshot(): Promise<string> {
  const r = await s.db.raw<{ rows: { n: string; h: string | null }[] }>(
    `SELECT count(*)::text AS n, md5(string_agg(f::text, '|' ORDER BY id)) AS h FROM flags f`,
  );
  return `${r.rows[0].n}:${r.rows[0].h}`;
}

beforeAll(async () => {
  s = await createIsolatedSchema({ prefix: 'cliflags' });
  env = { DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: s.schema };
  const store = new FlagStore(s.db);
  await store.writeBatch({
    topic: 'tx-topic',
    partition: 0,
    kind: 'transactions',
    records: [
      { offset: 0, outcome: 'flagged', flag: flag('tx-0', 12) },
      { offset: 1, outcome: 'scored' },
      { offset: 2, outcome: 'flagged', flag: flag('tx-2', 30, 'm2') },
    ],
  });
  await store.writeBatch({
    topic: 'fr-topic',
    partition: 0,
    kind: 'frames',
    records: [{ offset: 5, outcome: 'flagged', flag: flag('frame-5', 400) }],
  });
});
afterAll(async () => {
  await s?.drop();
});

const parseLines = (out: string) =>
  out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as { recordId: string; kind: string; score: number });

describe('gensemble flags', () => {
  it('filters by kind, min score, model version and topic (JSON lines, newest first)', async () => {
    const all = await runCli(['flags', '--json'], env);
    expect(all.code).toBe(0);
    expect(
      parseLines(all.stdout)
        .map((r) => r.recordId)
        .sort(),
    ).toEqual(['frame-5', 'tx-0', 'tx-2']);
    const tx = await runCli(['flags', '--json', '--kind', 'transactions', '--min-score', '20'], env);
    expect(parseLines(tx.stdout).map((r) => r.recordId)).toEqual(['tx-2']);
    const mv = await runCli(
      ['flags', '--json', '--model-version', 'm1', '--topic', 'tx-topic', '--since', '1h'],
      env,
    );
    expect(parseLines(mv.stdout).map((r) => r.recordId)).toEqual(['tx-0']);
    const table = await runCli(['flags', '--limit', '2'], env);
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^flagged_at\s+kind\s+record_id\s+score/);
    expect(lines).toHaveLength(4); // header, rule, 2 rows
  });

  it('hostile filter values give an error or an empty result; the table is still there, unchanged', async () => {
    const before = await snapshot();
    const hostile: { args: string[]; expect: 'error' | 'empty' }[] = [
      { args: ['--min-score', '1; DROP TABLE flags'], expect: 'error' },
      { args: ['--min-score', 'NaN'], expect: 'error' },
      { args: ['--min-score', '1e999'], expect: 'error' },
      { args: ['--limit', '99999999999999999999999'], expect: 'error' },
      { args: ['--limit', 'NaN'], expect: 'error' },
      { args: ['--kind', "frames' OR '1'='1"], expect: 'error' },
      { args: ['--since', "2020-01-01'; DROP TABLE flags; --"], expect: 'error' },
      { args: ['--since', '99999999999d'], expect: 'error' },
      { args: ['--model-version', "' OR 1=1 --"], expect: 'empty' },
      { args: ['--topic', "x'); DELETE FROM flags; --"], expect: 'empty' },
      { args: ['--model-version', 'm1\u0007'], expect: 'error' },
    ];
    // A few at a time (2-core machine).
    for (let i = 0; i < hostile.length; i += 4) {
      const pair = hostile.slice(i, i + 4);
      const results = await Promise.all(pair.map((h) => runCli(['flags', '--json', ...h.args], env)));
      results.forEach((r, j) => {
        const h = pair[j];
        const what = `flags ${h.args.join(' ')}: exit ${r.code}, stderr ${r.stderr}`;
        expect(r.stderr, what).not.toMatch(/\n\s+at /); // no stack trace
        if (h.expect === 'error') {
          expect(r.code, what).not.toBe(0);
          expect(errorLines(r.stderr), what).toHaveLength(1);
          expect(r.stdout, what).toBe('');
        } else {
          expect(r.code, what).toBe(0);
          expect(r.stdout, what).toBe('');
        }
      });
    }
    expect(await snapshot()).toBe(before);
    expect(before.startsWith('3:')).toBe(true);
  });
});
