import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { createKnex, migrateLatest } from '../../src/store/knex.js';
import { databaseUrl } from './services.js';

/**
 * A private PostgreSQL schema for one test file: created with a random name, every pooled connection
 * has `search_path` set to it (so unqualified names — the app's and knex's own migration tables —
 * resolve there), optionally migrated to latest, and dropped with CASCADE at the end.
 */
export interface IsolatedSchema {
  schema: string;
  db: Knex;
  /** Drop the schema and close the pool. Safe to call twice. */
  drop(): Promise<void>;
}

export function randomSchemaName(prefix = 'test'): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export async function createIsolatedSchema(
  opts: { migrate?: boolean; prefix?: string; databaseUrl?: string } = {},
): Promise<IsolatedSchema> {
  const url = opts.databaseUrl ?? databaseUrl();
  const schema = randomSchemaName(opts.prefix ?? 'test');
  const admin = createKnex({ databaseUrl: url, pool: { min: 0, max: 1 } });
  try {
    await admin.raw('CREATE SCHEMA ??', [schema]);
  } finally {
    await admin.destroy();
  }
  const db = createKnex({ databaseUrl: url, searchPath: [schema], pool: { min: 0, max: 4 } });
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    try {
      await db.raw('DROP SCHEMA IF EXISTS ?? CASCADE', [schema]);
    } finally {
      await db.destroy();
    }
  };
  if (opts.migrate ?? true) {
    try {
      await migrateLatest(db);
    } catch (err) {
      await drop();
      throw err;
    }
  }
  return { schema, db, drop };
}
