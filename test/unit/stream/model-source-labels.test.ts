/**
 * A checkpoint whose score is 'dose_or_known' loads through the stream's ModelSource and scores with
 * the rules from its manifest: a record like the labelled frauds — here a real normal transaction the
 * dose finds ordinary, labelled fraud (with near copies) — is flagged by the union while the dose
 * alone does not flag it; ordinary normals keep about the target FPR.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCreditCardCsv } from '../../../src/data/credit.js';
import { buildModel, type BuildModelResult } from '../../../src/detector/build.js';
import { transactionsProfile } from '../../../src/kinds/transactions/index.js';
import { ModelSource } from '../../../src/stream/model-source.js';
import { anomalyScores } from '../../../src/engine/score-rules.js';
import { flaggedFraction } from '../../../src/engine/calibrate.js';
import { manifestSchema } from '../../../src/engine/checkpoint.js';

const root = resolve(import.meta.dirname, '../../..');
const dataDir = process.env.GENSEMBLE_DATA_DIR ?? resolve(root, '../shared/datasets');
const csv = join(dataDir, 'creditcard/creditcard-subset.csv.gz');
const D = 30;

describe("ModelSource with a 'dose_or_known' manifest", () => {
  let dir: string;
  let built: BuildModelResult;
  let normals: Float32Array; // rows the model never saw
  let target: Float32Array; // the "known fraud": one of them
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-ms-labels-'));
    const data = await loadCreditCardCsv(csv, { maxRows: 7000 });
    const keep: number[] = [];
    for (let i = 0; i < data.n; i++) if (data.labels![i] === 0) keep.push(i);
    const rows = (idx: number[]) => {
      const out = new Float32Array(idx.length * D);
      idx.forEach((r, j) => out.set(data.features.subarray(r * D, (r + 1) * D), j * D));
      return out;
    };
    // the CSV is in time order: train on every other normal so that the unseen ones are alike
    const even = keep.filter((_, i) => i % 2 === 0);
    const odd = keep.filter((_, i) => i % 2 === 1);
    const train = rows(even.slice(0, 3000));
    normals = rows(odd.slice(0, 2000));
    target = rows([odd[2100]]);
    // labels: 25 near copies of the target (fraud) and 100 other unseen normals (not fraud)
    const nf = 25;
    const nn = 100;
    const raw = new Float32Array((nf + nn) * D);
    for (let i = 0; i < nf; i++)
      for (let j = 0; j < D; j++) raw[i * D + j] = target[j] * (1 + 0.002 * Math.sin(7 * i + j));
    raw.set(rows(odd.slice(2200, 2200 + nn)), nf * D);
    const labels = new Uint8Array(nf + nn);
    labels.fill(1, 0, nf);
    built = await buildModel({
      kind: 'transactions',
      profile: transactionsProfile,
      // the paper's representation: this 40-step model's record/threshold arithmetic below was sized
      // for it (the rule under test, dose OR head, is the same for every likelihood)
      model: { likelihood: 'bernoulli', transform: 'minmax' },
      raw: train,
      n: 3000,
      d: D,
      members: 2,
      steps: 40,
      seed: 3,
      outDir: join(dir, 'model'),
      // and the record/threshold arithmetic was sized for the dose rule before detection protocols v5
      // and v6 added the input distance and the members' typicality (the union under test is the same)
      doseStatistics: ['neg_logp', 'rate', 'logp_var'],
      labels: { raw, n: nf + nn, labels },
    });
  }, 120_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('loads, scores the union, flags the known-fraud-like record that the dose alone does not', async () => {
    expect(built.manifest.scoreRule.score).toBe('dose_or_known');
    const src = await ModelSource.open({ kind: 'transactions', dir: join(dir, 'model') });
    try {
      const m = src.acquire();
      expect(m.score).toBe('dose_or_known');
      expect(m.rules.labelled).toEqual(built.labelled);
      const th = built.thresholds.find((t) => t.score === 'dose_or_known')!;
      const thDose = built.thresholds.find((t) => t.score === 'dose')!;
      expect(m.threshold).toBe(th.value);
      const b = await m.scorer.scoreBatch(target, 1);
      const union = anomalyScores(b, m.score, m.rules)[0];
      const dose = anomalyScores(b, 'dose', m.rules)[0];
      expect(dose).toBeLessThanOrEqual(thDose.value);
      expect(union).toBeGreaterThan(m.threshold);
      // ordinary unseen normals: about the target FPR (1 %) under the union's threshold
      const bn = await m.scorer.scoreBatch(normals, normals.length / D);
      expect(flaggedFraction(anomalyScores(bn, m.score, m.rules), m.threshold)).toBeLessThan(0.03);
      src.release(m);
    } finally {
      await src.close();
    }
  }, 60_000);

  it('the manifest schema checks scoreRule.labelled (strict, lengths, columns, sorted tail points)', () => {
    const ok = JSON.parse(JSON.stringify(built.manifest)) as Record<string, unknown>;
    expect(manifestSchema.safeParse(ok).success).toBe(true);
    const bad = (edit: (l: Record<string, Record<string, unknown>>) => void): boolean => {
      const m = JSON.parse(JSON.stringify(built.manifest)) as {
        scoreRule: { labelled: Record<string, Record<string, unknown>> };
      };
      edit(m.scoreRule.labelled);
      return manifestSchema.safeParse(m).success;
    };
    expect(bad((l) => (l.head.weights as number[]).pop())).toBe(false);
    expect(bad((l) => (l.head.columns = [...(l.head.columns as number[]).slice(1), 30]))).toBe(false);
    expect(bad((l) => (l.head.extra = 1))).toBe(false);
    expect(bad((l) => (l.doseTail.points as number[]).reverse())).toBe(false);
    expect(bad((l) => (l.headTail.tau = 0))).toBe(false);
    // the quadratic family (the default): center / scale of columns + 3 values, twice as many weights
    expect(built.labelled!.head.features).toBe('quadratic');
    expect(bad(() => undefined)).toBe(true);
    expect(bad((l) => delete l.head.center)).toBe(false);
    expect(bad((l) => (l.head.scale as number[]).pop())).toBe(false);
    expect(bad((l) => (l.head.features = 'cubic'))).toBe(false);
    expect(bad((l) => (l.head.features = 'linear'))).toBe(false); // linear with center / scale
    // a checkpoint written before labels protocol v2: no family field = linear, c + 3 weights
    const legacy = (l: Record<string, Record<string, unknown>>): void => {
      const p = (l.head.center as number[]).length;
      delete l.head.features;
      delete l.head.center;
      delete l.head.scale;
      for (const k of ['mean', 'std', 'weights']) l.head[k] = (l.head[k] as number[]).slice(0, p);
    };
    expect(bad(legacy)).toBe(true);
  });
});
