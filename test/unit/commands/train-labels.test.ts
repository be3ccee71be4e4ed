/**
 * `gensemble train --labels <file.csv>` on the real credit subset: the manifest gets the supervised
 * head and the 'dose_or_known' score with its own threshold, and `gensemble score` computes exactly
 * max(r_dose, r_head) — checked against float64 references written independently of the engine
 * (kernel density over every support point, the head's linear predictor, the tail map's formula).
 * Labels without a fraud are refused with one line.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, creditCsv as csv } from '../../helpers/cli.js';
import {
  bruteDose,
  bruteHeadLogit,
  bruteTailR,
  bruteTypicality,
  readCreditRows,
  type DensityJson,
  type HeadJson,
  type TailJson,
  type TypicalityJson,
} from '../../helpers/labels-reference.js';

interface Manifest {
  scoreRule: {
    score: string;
    dose: { densities: DensityJson[]; typicality: TypicalityJson };
    labelled: { head: HeadJson; doseTail: TailJson; headTail: TailJson };
  };
  thresholds: Array<{ score: string; value: number }>;
  trainingConfig: { nTrain: number; labels?: { frauds: number; normals: number; labelledNormals: number } };
}

describe('gensemble train --labels <file.csv> (real credit-card data)', () => {
  let dir: string;
  let labelsCsv: string;
  const FRAUDS = 60;
  const NORMALS = 200;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-labels-'));
    // labels from rows the model does not train on (it reads the first 4,000 rows)
    const { header, rows } = readCreditRows(csv);
    const later = rows.slice(4000);
    const frauds = later.filter((r) => r[30].replace(/"/g, '') === '1').slice(0, FRAUDS);
    const normals = later.filter((r) => r[30].replace(/"/g, '') === '0').slice(0, NORMALS);
    labelsCsv = join(dir, 'labels.csv');
    await writeFile(
      labelsCsv,
      [header, ...[...frauds, ...normals].map((r) => r.join(','))].join('\n') + '\n',
    );
    await writeFile(
      join(dir, 'no-fraud.csv'),
      [header, ...normals.map((r) => r.join(','))].join('\n') + '\n',
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("trains the head, makes 'dose_or_known' the score, and `score` computes max(r_dose, r_head)", async () => {
    const model = join(dir, 'model');
    const small = ['--members', '2', '--steps', '40', '--limit', '4000', '--no-progress'];
    const t = await cli([
      'train',
      '--kind',
      'transactions',
      '--data',
      csv,
      '--out',
      model,
      ...small,
      '--labels',
      labelsCsv,
    ]);
    expect(t.stderr + t.stdout).toContain(`labels: ${FRAUDS} frauds, ${NORMALS} normals`);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/flag rule: dose_or_known > /);
    const m = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as Manifest;
    expect(m.scoreRule.score).toBe('dose_or_known');
    const { head, doseTail, headTail } = m.scoreRule.labelled;
    expect(head.inputDim).toBe(30);
    // every raw column but Time, then −log p, rate, Var log p
    expect(head.columns).toEqual(Array.from({ length: 29 }, (_, j) => j + 1));
    // the default head (labels protocol v3): quadratic, λ 3000 — 32 base features and their squares
    expect(head.features).toBe('quadratic');
    expect(head.l2).toBe(3000);
    expect(head.center).toHaveLength(32);
    expect(head.weights).toHaveLength(64);
    expect(head.positives).toBe(FRAUDS);
    // every training normal of the build's train split (≈ 4,000 − 10 % − 10 %) + the labelled normals
    const nTrain = m.trainingConfig.nTrain;
    expect(nTrain).toBeGreaterThan(3150);
    expect(head.negatives).toBe(nTrain + NORMALS);
    expect(m.trainingConfig.labels).toEqual({
      frauds: FRAUDS,
      normals: nTrain + NORMALS,
      labelledNormals: NORMALS,
    });
    // the tail maps are fitted on the validation split (400 records: every score kept)
    expect(doseTail.n).toBe(400);
    expect(doseTail.points).toHaveLength(400);
    expect(headTail.n).toBe(400);
    const th = m.thresholds.find((x) => x.score === 'dose_or_known');
    expect(th).toBeDefined();
    expect(m.thresholds.find((x) => x.score === 'dose')).toBeDefined();

    const out = join(dir, 'scores.csv');
    const s = await cli(['score', '--model', model, '--input', labelsCsv, '--out', out]);
    expect(s.code).toBe(0);
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe(
      'id,label,logp_0,logp_1,rate_0,rate_1,logp_mean,logp_var,waic,rate,score,flagged,feature_maha',
    );
    const rawRows = readCreditRows(labelsCsv).rows;
    let flaggedF = 0;
    let flaggedN = 0;
    let headWins = 0;
    lines.slice(1).forEach((line, i) => {
      const c = line.split(',').map(Number);
      const [, label, l0, l1, r0, r1, mean, v, , rate, score, flagged, featureMaha] = c;
      // raw features as the scorer saw them (float32)
      const raw = rawRows[i].slice(0, 30).map((x) => Math.fround(Number(x)));
      const dose = bruteDose(m.scoreRule.dose.densities, {
        neg_logp: -mean,
        rate,
        logp_var: v,
        feature_maha: featureMaha,
        member_typicality: bruteTypicality(m.scoreRule.dose.typicality, [l0, l1, r0, r1]),
      });
      const logit = bruteHeadLogit(head, raw, -mean, rate, v);
      const rd = bruteTailR(doseTail, dose);
      const rh = bruteTailR(headTail, logit);
      if (rh > rd) headWins++;
      expect(Math.abs(score - Math.max(rd, rh))).toBeLessThan(2e-3 * Math.max(1, Math.abs(score)));
      expect(flagged).toBe(score > th!.value ? 1 : 0);
      if (label === 1) flaggedF += flagged;
      else flaggedN += flagged;
    });
    expect(headWins).toBeGreaterThan(0);
    // the labelled frauds are caught far more often than the labelled normals
    expect(flaggedF / FRAUDS).toBeGreaterThan(0.8);
    expect(flaggedF / FRAUDS).toBeGreaterThan(flaggedN / NORMALS + 0.5);
  }, 180_000);

  it('--head linear --head-l2 3 keeps the v1 head; a bad --head or --head-l2 is refused before training', async () => {
    const model = join(dir, 'model-linear');
    const small = ['--members', '1', '--steps', '20', '--limit', '3000', '--no-progress'];
    const base = [
      'train',
      '--kind',
      'transactions',
      '--data',
      csv,
      '--out',
      model,
      ...small,
      '--labels',
      labelsCsv,
    ];
    const t = await cli([...base, '--head', 'linear', '--head-l2', '3']);
    expect(t.code).toBe(0);
    const m = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as Manifest;
    const h = m.scoreRule.labelled.head;
    expect(h.features).toBe('linear');
    expect(h.l2).toBe(3);
    expect(h.center).toBeUndefined();
    expect(h.weights).toHaveLength(32);
    const raw = readCreditRows(labelsCsv)
      .rows[0].slice(0, 30)
      .map((x) => Math.fround(Number(x)));
    expect(Number.isFinite(bruteHeadLogit(h, raw, 30, 5, 1))).toBe(true);
    for (const [flag, value, msg] of [
      ['--head', 'cubic', /--head.*cubic/],
      ['--head-l2', '0', /--head-l2 must be a finite number > 0, got "0"/],
      ['--head-l2', 'x', /--head-l2 must be a finite number > 0/],
    ] as const) {
      const bad = await cli([...base.map((a) => (a === model ? join(dir, 'never') : a)), flag, value]);
      expect(bad.code).not.toBe(0);
      expect(bad.stderr).toMatch(msg);
      await expect(readFile(join(dir, 'never', 'manifest.json'))).rejects.toThrow();
    }
  }, 120_000);

  it('files labelled in part: unlabelled records train the density model as normals and stay out of the head', async () => {
    const { header, rows } = readCreditRows(csv);
    const cls = (r: string[]): string => r[30].replace(/"/g, '');
    // --data: the first 4,000 rows, 100 normals with a blank Class and 20 "unsure"
    const first = rows.slice(0, 4000).map((r) => [...r]);
    const frauds = first.filter((r) => cls(r) === '1').length;
    let blanked = 0;
    for (const r of first) {
      if (cls(r) !== '0') continue;
      if (blanked < 100) r[30] = '';
      else if (blanked < 120) r[30] = 'unsure';
      else break;
      blanked++;
    }
    const data = join(dir, 'partial-data.csv');
    await writeFile(data, [header, ...first.map((r) => r.join(','))].join('\n') + '\n');
    // --labels: the labels file of the first test plus 30 unlabelled rows
    const labelled = (await readFile(labelsCsv, 'utf8')).trim().split('\n');
    const extra = rows.slice(10_000, 10_030).map((r) => [...r.slice(0, 30), ''].join(','));
    const labels = join(dir, 'partial-labels.csv');
    await writeFile(labels, [...labelled, ...extra].join('\n') + '\n');

    const model = join(dir, 'model-partial');
    const t = await cli([
      'train',
      '--kind',
      'transactions',
      '--data',
      data,
      '--out',
      model,
      ...['--members', '1', '--steps', '20', '--limit', '4000', '--no-progress'],
      '--labels',
      labels,
    ]);
    expect(t.code).toBe(0);
    expect(t.stderr).toContain(
      `${data}: ${frauds} labelled anomalies left out of training; 120 unlabelled records trained on as normal`,
    );
    expect(t.stderr).toContain(
      `--labels ${labels}: 30 unlabelled records (blank or unsure) left out of the head`,
    );
    expect(t.stderr + t.stdout).toContain(`labels: ${FRAUDS} frauds, ${NORMALS} normals`);
    const m = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as Manifest;
    // every record but the frauds reaches the build (buildSplit: 10 % validation, 10 % calibration)
    const n = 4000 - frauds;
    expect(m.trainingConfig.nTrain).toBe(n - 2 * Math.round(0.1 * n));
    expect(m.scoreRule.labelled.head.positives).toBe(FRAUDS);
    expect(m.trainingConfig.labels?.labelledNormals).toBe(NORMALS);
    // `score` keeps the label column: blank (CSV) and null (JSONL) where the file has none
    const out = join(dir, 'partial-scores.csv');
    const sc = await cli(['score', '--model', model, '--input', labels, '--out', out]);
    expect(sc.code).toBe(0);
    const csvLines = (await readFile(out, 'utf8')).trim().split('\n');
    const cells = csvLines.slice(1).map((l) => l.split(',')[1]);
    expect(cells).toEqual([...Array(FRAUDS).fill('1'), ...Array(NORMALS).fill('0'), ...Array(30).fill('')]);
    // the summary line: AUROC over the labelled rows by brute-force pair counting, and flagged shares
    const head = csvLines[0].split(',');
    const rowsOut = csvLines.slice(1).map((l) => l.split(','));
    const sOf = (r: string[]): number => Number(r[head.indexOf('score')]);
    const fr = rowsOut.filter((r) => r[1] === '1');
    const no = rowsOut.filter((r) => r[1] === '0');
    let wins = 0;
    for (const a of fr) for (const b of no) wins += sOf(a) > sOf(b) ? 1 : sOf(a) === sOf(b) ? 0.5 : 0;
    const flaggedOf = (rs: string[][]): number => rs.filter((r) => r[head.indexOf('flagged')] === '1').length;
    expect(sc.stderr).toContain(
      `labels: ${FRAUDS} anomalies, ${NORMALS} normals (30 unlabelled, left out): AUROC of dose_or_known ` +
        `${((100 * wins) / (FRAUDS * NORMALS)).toFixed(2)} %; flagged ${flaggedOf(fr)} anomalies ` +
        `(${((100 * flaggedOf(fr)) / FRAUDS).toFixed(1)} %) and ${flaggedOf(no)} normals (${((100 * flaggedOf(no)) / NORMALS).toFixed(1)} %)`,
    );
    const outJson = join(dir, 'partial-scores.jsonl');
    expect((await cli(['score', '--model', model, '--input', labels, '--out', outJson])).code).toBe(0);
    const jl = (await readFile(outJson, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { label: number | null }).label);
    expect(jl.slice(FRAUDS + NORMALS - 1)).toEqual([0, ...Array(30).fill(null)]);
  }, 120_000);

  it('labels without a fraud: one clear error line, no checkpoint', async () => {
    const model = join(dir, 'model-nofraud');
    const t = await cli([
      'train',
      '--kind',
      'transactions',
      '--data',
      csv,
      '--out',
      model,
      '--members',
      '1',
      '--steps',
      '5',
      '--limit',
      '500',
      '--no-progress',
      '--labels',
      join(dir, 'no-fraud.csv'),
    ]);
    expect(t.code).toBe(1);
    const errs = t.stderr.split('\n').filter((l) => /error/.test(l));
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatch(/none of the 200 labelled records is a fraud.*\[TRAIN_LABELS\]/);
    expect(t.stderr).not.toMatch(/\n\s+at /);
    await expect(readFile(join(model, 'manifest.json'))).rejects.toThrow();
  }, 60_000);
});
