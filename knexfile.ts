/**
 * knex CLI configuration (`npm run migrate`, or `npx tsx node_modules/knex/bin/cli.js --knexfile
 * knexfile.ts <command>`). Reads the same validated configuration as every other entry point
 * (src/config.ts `loadConfig`): DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test) and
 * DATABASE_SCHEMA (the existing schema to migrate instead of the server's default, as `serve` uses it).
 * Migrations are the `.ts` files in migrations/, loaded by src/store/knex.ts.
 */
import { loadConfig } from './src/config.js';
import { knexConfig, knexOptionsFromEnv } from './src/store/knex.js';

const config = knexConfig(knexOptionsFromEnv(loadConfig(), { applicationName: 'gensemble-migrate' }));

export default config;
