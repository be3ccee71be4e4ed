/**
 * `--likelihood mixed` on a declared kind: a Gaussian with a learned scale on the continuous columns
 * and a Bernoulli on the 0/1 columns the kind makes (one-hot, boolean, missing indicators). Checked
 * through the CLI: the manifest records the Bernoulli columns (the 0/1 columns that vary in training;
 * one that never does stays an indicator of the standard transform), the transform leaves them
 * unscaled, and `score` sees a seen-but-rare category as mildly unusual, an unseen one and a far-out
 * amount as anomalous, all finitely. A kind without 0/1 columns is refused with one line.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../src/engine/random.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const bin = join(root, 'bin/gensemble.js');

describe('--likelihood mixed (declared kind, CLI)', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-mixed-'));
    await mkdir(join(dir, 'kinds'));
    env = { ...process.env, KINDS_DIR: join(dir, 'kinds') };
    await writeFile(
      join(dir, 'kinds', 'shop.json'),
      JSON.stringify({
        name: 'shop',
        topic: 'shop.tx',
        fields: [
          { name: 'tx_id', type: 'string' },
          { name: 'amount', type: 'double' },
          { name: 'tip', type: 'double', optional: true },
          { name: 'mcc', type: 'string' },
          { name: 'card_present', type: 'boolean' },
        ],
        id: 'tx_id',
        features: {
          amount: { type: 'numeric', transform: 'log' },
          tip: { type: 'numeric' },
          mcc: { type: 'categorical' },
          card_present: { type: 'boolean' },
        },
      }),
    );
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('trains, records its Bernoulli columns, and scores rare, unseen and far-out records', async () => {
    const rng = new Rng(7);
    const cats = ['5411', '5812', '7995', '4111'];
    const weights = [0.55, 0.3, 0.12, 0.03];
    const lines = ['tx_id,amount,tip,mcc,card_present'];
    for (let i = 0; i < 800; i++) {
      const amount = Math.round(Math.exp(3 + 0.6 * rng.normal()) * 100) / 100;
      const tip = rng.uniform() < 0.3 ? '' : (amount * (0.05 + 0.15 * rng.uniform())).toFixed(2);
      let u = rng.uniform();
      let k = 0;
      while (k < cats.length - 1 && u >= weights[k]) u -= weights[k++];
      lines.push(`t${i},${amount},${tip},${cats[k]},${rng.uniform() < 0.7}`);
    }
    const data = join(dir, 'train.csv');
    await writeFile(data, lines.join('\n') + '\n');
    const model = join(dir, 'model');
    const flags = ['--members', '2', '--steps', '600', '--likelihood', 'mixed', '--no-progress'];
    await run(process.execPath, [bin, 'train', '--kind', 'shop', '--data', data, '--out', model, ...flags], {
      cwd: root,
      env,
      timeout: 120_000,
    });
    const m = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as {
      member: { likelihood: string; binaryColumns: number[] };
      input: { columns: string[] };
      transform: { kind: string; mean: number[]; std: number[]; constant?: string };
    };
    expect(m.input.columns).toEqual([
      'amount',
      'tip',
      'tip:missing',
      'mcc=5411',
      'mcc=5812',
      'mcc=7995',
      'mcc=4111',
      'mcc=__other__',
      'card_present',
    ]);
    expect(m.member.likelihood).toBe('mixed');
    // every 0/1 column but mcc=__other__ (never 1 in training: an indicator of the transform)
    expect(m.member.binaryColumns).toEqual([2, 3, 4, 5, 6, 8]);
    for (const j of m.member.binaryColumns) expect([m.transform.mean[j], m.transform.std[j]]).toEqual([0, 1]);
    expect(m.transform.std[7]).toBeLessThanOrEqual(1e-6);
    expect(m.transform.constant).toBe('indicator');
    expect(m.transform.std[0]).not.toBe(1);

    const base = { amount: 20, tip: 2, mcc: '5411', card_present: true };
    const records = [
      { tx_id: 'normal', ...base },
      { tx_id: 'no-tip', ...base, tip: null },
      { tx_id: 'rare', ...base, mcc: '4111' },
      { tx_id: 'unseen', ...base, mcc: '9999' },
      { tx_id: 'big', ...base, amount: 20_000 },
    ];
    const input = join(dir, 'score.jsonl');
    await writeFile(input, records.map((r) => JSON.stringify(r)).join('\n') + '\n');
    const out = join(dir, 'scores.jsonl');
    const s = await run(process.execPath, [bin, 'score', '--model', model, '--input', input, '--out', out], {
      cwd: root,
      env,
      timeout: 120_000,
    });
    // the fused kernel scores it (where the addon is built), as in the stream
    expect(s.stderr).toMatch(/\((native|cpu)\)/);
    const rows = new Map(
      (await readFile(out, 'utf8'))
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { id: string; flagged: boolean; logp_mean: number; score: number })
        .map((r) => [r.id, r]),
    );
    const lp = (id: string): number => rows.get(id)!.logp_mean;
    for (const id of ['normal', 'no-tip']) expect(rows.get(id)!.flagged, id).toBe(false);
    for (const id of ['unseen', 'big']) expect(rows.get(id)!.flagged, id).toBe(true);
    for (const r of rows.values()) expect(Number.isFinite(r.score), r.id).toBe(true);
    // a 3 % category costs a Bernoulli about log(1/0.03) ≈ 3.5 nats, not the Gaussian's ≈ 1/p
    expect(lp('rare')).toBeLessThan(lp('normal'));
    expect(lp('rare')).toBeGreaterThan(lp('normal') - 15);
  }, 180_000);

  it('records without 0/1 columns are refused with one line', async () => {
    const kaggle = join(dir, 'kaggle.csv');
    const header = ['Time', ...Array.from({ length: 28 }, (_, j) => `V${j + 1}`), 'Amount', 'Class'];
    const rows = Array.from({ length: 200 }, (_, i) =>
      [i, ...Array.from({ length: 28 }, (_, j) => Math.sin(i * (j + 1))), 10 + i, 0].join(','),
    );
    await writeFile(kaggle, [header.join(','), ...rows].join('\n') + '\n');
    const err = await run(
      process.execPath,
      [
        bin,
        'train',
        '--kind',
        'transactions',
        '--data',
        kaggle,
        '--out',
        join(dir, 'tx'),
        '--likelihood',
        'mixed',
      ],
      { cwd: root, env, timeout: 60_000 },
    ).then(
      () => null,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(err?.code).not.toBe(0);
    expect(err?.stderr).toMatch(/the mixed likelihood needs 0\/1 columns .*: use gaussian/);
    expect(err?.stderr).not.toContain('    at ');
  }, 60_000);
});
