/**
 * `--rejects <file>` of `gensemble score` and `gensemble train`: records that cannot be read are skipped
 * and listed (line, reason) instead of stopping the command; the records that are read score exactly as
 * they do from a file without the bad ones. Without the option the first bad record stops the command
 * with one line and writes no output.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testModel } from '../../helpers/models.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const bin = join(root, 'bin/gensemble.js');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}
async function cli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  try {
    const r = await run(process.execPath, [bin, ...args], {
      cwd: root,
      timeout: 120_000,
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

const header = ['Time', ...Array.from({ length: 28 }, (_, i) => `V${i + 1}`), 'Amount', 'Class'];
const good = (i: number): string[] => [
  String(i * 13),
  ...Array.from({ length: 28 }, (_, j) => String((((i * 7 + j * 3) % 11) - 5) / 10)),
  String(10 + i),
  '0',
];

describe('score / train --rejects', () => {
  let dir: string;
  let model: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-rejects-'));
    model = (await testModel('transactions')).dir;
  }, 300_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('score: bad rows are listed with line and reason, the rest score as from a clean file', async () => {
    const rows: string[][] = [];
    const expectedRejects: Array<{ line: number; reason: RegExp }> = [];
    const keptRow: number[] = [];
    for (let i = 0; i < 30; i++) {
      const r = good(i);
      let why: RegExp | null = null;
      if (i === 3) {
        r[7] = 'abc';
        why = /^data row 4: column V7: "abc" is not a number$/;
      } else if (i === 11) {
        r.pop();
        why = /^data row 12: 30 fields, expected 31$/;
      } else if (i === 17) {
        r[29] = 'NaN';
        why = /^data row 18: column Amount: "NaN" is not a number$/;
      } else if (i === 29) {
        r[30] = 'x';
        why = /^data row 30: column Class: "x" is not 0 or 1 \(or blank \/ unsure = unlabelled\)$/;
      }
      rows.push(r);
      if (why) expectedRejects.push({ line: i + 2, reason: why });
      else keptRow.push(i);
    }
    const bad = join(dir, 'bad.csv');
    const clean = join(dir, 'clean.csv');
    await writeFile(bad, [header, ...rows].map((r) => r.join(',')).join('\n') + '\n');
    await writeFile(clean, [header, ...keptRow.map(good)].map((r) => r.join(',')).join('\n') + '\n');

    const cleanOut = join(dir, 'clean-scores.csv');
    expect((await cli(['score', '--model', model, '--input', clean, '--out', cleanOut])).code).toBe(0);
    const out = join(dir, 'scores.csv');
    const rej = join(dir, 'rejects.jsonl');
    const r = await cli(['score', '--model', model, '--input', bad, '--out', out, '--rejects', rej]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`scored 26 records with`);
    expect(r.stderr).toContain(
      `; 4 records rejected (first: line 5: data row 4: column V7: "abc" is not a number; all in ${rej})`,
    );
    const listed = (await readFile(rej, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { file: string; line: number; reason: string });
    expect(listed.map((x) => x.line)).toEqual(expectedRejects.map((x) => x.line));
    listed.forEach((x, k) => {
      expect(x.file).toBe(bad);
      expect(x.reason).toMatch(expectedRejects[k].reason);
    });
    // ids are the rows' places in the bad file; every other column equals the clean file's
    const table = async (p: string): Promise<string[][]> =>
      (await readFile(p, 'utf8'))
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(','));
    const got = await table(out);
    const ref = await table(cleanOut);
    expect(got.map((c) => Number(c[0]))).toEqual(keptRow);
    expect(got.map((c) => c.slice(1))).toEqual(ref.map((c) => c.slice(1)));

    // without --rejects: one line naming the row, no output file
    const out2 = join(dir, 'scores2.csv');
    const r2 = await cli(['score', '--model', model, '--input', bad, '--out', out2]);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr.trim().split('\n')).toHaveLength(1);
    expect(r2.stderr).toContain('data row 4 (line 5): column V7: "abc" is not a number');
    expect(existsSync(out2)).toBe(false);

    // the rejects file never overwrites the input or the output; an unwritable path is refused first
    const before = await readFile(bad, 'utf8');
    const r3 = await cli(['score', '--model', model, '--input', bad, '--out', out2, '--rejects', bad]);
    expect(r3.code).not.toBe(0);
    expect(r3.stderr).toMatch(
      /--rejects .*bad\.csv: the same file as .*bad\.csv; choose another path \[REJECTS_PATH\]/,
    );
    expect(await readFile(bad, 'utf8')).toBe(before);
    const r4 = await cli(['score', '--model', model, '--input', bad, '--out', out2, '--rejects', out2]);
    expect(r4.stderr).toContain('[REJECTS_PATH]');
    const r5 = await cli([
      'score',
      '--model',
      model,
      '--input',
      bad,
      '--out',
      out2,
      '--rejects',
      join(dir, 'no-such-dir', 'r.jsonl'),
    ]);
    expect(r5.code).not.toBe(0);
    expect(r5.stderr).toMatch(/--rejects .*no-such-dir.*: cannot write: ENOENT/);
    expect(existsSync(out2)).toBe(false);
  }, 120_000);

  it('train: a declared kind trains on the records that read and lists the others', async () => {
    const kinds = join(dir, 'kinds');
    await mkdir(kinds, { recursive: true });
    await writeFile(
      join(kinds, 'acme.json'),
      JSON.stringify({
        name: 'acme',
        topic: 'acme.tx',
        fields: [
          { name: 'tx_id', type: 'string' },
          { name: 'amount', type: 'double' },
          { name: 'mcc', type: 'string' },
        ],
        id: 'tx_id',
        features: {
          amount: { type: 'numeric', transform: 'log' },
          mcc: { type: 'categorical' },
        },
      }),
    );
    const lines: string[] = [];
    for (let i = 0; i < 120; i++) {
      // line 41: a decimal comma (a string), line 78: a missing amount
      const amount = i === 40 ? '12,5' : i === 77 ? null : 5 + ((i * 37) % 100);
      lines.push(JSON.stringify({ tx_id: `t${i}`, amount, mcc: `m${i % 3}` }));
    }
    lines.splice(90, 0, '{"tx_id": "t-broken", ');
    const data = join(dir, 'acme.jsonl');
    await writeFile(data, lines.join('\n') + '\n');
    const rej = join(dir, 'train-rejects.jsonl');
    const env = { KINDS_DIR: kinds };
    const args = ['train', '--kind', 'acme', '--data', data, '--members', '1', '--steps', '20'];
    const r = await cli([...args, '--out', join(dir, 'm-acme'), '--rejects', rej], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      `${data}: read 118 records; 3 records rejected (first: line 41: field "amount"`,
    );
    const listed = (await readFile(rej, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { line: number; reason: string });
    expect(listed.map((x) => x.line)).toEqual([41, 78, 91]);
    expect(listed[1].reason).toBe('field "amount": null for a required double field');
    expect(listed[2].reason).toMatch(/^invalid JSON/);
    const r2 = await cli([...args, '--out', join(dir, 'm-acme-2')], env);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toContain(
      `${data}: line 41, field "amount": "12,5" (a string) does not fit a double field`,
    );
    expect(existsSync(join(dir, 'm-acme-2'))).toBe(false);
  }, 120_000);
});
