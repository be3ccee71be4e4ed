/** FGSM (src/engine/fgsm.ts): gradient sign vs finite differences; the step raises log p. */
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.js';
import { fgsm } from '../../../src/engine/fgsm.js';
import { trainMember } from '../../../src/engine/train.js';
import { makeEps, randomParams, Rng } from '../../../src/engine/random.js';
import type { MemberSpec } from '../../../src/engine/spec.js';
import { memberScoresOnInputF64 } from '../../reference/f64.js';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('fgsm', () => {
  it('moves each coordinate by -ε·sign(∂(-iwae)/∂x), the sign checked by float64 finite differences', () => {
    const spec: MemberSpec = {
      arch: { kind: 'mlp', inputDim: 5, encoderHidden: [6], decoderHidden: [6], latentDim: 2 },
      likelihood: 'bernoulli',
      prior: { kind: 'standard' },
    };
    const params = randomParams(spec, 3);
    const eps = makeEps(4, 8, 2);
    const x = new Float32Array([0.1, 0.9, 0.4, 0.6, 0.3, 0.7, 0.2, 0.5, 0.8, 0.05]);
    const adv = fgsm({ spec, params }, x, 2, eps, { epsilon: 0.25 });
    let checked = 0;
    for (let i = 0; i < 2; i++) {
      const base = Array.from(x.subarray(i * 5, i * 5 + 5));
      for (let j = 0; j < 5; j++) {
        const h = 1e-4;
        const up = [...base];
        const dn = [...base];
        up[j] += h;
        dn[j] -= h;
        const g =
          (memberScoresOnInputF64(spec, params, eps, 8, up).iwae -
            memberScoresOnInputF64(spec, params, eps, 8, dn).iwae) /
          (2 * h);
        if (Math.abs(g) < 1e-3) continue; // sign ill-defined within float32 noise
        // loss = -iwae, so x_adv = x + ε·sign(∂iwae/∂x).
        expect(adv[i * 5 + j] - base[j]).toBeCloseTo(0.25 * Math.sign(g), 5);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('clips when asked and rejects bad input', () => {
    const spec: MemberSpec = {
      arch: { kind: 'mlp', inputDim: 3, encoderHidden: [4], decoderHidden: [4], latentDim: 2 },
      likelihood: 'bernoulli',
      prior: { kind: 'standard' },
    };
    const params = randomParams(spec, 1);
    const adv = fgsm({ spec, params }, new Float32Array([0, 1, 0.5]), 1, makeEps(1, 4, 2), {
      epsilon: 0.3,
      clip: [0, 1],
    });
    for (const v of adv) expect(v >= 0 && v <= 1).toBe(true);
    expect(() => fgsm({ spec, params }, new Float32Array(4), 1, makeEps(1, 4, 2))).toThrow(
      expect.objectContaining({ code: 'E_FGSM_INPUT' }),
    );
  });

  it('raises the member log p of noise inputs on a small trained model', () => {
    const spec: MemberSpec = {
      arch: { kind: 'mlp', inputDim: 16, encoderHidden: [32], decoderHidden: [32], latentDim: 2 },
      likelihood: 'bernoulli',
      prior: { kind: 'standard' },
    };
    const rng = new Rng(1);
    // Training data: stripes (rows of a 4×4 image on or off).
    const n = 500;
    const data = new Float32Array(n * 16);
    for (let i = 0; i < n; i++)
      for (let r = 0; r < 4; r++) {
        const on = rng.uniform() < 0.5 ? 1 : 0;
        for (let c = 0; c < 4; c++) data[i * 16 + r * 4 + c] = on;
      }
    const trained = trainMember(spec, data, n, { steps: 300, batchSize: 50, learningRate: 3e-3, seed: 2 });
    const eps = makeEps(9, 16, 2);
    const noise = new Float32Array(20 * 16).map(() => rng.uniform());
    const adv = fgsm({ spec, params: trained.params }, noise, 20, eps, { epsilon: 0.3 });
    let improved = 0;
    for (let i = 0; i < 20; i++) {
      const before = memberScoresOnInputF64(
        spec,
        trained.params,
        eps,
        16,
        Array.from(noise.subarray(i * 16, i * 16 + 16)),
      ).iwae;
      const after = memberScoresOnInputF64(
        spec,
        trained.params,
        eps,
        16,
        Array.from(adv.subarray(i * 16, i * 16 + 16)),
      ).iwae;
      if (after > before) improved++;
    }
    expect(improved).toBe(20);
  });
});
