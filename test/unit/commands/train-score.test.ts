import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliDataDir as dataDir, creditCsv as csv } from '../../helpers/cli.js';
import { bruteTypicality, type TypicalityJson } from '../../helpers/labels-reference.js';
import { encodeIdx } from '../../../src/data/idx.js';
import { framesKind } from '../../../src/kinds/frames/index.js';
import type { CheckpointManifest } from '../../../src/engine/checkpoint.js';
import { Rng } from '../../../src/engine/random.js';

/** n smooth colour frames [n, h, w(, c)]: a blob at a random place, one width per channel. */
function blobFrames(n: number, h: number, w: number, c: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const data = new Uint8Array(n * h * w * c);
  for (let i = 0; i < n; i++) {
    const cy = rng.uniform() * h;
    const cx = rng.uniform() * w;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let k = 0; k < c; k++)
          data[((i * h + y) * w + x) * c + k] = Math.round(
            255 * Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (4 + 3 * k)),
          );
  }
  return data;
}

interface Density {
  stat: string;
  bandwidth: number;
  support: number[];
}

/** −log of a Gaussian kernel density at x, every support point summed in float64 (no grid, no window). */
function bruteNegLogKde(d: Density, x: number): number {
  const terms = d.support.map((p) => -0.5 * ((x - p) / d.bandwidth) ** 2);
  const m = Math.max(...terms);
  const sum = terms.reduce((acc, t) => acc + Math.exp(t - m), 0);
  return -(m + Math.log(sum) - Math.log(d.support.length * d.bandwidth * Math.sqrt(2 * Math.PI)));
}

/**
 * −log of a dose density with exponential tails (detection protocol v3), worked out from the support
 * points alone: k = max(1, round(0.01·(m − 1))) points (at most ⌊(m − 1)/2⌋) beyond each threshold,
 * mass k/(m − 1), scale = their mean distance from the threshold; the kernel estimate in between.
 */
function bruteNegLogDoseEv(d: Density, x: number): { value: number; tail: boolean } {
  const s = d.support;
  const m = s.length;
  const k = Math.min(Math.floor((m - 1) / 2), Math.max(1, Math.round(0.01 * (m - 1))));
  const mass = k / (m - 1);
  const hi = s[m - 1 - k];
  const lo = s[k];
  const hiScale = s.slice(m - k).reduce((a, v) => a + (v - hi), 0) / k || d.bandwidth;
  const loScale = s.slice(0, k).reduce((a, v) => a + (lo - v), 0) / k || d.bandwidth;
  if (x > hi) return { value: -(Math.log(mass / hiScale) - (x - hi) / hiScale), tail: true };
  if (x < lo) return { value: -(Math.log(mass / loScale) - (lo - x) / loScale), tail: true };
  return { value: bruteNegLogKde(d, x), tail: false };
}

/** A 2-member, 40-step transactions model on the first 4,000 rows of the credit subset. */
function trainSmall(out: string, extra: string[] = []): ReturnType<typeof cli> {
  const small = ['--members', '2', '--steps', '40', '--limit', '4000', '--no-progress'];
  return cli(['train', '--kind', 'transactions', '--data', csv, '--out', out, ...small, ...extra]);
}

describe('gensemble train + score (CLI, real credit-card data)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('trains a checkpoint and scores a file with consistent columns', async () => {
    const model = join(dir, 'model');
    const t = await trainSmall(model);
    expect(t.stderr + t.stdout).toContain('saved');
    expect(t.code).toBe(0);
    const manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as {
      scoreRule: {
        score: string;
        dose?: { densities: Density[]; tails?: string; typicality: TypicalityJson };
      };
      thresholds: Array<{ score: string; value: number }>;
    };
    // the product default: the density-of-states rule fitted on this model's normals
    expect(manifest.scoreRule.score).toBe('dose');
    // with the input Gaussian's distance (detection protocol v5), stored beside the weights
    expect(manifest.scoreRule.dose!.densities.map((d) => d.stat)).toEqual([
      'neg_logp',
      'rate',
      'logp_var',
      'feature_maha',
      'member_typicality',
    ]);
    expect(existsSync(join(model, 'features.bin'))).toBe(true);
    // the default keeps the kernel estimate everywhere (detection protocol v3)
    expect(manifest.scoreRule.dose).not.toHaveProperty('tails');
    const th = manifest.thresholds.find((x) => x.score === manifest.scoreRule.score);
    expect(th).toBeDefined();

    const out = join(dir, 'scores.csv');
    const s = await cli(['score', '--model', model, '--input', csv, '--out', out, '--limit', '500']);
    expect(s.code).toBe(0);
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe(
      'id,label,logp_0,logp_1,rate_0,rate_1,logp_mean,logp_var,waic,rate,score,flagged,feature_maha',
    );
    expect(lines).toHaveLength(501);
    for (const line of lines.slice(1)) {
      const [, , a, b, r0, r1, mean, v, waic, rate, score, flagged, featureMaha] = line
        .split(',')
        .map(Number);
      expect(featureMaha).toBeGreaterThanOrEqual(0);
      expect(rate).toBeCloseTo((r0 + r1) / 2, 3);
      // mean, population variance and WAIC recomputed in float64 from the members' columns
      expect(mean).toBeCloseTo((a + b) / 2, 3);
      expect(v).toBeCloseTo(((a - b) / 2) ** 2, 3);
      expect(waic).toBeCloseTo(mean - v, 3);
      // The score column is the manifest rule's statistic, recomputed from the other columns.
      const stats: Record<string, number> = {
        neg_logp: -mean,
        logp_var: v,
        rate,
        feature_maha: featureMaha,
        ...(manifest.scoreRule.dose
          ? { member_typicality: bruteTypicality(manifest.scoreRule.dose.typicality, [a, b, r0, r1]) }
          : {}),
      };
      const want: Record<string, number> = {
        neg_logp: -mean,
        neg_waic: -waic,
        logp_var: v,
        rate,
        neg_logp_single: -a,
        ...(manifest.scoreRule.dose
          ? {
              dose: manifest.scoreRule.dose.densities.reduce(
                (acc, d) => acc + bruteNegLogKde(d, stats[d.stat]),
                0,
              ),
            }
          : {}),
      };
      expect(want, `rule ${manifest.scoreRule.score} has no column recipe here`).toHaveProperty(
        manifest.scoreRule.score,
      );
      expect(Math.abs(score - want[manifest.scoreRule.score])).toBeLessThan(
        1e-3 * Math.max(1, Math.abs(score)),
      );
      expect(flagged).toBe(score > th!.value ? 1 : 0);
    }

    const jl = join(dir, 'scores.jsonl');
    const j = await cli(['score', '--model', model, '--input', csv, '--out', jl, '--limit', '3']);
    expect(j.code).toBe(0);
    const rows = (await readFile(jl, 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { logp: number[]; member_rate: number[] });
    expect(rows).toHaveLength(3);
    expect(rows[0].logp).toHaveLength(2);
    expect(rows[0].member_rate).toHaveLength(2);

    // A frames-shaped input against the transactions model: one clear line, non-zero exit.
    const idx = join(dataDir, 'mnist/t10k-images-idx3-ubyte.gz');
    const bad = await cli(['score', '--model', model, '--input', idx, '--out', join(dir, 'x.csv')]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/^gensemble: error: /m);
    expect(bad.stderr).not.toMatch(/\n\s+at /);
  }, 180_000);

  it('--family vae+wgan --score critic_var: critic columns in score output, Var D recomputed from them', async () => {
    const model = join(dir, 'model-wgan');
    const wgan = ['--family', 'vae+wgan', '--wgan-members', '2', '--wgan-steps', '20'];
    const t = await trainSmall(model, [
      ...wgan,
      '--wgan-finetune-steps',
      '20',
      '--wgan-finetune-loss',
      'logistic',
      '--score',
      'critic_var',
    ]);
    expect(t.stderr + t.stdout).toContain('+ 2 WGAN critics');
    expect(t.code).toBe(0);
    const manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as {
      scoreRule: { score: string };
      critics: { members: unknown[]; normalization: string; trainingConfig: { fineTuneLoss: string } };
      thresholds: Array<{ score: string; value: number }>;
    };
    expect(manifest.scoreRule.score).toBe('critic_var');
    expect(manifest.critics.members).toHaveLength(2);
    expect(manifest.critics.trainingConfig.fineTuneLoss).toBe('logistic');
    const th = manifest.thresholds.find((x) => x.score === 'critic_var')!;
    const out = join(dir, 'scores-wgan.csv');
    const s = await cli(['score', '--model', model, '--input', csv, '--out', out, '--limit', '200']);
    expect(s.code).toBe(0);
    expect(s.stderr).toContain('2 members and 2 critics');
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe(
      'id,label,logp_0,logp_1,rate_0,rate_1,logp_mean,logp_var,waic,rate,critic_0,critic_1,critic_mean,critic_var,score,flagged,feature_maha',
    );
    for (const line of lines.slice(1)) {
      const c = line.split(',').map(Number);
      const [c0, c1, cm, cv, score, flagged] = c.slice(10);
      expect(cm).toBeCloseTo((c0 + c1) / 2, 5);
      expect(Math.abs(cv - ((c0 - c1) / 2) ** 2)).toBeLessThan(1e-4 * Math.max(1e-6, cv) + 1e-9);
      expect(score).toBeCloseTo(cv, 6);
      expect(flagged).toBe(score > th.value ? 1 : 0);
    }
    // WGAN flags without the family, and a critic score on a VAE-only build: refused before training
    const bad = await trainSmall(join(dir, 'never'), ['--wgan-members', '2']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('--family vae+wgan');
    const bad2 = await trainSmall(join(dir, 'never2'), ['--score', 'critic_var']);
    expect(bad2.code).not.toBe(0);
    expect(bad2.stderr).toMatch(/reads the WGAN critic ensemble/);
  }, 180_000);

  it('--score typicality: the manifest holds the fitted rule and the score column is its Mahalanobis distance', async () => {
    const model = join(dir, 'model-typ');
    const t = await trainSmall(model, ['--score', 'typicality']);
    expect(t.code).toBe(0);
    const manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as {
      scoreRule: { score: string; typicality: { mean: number[]; whiten: number[]; features: string } };
      thresholds: Array<{ score: string; value: number }>;
    };
    expect(manifest.scoreRule.score).toBe('typicality');
    const { mean, whiten, features } = manifest.scoreRule.typicality;
    expect(features).toBe('logp_rate');
    expect(mean).toHaveLength(4);
    const th = manifest.thresholds.find((x) => x.score === 'typicality')!.value;
    const out = join(dir, 'typ.csv');
    expect(
      (await cli(['score', '--model', model, '--input', csv, '--out', out, '--limit', '300'])).code,
    ).toBe(0);
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    let flaggedCount = 0;
    for (const line of lines.slice(1)) {
      const f = line.split(',').map(Number);
      // [logp_0, logp_1, rate_0, rate_1] − mean, then ‖W·e‖² with W lower triangular, in float64
      const e = [f[2], f[3], f[4], f[5]].map((x, j) => x - mean[j]);
      let q = 0;
      for (let r = 0; r < 4; r++) {
        let acc = 0;
        for (let c = 0; c < 4; c++) acc += whiten[r * 4 + c] * e[c];
        q += acc * acc;
      }
      const score = f[10];
      expect(Math.abs(score - q)).toBeLessThan(1e-4 * (1 + q));
      expect(f[11]).toBe(score > th ? 1 : 0);
      flaggedCount += f[11];
    }
    // 300 rows of mostly normal data at a 1% threshold: some but far from all flagged
    expect(flaggedCount).toBeLessThan(60);
  }, 180_000);

  it('--dose-tails exponential: the manifest rule has the tails and the score column follows them', async () => {
    const model = join(dir, 'model-ev');
    // also the multi-sample ELBO of the paper's authors (two posterior samples per record here)
    const t = await trainSmall(model, ['--dose-tails', 'exponential', '--train-samples', '2']);
    expect(t.code).toBe(0);
    const manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as {
      trainingConfig: { objective: string; trainSamples: number };
      scoreRule: {
        score: string;
        dose: { densities: Density[]; tails?: string; typicality: TypicalityJson };
      };
      thresholds: Array<{ score: string; value: number }>;
    };
    expect(manifest.scoreRule.score).toBe('dose');
    expect(manifest.scoreRule.dose.tails).toBe('exponential');
    expect(manifest.trainingConfig).toMatchObject({ objective: 'elbo', trainSamples: 2 });
    const th = manifest.thresholds.find((x) => x.score === 'dose')!.value;
    const out = join(dir, 'ev.csv');
    expect(
      (await cli(['score', '--model', model, '--input', csv, '--out', out, '--limit', '500'])).code,
    ).toBe(0);
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(501);
    let inTails = 0;
    for (const line of lines.slice(1)) {
      const [, , a, b, r0, r1, mean, v, , rate, score, flagged, featureMaha] = line.split(',').map(Number);
      expect(mean).toBeCloseTo((a + b) / 2, 3);
      const stats: Record<string, number> = {
        neg_logp: -mean,
        logp_var: v,
        rate,
        feature_maha: featureMaha,
        member_typicality: bruteTypicality(manifest.scoreRule.dose.typicality, [a, b, r0, r1]),
      };
      let want = 0;
      let tail = false;
      for (const d of manifest.scoreRule.dose.densities) {
        const r = bruteNegLogDoseEv(d, stats[d.stat]);
        want += r.value;
        tail ||= r.tail;
      }
      if (tail) inTails++;
      expect(Math.abs(score - want), line).toBeLessThan(1e-3 * Math.max(1, Math.abs(score)));
      expect(flagged).toBe(score > th ? 1 : 0);
    }
    // the rows beyond a 1 % tail quantile of some statistic exercise the exponential branch
    expect(inTails).toBeGreaterThan(0);
    expect(inTails).toBeLessThan(500);
  }, 180_000);

  it('--dose-statistics with feature_knn: the reference set is stored, its column scored and read by the rule', async () => {
    const model = join(dir, 'model-knn');
    const t = await trainSmall(model, ['--dose-statistics', 'neg_logp,rate,feature_knn']);
    expect(t.code, t.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as {
      scoreRule: { score: string; dose: { densities: Density[] } };
      thresholds: Array<{ score: string; value: number }>;
      nearestReference: { size: number; dim: number };
      trainingConfig: { nTrain: number; nearestReference: number };
    };
    expect(manifest.scoreRule.dose.densities.map((d) => d.stat)).toEqual(['neg_logp', 'rate', 'feature_knn']);
    // every training record of this small model (fewer than 4,096), and no input Gaussian
    expect(manifest.nearestReference).toMatchObject({ size: manifest.trainingConfig.nTrain, dim: 30 });
    expect(manifest.trainingConfig.nearestReference).toBe(manifest.trainingConfig.nTrain);
    expect(existsSync(join(model, 'neighbours.bin'))).toBe(true);
    expect(existsSync(join(model, 'features.bin'))).toBe(false);
    const th = manifest.thresholds.find((x) => x.score === 'dose')!.value;
    const out = join(dir, 'knn.csv');
    expect(
      (await cli(['score', '--model', model, '--input', csv, '--out', out, '--limit', '300'])).code,
    ).toBe(0);
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe(
      'id,label,logp_0,logp_1,rate_0,rate_1,logp_mean,logp_var,waic,rate,score,flagged,feature_knn',
    );
    let zeros = 0;
    for (const line of lines.slice(1)) {
      const [, , , , , , mean, , , rate, score, flagged, knn] = line.split(',').map(Number);
      expect(knn).toBeGreaterThanOrEqual(0);
      // the first rows of the file are (mostly) the model's own training records: distance ~0
      if (knn < 1e-3) zeros++;
      const stats: Record<string, number> = { neg_logp: -mean, rate, feature_knn: knn };
      const want = manifest.scoreRule.dose.densities.reduce(
        (acc, d) => acc + bruteNegLogKde(d, stats[d.stat]),
        0,
      );
      expect(Math.abs(score - want), line).toBeLessThan(1e-3 * Math.max(1, Math.abs(score)));
      expect(flagged).toBe(score > th ? 1 : 0);
    }
    expect(zeros).toBeGreaterThan(0);
  }, 180_000);

  it("--arch conv --prior maf: the paper's conv VAE with a learned MAF prior trains on wasm, exports and scores", async () => {
    const model = join(dir, 'model-conv');
    const idx = join(dataDir, 'mnist/train-images-idx3-ubyte.gz');
    const t = await cli([
      'train',
      '--kind',
      'frames',
      '--data',
      idx,
      '--out',
      model,
      '--arch',
      'conv',
      '--base',
      '4',
      '--latent',
      '8',
      '--prior',
      'maf',
      '--maf-hidden',
      '16,16',
      '--members',
      '2',
      '--steps',
      '20',
      '--limit',
      '600',
      '--no-progress',
    ]);
    expect(t.stderr + t.stdout).toContain('saved');
    expect(t.code).toBe(0);
    const manifest = JSON.parse(await readFile(join(model, 'manifest.json'), 'utf8')) as {
      member: {
        arch: { kind: string; base: number };
        prior: { kind: string; layers: number; hidden: number[] };
      };
      scoreRule: { score: string };
    };
    expect(manifest.member.arch).toMatchObject({ kind: 'conv', base: 4, latentDim: 8 });
    expect(manifest.member.prior).toMatchObject({ kind: 'maf', layers: 6, hidden: [16, 16] });
    expect(manifest.scoreRule.score).toBe('dose');
    const out = join(dir, 'conv.csv');
    const test = join(dataDir, 'mnist/t10k-images-idx3-ubyte.gz');
    const s = await cli(['score', '--model', model, '--input', test, '--out', out, '--limit', '40']);
    expect(s.code).toBe(0);
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(41);
    for (const line of lines.slice(1))
      for (const v of line.split(',').slice(1)) expect(Number.isFinite(Number(v))).toBe(true);
  }, 180_000);

  it('frames of any shape: colour 16×16×3 frames train (MLP and conv), the manifest records the shape the stream binds to, score refuses other shapes', async () => {
    const rgb = join(dir, 'rgb16.idx');
    await writeFile(
      rgb,
      encodeIdx({ type: 'uint8', dims: [240, 16, 16, 3], data: blobFrames(240, 16, 16, 3, 5) }),
    );
    const small = ['--members', '2', '--steps', '12', '--no-feature-statistic'];
    // MLP: 768 inputs, not a square grayscale image; the shape comes from the IDX dims. Progress goes
    // to a pipe here, so as plain lines, not a garbled bar.
    const mlp = join(dir, 'model-rgb-mlp');
    const t1 = await cli(['train', '--kind', 'frames', '--data', rgb, '--out', mlp, ...small]);
    expect(t1.code, t1.stderr).toBe(0);
    expect(t1.stderr).toMatch(/^member 0 step 12\/12 loss -?\d/m);
    expect(t1.stderr).not.toContain('{member}');
    // no --arch, no --preset: one line says which model this is and how to train the table's
    expect(t1.stderr).toContain(
      "note: the quick default model (MLP VAE); --preset paper trains the image-OoD table's",
    );
    const m1 = JSON.parse(await readFile(join(mlp, 'manifest.json'), 'utf8')) as CheckpointManifest;
    expect(m1.input).toEqual({ frame: { width: 16, height: 16, channels: 3 } });
    // the stream's binding (before: "cannot tell the frame shape of an MLP model with 768 inputs")
    expect(framesKind.bind(m1).inputDim).toBe(768);
    // conv: the VALID layers span the 4×4 inner map
    const conv = join(dir, 'model-rgb-conv');
    const t2 = await cli([
      'train',
      '--kind',
      'frames',
      '--data',
      rgb,
      '--out',
      conv,
      '--arch',
      'conv',
      '--base',
      '2',
      '--latent',
      '4',
      '--no-progress',
      ...small,
    ]);
    expect(t2.code, t2.stderr).toBe(0);
    const m2 = JSON.parse(await readFile(join(conv, 'manifest.json'), 'utf8')) as CheckpointManifest;
    expect(m2.member.arch).toMatchObject({
      kind: 'conv',
      height: 16,
      width: 16,
      channels: 3,
      base: 2,
      latentDim: 4,
    });
    expect(framesKind.bind(m2).inputDim).toBe(768);
    const out = join(dir, 'rgb.csv');
    const s = await cli(['score', '--model', conv, '--input', rgb, '--out', out, '--limit', '30']);
    expect(s.code, s.stderr).toBe(0);
    const lines = (await readFile(out, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(31);
    for (const line of lines.slice(1))
      for (const v of line.split(',').slice(1)) expect(Number.isFinite(Number(v))).toBe(true);
    // as many values per record (768 = 32×24 grayscale), another shape: refused, not scored as nonsense
    const gray = join(dir, 'gray32x24.idx');
    await writeFile(
      gray,
      encodeIdx({ type: 'uint8', dims: [20, 32, 24], data: blobFrames(20, 32, 24, 1, 6) }),
    );
    for (const model of [mlp, conv]) {
      const r = await cli(['score', '--model', model, '--input', gray, '--out', join(dir, 'g.csv')]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/frames are 24x32x1, the model takes 16x16x3/);
    }
    // conv frames must be square with a side divisible by 4
    const odd = join(dir, 'odd.idx');
    await writeFile(
      odd,
      encodeIdx({ type: 'uint8', dims: [40, 18, 18], data: blobFrames(40, 18, 18, 1, 7) }),
    );
    const r = await cli([
      'train',
      '--kind',
      'frames',
      '--data',
      odd,
      '--out',
      join(dir, 'x'),
      '--arch',
      'conv',
      ...small,
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--arch conv: .*side is a multiple of 4.*18×18/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  }, 240_000);

  it('rejects bad arguments and unreadable inputs with one line and no stack trace', async () => {
    const txTrain = (...extra: string[]): string[] => [
      'train',
      '--kind',
      'transactions',
      '--data',
      csv,
      '--out',
      dir,
      ...extra,
    ];
    const cases: Array<[string[], number, RegExp]> = [
      [
        ['train', '--kind', 'nope', '--data', csv, '--out', dir],
        2,
        /--kind nope: unknown input kind \(known: transactions, frames/,
      ],
      [txTrain('--steps', 'ten'), 2, /--steps must be an integer/],
      [
        ['train', '--kind', 'transactions', '--data', join(dir, 'missing.csv'), '--out', dir],
        1,
        /no such file/,
      ],
      [
        ['score', '--model', join(dir, 'no-model'), '--input', csv, '--out', join(dir, 'o.csv')],
        1,
        /gensemble: error:/,
      ],
      [['score', '--model', dir, '--input', csv, '--out', join(dir, 'o.txt')], 1, /\.csv or \.jsonl/],
      [txTrain('--arch', 'conv'), 1, /--arch conv needs image frames \(--kind frames\)/],
      [['train', '--kind', 'frames', '--data', csv, '--out', dir, '--arch', 'resnet'], 2, /invalid/],
      [txTrain('--dose-tails', 'pareto'), 2, /--dose-tails <t>' argument 'pareto' is invalid/],
      [txTrain('--objective', 'vi'), 2, /--objective <o>' argument 'vi' is invalid/],
      [txTrain('--train-samples', '0'), 2, /--train-samples must be between 1 and 1024, got 0/],
      [txTrain('--dose-statistics', 'rate,knn'), 2, /--dose-statistics: unknown name "knn"/],
      [txTrain('--dose-statistics', 'rate,rate'), 2, /--dose-statistics names a value twice/],
      [txTrain('--dose-statistics', 'rate,critic_var'), 2, /unknown name "critic_var"/],
      [txTrain('--dose-statistics', 'neg_logp_ic'), 1, /needs the input complexity/],
      [
        txTrain('--dose-statistics', 'feature_maha', '--no-feature-statistic'),
        1,
        /needs at least one statistic/,
      ],
      [
        [
          'train',
          '--kind',
          'frames',
          '--data',
          csv,
          '--out',
          dir,
          '--prior',
          'maf',
          '--maf-hidden',
          '64,,64',
        ],
        2,
        /--maf-hidden must be a comma-separated list/,
      ],
    ];
    await writeFile(join(dir, 'garbage.csv'), 'Time,V1\n1,abc\n');
    cases.push([
      ['train', '--kind', 'transactions', '--data', join(dir, 'garbage.csv'), '--out', dir],
      1,
      /gensemble: error:/,
    ]);
    for (const [args, code, re] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(code);
      expect(r.stderr, args.join(' ')).toMatch(re);
      expect(r.stderr, args.join(' ')).not.toMatch(/\n\s+at /);
    }
  }, 120_000);
});
