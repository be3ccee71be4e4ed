/**
 * End to end on real data: a small MLP VAE trained for a few hundred steps on an MNIST subset
 * separates uniform-noise images from MNIST test images (AUROC > 0.99, score = -IWAE-16).
 * AUROC is computed inline with the Mann–Whitney formula (independent of src/metrics).
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.js';
import { readIdx } from '../../../src/data/idx.js';
import { trainMember } from '../../../src/engine/train.js';
import { TfVae } from '../../../src/engine/vae.js';
import { makeEps, Rng } from '../../../src/engine/random.js';
import type { MemberSpec } from '../../../src/engine/spec.js';

import { testDataDir } from '../../helpers/models.js';

// The shared data sets beside the checkout (or GENSEMBLE_DATA_DIR): missing data fails, never skips.
const DIR = join(testDataDir(), 'mnist');

beforeAll(async () => {
  await initBackend('wasm');
});

async function loadImages(file: string, n: number): Promise<Float32Array> {
  const idx = await readIdx(`${DIR}/${file}`);
  const d = 784;
  const out = new Float32Array(n * d);
  for (let i = 0; i < n * d; i++) out[i] = idx.data[i] / 255;
  return out;
}

/** P(score_pos > score_neg) + 0.5·P(tie), by brute force over all pairs. */
function aurocMannWhitney(pos: ArrayLike<number>, neg: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < pos.length; i++)
    for (let j = 0; j < neg.length; j++) s += pos[i] > neg[j] ? 1 : pos[i] === neg[j] ? 0.5 : 0;
  return s / (pos.length * neg.length);
}

describe('MNIST vs uniform noise', () => {
  it('a small trained MLP VAE gives AUROC > 0.99 with -IWAE as the anomaly score', async () => {
    const nTrain = 5000;
    const train = await loadImages('train-images-idx3-ubyte.gz', nTrain);
    const test = await loadImages('t10k-images-idx3-ubyte.gz', 500);
    const spec: MemberSpec = {
      arch: { kind: 'mlp', inputDim: 784, encoderHidden: [128], decoderHidden: [128], latentDim: 8 },
      likelihood: 'bernoulli',
      prior: { kind: 'standard' },
    };
    const r = trainMember(spec, train, nTrain, { steps: 300, batchSize: 64, learningRate: 2e-3, seed: 1 });
    const rng = new Rng(42);
    const noise = new Float32Array(500 * 784).map(() => rng.uniform());
    const vae = TfVae.fromParams(spec, r.params, false);
    const eps = makeEps(3, 16, 8);
    const sIn = vae.scoreArray(test, 500, eps, 16);
    const sOut = vae.scoreArray(noise, 500, eps, 16);
    vae.dispose();
    const negLogp = (a: Float32Array): number[] => Array.from(a, (v) => -v);
    const auc = aurocMannWhitney(negLogp(sOut.iwae), negLogp(sIn.iwae));
    expect(auc).toBeGreaterThan(0.99);
    // And the model did learn something about digits: mean test log p well above that at init.
    const mean = (a: Float32Array): number => a.reduce((x, y) => x + y, 0) / a.length;
    expect(mean(sIn.iwae)).toBeGreaterThan(-250);
  }, 60_000);
});
