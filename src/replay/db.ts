import type { Knex } from 'knex';
import type { Env } from '../config.js';
import { createKnex } from '../store/knex.js';

/** A small knex pool for one CLI command: DATABASE_URL, and DATABASE_SCHEMA as search_path when set. */
export function openCliDb(env: Pick<Env, 'DATABASE_URL' | 'DATABASE_SCHEMA'>, applicationName: string): Knex {
  return createKnex({
    databaseUrl: env.DATABASE_URL,
    ...(env.DATABASE_SCHEMA !== '' ? { searchPath: [env.DATABASE_SCHEMA] } : {}),
    pool: { min: 0, max: 2 },
    applicationName,
  });
}
