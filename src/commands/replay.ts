import { Command, Option } from 'commander';
import { parseFloatArg, parseIntArg } from './args.js';
import { loadConfig, type Env } from '../config.js';
import { createKafka } from '../replay/kafka.js';
import { OOD_KINDS, parseOodKinds } from '../replay/ood-mix.js';
import { labelSummary, type Compression } from '../replay/runner.js';
import { replayTransactions } from '../replay/transactions.js';
import { replayFrames } from '../replay/frames.js';
import { replayTabular } from '../replay/tabular.js';
import { BUILTIN_KIND_NAMES, loadKindSpecDir } from '../kinds/tabular/spec.js';
import { ReplayError } from '../replay/errors.js';

interface CommonFlags {
  file: string;
  topic?: string;
  rate?: number;
  limit?: number;
  loop: boolean;
  batchSize: number;
  compression: Compression;
  idPrefix?: string;
  progress?: boolean;
}

interface RecordsFlags extends CommonFlags {
  kind: string;
}

interface FramesFlags extends CommonFlags {
  labels?: string;
  oodRatio: number;
  oodKinds: string;
  dataDir?: string;
  seed: number;
}

function common(cmd: Command): Command {
  return cmd
    .option(
      '--topic <topic>',
      "topic to produce to (default: TOPIC_TRANSACTIONS / TOPIC_FRAMES / the declared kind's topic)",
    )
    .option(
      '--rate <n>',
      'records per second (token bucket; default: as fast as possible)',
      parseFloatArg('--rate', 0.001, 1e9),
    )
    .option('--limit <n>', 'stop after n records', parseIntArg('--limit', 1))
    .option('--loop', 'start over at the end of the input (until --limit or Ctrl-C)', false)
    .option(
      '--batch-size <n>',
      'most records per produce request',
      parseIntArg('--batch-size', 1, 100_000),
      500,
    )
    .addOption(new Option('--compression <c>', 'batch compression').choices(['none', 'gzip']).default('none'))
    .option('--id-prefix <p>', 'prefix of the record ids (default tx- / frame- / none)')
    .option('--progress', 'always show the progress bar (default: when stderr is a terminal)')
    .option('--no-progress', 'never show the progress bar');
}

/** The producer options both subcommands take from the common flags (and the environment). */
function commonOptions(f: CommonFlags, env: Env, defaultTopic: string) {
  return {
    kafka: createKafka(env),
    file: f.file,
    topic: f.topic ?? defaultTopic,
    batchSize: f.batchSize,
    compression: f.compression,
    loop: f.loop,
    handleSignals: true,
    schemaRegistryUrl: env.SCHEMA_REGISTRY_URL,
    ...(f.rate !== undefined ? { rate: f.rate } : {}),
    ...(f.limit !== undefined ? { limit: f.limit } : {}),
    ...(f.idPrefix !== undefined ? { idPrefix: f.idPrefix } : {}),
    ...(f.progress !== undefined ? { progress: f.progress } : {}),
  };
}

export function register(program: Command): void {
  const replay = program
    .command('replay')
    .description(
      'replay a data file into Kafka as Avro records (rate-controlled, idempotent producer, labels in headers)',
    );

  common(
    replay
      .command('transactions')
      .description(
        'Kaggle credit-card CSV (with or without header, plain or .gz) → Transaction records; Class → "label" header',
      )
      .requiredOption('--file <path>', 'Kaggle-format CSV (Time, V1..V28, Amount[, Class])'),
  ).action(async (f: CommonFlags) => {
    const env = loadConfig();
    const s = await replayTransactions(commonOptions(f, env, env.TOPIC_TRANSACTIONS));
    process.stdout.write(
      `sent ${s.sent} transactions${labelSummary(s)} to ${s.topic} in ${(s.elapsedMs / 1000).toFixed(1)} s, ${Math.round(s.ratePerSec)} rec/s` +
        `${s.stoppedBy === 'signal' ? ' (stopped by signal)' : ''}\n`,
    );
  });

  common(
    replay
      .command('records')
      .description(
        'a declared kind\'s CSV / JSONL (as `train` and `score` read it) → Avro records of its own schema; a label column → "label" header',
      )
      .requiredOption('--kind <name>', 'a kind declared in KINDS_DIR')
      .requiredOption('--file <path>', "CSV (header) or JSONL with the kind's fields, optionally .gz"),
  ).action(async (f: RecordsFlags) => {
    const env = loadConfig();
    if ((BUILTIN_KIND_NAMES as readonly string[]).includes(f.kind)) {
      throw new ReplayError(
        'REPLAY_BUILTIN_KIND',
        `${f.kind} is a built-in kind: use \`gensemble replay ${f.kind}\``,
      );
    }
    const specs = await loadKindSpecDir(env.KINDS_DIR);
    const spec = specs.find((s) => s.name === f.kind);
    if (!spec) {
      const known = specs.map((s) => s.name);
      throw new ReplayError(
        'REPLAY_UNKNOWN_KIND',
        `no kind "${f.kind}" is declared in ${env.KINDS_DIR} (declared: ${known.length ? known.join(', ') : 'none'})`,
      );
    }
    const s = await replayTabular({ ...commonOptions(f, env, spec.topic), spec });
    process.stdout.write(
      `sent ${s.sent} ${s.kind} records${labelSummary(s)} to ${s.topic} in ${(s.elapsedMs / 1000).toFixed(1)} s, ${Math.round(s.ratePerSec)} rec/s` +
        `${s.stoppedBy === 'signal' ? ' (stopped by signal)' : ''}\n`,
    );
  });

  common(
    replay
      .command('frames')
      .description(
        'IDX images → ImageFrame records, mixed with out-of-distribution frames; "ood", "ood-kind" and "label" headers',
      )
      .requiredOption('--file <path>', 'IDX uint8 images file [n, h, w] or [n, h, w, c] (plain or .gz)')
      .option(
        '--labels <path>',
        'IDX labels file (default: the sibling *-labels-idx1-ubyte[.gz] when present)',
      )
      .option(
        '--ood-ratio <r>',
        'fraction of frames that are out-of-distribution',
        parseFloatArg('--ood-ratio', 0, 1),
        0,
      )
      .option(
        '--ood-kinds <list>',
        `comma-separated OoD kinds: ${OOD_KINDS.join(', ')}`,
        'uniform,gaussian,hflip,vflip',
      )
      .option(
        '--data-dir <dir>',
        'where notmnist / fashion / omniglot are found (default GENSEMBLE_DATA_DIR)',
      )
      .option('--seed <s>', 'seed of the mixing and the noise', parseIntArg('--seed', 0, 2 ** 31), 0),
  ).action(async (f: FramesFlags) => {
    const env = loadConfig();
    const kinds = parseOodKinds(f.oodKinds);
    const s = await replayFrames({
      ...commonOptions(f, env, env.TOPIC_FRAMES),
      oodRatio: f.oodRatio,
      oodKinds: kinds,
      dataDir: f.dataDir ?? env.GENSEMBLE_DATA_DIR,
      seed: f.seed,
      ...(f.labels !== undefined ? { labelsFile: f.labels } : {}),
    });
    const kinds_ = Object.entries(s.byKind)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    process.stdout.write(
      `sent ${s.sent} frames (${kinds_}) to ${s.topic} in ${(s.elapsedMs / 1000).toFixed(1)} s, ${Math.round(s.ratePerSec)} rec/s` +
        `${s.stoppedBy === 'signal' ? ' (stopped by signal)' : ''}\n`,
    );
  });
}
