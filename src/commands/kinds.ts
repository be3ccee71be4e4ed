/**
 * `gensemble kinds`: the input kinds this installation knows (built-in and declared in KINDS_DIR),
 * and a check of a declaration file. Also the CLI's one way to the kind registry.
 */
import { Command } from 'commander';
import { loadConfig } from '../config.js';
import { loadKindRegistry } from '../kinds/load.js';
import type { KindRegistry } from '../kinds/registry.js';
import { loadKindSpecFile } from '../kinds/tabular/spec.js';
import { tabularKind } from '../kinds/tabular/index.js';
import { formatTable } from '../replay/table.js';
import { UsageError } from '../errors.js';
import type { KindDefinition } from '../kinds/types.js';

/** The kind registry of the CLI: built-ins plus KINDS_DIR. */
export async function cliKinds(): Promise<KindRegistry> {
  return loadKindRegistry(loadConfig().KINDS_DIR);
}

/** A kind named on the command line; an unknown name is a usage error (exit 2) listing the known ones. */
export async function cliKind(name: string, option = '--kind'): Promise<KindDefinition> {
  const reg = await cliKinds();
  if (!reg.has(name))
    throw new UsageError(
      `${option} ${name}: unknown input kind (known: ${reg.names().join(', ')}; declare your own in KINDS_DIR)`,
    );
  return reg.get(name);
}

export function register(program: Command): void {
  const kinds = program.command('kinds').description('input kinds: built-in and declared in KINDS_DIR');
  kinds
    .command('list')
    .description('every kind with its topic and Avro record name')
    .option('--json', 'one JSON object per line', false)
    .action(async (f: { json: boolean }) => {
      const env = loadConfig();
      const reg = await loadKindRegistry(env.KINDS_DIR);
      const rows = reg.all().map((k) => ({
        name: k.name,
        builtin: k.builtin,
        topic: k.topic(env),
        record: k.codec().name,
        description: k.description,
      }));
      if (f.json) {
        process.stdout.write(rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
        return;
      }
      process.stdout.write(
        formatTable(
          ['kind', 'origin', 'topic', 'record', 'description'],
          rows.map((r) => [r.name, r.builtin ? 'built-in' : 'declared', r.topic, r.record, r.description]),
        ),
      );
    });
  kinds
    .command('check')
    .description('validate a kind declaration file (one clear line per problem)')
    .argument('<file>', 'JSON declaration')
    .action(async (file: string) => {
      const spec = await loadKindSpecFile(file);
      const k = tabularKind(spec);
      process.stdout.write(
        `${file}: kind ${k.name} ok (topic ${spec.topic}, record ${k.codec().name}, ${Object.keys(spec.features).length} features)\n`,
      );
    });
}
