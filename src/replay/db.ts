import type { Knex } from 'knex';
import type { Env } from '../config.js';
import { createKnex, knexOptionsFromEnv } from '../store/knex.js';

/** A small knex pool for one CLI command: DATABASE_URL, and DATABASE_SCHEMA as search_path when set. */
export function openCliDb(env: Pick<Env, 'DATABASE_URL' | 'DATABASE_SCHEMA'>, applicationName: string): Knex {
  return createKnex(knexOptionsFromEnv(env, { pool: { min: 0, max: 2 }, applicationName }));
}
