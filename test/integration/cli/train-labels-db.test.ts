/**
 * `gensemble train --labels db` against the real PostgreSQL: transaction flags carrying real credit
 * records in their payload (as the transactions consumer writes it) are reviewed with the console's
 * own ReviewStore; the labels are each flag's LATEST review (fraud → 1, not_fraud → 0, unsure left
 * out), frames flags and payloads without features are left out, and the CLI trains a head on exactly
 * those. An empty review table gives one clear error line.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FlagStore, type FlagFields } from '../../../src/store/flag-store.js';
import { ReviewStore } from '../../../src/store/review-store.js';
import { reviewedFlags } from '../../../src/store/labels.js';
import { transactionFeaturesOfPayload } from '../../../src/kinds/transactions/index.js';
import { TRANSACTION_PCA_FIELDS } from '../../../src/schemas/schemas.js';
import { createIsolatedSchema, type IsolatedSchema } from '../../helpers/pg.js';
import { databaseUrl } from '../../helpers/services.js';
import { readCreditRows } from '../../helpers/labels-reference.js';
import { errorLines, runCli } from './run-cli.js';

const root = resolve(import.meta.dirname, '../../..');
const dataDir = process.env.GENSEMBLE_DATA_DIR ?? resolve(root, '../shared/datasets');
const csv = join(dataDir, 'creditcard/creditcard-subset.csv.gz');

let s: IsolatedSchema;
let empty: IsolatedSchema;
let dir: string;
const FRAUDS = 30;
const NORMALS = 60;
/** Per record id: the features it was flagged with and the label its latest review gives. */
const expected = new Map<string, { x: number[]; y: number }>();

/** The payload the transactions consumer stores (consumers/transactions.ts). */
function payloadOf(x: number[]): Record<string, unknown> {
  const features: Record<string, number> = { time_seconds: x[0] };
  TRANSACTION_PCA_FIELDS.forEach((f, i) => (features[f] = x[1 + i]));
  return { amount: x[29], features, member_logp: [-30.5, -31.25] };
}

function flag(recordId: string, payload: Record<string, unknown>, modelVersion = 'm1'): FlagFields {
  return {
    recordId,
    score: 50,
    waic: -40,
    logpMean: -39,
    logpVar: 1,
    rate: 3,
    threshold: 20,
    modelVersion,
    eventTime: Date.UTC(2026, 0, 1),
    payload,
  };
}

beforeAll(async () => {
  s = await createIsolatedSchema({ prefix: 'labelsdb' });
  empty = await createIsolatedSchema({ prefix: 'labelsdb0' });
  dir = await mkdtemp(join(tmpdir(), 'gensemble-labels-db-'));
  const { rows } = readCreditRows(csv);
  const later = rows.slice(4000); // the model trains on the first 4,000 rows
  const cls = (r: string[]) => r[30].replace(/"/g, '');
  const frauds = later.filter((r) => cls(r) === '1').slice(0, FRAUDS + 2);
  const normals = later.filter((r) => cls(r) === '0').slice(0, NORMALS + 2);
  const num = (r: string[]) => r.slice(0, 30).map(Number);
  const flags = new FlagStore(s.db);
  const records: { offset: number; outcome: 'flagged'; flag: FlagFields }[] = [];
  let off = 0;
  const add = (id: string, payload: Record<string, unknown>, version = 'm1') =>
    records.push({ offset: off++, outcome: 'flagged', flag: flag(id, payload, version) });
  frauds.forEach((r, i) => add(`f-${i}`, payloadOf(num(r))));
  normals.forEach((r, i) => add(`n-${i}`, payloadOf(num(r))));
  // the same record flagged again by another model version (counts once, its latest review wins)
  add('n-0', payloadOf(num(normals[0])), 'm2');
  // an old flag without features in its payload
  add('old-1', { amount: 12.5 });
  await flags.writeBatch({ topic: 'tx', partition: 0, kind: 'transactions', records });
  await flags.writeBatch({
    topic: 'fr',
    partition: 0,
    kind: 'frames',
    records: [{ offset: 0, outcome: 'flagged', flag: flag('frame-1', { width: 28 }) }],
  });
  const ids = new Map<string, string[]>();
  const all = await s
    .db('flags')
    .select<{ id: string; record_id: string; model_version: string }[]>('id', 'record_id', 'model_version');
  for (const r of all) ids.set(r.record_id, [...(ids.get(r.record_id) ?? []), String(r.id)]);
  const one = (rid: string, version?: string): string => {
    const r = all.find((x) => x.record_id === rid && (version === undefined || x.model_version === version));
    return String(r!.id);
  };
  const reviews = new ReviewStore(s.db);
  const review = (flagIds: string[], label: 'fraud' | 'not_fraud' | 'unsure') =>
    reviews.review({ flagIds, label, reviewer: 'analyst' });
  // frauds f-0..f-29 labelled fraud; f-30 first fraud then unsure (left out); f-31 never reviewed
  await review(
    frauds.slice(0, FRAUDS).map((_, i) => one(`f-${i}`)),
    'fraud',
  );
  await review([one(`f-${FRAUDS}`)], 'fraud');
  await review([one(`f-${FRAUDS}`)], 'unsure');
  // normals n-0..n-59 not fraud; n-60 first not_fraud then fraud (latest: fraud); n-61 unsure
  await review(
    normals.slice(0, NORMALS).map((_, i) => one(`n-${i}`)),
    'not_fraud',
  );
  await review([one(`n-${NORMALS}`)], 'not_fraud');
  await review([one(`n-${NORMALS}`)], 'fraud');
  await review([one(`n-${NORMALS + 1}`)], 'unsure');
  // n-0's second flag (model m2) reviewed later as fraud: the record's latest review is fraud
  await review([one('n-0', 'm2')], 'fraud');
  await review([one('old-1')], 'fraud');
  await review([one('frame-1')], 'fraud');
  for (let i = 0; i < FRAUDS; i++) expected.set(`f-${i}`, { x: num(frauds[i]), y: 1 });
  for (let i = 1; i < NORMALS; i++) expected.set(`n-${i}`, { x: num(normals[i]), y: 0 });
  expected.set('n-0', { x: num(normals[0]), y: 1 });
  expected.set(`n-${NORMALS}`, { x: num(normals[NORMALS]), y: 1 });
});

afterAll(async () => {
  await s?.drop();
  await empty?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('labels from reviewed flags', () => {
  it('reviewedFlags + the kind: latest review per record, unsure / frames / featureless flags left out', async () => {
    const flags = await reviewedFlags(s.db, 'transactions');
    const rows = flags.map((f) => ({ f, x: transactionFeaturesOfPayload(f.payload) }));
    expect(rows.filter((r) => r.x === null)).toHaveLength(1);
    const usable = rows.filter((r) => r.x !== null);
    expect(usable).toHaveLength(expected.size);
    expect(new Set(usable.map((r) => r.f.recordId))).toEqual(new Set(expected.keys()));
    for (const { f, x } of usable) {
      const e = expected.get(f.recordId)!;
      expect(f.label).toBe(e.y);
      // the payload's doubles, in the model's column order Time, V1..V28, Amount
      expect(x).toEqual(e.x);
    }
  });

  it('gensemble train --labels db trains the head on exactly those labels', async () => {
    const model = join(dir, 'model');
    const env = { DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: s.schema };
    const t = await runCli(
      [
        'train',
        '--kind',
        'transactions',
        '--data',
        csv,
        '--out',
        model,
        '--members',
        '2',
        '--steps',
        '40',
        '--limit',
        '4000',
        '--no-progress',
        '--labels',
        'db',
      ],
      env,
      180_000,
    );
    const frauds = [...expected.values()].filter((e) => e.y === 1).length;
    const normals = expected.size - frauds;
    expect(t.stderr).toContain(`labels: ${frauds} frauds, ${normals} normals (db)`);
    expect(t.stderr).toContain('1 reviewed flags lack the features');
    expect(t.code).toBe(0);
    const m = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as {
      scoreRule: { score: string; labelled: { head: { positives: number; negatives: number } } };
      trainingConfig: { nTrain: number; labels: { frauds: number; labelledNormals: number } };
    };
    expect(m.scoreRule.score).toBe('dose_or_known');
    expect(m.scoreRule.labelled.head.positives).toBe(frauds);
    expect(m.trainingConfig.labels.labelledNormals).toBe(normals);
    expect(m.scoreRule.labelled.head.negatives).toBe(m.trainingConfig.nTrain + normals);
  }, 200_000);

  it('no reviews: one clear error line', async () => {
    const t = await runCli(
      [
        'train',
        '--kind',
        'transactions',
        '--data',
        csv,
        '--out',
        join(dir, 'none'),
        '--limit',
        '500',
        '--no-progress',
        '--labels',
        'db',
      ],
      { DATABASE_URL: databaseUrl(), DATABASE_SCHEMA: empty.schema },
    );
    expect(t.code).toBe(1);
    const errs = errorLines(t.stderr);
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(
      /--labels db \(reviewed transactions flags\): no labelled records.*\[TRAIN_LABELS\]/,
    );
  });
});
