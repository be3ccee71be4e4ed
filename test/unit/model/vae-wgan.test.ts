/**
 * Family 'vae+wgan': a checkpoint that carries a WGAN critic ensemble beside the VAE ensemble, built
 * by the production path (buildModel → trainCritics → saveCheckpoint) and opened by the Detector the
 * stream and `gensemble score` use. The critic values the Detector returns are checked against the
 * float64 reference of the stored critics (test/reference/critic-f64.ts); the manifest, thresholds,
 * dose statistics, registry row and every refusal (corrupt files, a critic score on a VAE-only model)
 * are checked too.
 */
import { mkdtempSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildModel, type BuildModelResult } from '../../../src/detector/build.js';
import { Detector, DetectorError } from '../../../src/detector/detector.js';
import {
  CRITICS_ONNX_FILE,
  CRITICS_WEIGHTS_FILE,
  loadCheckpoint,
  modelFamily,
} from '../../../src/engine/checkpoint.js';
import { CheckpointError } from '../../../src/engine/errors.js';
import { KindRegistry } from '../../../src/kinds/registry.js';
import { InputError } from '../../../src/errors.js';
import { Rng } from '../../../src/engine/random.js';
import { criticEnsembleF64 } from '../../reference/critic-f64.js';

const profile = KindRegistry.builtins().get('transactions').profile;
const D = 6;
const N = 800;

/** Correlated Gaussian records (a 2-D latent mixed into 6 features) with a fixed seed. */
function normalRecords(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * D);
  for (let i = 0; i < n; i++) {
    const a = rng.normal();
    const b = rng.normal();
    for (let j = 0; j < D; j++) x[i * D + j] = 10 + (j % 2 ? a : b) * (1 + j) + 0.1 * rng.normal();
  }
  return x;
}

const root = mkdtempSync(join(tmpdir(), 'gensemble-vae-wgan-'));
let built: BuildModelResult;
const dir = join(root, 'model');

beforeAll(async () => {
  built = await buildModel({
    kind: 'transactions',
    profile,
    raw: normalRecords(N, 1),
    n: N,
    d: D,
    model: { arch: { kind: 'mlp', inputDim: D, encoderHidden: [16], decoderHidden: [16], latentDim: 2 } },
    members: 2,
    k: 4,
    seed: 3,
    steps: 60,
    batchSize: 64,
    family: 'vae+wgan',
    critics: { members: 3, steps: 40, fineTuneSteps: 40 },
    concurrency: 2,
    outDir: dir,
  });
}, 400_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("family 'vae+wgan'", () => {
  it('writes the critic ensemble beside the VAE: manifest section, critics.bin, critics.onnx', async () => {
    const { manifest, critics } = await loadCheckpoint(dir);
    expect(modelFamily(manifest)).toBe('vae+wgan');
    expect(manifest.members).toHaveLength(2);
    const c = manifest.critics!;
    expect(c.members).toHaveLength(3);
    expect(c.normalization).toBe('center');
    expect(c.trainingConfig).toMatchObject({
      steps: 40,
      fineTuneSteps: 40,
      lipschitz: 'clip',
      fineTuneLoss: 'logistic',
    });
    // critic seeds are not the VAE members' seeds
    const vaeSeeds = new Set(manifest.members.map((m) => m.seed));
    expect(c.members.some((m) => vaeSeeds.has(m.seed))).toBe(false);
    expect(critics?.spec.members).toHaveLength(3);
    expect(manifest.trainingConfig.family).toBe('vae+wgan');
    // every critic score has a calibrated threshold, and the dose rule reads both families
    const scores = built.thresholds.map((t) => t.score);
    expect(scores).toEqual(expect.arrayContaining(['neg_critic', 'neg_critic_single', 'critic_var', 'dose']));
    expect(manifest.scoreRule.score).toBe('dose');
    expect(manifest.scoreRule.dose!.densities.map((d) => d.stat)).toEqual([
      ...profile.doseStatistics,
      'neg_critic',
      'critic_var',
    ]);
  });

  it('the Detector scores both graphs; critic values equal the float64 reference of the stored critics', async () => {
    const { critics } = await loadCheckpoint(dir);
    const d = await Detector.open(dir);
    try {
      expect(d.family).toBe('vae+wgan');
      const x = normalRecords(40, 9);
      // a few records far from the data too
      for (let j = 0; j < D; j++) x[j] = 60;
      const p = await d.predict(x, 40);
      const c = p.batch.critic!;
      expect(c.members).toBe(3);
      for (let i = 0; i < 40; i++) {
        const ref = criticEnsembleF64(critics!.spec, x.subarray(i * D, (i + 1) * D));
        for (let m = 0; m < 3; m++)
          expect(Math.abs(c.critic[i * 3 + m] - ref.critic[m])).toBeLessThanOrEqual(
            1e-4 * Math.max(1, Math.abs(ref.critic[m])),
          );
        expect(Math.abs(c.mean[i] - ref.mean)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(ref.mean)));
        expect(Math.abs(c.var[i] - ref.var)).toBeLessThanOrEqual(1e-4 * Math.max(1e-6, ref.var) + 1e-9);
      }
      // the critic scores read the same batch
      const v = d.scoresOf(p.batch, 'critic_var');
      const nm = d.scoresOf(p.batch, 'neg_critic');
      for (let i = 0; i < 40; i++) {
        expect(v[i]).toBeCloseTo(c.var[i], 6);
        expect(nm[i]).toBeCloseTo(-c.mean[i], 6);
      }
      expect(d.registration().family).toBe('vae+wgan');
    } finally {
      await d.close();
    }
  });

  it('flags on a critic score when the registry row says so', async () => {
    const th = built.thresholds.find((t) => t.score === 'critic_var')!;
    const d = await Detector.open({ dir, score: 'critic_var' });
    try {
      expect(d.threshold).toBe(th.value);
      const p = await d.predict(normalRecords(10, 11), 10);
      const s = d.scoresOf(p.batch, 'critic_var');
      for (let i = 0; i < 10; i++) expect(p.decisions[i]).toBe(s[i] > th.value ? 1 : 0);
    } finally {
      await d.close();
    }
  });

  it('refuses a corrupted or missing critic file with a clear CheckpointError', async () => {
    const copy = join(root, 'corrupt');
    await rm(copy, { recursive: true, force: true });
    const { cp } = await import('node:fs/promises');
    await cp(dir, copy, { recursive: true });
    const bin = await readFile(join(copy, CRITICS_WEIGHTS_FILE));
    bin[8] ^= 0xff;
    await writeFile(join(copy, CRITICS_WEIGHTS_FILE), bin);
    await expect(loadCheckpoint(copy)).rejects.toThrow(/critics\.bin is corrupted/);
    await cp(join(dir, CRITICS_WEIGHTS_FILE), join(copy, CRITICS_WEIGHTS_FILE));
    await rm(join(copy, CRITICS_ONNX_FILE));
    await expect(loadCheckpoint(copy)).rejects.toBeInstanceOf(CheckpointError);
    await expect(loadCheckpoint(copy)).rejects.toThrow(/cannot read critics\.onnx/);
  });

  it("a critic score on a 'vae' model is refused: at build time before training, at open time", async () => {
    await expect(
      buildModel({
        kind: 'transactions',
        profile,
        raw: normalRecords(200, 2),
        n: 200,
        d: D,
        members: 1,
        steps: 1,
        score: 'critic_var',
        outDir: join(root, 'never'),
      }),
    ).rejects.toBeInstanceOf(InputError);
    // a VAE-only copy: the manifest without its critics section
    const vaeOnly = join(root, 'vae-only');
    const { cp } = await import('node:fs/promises');
    await cp(dir, vaeOnly, { recursive: true });
    const m = JSON.parse(await readFile(join(vaeOnly, 'manifest.json'), 'utf8')) as Record<string, unknown>;
    delete m.critics;
    await writeFile(join(vaeOnly, 'manifest.json'), JSON.stringify(m));
    const err = await Detector.open({ dir: vaeOnly, score: 'critic_var', threshold: 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(DetectorError);
    expect(String(err.message)).toMatch(/needs a WGAN critic ensemble; this is a 'vae' model/);
    // the manifest's own rule: dose over critic statistics also needs the critics
    await expect(Detector.open(vaeOnly)).rejects.toThrow(/WGAN critic ensemble/);
  });
});
