/**
 * `npm run migrate` (the knex CLI through knexfile.ts, as a child process) honours DATABASE_SCHEMA as
 * `serve` does: with it set to a fresh schema, every table lands in that schema (not in public), and
 * a pool with that search_path — what `serve` opens — finds stream_offsets.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { databaseUrl } from '../../helpers/services.js';
import { createKnex } from '../../../src/store/knex.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

function runMigrate(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npm', ['run', '--silent', 'migrate'], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`npm run migrate did not exit within 120 s: ${out}`));
    }, 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

describe('npm run migrate with DATABASE_SCHEMA', () => {
  let pg: IsolatedSchema;

  beforeAll(async () => {
    pg = await createIsolatedSchema({ prefix: 'migrate_cli', migrate: false });
  });
  afterAll(async () => {
    await pg?.drop();
  });

  it('migrates into that schema; serve’s search_path finds the tables', async () => {
    const r = await runMigrate({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: pg.schema });
    expect(r.code, r.out).toBe(0);
    const tables = (
      await pg.db.raw<{ rows: { table_name: string }[] }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1`,
        [pg.schema],
      )
    ).rows.map((x) => x.table_name);
    expect(tables).toEqual(
      expect.arrayContaining([
        'flags',
        'knex_migrations',
        'model_versions',
        'stream_counters',
        'stream_offsets',
        'writer_schemas',
      ]),
    );
    const applied = await pg.db.raw<{ rows: { n: string }[] }>(
      'SELECT count(*) AS n FROM ??.knex_migrations',
      [pg.schema],
    );
    expect(Number(applied.rows[0].n)).toBeGreaterThanOrEqual(3);
    // What StreamService.start checks first, through a pool like the one serve opens.
    const serveDb = createKnex({ databaseUrl: databaseUrl(), searchPath: [pg.schema], pool: { max: 1 } });
    try {
      await expect(serveDb.raw('select 1 from stream_offsets limit 1')).resolves.toBeDefined();
    } finally {
      await serveDb.destroy();
    }
    // A second run is a no-op in the same schema.
    const again = await runMigrate({ DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: pg.schema });
    expect(again.code, again.out).toBe(0);
    expect(again.out).toMatch(/Already up to date/);
  });
});
