/** Ensemble training in worker_threads (src/engine/ensemble-train.ts). */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.js';
import { trainEnsemble, memberSeed, EPS_SEED_OFFSET } from '../../../src/engine/ensemble-train.js';
import { trainMember } from '../../../src/engine/train.js';
import { makeEps, Rng } from '../../../src/engine/random.js';
import type { MemberSpec } from '../../../src/engine/spec.js';

beforeAll(async () => {
  await initBackend('wasm');
});

const spec: MemberSpec = {
  arch: { kind: 'mlp', inputDim: 6, encoderHidden: [8], decoderHidden: [8], latentDim: 2 },
  likelihood: 'bernoulli',
  prior: { kind: 'standard' },
};
const rng = new Rng(5);
const data = new Float32Array(200 * 6).map(() => (rng.uniform() < 0.3 ? 1 : 0));

describe('trainEnsemble', () => {
  it('trains M members in parallel workers, identical to training each in-process with its seed', async () => {
    const progress = new Map<number, number>();
    const backends: string[] = [];
    const r = await trainEnsemble(spec, data, 200, {
      members: 3,
      seed: 10,
      k: 16,
      concurrency: 2,
      train: { steps: 30, batchSize: 20, progressEvery: 10 },
      onProgress: (m, e) => progress.set(m, e.step),
      onBackend: (_m, detail) => backends.push(detail),
    });
    expect(r.members.length).toBe(3);
    expect(backends.length).toBe(3);
    expect(backends[0]).toMatch(/wasm/);
    expect([...progress.entries()].sort()).toEqual([
      [0, 30],
      [1, 30],
      [2, 30],
    ]);
    for (let m = 0; m < 3; m++) {
      const mem = r.members[m];
      expect(mem.seed).toBe(memberSeed(10, m));
      expect(Array.from(mem.eps)).toEqual(Array.from(makeEps(mem.seed + EPS_SEED_OFFSET, 16, 2)));
      const local = trainMember(spec, data, 200, { steps: 30, batchSize: 20, seed: mem.seed });
      for (const name of Object.keys(local.params)) {
        expect(mem.params[name].shape).toEqual(local.params[name].shape);
        expect(
          Buffer.from(mem.params[name].data.buffer).equals(Buffer.from(local.params[name].data.buffer)),
        ).toBe(true);
      }
    }
    expect(Array.from(r.members[0].params['dec.out.b'].data)).not.toEqual(
      Array.from(r.members[1].params['dec.out.b'].data),
    );
  }, 60_000);

  it('bootstrap resampling changes what a member sees; member errors are typed', async () => {
    const a = await trainEnsemble(spec, data, 200, {
      members: 1,
      seed: 1,
      train: { steps: 10, batchSize: 20 },
    });
    const b = await trainEnsemble(spec, data, 200, {
      members: 1,
      seed: 1,
      bootstrap: true,
      train: { steps: 10, batchSize: 20 },
    });
    expect(Array.from(a.members[0].params['dec.out.b'].data)).not.toEqual(
      Array.from(b.members[0].params['dec.out.b'].data),
    );
    await expect(
      trainEnsemble(spec, data, 200, { members: 2, train: { steps: 10, learningRate: -1 } }),
    ).rejects.toMatchObject({
      code: 'E_ENSEMBLE_MEMBER',
    });
    await expect(trainEnsemble(spec, data, 199)).rejects.toMatchObject({ code: 'E_ENSEMBLE_OPTIONS' });
  }, 60_000);
});
