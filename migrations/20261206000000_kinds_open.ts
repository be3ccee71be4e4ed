import type { Knex } from 'knex';

/**
 * Input kinds are no longer a closed list (users declare their own tabular kinds, src/kinds): the
 * `kind IN ('transactions', 'frames')` checks of flags, model_versions and stream_counters become a
 * check of the name's form, the same as the kind registry's and the store's (a-z first, then a-z,
 * 0-9, _; at most 40 characters). writer_schemas had no check; it gets the same one.
 */
const TABLES = ['flags', 'model_versions', 'stream_counters', 'writer_schemas'] as const;
const FORM = `kind ~ '^[a-z][a-z0-9_]{0,39}$'`;

export async function up(knex: Knex): Promise<void> {
  for (const t of TABLES) {
    await knex.raw(`ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${t}_kind_check`);
    await knex.raw(`ALTER TABLE ${t} ADD CONSTRAINT ${t}_kind_check CHECK (${FORM})`);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const t of TABLES) {
    await knex.raw(`ALTER TABLE ${t} DROP CONSTRAINT IF EXISTS ${t}_kind_check`);
    if (t !== 'writer_schemas')
      await knex.raw(
        `ALTER TABLE ${t} ADD CONSTRAINT ${t}_kind_check CHECK (kind IN ('transactions', 'frames'))`,
      );
  }
}
