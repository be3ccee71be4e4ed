import { describe, expect, it } from 'vitest';
import { errorLines, runCli } from './run-cli.js';

/** Bad arguments: a non-zero exit and one error line, no stack trace, for every command of this CLI. */
describe('bad CLI arguments', () => {
  const cases: string[][] = [
    ['replay', 'transactions', '--file', '/nonexistent.csv', '--rate', '0'],
    ['replay', 'frames', '--file', 'x', '--ood-ratio', '1.5'],
    ['replay', 'frames', '--file', 'x', '--ood-kinds', 'cats'],
    ['replay', 'transactions', '--file', '/nonexistent.csv'],
    ['flags', '--kind', 'cars'],
    ['models', 'frobnicate'],
    ['datasets', 'check', '--dir', '/nonexistent-data-dir'],
    ['datasets', 'fetch', '--only', 'cifar'],
    ['no-such-command'],
  ];
  it('each case: non-zero exit, one error line, no stack trace', async () => {
    for (let i = 0; i < cases.length; i += 3) {
      const batch = cases.slice(i, i + 3);
      const results = await Promise.all(
        batch.map((args) => runCli(args, { KAFKA_BROKERS: '127.0.0.1:1' }, 90_000)),
      );
      results.forEach((r, j) => {
        const what = `gensemble ${batch[j].join(' ')}: ${r.stderr}`;
        expect(r.code, what).not.toBe(0);
        expect(errorLines(r.stderr), what).toHaveLength(1);
        expect(r.stderr, what).not.toMatch(/\n\s+at /);
      });
    }
  });

  it('a bad environment variable is named in one line', async () => {
    const r = await runCli(['replay', 'transactions', '--file', 'x.csv'], {
      KAFKA_BROKERS: 'not a broker list',
    });
    expect(r.code).toBe(1);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toContain('KAFKA_BROKERS');
  });

  it('--help works on every command', async () => {
    const all = [
      ['replay', 'frames', '--help'],
      ['flags', '--help'],
      ['models', 'register', '--help'],
      ['datasets', 'check', '--help'],
    ];
    const results = await Promise.all(all.map((args) => runCli(args)));
    results.forEach((r, j) => {
      expect(r.code, all[j].join(' ')).toBe(0);
      expect(r.stdout).toMatch(/^Usage: gensemble/);
    });
  });
});
