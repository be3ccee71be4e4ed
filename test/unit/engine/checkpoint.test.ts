import { mkdtemp, readFile, rm, writeFile, cp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCheckpoint, openScorer, saveCheckpoint } from '../../../src/engine/checkpoint.js';
import { CheckpointError, ScoringInputError } from '../../../src/engine/errors.js';
import { exportEnsembleOnnx } from '../../../src/engine/onnx/export.js';
import { OnnxScorer } from '../../../src/engine/scorer.js';
import { ensembleScoresF64 } from '../../reference/f64.js';
import { TINY, tinyEnsemble, uniformBatch } from './fixtures.js';

let root: string;
let good: string;
const spec = tinyEnsemble(TINY.mlpMaf, {
  members: 3,
  k: 4,
  transform: { kind: 'minmax', min: [0, 0, 0, 0, 0, 0], max: [1, 2, 3, 4, 5, 6] },
});

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'gensemble-ckpt-'));
  good = join(root, 'good');
  await saveCheckpoint(good, spec, {
    kind: 'transactions',
    dataFingerprint: 'sha256:abc',
    thresholds: [{ score: 'neg_waic', value: 12.5, targetFpr: 0.01, calibrationSize: 1000 }],
    scoreRule: {
      score: 'combined',
      combined: { components: [{ score: 'neg_logp', weight: 1, mean: 3, std: 2 }] },
    },
    trainingConfig: { steps: 100, lr: 0.001, nested: { beta: [0, 1] } },
  });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function variant(name: string, edit: (dir: string) => Promise<void>): Promise<string> {
  const dir = join(root, name);
  await cp(good, dir, { recursive: true });
  await edit(dir);
  return dir;
}
async function editManifest(dir: string, f: (m: Record<string, unknown>) => void): Promise<void> {
  const p = join(dir, 'manifest.json');
  const m = JSON.parse(await readFile(p, 'utf8')) as Record<string, unknown>;
  f(m);
  await writeFile(p, JSON.stringify(m));
}
async function flipByte(file: string, at: number): Promise<void> {
  const b = await readFile(file);
  b[at % b.length] ^= 0x01;
  await writeFile(file, b);
}

describe('checkpoint round trip', () => {
  it('restores the spec exactly and scores bit-identically to the in-memory export', async () => {
    const loaded = await loadCheckpoint(good);
    expect(loaded.manifest.kind).toBe('transactions');
    expect(loaded.manifest.thresholds[0].value).toBe(12.5);
    expect(loaded.manifest.trainingConfig).toEqual({ steps: 100, lr: 0.001, nested: { beta: [0, 1] } });
    expect(loaded.manifest.versions.onnxruntimeNode).toBe('1.30.0');
    expect(loaded.spec.member).toEqual(spec.member);
    for (let m = 0; m < 3; m++) {
      expect(loaded.spec.members[m].eps).toEqual(spec.members[m].eps);
      for (const [k, t] of Object.entries(spec.members[m].params))
        expect(loaded.spec.members[m].params[k].data).toEqual(t.data);
    }
    const n = 7;
    const x = uniformBatch(n, 6, 3, -1, 7);
    const a = await OnnxScorer.create(exportEnsembleOnnx(spec));
    const b = await openScorer(good);
    const c = await OnnxScorer.create(exportEnsembleOnnx(loaded.spec)); // re-export from loaded weights
    const [sa, sb, sc] = await Promise.all([a.scoreBatch(x, n), b.scoreBatch(x, n), c.scoreBatch(x, n)]);
    expect(sb).toEqual(sa);
    expect(sc).toEqual(sa);
    for (let i = 0; i < n; i++)
      expect(Math.abs(sb.waic[i] - ensembleScoresF64(spec, x.subarray(i * 6, i * 6 + 6)).waic)).toBeLessThan(
        1e-4 * Math.max(1, Math.abs(sb.waic[i])),
      );
    await Promise.all([a.close(), b.close(), c.close()]);
  });
});

describe('checkpoint rejection', () => {
  const rejects = async (dir: string, re: RegExp): Promise<void> => {
    const err = await loadCheckpoint(dir).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as CheckpointError).code).toBe('CHECKPOINT_INVALID');
    expect((err as Error).message).toMatch(re);
  };
  it('a flipped byte in weights.bin', async () =>
    rejects(await variant('w', (d) => flipByte(join(d, 'weights.bin'), 101)), /weights\.bin is corrupted/));
  it('a flipped byte in model.onnx', async () =>
    rejects(await variant('o', (d) => flipByte(join(d, 'model.onnx'), 2001)), /model\.onnx is corrupted/));
  it('a missing manifest field', async () =>
    rejects(await variant('f', (d) => editManifest(d, (m) => delete m.transform)), /transform/));
  it('a typicality rule fitted for another ensemble size', async () =>
    rejects(
      await variant('t', (d) =>
        editManifest(d, (m) => {
          // a valid 2-member rule (d = 4) on this 3-member model
          (m.scoreRule as Record<string, unknown>).typicality = {
            features: 'logp_rate',
            members: 2,
            mean: [0, 0, 0, 0],
            whiten: [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
            shrinkage: 0.01,
          };
        }),
      ),
      /typicality rule was fitted for 2 members, the model has 3/,
    ));
  it('a wrong format version', async () =>
    rejects(
      await variant('v', (d) => editManifest(d, (m) => (m.formatVersion = 99))),
      /unsupported formatVersion 99/,
    ));
  it('an architecture that does not match the weights', async () =>
    rejects(
      await variant('s', (d) =>
        editManifest(d, (m) => {
          (m.member as { arch: { encoderHidden: number[] } }).arch.encoderHidden = [7];
        }),
      ),
      /shape \[6,5\], the architecture needs \[6,7\]/,
    ));
  it('a manifest that is not JSON, and a missing directory', async () => {
    await rejects(await variant('j', (d) => writeFile(join(d, 'manifest.json'), '{oops')), /not valid JSON/);
    await rejects(join(root, 'nope'), /cannot read manifest\.json: ENOENT/);
  });
  it('a missing weights file', async () =>
    rejects(await variant('m', (d) => rm(join(d, 'weights.bin'))), /cannot read weights\.bin/));
});

describe('scorer input validation', () => {
  it('rejects a wrong input length and bad n with ScoringInputError', async () => {
    const s = await openScorer(good, { chunkSize: 2 });
    await expect(s.scoreBatch(new Float32Array(13), 2)).rejects.toThrow(ScoringInputError);
    await expect(s.scoreBatch(new Float32Array(12), 2.5)).rejects.toThrow(/non-negative integer/);
    const empty = await s.scoreBatch(new Float32Array(0), 0);
    expect(empty.n).toBe(0);
    expect(s.executionProvider).toBe('cpu');
    await s.close();
  });
  it('chunking changes the scores by at most float rounding (MLAS picks kernels by batch size)', async () => {
    const x = uniformBatch(9, 6, 4, 0, 6);
    const a = await openScorer(good, { chunkSize: 2 });
    const b = await openScorer(good, { chunkSize: 100 });
    const [ra, rb] = [await a.scoreBatch(x, 9), await b.scoreBatch(x, 9)];
    for (let i = 0; i < ra.logp.length; i++)
      expect(Math.abs(ra.logp[i] - rb.logp[i])).toBeLessThanOrEqual(1e-6 * Math.abs(rb.logp[i]));
    for (let i = 0; i < 9; i++)
      expect(Math.abs(ra.waic[i] - rb.waic[i])).toBeLessThanOrEqual(1e-6 * Math.abs(rb.waic[i]));
    // Same chunk composition → bit-identical.
    expect(await a.scoreBatch(x, 9)).toEqual(ra);
    await Promise.all([a.close(), b.close()]);
  });
  it("falls back to CPU with a warning when 'cuda' is not available", async () => {
    const warnings: string[] = [];
    const s = await OnnxScorer.create(exportEnsembleOnnx(spec), {
      executionProvider: 'cuda',
      warn: (m) => warnings.push(m),
    });
    if (s.executionProvider === 'cpu') expect(warnings.join()).toMatch(/CUDA/);
    await s.close();
  });
});
