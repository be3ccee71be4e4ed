/**
 * knex CLI configuration (`npm run migrate`, or `npx tsx node_modules/knex/bin/cli.js --knexfile
 * knexfile.ts <command>`). Reads DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
 * Migrations are the `.ts` files in migrations/, loaded by src/store/knex.ts.
 */
import { knexConfig } from './src/store/knex.js';

const config = knexConfig({ applicationName: 'gensemble-migrate' });

export default config;
