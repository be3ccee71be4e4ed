/**
 * `gensemble schemas` as a user runs it (child process, real PostgreSQL in an isolated schema):
 * fingerprint checked against an independent implementation (python3-avro's canonical form and a
 * CRC-64-AVRO written in Python from the spec); register / list; bad input refused with one line.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { databaseUrl } from '../../helpers/services.js';
import { TRANSACTION_SCHEMA } from '../../../src/schemas/schemas.js';
import { errorLines, runCli } from './run-cli.js';
import { AVRO_SCRIPT, findPythonAvro } from '../../helpers/python-avro.js';

const TX_AVSC = fileURLToPath(new URL('../../../src/schemas/transaction.avsc', import.meta.url));
const PY_SCRIPT = AVRO_SCRIPT;
const python = findPythonAvro;

let s: IsolatedSchema;
let env: Record<string, string>;
let tmp: string;
const base = TRANSACTION_SCHEMA as { fields: { name: string; type: unknown }[] } & Record<string, unknown>;

beforeAll(async () => {
  s = await createIsolatedSchema({ prefix: 'clischemas' });
  env = { DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: s.schema };
  tmp = await mkdtemp(join(tmpdir(), 'gensemble-cli-schemas-'));
});
afterAll(async () => {
  await s?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

async function avsc(name: string, schema: unknown): Promise<string> {
  const p = join(tmp, name);
  await writeFile(p, typeof schema === 'string' ? schema : JSON.stringify(schema));
  return p;
}

describe('gensemble schemas', () => {
  const PY = python();
  it.skipIf(!PY && !process.env.CI)(
    'fingerprint agrees with python3-avro and a Python CRC-64-AVRO',
    async () => {
      const r = await runCli(['schemas', 'fingerprint', TX_AVSC, '--json'], env);
      expect(r.code, r.stderr).toBe(0);
      const ours = JSON.parse(r.stdout) as {
        canonicalForm: string;
        fingerprintHex: string;
        fingerprintSigned: string;
        singleObjectHeaderHex: string;
      };
      const empty = await avsc('empty.json', []);
      const py = spawnSync(PY as string, [PY_SCRIPT, 'write', TX_AVSC, empty], {
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(py.status, py.stderr).toBe(0);
      const ref = JSON.parse(py.stdout) as {
        canonical_form: string;
        raw_canonical_form: string;
        fingerprint_hex: string;
        fingerprint_signed: string;
      };
      expect(ours.canonicalForm).toBe(ref.canonical_form);
      expect(ours.fingerprintSigned).toBe(ref.fingerprint_signed);
      expect(ours.singleObjectHeaderHex).toBe('c301' + ref.fingerprint_hex);
      // The pitfall the README warns about: python3-avro 1.11 keeps a logical type's primitive as an
      // object in its canonical form, so its own fingerprint of the unmodified schema differs.
      expect(ref.raw_canonical_form).toContain('{"type":"long"}');
      expect(ref.raw_canonical_form).not.toBe(ours.canonicalForm);
      // The text form prints the same numbers.
      const t = await runCli(['schemas', 'fingerprint', TX_AVSC], env);
      expect(t.stdout).toContain(ours.fingerprintHex);
      expect(t.stdout).toContain(ours.fingerprintSigned);
    },
  );

  it('register stores a compatible version once; list shows it beside the built-in reader schemas', async () => {
    const v2 = await avsc('v2.avsc', {
      ...base,
      fields: [...base.fields, { name: 'channel', type: 'string', default: 'web' }],
    });
    const r1 = await runCli(['schemas', 'register', v2], env);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toMatch(
      /^registered: transactions writer schema gensemble\.Transaction fingerprint [0-9a-f]{16}/,
    );
    const r2 = await runCli(['schemas', 'register', v2], env);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toMatch(/^already registered/);
    const rows = await s.db('writer_schemas').select('kind', 'fingerprint', 'name');
    expect(rows).toHaveLength(1);
    const fp = (
      JSON.parse((await runCli(['schemas', 'fingerprint', v2, '--json'], env)).stdout) as {
        fingerprintHex: string;
      }
    ).fingerprintHex;
    expect(rows[0]).toEqual({ kind: 'transactions', fingerprint: fp, name: 'gensemble.Transaction' });
    const list = await runCli(['schemas', 'list', '--json'], env);
    expect(list.code, list.stderr).toBe(0);
    const listed = list.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; fingerprint: string; source: string });
    expect(
      listed
        .filter((x) => x.source.startsWith('built-in'))
        .map((x) => x.kind)
        .sort(),
    ).toEqual(['frames', 'transactions']);
    expect(listed.find((x) => x.fingerprint === fp)?.source).toMatch(/^registered/);
  });

  it('bad input is refused with one clear line and nothing stored', async () => {
    const before = (await s.db('writer_schemas').count<{ count: string }[]>('* as count'))[0].count;
    const incompatible = await avsc('bad.avsc', {
      ...base,
      fields: base.fields.map((f) => (f.name === 'amount' ? { name: 'amount', type: 'string' } : f)),
    });
    const cases: [string[], RegExp][] = [
      [['schemas', 'register', join(tmp, 'missing.avsc')], /cannot read .*missing\.avsc: ENOENT/],
      [['schemas', 'register', await avsc('notjson.avsc', '{"type": ')], /is not JSON/],
      [
        [
          'schemas',
          'register',
          await avsc('invalid.avsc', {
            type: 'record',
            name: 'x.Y',
            fields: [{ name: 'a', type: 'nosuchtype' }],
          }),
        ],
        /invalid Avro schema/,
      ],
      [['schemas', 'register', incompatible], /not compatible with the transactions reader schema/],
      [
        [
          'schemas',
          'register',
          await avsc('other.avsc', { type: 'record', name: 'other.Thing', fields: [] }),
        ],
        /cannot tell the kind .*--kind/,
      ],
      [['schemas', 'register', TX_AVSC, '--kind', 'nope'], /--kind/],
    ];
    for (const [args, re] of cases) {
      const r = await runCli(args, env);
      expect(r.code, args.join(' ')).not.toBe(0);
      const errs = errorLines(r.stderr);
      expect(errs, r.stderr).toHaveLength(1);
      expect(errs[0]).toMatch(re);
    }
    const after = (await s.db('writer_schemas').count<{ count: string }[]>('* as count'))[0].count;
    expect(after).toBe(before);
  });
});
