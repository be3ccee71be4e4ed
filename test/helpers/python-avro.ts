/**
 * The independent Avro implementation of the interop tests: Debian's python3-avro, driven by
 * test/interop/avro_single_object.py (`write SCHEMA RECORDS.json` → hex messages; `read SCHEMA` with a
 * JSON list of hex messages on stdin → records). `.ci/run` installs python3-avro, so under CI a test
 * that needs it requires it instead of skipping.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const AVRO_SCRIPT = fileURLToPath(new URL('../interop/avro_single_object.py', import.meta.url));

/** A python3 that imports the avro module (GENSEMBLE_PYTHON first), or undefined. */
export function findPythonAvro(): string | undefined {
  for (const c of [process.env.GENSEMBLE_PYTHON, '/usr/bin/python3', 'python3'].filter(
    (x): x is string => !!x,
  )) {
    if (spawnSync(c, ['-c', 'import avro.schema, avro.io'], { timeout: 10_000 }).status === 0) return c;
  }
  return undefined;
}

/** Decodes single-object messages with python3-avro against the schema in `schemaFile`. */
export function pythonAvroRead(python: string, schemaFile: string, messages: readonly Buffer[]): unknown[] {
  const out = execFileSync(python, [AVRO_SCRIPT, 'read', schemaFile], {
    input: JSON.stringify(messages.map((m) => m.toString('hex'))),
    encoding: 'utf8',
    timeout: 30_000,
    maxBuffer: 1 << 26,
  });
  return JSON.parse(out) as unknown[];
}
