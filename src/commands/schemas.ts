/**
 * `gensemble schemas`: the Avro writer schemas the consumers accept.
 *
 *   schemas fingerprint <file.avsc>   Parsing Canonical Form, CRC-64-AVRO and the single-object header
 *                                     a producer must write (no database needed)
 *   schemas register <file.avsc>      check it resolves against the kind's reader schema, store it in
 *                                     PostgreSQL; running consumers pick it up at the next record in it
 *   schemas list                      built-in and registered writer schemas
 */
import { hostname, userInfo } from 'node:os';
import { Command, Option } from 'commander';
import { loadConfig } from '../config.js';
import { openCliDb } from '../replay/db.js';
import { formatTable } from '../replay/table.js';
import { InputError } from '../errors.js';
import { SchemaError } from '../schemas/errors.js';
import {
  READER_SCHEMAS,
  checkWriterSchema,
  fingerprintOf,
  kindForSchemaName,
  readSchemaFile,
  type ReaderKind,
} from '../schemas/writer-schemas.js';
import { WriterSchemaTable } from '../store/writer-schemas.js';

const KINDS = Object.keys(READER_SCHEMAS) as ReaderKind[];

export function register(program: Command): void {
  const cmd = program
    .command('schemas')
    .description('Avro writer schemas: fingerprint one, register one for the running consumers, list them');

  cmd
    .command('fingerprint <file>')
    .description(
      'print the Parsing Canonical Form, CRC-64-AVRO fingerprint and single-object header of a schema',
    )
    .option('--json', 'one JSON object instead of text', false)
    .action(async (file: string, f: { json: boolean }) => {
      const fp = fingerprintOf(await readSchemaFile(file));
      if (f.json) {
        process.stdout.write(
          JSON.stringify({
            name: fp.name,
            canonicalForm: fp.canonicalForm,
            fingerprintHex: fp.hex,
            fingerprintSigned: fp.signed,
            singleObjectHeaderHex: fp.header.toString('hex'),
          }) + '\n',
        );
        return;
      }
      process.stdout.write(
        [
          `name:                 ${fp.name ?? '(unnamed)'}`,
          `canonical form:       ${fp.canonicalForm}`,
          `CRC-64-AVRO (hex):    ${fp.hex}`,
          `CRC-64-AVRO (signed): ${fp.signed}   (Java SchemaNormalization.parsingFingerprint64)`,
          `single-object header: ${fp.header.toString('hex').replace(/(..)/g, '$1 ').trim()}   (c3 01, then the fingerprint little-endian)`,
        ].join('\n') + '\n',
      );
    });

  cmd
    .command('register <file>')
    .description(
      "store a writer schema in PostgreSQL after checking that it resolves against the kind's reader schema",
    )
    .addOption(
      new Option(
        '--kind <kind>',
        'input kind (default: the kind whose reader schema has the same full name)',
      ).choices(KINDS),
    )
    .action(async (file: string, f: { kind?: ReaderKind }) => {
      const schema = await readSchemaFile(file);
      const fp = fingerprintOf(schema);
      const kind = f.kind ?? kindForSchemaName(fp.name);
      if (kind === undefined)
        throw new InputError(
          'SCHEMA_KIND_UNKNOWN',
          `cannot tell the kind of schema ${fp.name ?? '(unnamed)'}: pass --kind ${KINDS.join('|')}`,
        );
      try {
        checkWriterSchema(kind, schema);
      } catch (e) {
        if (e instanceof SchemaError)
          throw new InputError(
            'SCHEMA_INCOMPATIBLE',
            `${file} is not compatible with the ${kind} reader schema: ${e.message}`,
            e,
          );
        throw e;
      }
      const env = loadConfig();
      const db = openCliDb(env, 'gensemble-schemas');
      try {
        let who: string;
        try {
          who = `${userInfo().username}@${hostname()}`;
        } catch {
          who = hostname();
        }
        const r = await new WriterSchemaTable(db).register({
          kind,
          fingerprint: fp.fingerprint,
          canonicalForm: fp.canonicalForm,
          schema,
          name: fp.name,
          registeredBy: who,
        });
        process.stdout.write(
          `${r.created ? 'registered' : 'already registered'}: ${kind} writer schema ${fp.name ?? ''} ` +
            `fingerprint ${fp.hex} (signed ${fp.signed})\n`,
        );
      } finally {
        await db.destroy();
      }
    });

  cmd
    .command('list')
    .description('the writer schemas each kind decodes: its reader schema (built in) and the registered ones')
    .addOption(new Option('--kind <kind>', 'only this kind').choices(KINDS))
    .option('--json', 'one JSON object per line', false)
    .action(async (f: { kind?: ReaderKind; json: boolean }) => {
      const env = loadConfig();
      const db = openCliDb(env, 'gensemble-schemas');
      let rows: { kind: string; fingerprint: string; name: string; source: string; registeredAt: string }[];
      try {
        const registered = await new WriterSchemaTable(db).list(f.kind);
        rows = [
          ...KINDS.filter((k) => f.kind === undefined || k === f.kind).map((k) => {
            const fp = fingerprintOf(READER_SCHEMAS[k]);
            return {
              kind: k,
              fingerprint: fp.hex,
              name: fp.name ?? '',
              source: 'built-in (reader)',
              registeredAt: '',
            };
          }),
          ...registered.map((r) => ({
            kind: r.kind,
            fingerprint: r.fingerprint,
            name: r.name ?? '',
            source: `registered${r.registeredBy ? ` by ${r.registeredBy}` : ''}`,
            registeredAt: r.registeredAt.toISOString(),
          })),
        ];
      } finally {
        await db.destroy();
      }
      if (f.json) {
        process.stdout.write(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
        return;
      }
      process.stdout.write(
        formatTable(
          ['kind', 'fingerprint', 'name', 'source', 'registered_at'],
          rows.map((r) => [r.kind, r.fingerprint, r.name, r.source, r.registeredAt]),
        ),
      );
    });
}
