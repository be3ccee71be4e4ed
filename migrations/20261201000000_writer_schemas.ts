import type { Knex } from 'knex';

/**
 * writer_schemas: Avro writer schemas registered at run time (`gensemble schemas register`), per input
 * kind. A consumer that meets a single-object record with an unknown fingerprint looks it up here, so
 * a producer can roll out a new schema version without a redeploy of the consumers. Only schemas
 * that resolve against the kind's reader schema are stored (checked by the CLI before the insert).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('writer_schemas', (t) => {
    t.text('kind').notNullable();
    /** CRC-64-AVRO of the Parsing Canonical Form: 16 lower-case hex digits (unsigned, big-endian). */
    t.string('fingerprint', 16).notNullable();
    t.text('canonical_form').notNullable();
    /** The schema as registered (with defaults, docs, logical types: what resolution needs). */
    t.jsonb('schema').notNullable();
    t.text('name').nullable();
    t.text('registered_by').nullable();
    t.timestamp('registered_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['kind', 'fingerprint'], { constraintName: 'writer_schemas_pkey' });
    t.check("fingerprint ~ '^[0-9a-f]{16}$'", [], 'writer_schemas_fingerprint_check');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('writer_schemas');
}
