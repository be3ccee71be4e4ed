/**
 * The wrap of periodic columns in checkpoints: saved in the manifest's transform and restored; a
 * manifest without it (written before the option existed) still loads; a bad one is rejected; a critic
 * ensemble must wrap the same columns as the VAE ensemble it is saved with.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, openScorer, saveCheckpoint } from '../../../src/engine/checkpoint.js';
import { CheckpointError, ModelSpecError } from '../../../src/engine/errors.js';
import { exportEnsembleOnnx } from '../../../src/engine/onnx/export.js';
import { OnnxScorer } from '../../../src/engine/scorer.js';
import type { EnsembleSpec, FeatureTransform } from '../../../src/engine/spec.js';
import type { WganEnsembleSpec } from '../../../src/engine/wgan.js';
import { ensembleScoresF64 } from '../../reference/f64.js';
import { TINY, tinyCriticEnsemble, tinyEnsemble } from './fixtures.js';

const DAY = 86400;
const WRAPPED: FeatureTransform = {
  kind: 'minmax',
  min: [0, -1, -1, -1, 0, -1],
  max: [DAY, 1, 1, 1, 7, 1],
  wrap: [
    { column: 0, period: DAY },
    { column: 4, period: 7 },
  ],
};
const opts = { kind: 'transactions', dataFingerprint: 'sha256:abc' } as const;

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gensemble-ckpt-wrap-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function editManifest(dir: string, f: (m: { transform: Record<string, unknown> }) => void) {
  const p = join(dir, 'manifest.json');
  const m = JSON.parse(await readFile(p, 'utf8')) as { transform: Record<string, unknown> };
  f(m);
  await writeFile(p, JSON.stringify(m));
}

const critics = (transform: FeatureTransform): WganEnsembleSpec => tinyCriticEnsemble(transform, 50);

describe('checkpoint: wrap of periodic columns', () => {
  it('a save/load round trip keeps the wrap, and the loaded model scores wrapped records', async () => {
    for (const transform of [
      WRAPPED,
      { kind: 'standard', mean: [43200, 0, 0, 0, 3, 0], std: [25000, 1, 1, 1, 2, 1], wrap: WRAPPED.wrap },
    ] as FeatureTransform[]) {
      const spec = tinyEnsemble(TINY.mlpBernoulli, { transform });
      const dir = join(root, `rt-${transform.kind}`);
      await saveCheckpoint(dir, spec, opts);
      const onDisk = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {
        transform: FeatureTransform;
      };
      expect(onDisk.transform).toEqual(transform);
      const loaded = await loadCheckpoint(dir);
      expect(loaded.spec.transform).toEqual(transform);
      expect(loaded.manifest.transform).toEqual(transform);

      const x = Float32Array.from([2 * DAY + 3600, 0.1, 0.2, 0.3, 16, 0.4, -60, -0.5, 0.5, 0, -3, 0.9]);
      // onnxruntime on both sides: bit-identical; the default engine (the native kernel where built)
      // is held to the float64 reference below
      const fromDisk = await openScorer(dir, { engine: 'onnx' });
      const auto = await openScorer(dir);
      const c = await auto.scoreBatch(x, 2);
      await auto.close();
      const reExported = await OnnxScorer.create(exportEnsembleOnnx(loaded.spec));
      const [a, b] = await Promise.all([fromDisk.scoreBatch(x, 2), reExported.scoreBatch(x, 2)]);
      await Promise.all([fromDisk.close(), reExported.close()]);
      expect(a).toEqual(b);
      for (let i = 0; i < 2; i++) {
        const ref = ensembleScoresF64(spec, x.subarray(i * 6, (i + 1) * 6)).logpMean;
        expect(Math.abs(a.logpMean[i] - ref)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(ref)));
        expect(Math.abs(c.logpMean[i] - ref)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(ref)));
      }
    }
  });

  it('a manifest without wrap (written before the option) loads, with no wrap', async () => {
    const dir = join(root, 'old');
    const plain: FeatureTransform = {
      kind: 'minmax',
      min: WRAPPED.min,
      max: WRAPPED.max,
    } as FeatureTransform;
    await saveCheckpoint(dir, tinyEnsemble(TINY.mlpBernoulli, { transform: plain }), opts);
    const raw = await readFile(join(dir, 'manifest.json'), 'utf8');
    expect(raw).not.toContain('wrap');
    const loaded = await loadCheckpoint(dir);
    expect(loaded.spec.transform).toEqual(plain);
    expect('wrap' in loaded.spec.transform).toBe(false);
  });

  it('rejects a bad wrap in the manifest with CheckpointError', async () => {
    const bad: Array<[unknown, RegExp]> = [
      [[{ column: 0, period: 0 }], /wrap/],
      [[{ column: -1, period: DAY }], /wrap/],
      [[{ column: 0, period: DAY, phase: 3 }], /phase|unrecognized/i],
      [[{ column: 6, period: DAY }], /wrap column must be an integer in \[0, 6\), got 6/],
      [
        [
          { column: 1, period: DAY },
          { column: 1, period: 2 },
        ],
        /names column 1 more than once/,
      ],
      ['0:86400', /wrap/],
    ];
    for (const [i, [wrap, re]] of bad.entries()) {
      const dir = join(root, `bad-${i}`);
      await saveCheckpoint(dir, tinyEnsemble(TINY.mlpBernoulli, { transform: WRAPPED }), opts);
      await editManifest(dir, (m) => (m.transform.wrap = wrap));
      const err = await loadCheckpoint(dir).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, JSON.stringify(wrap)).toBeInstanceOf(CheckpointError);
      expect((err as Error).message).toMatch(re);
    }
    // a wrap on the scale transform is not a field of it
    const scale = join(root, 'scale');
    await saveCheckpoint(scale, tinyEnsemble(TINY.mlpBernoulli), opts);
    await editManifest(scale, (m) => (m.transform.wrap = [{ column: 0, period: DAY }]));
    await expect(loadCheckpoint(scale)).rejects.toBeInstanceOf(CheckpointError);
  });

  it('the critic ensemble must wrap the same columns as the VAE ensemble (in any order)', async () => {
    const spec: EnsembleSpec = tinyEnsemble(TINY.mlpBernoulli, { transform: WRAPPED });
    const wrap = WRAPPED.kind === 'minmax' ? (WRAPPED.wrap ?? []) : [];
    const withCritics = (t: FeatureTransform, name: string) =>
      saveCheckpoint(join(root, name), spec, { ...opts, critics: { spec: critics(t) } });
    await expect(withCritics({ ...WRAPPED, wrap: [] } as FeatureTransform, 'c-none')).rejects.toThrow(
      ModelSpecError,
    );
    await expect(
      withCritics(
        { ...WRAPPED, wrap: [{ column: 0, period: 3600 }, wrap[1]] } as FeatureTransform,
        'c-other',
      ),
    ).rejects.toThrow(/same inputDim and transform/);
    await withCritics({ ...WRAPPED, wrap: [wrap[1], wrap[0]] } as FeatureTransform, 'c-same');
    const loaded = await loadCheckpoint(join(root, 'c-same'));
    expect(loaded.critics).toBeDefined();
    expect(loaded.manifest.transform).toEqual(WRAPPED);
  });
});
