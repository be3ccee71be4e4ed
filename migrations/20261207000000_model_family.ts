import type { Knex } from 'knex';

/**
 * model_versions.family: which detector families a registered checkpoint holds ('vae', or 'vae+wgan'
 * when it also carries a WGAN critic ensemble; engine/checkpoint.ts modelFamily). Existing rows are
 * VAE ensembles.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('model_versions', (t) => {
    t.text('family').notNullable().defaultTo('vae');
  });
  await knex.raw(
    `ALTER TABLE model_versions ADD CONSTRAINT model_versions_family_check CHECK (family IN ('vae', 'vae+wgan'))`,
  );
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE model_versions DROP CONSTRAINT IF EXISTS model_versions_family_check');
  await knex.schema.alterTable('model_versions', (t) => {
    t.dropColumn('family');
  });
}
