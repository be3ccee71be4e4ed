import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import { loadConfig } from '../config.js';
import { loadCheckpoint, type CheckpointManifest } from '../engine/checkpoint.js';
import { InputError } from '../errors.js';
import { openCliDb } from '../replay/db.js';
import { ModelRegistry, type ModelVersion } from '../store/model-registry.js';
import type { InputKind } from '../store/flag-store.js';
import { formatTable } from '../replay/table.js';
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

/** Default version name of a checkpoint: <kind>-<created yyyymmddThhmmss>-<first 8 hex of the ONNX sha256>. */
export function defaultVersionName(m: CheckpointManifest): string {
  const t = m.createdAt.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${m.kind}-${t}-${m.onnx.sha256.slice(0, 8)}`;
}

/** The registry row of a checkpoint: its flag rule's score and calibrated threshold. */
export async function checkpointRegistration(dir: string, version?: string) {
  const ckpt = await loadCheckpoint(dir);
  const m = ckpt.manifest;
  const rule = m.scoreRule.score;
  const th = m.thresholds.find((t) => t.score === rule);
  if (!th)
    throw new InputError(
      'MODEL_NO_THRESHOLD',
      `${dir}: the manifest has no calibrated threshold for its score rule ${rule}`,
    );
  // The manifest minus the per-tensor weight table (large, and only the checkpoint loader needs it).
  const { weights, ...rest } = m;
  const summary = {
    ...rest,
    weights: { file: weights.file, byteLength: weights.byteLength, sha256: weights.sha256 },
  };
  return {
    version: version ?? defaultVersionName(m),
    kind: m.kind as InputKind,
    checkpointPath: resolve(dir),
    threshold: th.value,
    scoreName: rule,
    manifest: JSON.parse(JSON.stringify(summary)) as Record<string, unknown>,
  };
}

export function register(program: Command): void {
  const models = program
    .command('models')
    .description('list, show, register and activate model versions (table model_versions)');

  models
    .command('list')
    .description('all registered versions, newest first (* = active)')
    .addOption(new Option('--kind <kind>', 'only this kind').choices(['transactions', 'frames']))
    .option('--json', 'one JSON object per line', false)
    .action(async (f: { kind?: InputKind; json: boolean }) => {
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
          ['active', 'version', 'kind', 'score', 'threshold', 'created_at', 'checkpoint'],
          rows.map((m) => [
            m.active ? '*' : '',
            m.version,
            m.kind,
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
    .option('--name <version>', 'version name (default <kind>-<created>-<onnx sha256 prefix>)')
    .option('--activate', 'also make it the active version of its kind', false)
    .action(async (dir: string, f: { name?: string; activate: boolean }) => {
      const reg = await checkpointRegistration(dir, f.name);
      const m = await withRegistry((r) => r.register({ ...reg, activate: f.activate }));
      process.stdout.write(
        `registered ${m.version} (${m.kind}, ${m.scoreName} > ${m.threshold.toFixed(4)})${m.active ? ', active' : ''}\n`,
      );
    });
}
