import { Command } from 'commander';
import { parseFloatArg, parseIntArg, parseKindName } from './args.js';
import { loadConfig } from '../config.js';
import { openCliDb } from '../replay/db.js';
import { FlagStore, type FlagQuery, type FlagRow } from '../store/flag-store.js';
import { formatTable } from '../replay/table.js';
import { cliKind } from './kinds.js';

interface FlagsFlags {
  since?: string;
  kind?: string;
  minScore?: number;
  limit?: number;
  modelVersion?: string;
  topic?: string;
  json: boolean;
}

export function register(program: Command): void {
  program
    .command('flags')
    .description(
      'query flagged records in PostgreSQL, newest first (filters are validated; SQL is parameterised)',
    )
    .option(
      '--since <time>',
      'ISO-8601 time (2026-01-31T12:00Z) or a duration back from now: 30s, 15m, 2h, 7d',
    )
    .option('--kind <kind>', 'only this input kind', parseKindName)
    .option(
      '--min-score <x>',
      'only flags whose score is at least x',
      parseFloatArg('--min-score', -1e300, 1e300),
    )
    .option('--limit <n>', 'most rows to print', parseIntArg('--limit', 1, 10_000), 100)
    .option('--model-version <v>', 'only flags of this model version')
    .option('--topic <topic>', 'only flags from this source topic')
    .option('--json', 'one JSON object per line instead of a table', false)
    .action(async (f: FlagsFlags) => {
      await runFlags(f);
    });
}

async function runFlags(f: FlagsFlags): Promise<void> {
  if (f.kind !== undefined) await cliKind(f.kind); // a typo is one clear line, not an empty table
  // Values go to FlagStore.queryFlags as given: it validates them (zod) and binds them as parameters.
  const query: FlagQuery = {
    ...(f.since !== undefined ? { since: f.since } : {}),
    ...(f.kind !== undefined ? { kind: f.kind as FlagQuery['kind'] } : {}),
    ...(f.minScore !== undefined ? { minScore: f.minScore } : {}),
    ...(f.limit !== undefined ? { limit: f.limit } : {}),
    ...(f.modelVersion !== undefined ? { modelVersion: f.modelVersion } : {}),
    ...(f.topic !== undefined ? { topic: f.topic } : {}),
  };
  const env = loadConfig();
  const db = openCliDb(env, 'gensemble-flags');
  let rows: FlagRow[];
  try {
    rows = await new FlagStore(db).queryFlags(query);
  } finally {
    await db.destroy();
  }
  if (f.json) {
    process.stdout.write(rows.map((r) => JSON.stringify(r)).join('\n') + (rows.length ? '\n' : ''));
    return;
  }
  if (rows.length === 0) {
    process.stderr.write('no flags match\n');
    return;
  }
  process.stdout.write(
    formatTable(
      ['flagged_at', 'kind', 'record_id', 'score', 'threshold', 'waic', 'model_version', 'source', 'payload'],
      rows.map((r) => [
        r.flaggedAt.toISOString(),
        r.kind,
        r.recordId,
        r.score.toFixed(3),
        r.threshold.toFixed(3),
        r.waic.toFixed(3),
        r.modelVersion,
        `${r.sourceTopic}:${r.sourcePartition}:${r.sourceOffset}`,
        truncate(JSON.stringify(r.payload), 60),
      ]),
    ),
  );
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : s.slice(0, n - 1) + '…';
}
