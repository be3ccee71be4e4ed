/**
 * writer_schemas: Avro writer schemas registered at run time, per input kind. The table stores; the
 * compatibility check with the reader schema belongs to the caller (src/schemas), which knows the
 * reader schemas, so this module stays free of Avro.
 */
import type { Knex } from 'knex';
import { StoreInputError } from './errors.js';
import { KIND_NAME_PATTERN, type InputKind } from './flag-store.js';

export interface WriterSchemaRow {
  kind: InputKind;
  /** 16 lower-case hex digits: CRC-64-AVRO of the canonical form, unsigned. */
  fingerprint: string;
  canonicalForm: string;
  schema: unknown;
  name: string | null;
  registeredBy: string | null;
  registeredAt: Date;
}

interface DbRow {
  kind: InputKind;
  fingerprint: string;
  canonical_form: string;
  schema: unknown;
  name: string | null;
  registered_by: string | null;
  registered_at: Date;
}

const fromDb = (r: DbRow): WriterSchemaRow => ({
  kind: r.kind,
  fingerprint: r.fingerprint,
  canonicalForm: r.canonical_form,
  schema: r.schema,
  name: r.name,
  registeredBy: r.registered_by,
  registeredAt: r.registered_at,
});

/** A fingerprint as the table stores it. */
export function fingerprintHex(fp: bigint): string {
  return BigInt.asUintN(64, fp).toString(16).padStart(16, '0');
}

function checkKind(kind: string): InputKind {
  if (!KIND_NAME_PATTERN.test(kind)) throw new StoreInputError(`"${kind}" is not a kind name`, 'kind');
  return kind;
}

export class WriterSchemaTable {
  constructor(private readonly db: Knex) {}

  /**
   * Stores a writer schema (already checked against the reader schema). Registering the same
   * schema again is a no-op; returns whether the row is new.
   */
  async register(o: {
    kind: string;
    fingerprint: bigint;
    canonicalForm: string;
    schema: unknown;
    name?: string | null;
    registeredBy?: string | null;
  }): Promise<{ created: boolean; row: WriterSchemaRow }> {
    const kind = checkKind(o.kind);
    const fp = fingerprintHex(o.fingerprint);
    const inserted = await this.db<DbRow>('writer_schemas')
      .insert({
        kind,
        fingerprint: fp,
        canonical_form: o.canonicalForm,
        schema: JSON.stringify(o.schema) as unknown,
        name: o.name ?? null,
        registered_by: o.registeredBy ?? null,
      })
      .onConflict(['kind', 'fingerprint'])
      .ignore()
      .returning('*');
    if (inserted.length > 0) return { created: true, row: fromDb(inserted[0]) };
    const row = await this.db<DbRow>('writer_schemas').where({ kind, fingerprint: fp }).first();
    if (!row) throw new StoreInputError(`writer schema ${fp} vanished during registration`, 'fingerprint');
    return { created: false, row: fromDb(row) };
  }

  /** The registered schemas of a kind among these fingerprints. */
  async byFingerprints(kind: string, fingerprints: readonly bigint[]): Promise<WriterSchemaRow[]> {
    if (fingerprints.length === 0) return [];
    const rows = await this.db<DbRow>('writer_schemas')
      .where('kind', checkKind(kind))
      .whereIn('fingerprint', fingerprints.map(fingerprintHex));
    return rows.map(fromDb);
  }

  async list(kind?: string): Promise<WriterSchemaRow[]> {
    const q = this.db<DbRow>('writer_schemas').orderBy([{ column: 'kind' }, { column: 'registered_at' }]);
    if (kind !== undefined) q.where('kind', checkKind(kind));
    return (await q).map(fromDb);
  }
}
