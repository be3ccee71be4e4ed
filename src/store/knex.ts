import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import type { Env } from '../config.js';
import { GensembleError } from '../errors.js';
import { databaseUrlFromEnv, parseDatabaseUrl } from './db-url.js';

/**
 * knex configuration for gensemble, built from DATABASE_URL. knex is the only way the schema
 * changes: `npm run migrate` (knexfile.ts) and the tests both go through `knexConfig`.
 */

/** The migrations folder: `<repo>/migrations` from src/store, `dist/migrations` from a build. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));

export const MIGRATIONS_TABLE = 'knex_migrations';

/** A migration module could not be loaded or does not export up/down. */
export class MigrationLoadError extends GensembleError {
  constructor(message: string, cause?: unknown) {
    super('MIGRATION_LOAD_FAILED', message, { cause });
  }
}

export interface KnexOptions {
  /** PostgreSQL URL; default DATABASE_URL from the environment, else the local default. */
  databaseUrl?: string;
  /**
   * Schema(s) for unqualified names, set on every pooled connection. Tests use a private schema per
   * file; tables, views and the knex_migrations bookkeeping then all live in it.
   */
  searchPath?: string | string[];
  /** Connection pool bounds; default min 0 (no idle connections kept), max 10. */
  pool?: { min?: number; max?: number };
  /** Folder holding the migration files; default MIGRATIONS_DIR. */
  migrationsDir?: string;
  /** Application name shown in pg_stat_activity. */
  applicationName?: string;
}

interface MigrationModule {
  up: (knex: Knex) => Promise<void>;
  down: (knex: Knex) => Promise<void>;
  config?: { transaction?: boolean };
}

/** One migration file (knex's CLI prints `file` when listing pending migrations). */
export interface MigrationFile {
  file: string;
}

/**
 * Loads migrations with this module's own `import()` instead of knex's file loader, so `.ts`
 * migrations work wherever this module runs (tsx, vitest) and `.js` ones from a build.
 */
export class DirectoryMigrationSource implements Knex.MigrationSource<MigrationFile> {
  constructor(private readonly dir: string = MIGRATIONS_DIR) {}

  async getMigrations(): Promise<MigrationFile[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      throw new MigrationLoadError(`cannot read the migrations folder ${this.dir}`, err);
    }
    // A build holds both foo.js and foo.d.ts: load only code, and each migration name once.
    const files = names.filter((n) => /\.(ts|js|mjs)$/.test(n) && !n.endsWith('.d.ts')).sort();
    const seen = new Set<string>();
    const out: MigrationFile[] = [];
    for (const file of files) {
      const name = this.getMigrationName({ file });
      if (seen.has(name)) continue;
      seen.add(name);
      out.push({ file });
    }
    return out;
  }

  /** The name recorded in knex_migrations, without extension, so .ts and built .js agree. */
  getMigrationName({ file }: MigrationFile): string {
    return file.replace(/\.(ts|js|mjs)$/, '');
  }

  async getMigration({ file }: MigrationFile): Promise<Knex.Migration> {
    let mod: Partial<MigrationModule>;
    try {
      mod = (await import(pathToFileURL(path.join(this.dir, file)).href)) as Partial<MigrationModule>;
    } catch (err) {
      throw new MigrationLoadError(`cannot load migration ${file}: ${(err as Error).message}`, err);
    }
    if (typeof mod.up !== 'function' || typeof mod.down !== 'function') {
      throw new MigrationLoadError(`migration ${file} must export async functions up and down`);
    }
    return { up: mod.up, down: mod.down, ...(mod.config ? { config: mod.config } : {}) };
  }
}

/** A knex config for PostgreSQL (pg driver) from DATABASE_URL. */
export function knexConfig(opts: KnexOptions = {}): Knex.Config {
  const url = opts.databaseUrl ?? databaseUrlFromEnv();
  parseDatabaseUrl(url); // throws DatabaseUrlError with a clear message
  return {
    client: 'pg',
    connection: {
      connectionString: url,
      application_name: opts.applicationName ?? 'gensemble',
    },
    ...(opts.searchPath !== undefined ? { searchPath: opts.searchPath } : {}),
    pool: { min: opts.pool?.min ?? 0, max: opts.pool?.max ?? 10 },
    migrations: {
      tableName: MIGRATIONS_TABLE,
      migrationSource: new DirectoryMigrationSource(opts.migrationsDir ?? MIGRATIONS_DIR),
    },
  };
}

/**
 * The knex options every entry point derives from the ONE validated configuration (`loadConfig`):
 * DATABASE_URL, and DATABASE_SCHEMA as the search_path of every pooled connection when set.
 * `npm run migrate` (knexfile.ts), `serve`, the CLI commands and the demo all go through it, so they
 * all see the same schema (before, knexfile.ts ignored DATABASE_SCHEMA and migrated `public`).
 */
export function knexOptionsFromEnv(
  env: Pick<Env, 'DATABASE_URL' | 'DATABASE_SCHEMA'>,
  extra: Omit<KnexOptions, 'databaseUrl' | 'searchPath'> = {},
): KnexOptions {
  return {
    ...extra,
    databaseUrl: env.DATABASE_URL,
    ...(env.DATABASE_SCHEMA !== '' ? { searchPath: [env.DATABASE_SCHEMA] } : {}),
  };
}

/** A knex instance; call `destroy()` when done. */
export function createKnex(opts: KnexOptions = {}): Knex {
  return knexFactory(knexConfig(opts));
}

/** Run all pending migrations; returns the names applied now (empty when already up to date). */
export async function migrateLatest(db: Knex): Promise<string[]> {
  const [, applied] = (await db.migrate.latest()) as [number, string[]];
  return applied;
}
