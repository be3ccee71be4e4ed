import { Command } from 'commander';
import { parseKindName } from './args.js';
import { loadConfig } from '../config.js';
import { Detector } from '../detector/detector.js';
import { openCliDb } from '../replay/db.js';
import { ModelRegistry, type ModelVersion } from '../store/model-registry.js';
import type { InputKind } from '../store/flag-store.js';
import { formatTable } from '../replay/table.js';
import { cliKind } from './kinds.js';
import type { Knex } from 'knex';

async function withRegistry<T>(fn: (r: ModelRegistry) => Promise<T>): Promise<T> {
  const env = loadConfig();
  const db: Knex = openCliDb(env, 'gensemble-models');
  try {
    return await fn(new ModelRegistry(db));
  } finally {
    await db.destroy();
  }
}

function toJson(m: ModelVersion): Record<string, unknown> {
  return { ...m, createdAt: m.createdAt.toISOString() };
}

/** The registry row of a checkpoint, as the Detector opens it (its ONE version name, score, threshold). */
export async function checkpointRegistration(dir: string, version?: string) {
  const d = await Detector.open(dir);
  try {
    return d.registration(version);
  } finally {
    await d.close();
  }
}

export function register(program: Command): void {
  const models = program
    .command('models')
    .description('list, show, register and activate model versions (table model_versions)');

  models
    .command('list')
    .description('all registered versions, newest first (* = active)')
    .option('--kind <kind>', 'only this kind', parseKindName)
    .option('--json', 'one JSON object per line', false)
    .action(async (f: { kind?: InputKind; json: boolean }) => {
      if (f.kind !== undefined) await cliKind(f.kind);
      const rows = await withRegistry((r) => r.list(f.kind));
      if (f.json) {
        process.stdout.write(
          rows.map((m) => JSON.stringify({ ...toJson(m), manifest: undefined })).join('\n') +
            (rows.length ? '\n' : ''),
        );
        return;
      }
      if (rows.length === 0) {
        process.stderr.write('no model versions registered (gensemble models register <checkpoint-dir>)\n');
        return;
      }
      process.stdout.write(
        formatTable(
          ['active', 'version', 'kind', 'family', 'score', 'threshold', 'created_at', 'checkpoint'],
          rows.map((m) => [
            m.active ? '*' : '',
            m.version,
            m.kind,
            m.family,
            m.scoreName,
            m.threshold.toFixed(4),
            m.createdAt.toISOString(),
            m.checkpointPath,
          ]),
        ),
      );
    });

  models
    .command('show')
    .description('one version with its manifest, as JSON')
    .argument('<version>', 'version name')
    .action(async (version: string) => {
      const m = await withRegistry((r) => r.show(version));
      process.stdout.write(JSON.stringify(toJson(m), null, 2) + '\n');
    });

  models
    .command('activate')
    .description(
      'make <version> the only active version of its kind (consumers pick it up without a restart)',
    )
    .argument('<version>', 'version name')
    .action(async (version: string) => {
      const m = await withRegistry((r) => r.activate(version));
      process.stdout.write(`activated ${m.version} (${m.kind})\n`);
    });

  models
    .command('register')
    .description(
      "register a checkpoint directory (reads and verifies its manifest; threshold = the manifest's calibrated flag threshold)",
    )
    .argument('<dir>', 'checkpoint directory (manifest.json, weights.bin, model.onnx)')
    .option(
      '--name <version>',
      "version name (default: the checkpoint's, <kind>-<created>-<onnx sha256 prefix>)",
    )
    .option('--activate', 'also make it the active version of its kind', false)
    .action(async (dir: string, f: { name?: string; activate: boolean }) => {
      const reg = await checkpointRegistration(dir, f.name);
      const m = await withRegistry((r) => r.register({ ...reg, activate: f.activate }));
      process.stdout.write(
        `registered ${m.version} (${m.kind}, ${m.family}, ${m.scoreName} > ${m.threshold.toFixed(4)})${m.active ? ', active' : ''}\n`,
      );
    });
}
