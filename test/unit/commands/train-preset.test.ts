/**
 * `gensemble train --preset paper` writes the model the committed benchmark tables measured: its
 * manifest's training configuration and member spec are held to what the committed reports recorded
 * when those tables were computed (benchmarks/results/…/results.json), not to the preset's own
 * constants. Options given beside the preset win; a bad preset name is refused with one line.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, cliDataDir as dataDir, creditCsv as csv, repoRoot } from '../../helpers/cli.js';
import { PAPER_SCHEDULE, PAPER_SCHEDULE_CONV } from '../../../src/detector/presets.js';

const mnist = join(dataDir, 'mnist/train-images-idx3-ubyte.gz');

interface Manifest {
  member: { arch: Record<string, unknown>; likelihood: string; prior: Record<string, unknown> | string };
  trainingConfig: Record<string, unknown>;
}

async function json<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

/** The image-OoD table's run (detection protocol v4, MNIST): its settings and its checkpoint's config. */
interface ImageRun {
  settings: {
    members: number;
    steps: number;
    model: { arch: Record<string, unknown>; prior: Record<string, unknown> };
  };
  results: Array<{ trainingConfig: Record<string, unknown> }>;
}

/** The fields of a training config that are settings (not data sizes, seeds, timings or results). */
const SETTINGS = ['k', 'batchSize', 'learningRate', 'beta', 'warmupSteps', 'validateEvery', 'bootstrap'];

describe('gensemble train --preset paper', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gensemble-preset-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("frames: the image-OoD table's conv VAE + MAF prior and its schedule", async () => {
    const run = await json<ImageRun>(
      join(repoRoot, 'benchmarks/results/image-ood-conv-v4-maf512/results.json'),
    );
    const table = run.results[0].trainingConfig;
    // the preset's members and steps are the table's (the test trains 1 member for 3 steps)
    expect(PAPER_SCHEDULE_CONV.members).toBe(run.settings.members);
    expect(PAPER_SCHEDULE_CONV.steps).toBe(run.settings.steps);
    const out = join(dir, 'frames');
    const small = ['--members', '1', '--steps', '3', '--limit', '300', '--no-progress'];
    const t = await cli([
      'train',
      '--kind',
      'frames',
      '--data',
      mnist,
      '--out',
      out,
      '--preset',
      'paper',
      ...small,
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toContain(
      'preset paper: conv VAE base 8, latent 16, MAF prior 6 × 512,512, 1 members × 3 steps',
    );
    const m = await json<Manifest>(join(out, 'manifest.json'));
    for (const key of SETTINGS) expect(m.trainingConfig[key], key).toEqual(table[key]);
    // early stopping on at most the table's 1,000 records (here the split has fewer)
    expect(m.trainingConfig.earlyStopRecords).toBe(
      Math.min(m.trainingConfig.nValidation as number, table.earlyStopRecords as number),
    );
    expect(m.trainingConfig.members).toBe(1);
    expect(m.trainingConfig.steps).toBe(3);
    expect(m.member.arch).toEqual(run.settings.model.arch);
    expect(m.member.likelihood).toBe('bernoulli');
    const { permutations: _p, ...prior } = m.member.prior as Record<string, unknown>;
    expect(prior).toEqual(run.settings.model.prior);
  }, 120_000);

  it("transactions: the credit table's schedule; an option given beside the preset wins", async () => {
    const run = await json<{ settings: Record<string, unknown> }>(
      join(repoRoot, 'benchmarks/results/credit-fraud-v8-convention/results.json'),
    );
    for (const key of ['members', 'steps', 'k', 'batchSize', 'warmupSteps', 'bootstrap'] as const)
      expect(PAPER_SCHEDULE[key], key).toBe(run.settings[key]);
    const out = join(dir, 'tx');
    const t = await cli([
      'train',
      '--kind',
      'transactions',
      '--data',
      csv,
      '--out',
      out,
      '--preset',
      'paper',
      ...['--members', '1', '--steps', '5', '--limit', '2000', '--batch-size', '64', '--no-progress'],
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).toContain('preset paper: MLP VAE, 1 members × 5 steps, batch 64');
    const m = await json<Manifest>(join(out, 'manifest.json'));
    expect(m.trainingConfig).toMatchObject({
      members: 1,
      steps: 5,
      batchSize: 64,
      k: run.settings.k,
      warmupSteps: run.settings.warmupSteps,
      bootstrap: run.settings.bootstrap,
      learningRate: 1e-3,
      beta: 1,
    });
    // the kind's own model: the paper's credit VAE (encoder 32, decoder 30, latent 8), Gaussian
    expect(m.member.arch).toMatchObject({
      kind: 'mlp',
      encoderHidden: [32],
      decoderHidden: [30],
      latentDim: 8,
    });
    expect(m.member.likelihood).toBe('gaussian');
  }, 120_000);

  it('frames with --arch mlp: the MLP image table schedule; a bad preset is one error line', async () => {
    const out = join(dir, 'frames-mlp');
    const t = await cli([
      'train',
      '--kind',
      'frames',
      '--data',
      mnist,
      '--out',
      out,
      '--preset',
      'paper',
      '--arch',
      'mlp',
      ...['--members', '1', '--steps', '3', '--limit', '300', '--no-progress'],
    ]);
    expect(t.code, t.stderr).toBe(0);
    expect(t.stderr).not.toContain('note: the quick default');
    const m = await json<Manifest>(join(out, 'manifest.json'));
    expect(m.member.arch.kind).toBe('mlp');
    expect(m.member.prior).toEqual({ kind: 'standard' });
    expect(m.trainingConfig).toMatchObject({ batchSize: 128, warmupSteps: 1000, bootstrap: true });
    expect(m.trainingConfig.validateEvery).toBe(200);

    const bad = await cli([
      'train',
      '--kind',
      'frames',
      '--data',
      mnist,
      '--out',
      join(dir, 'never'),
      '--preset',
      'fast',
    ]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.split('\n').filter((l) => /error/.test(l))).toHaveLength(1);
    expect(bad.stderr).toMatch(/--preset.*fast.*paper/);
  }, 120_000);
});
