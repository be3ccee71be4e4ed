import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DEFAULT_DATABASE_URL,
  DatabaseUrlError,
  databaseUrlFromEnv,
  parseDatabaseUrl,
  redactDatabaseUrl,
} from '../../../src/store/db-url.js';
import {
  DirectoryMigrationSource,
  MIGRATIONS_DIR,
  MigrationLoadError,
  knexConfig,
} from '../../../src/store/knex.js';

describe('DATABASE_URL handling', () => {
  it('defaults to the local test database when unset or blank', () => {
    expect(DEFAULT_DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/test');
    expect(databaseUrlFromEnv({})).toBe(DEFAULT_DATABASE_URL);
    expect(databaseUrlFromEnv({ DATABASE_URL: '  ' })).toBe(DEFAULT_DATABASE_URL);
    expect(databaseUrlFromEnv({ DATABASE_URL: 'postgres://u@h/db' })).toBe('postgres://u@h/db');
  });

  it('parses host, port, database and user', () => {
    expect(parseDatabaseUrl('postgres://postgres@127.0.0.1:5432/test')).toEqual({
      host: '127.0.0.1',
      port: 5432,
      database: 'test',
      user: 'postgres',
    });
    expect(parseDatabaseUrl('postgresql://alice:s3cret@db.example:6543/my%20db')).toEqual({
      host: 'db.example',
      port: 6543,
      database: 'my db',
      user: 'alice',
    });
    expect(parseDatabaseUrl('postgres://db/x').port).toBe(5432);
  });

  it.each([
    ['not a url', /not a URL/],
    ['mysql://root@localhost/db', /must start with postgres/],
    ['postgres://localhost:5432/', /must name one database/],
    ['postgres://localhost:5432', /must name one database/],
  ])('rejects %s with a typed error', (url, message) => {
    let caught: unknown;
    try {
      parseDatabaseUrl(url);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DatabaseUrlError);
    expect((caught as DatabaseUrlError).code).toBe('DATABASE_URL_INVALID');
    expect((caught as Error).message).toMatch(message);
  });

  it('never shows a password', () => {
    expect(redactDatabaseUrl('postgres://alice:s3cret@h:5432/db')).toBe('postgres://alice:***@h:5432/db');
    expect(redactDatabaseUrl('postgres://alice@h/db')).toBe('postgres://alice@h/db');
    expect(redactDatabaseUrl('::bad//bob:pw@x')).not.toContain('pw@');
    let message = '';
    try {
      knexConfig({ databaseUrl: 'mysql://bob:hunter2@h/db' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toMatch(/postgres/);
    expect(message).not.toContain('hunter2');
  });
});

describe('knexConfig', () => {
  it('builds a pg config with the search path and a migration source', () => {
    const cfg = knexConfig({ databaseUrl: 'postgres://u@h:1/d', searchPath: ['s1'] });
    expect(cfg.client).toBe('pg');
    expect(cfg.connection).toMatchObject({ connectionString: 'postgres://u@h:1/d' });
    expect(cfg.searchPath).toEqual(['s1']);
    expect(cfg.pool).toEqual({ min: 0, max: 10 });
    expect(cfg.migrations?.tableName).toBe('knex_migrations');
    expect(cfg.migrations?.migrationSource).toBeInstanceOf(DirectoryMigrationSource);
    expect(knexConfig({ databaseUrl: 'postgres://u@h/d' })).not.toHaveProperty('searchPath');
  });
});

describe('DirectoryMigrationSource', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gensemble-migrations-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('lists code files in order, once per name, ignoring declarations and other files', async () => {
    for (const f of ['002_b.ts', '001_a.ts', '001_a.js', '001_a.d.ts', 'README.md', '003_c.mjs']) {
      writeFileSync(path.join(dir, f), '');
    }
    const src = new DirectoryMigrationSource(dir);
    const list = await src.getMigrations();
    expect(list.map((m) => m.file)).toEqual(['001_a.js', '002_b.ts', '003_c.mjs']);
    expect(list.map((m) => src.getMigrationName(m))).toEqual(['001_a', '002_b', '003_c']);
  });

  it('rejects a module without up/down, and a missing folder', async () => {
    writeFileSync(path.join(dir, '010_bad.mjs'), 'export const up = async () => {};\n');
    const src = new DirectoryMigrationSource(dir);
    await expect(src.getMigration({ file: '010_bad.mjs' })).rejects.toThrow(MigrationLoadError);
    await expect(src.getMigration({ file: '010_bad.mjs' })).rejects.toThrow(
      /must export async functions up and down/,
    );
    await expect(new DirectoryMigrationSource(path.join(dir, 'nope')).getMigrations()).rejects.toMatchObject({
      code: 'MIGRATION_LOAD_FAILED',
    });
  });

  it('finds the initial migration in the repository and loads it', async () => {
    const src = new DirectoryMigrationSource(MIGRATIONS_DIR);
    const list = await src.getMigrations();
    expect(list[0]).toEqual({ file: '20261129000000_initial.ts' });
    const m = await src.getMigration(list[0]!);
    expect(typeof m.up).toBe('function');
    expect(typeof m.down).toBe('function');
  });
});
