import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { databaseUrl } from '../../helpers/services.js';
import { testModel, type TestModel } from '../../helpers/models.js';
import { errorLines, runCli } from './run-cli.js';

let s: IsolatedSchema;
let env: Record<string, string>;
let model: TestModel;
let tmp: string;

beforeAll(async () => {
  s = await createIsolatedSchema({ prefix: 'climodels' });
  env = { DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: s.schema };
  model = await testModel('transactions');
  tmp = await mkdtemp(join(tmpdir(), 'gensemble-cli-models-'));
});
afterAll(async () => {
  await s?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function activeRows(): Promise<{ version: string; kind: string }[]> {
  return s.db('model_versions').select('version', 'kind').where('active', true).orderBy('version');
}

describe('gensemble models', () => {
  it('register reads the manifest (threshold of its score rule); activate leaves exactly one active per kind', async () => {
    const rule = model.manifest.scoreRule.score;
    const th = model.manifest.thresholds.find((t) => t.score === rule)?.value as number;
    const r1 = await runCli(['models', 'register', model.dir, '--name', 'tx-a', '--activate'], env);
    expect(r1.code, r1.stderr).toBe(0);
    const r2 = await runCli(['models', 'register', model.dir, '--name', 'tx-b'], env);
    expect(r2.code, r2.stderr).toBe(0);
    const row = await s.db('model_versions').where('version', 'tx-b').first();
    expect(row).toMatchObject({ kind: 'transactions', score_name: rule, active: false });
    expect(row.threshold).toBeCloseTo(th, 12);
    expect(row.manifest.onnx.sha256).toBe(model.manifest.onnx.sha256);
    // A frames version stays active while transactions versions switch.
    await s.db('model_versions').insert({
      version: 'fr-a',
      kind: 'frames',
      checkpoint_path: '/x',
      threshold: 1,
      score_name: 'neg_waic',
      active: true,
    });
    expect(await activeRows()).toEqual([
      { version: 'fr-a', kind: 'frames' },
      { version: 'tx-a', kind: 'transactions' },
    ]);
    const a = await runCli(['models', 'activate', 'tx-b'], env);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain('activated tx-b');
    expect(await activeRows()).toEqual([
      { version: 'fr-a', kind: 'frames' },
      { version: 'tx-b', kind: 'transactions' },
    ]);
    // Concurrent activations of both transactions versions: still exactly one active.
    await Promise.all([
      runCli(['models', 'activate', 'tx-a'], env),
      runCli(['models', 'activate', 'tx-b'], env),
    ]);
    const act = await activeRows();
    expect(act.filter((r) => r.kind === 'transactions')).toHaveLength(1);
    expect(act.filter((r) => r.kind === 'frames')).toEqual([{ version: 'fr-a', kind: 'frames' }]);

    const list = await runCli(['models', 'list', '--json'], env);
    const rows = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { version: string; active: boolean });
    expect(rows.map((r) => r.version).sort()).toEqual(['fr-a', 'tx-a', 'tx-b']);
    expect(rows.filter((r) => r.active)).toHaveLength(2);
    const show = await runCli(['models', 'show', 'tx-a'], env);
    expect(JSON.parse(show.stdout)).toMatchObject({
      version: 'tx-a',
      kind: 'transactions',
      checkpointPath: model.dir,
    });
  });

  it('errors: unknown version, duplicate name, bad name, a directory that is not a checkpoint', async () => {
    const broken = join(tmp, 'broken');
    await cp(model.dir, broken, { recursive: true });
    await rm(join(broken, 'model.onnx'));
    const cases: [string[], RegExp][] = [
      [['models', 'activate', 'nope'], /MODEL_NOT_FOUND/],
      [['models', 'show', 'nope'], /MODEL_NOT_FOUND/],
      [['models', 'activate', "x' OR '1'='1"], /version/],
      [['models', 'register', model.dir, '--name', 'tx-a'], /MODEL_EXISTS/],
      [['models', 'register', join(tmp, 'missing')], /error/],
      [['models', 'register', broken], /error/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args, env);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1);
      expect(errorLines(r.stderr), r.stderr).toHaveLength(1);
      expect(r.stderr).toMatch(re);
    }
  });
});
