/**
 * `gensemble score` with a model that cannot score some rows (a real checkpoint that overflows
 * float32 on large amounts, test/helpers/overflowing-model.ts): a NaN score is never written as
 * "not flagged". Such rows are flagged (1 / true, as the benchmarks count a NaN score as anomalous)
 * and the summary line says how many there were.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testModel } from '../../helpers/models.js';
import { OVERFLOW_AMOUNT, overflowingTransactionsModel } from '../../helpers/overflowing-model.js';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../../..');
const bin = join(root, 'bin/gensemble.js');

describe('gensemble score: non-finite scores', () => {
  let dir: string;
  let model: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-score-nan-'));
    model = await overflowingTransactionsModel((await testModel('transactions')).dir);
  }, 300_000);
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    if (model) await rm(model, { recursive: true, force: true });
  });

  it('rows the model cannot score are flagged and counted, never "not flagged"', async () => {
    const header = ['Time', ...Array.from({ length: 28 }, (_, i) => `V${i + 1}`), 'Amount', 'Class'];
    const rows: string[] = [header.join(',')];
    for (let i = 0; i < 20; i++) {
      const v = Array.from({ length: 28 }, (_, j) => (((i * 7 + j * 3) % 11) - 5) / 10);
      rows.push([i, ...v, i % 4 === 1 ? OVERFLOW_AMOUNT : 20 + i, 0].join(','));
    }
    const input = join(dir, 'in.csv');
    await writeFile(input, rows.join('\n') + '\n');
    for (const ext of ['csv', 'jsonl'] as const) {
      const out = join(dir, `scores.${ext}`);
      const r = await run(
        process.execPath,
        [bin, 'score', '--model', model, '--input', input, '--out', out],
        {
          cwd: root,
          timeout: 120_000,
        },
      );
      expect(r.stderr).toMatch(/5 with a non-finite score \(counted as flagged\)/);
      const lines = (await readFile(out, 'utf8')).trim().split('\n');
      const parsed =
        ext === 'csv'
          ? lines.slice(1).map((l) => {
              const f = l.split(',');
              const col = (name: string): string => f[lines[0].split(',').indexOf(name)];
              return { score: Number(col('score')), flagged: col('flagged') === '1' };
            })
          : lines.map((l) => {
              const j = JSON.parse(l) as { score: number | null; flagged: boolean };
              return { score: j.score === null ? NaN : j.score, flagged: j.flagged };
            });
      expect(parsed).toHaveLength(20);
      parsed.forEach((p, i) => {
        if (i % 4 === 1) {
          expect(Number.isNaN(p.score), `row ${i}`).toBe(true);
          expect(p.flagged, `row ${i}`).toBe(true);
        } else expect(Number.isFinite(p.score), `row ${i}`).toBe(true);
      });
    }
  });
});
