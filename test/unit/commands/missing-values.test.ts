/**
 * Missing values of a declared kind's optional fields. The schema says such a field may be null, so a
 * record without it is a valid record and must be scored, not refused: before `missing: "indicator"`,
 * `gensemble train` stopped at the first empty cell of an optional numeric column and the stream
 * dead-lettered every such record (INVALID_RECORD). Now a missing value encodes as the training median
 * (share of true for a boolean) plus a `<name>:missing` 0/1 column, so:
 * - a training file with gaps trains, and its records with and without the value score as normal;
 * - where the training file always had the value, a record without it is flagged (it was never seen),
 *   with a finite score;
 * - `"missing": "reject"` keeps the old behaviour, with the line of the first gap named.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const bin = join(root, 'bin/gensemble.js');

interface ScoreRow {
  id: string;
  score: number | null;
  flagged: boolean;
}

const declaration = (tip: Record<string, unknown>): string =>
  JSON.stringify({
    name: 'shop',
    topic: 'shop.tx',
    fields: [
      { name: 'tx_id', type: 'string' },
      { name: 'amount', type: 'double' },
      { name: 'tip', type: 'double', optional: true },
      { name: 'loyalty', type: 'boolean', optional: true },
      { name: 'mcc', type: 'string' },
    ],
    id: 'tx_id',
    features: {
      amount: { type: 'numeric', transform: 'log' },
      tip: tip,
      loyalty: { type: 'boolean' },
      mcc: { type: 'categorical' },
    },
  });

/** 400 records; `gaps` leaves tip and loyalty empty in about 30 % and 20 % of them. */
function trainCsv(gaps: boolean): string {
  const lines = ['tx_id,amount,tip,loyalty,mcc'];
  for (let i = 0; i < 400; i++) {
    const amount = (5 + ((i * 37) % 200) / 4).toFixed(2);
    const tip = gaps && i % 10 < 3 ? '' : (((i * 13) % 40) / 10).toFixed(2);
    const loyalty = gaps && i % 5 === 1 ? '' : String(i % 3 === 0);
    lines.push(`t${i},${amount},${tip},${loyalty},${['5411', '5812'][i % 2]}`);
  }
  return lines.join('\n') + '\n';
}

describe('missing values of optional fields (declared kind, CLI)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-missing-'));
    await mkdir(join(dir, 'kinds'));
    env = { ...process.env, KINDS_DIR: join(dir, 'kinds') };
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function train(name: string, gaps: boolean): Promise<string> {
    const data = join(dir, `${name}.csv`);
    await writeFile(data, trainCsv(gaps));
    const model = join(dir, name);
    await run(
      process.execPath,
      [bin, 'train', '--kind', 'shop', '--data', data, '--out', model, '--members', '2', '--steps', '300'],
      { cwd: root, env, timeout: 120_000 },
    );
    return model;
  }

  async function score(model: string, records: Record<string, unknown>[]): Promise<Map<string, ScoreRow>> {
    const input = join(dir, `in-${records.length}-${Date.now()}.jsonl`);
    await writeFile(input, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = `${input}.scores.jsonl`;
    await run(process.execPath, [bin, 'score', '--model', model, '--input', input, '--out', out], {
      cwd: root,
      env,
      timeout: 120_000,
    });
    const rows = (await readFile(out, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as ScoreRow);
    return new Map(rows.map((r) => [r.id, r]));
  }

  const base = { amount: 20, tip: 1.5, loyalty: true, mcc: '5411' };

  it('a training file with gaps trains; records with and without the values score as normal', async () => {
    await writeFile(join(dir, 'kinds', 'shop.json'), declaration({ type: 'numeric' }));
    const model = await train('gaps', true);
    const manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as {
      input: { columns: string[] };
    };
    expect(manifest.input.columns).toEqual([
      'amount',
      'tip',
      'tip:missing',
      'loyalty',
      'loyalty:missing',
      'mcc=5411',
      'mcc=5812',
      'mcc=__other__',
    ]);
    const by = await score(model, [
      { tx_id: 'full', ...base },
      { tx_id: 'no-tip', ...base, tip: null },
      { tx_id: 'no-loyalty', ...base, loyalty: null },
      { tx_id: 'absent', amount: 20, mcc: '5411' },
      { tx_id: 'huge', ...base, tip: null, amount: 20_000_000 },
    ]);
    for (const id of ['full', 'no-tip', 'no-loyalty', 'absent']) {
      expect(by.get(id)?.flagged, id).toBe(false);
      expect(Number.isFinite(by.get(id)?.score), id).toBe(true);
    }
    // A missing value hides nothing else: the amount still counts.
    expect(by.get('huge')?.flagged).toBe(true);
  }, 180_000);

  it('where training always had the value, a record without it is flagged, finitely', async () => {
    await writeFile(join(dir, 'kinds', 'shop.json'), declaration({ type: 'numeric' }));
    const model = await train('full', false);
    const by = await score(model, [
      { tx_id: 'full', ...base },
      { tx_id: 'no-tip', ...base, tip: null },
    ]);
    expect(by.get('full')?.flagged).toBe(false);
    expect(by.get('no-tip')?.flagged).toBe(true);
    expect(Number.isFinite(by.get('no-tip')?.score)).toBe(true);
  }, 180_000);

  it('"missing": "reject" refuses the first gap, naming its line and field', async () => {
    await writeFile(join(dir, 'kinds', 'shop.json'), declaration({ type: 'numeric', missing: 'reject' }));
    const err = await train('reject', true).then(
      () => null,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(err).not.toBeNull();
    expect(err!.code).not.toBe(0);
    expect(err!.stderr).toMatch(
      /line 2, field "tip": INVALID_RECORD: tip is null: numeric features must be present/,
    );
    expect(err!.stderr).not.toContain('    at '); // one clear line, no stack
  }, 120_000);
});
