/**
 * tfjs VAE (src/engine/vae.ts) against independent float64 references: the brute-force reference
 * test/reference/f64.ts, a hand-worked 1-D model, brute-force conv filter gradients, and the stock
 * tfjs gradient of the same math written with plain ops.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../../src/engine/backend.js';
import { TfVae, conv2dT, deconv2dT, dense, makeMafPrior } from '../../../src/engine/vae.js';
import { makeEps, randomParams, Rng } from '../../../src/engine/random.js';
import { LOG_2PI, SIGMA_MIN, type MemberParams, type MemberSpec } from '../../../src/engine/spec.js';
import { conv2dF64, conv2dTransposeF64, memberScoresOnInputF64 } from '../../reference/f64.js';

beforeAll(async () => {
  await initBackend('wasm');
});

/** Random params with larger, non-zero biases so every code path matters. */
function noisyParams(spec: MemberSpec, seed: number, scale = 1): MemberParams {
  const p = randomParams(spec, seed);
  const rng = new Rng(seed + 99);
  for (const t of Object.values(p))
    for (let i = 0; i < t.data.length; i++) t.data[i] = t.data[i] * scale + 0.1 * rng.normal();
  return p;
}

function randomData(n: number, d: number, seed: number, binaryish = true): Float32Array {
  const rng = new Rng(seed);
  return new Float32Array(n * d).map(() => (binaryish ? rng.uniform() : rng.normal()));
}

function checkAgainstF64(spec: MemberSpec, n: number, k: number, seed: number): void {
  const d =
    spec.arch.kind === 'mlp' ? spec.arch.inputDim : spec.arch.height * spec.arch.width * spec.arch.channels;
  const params = noisyParams(spec, seed);
  const eps = makeEps(seed + 1, k, spec.arch.latentDim);
  const x = randomData(n, d, seed + 2, spec.likelihood === 'bernoulli');
  const vae = TfVae.fromParams(spec, params, false);
  const got = vae.scoreArray(x, n, eps, k);
  vae.dispose();
  for (let i = 0; i < n; i++) {
    const ref = memberScoresOnInputF64(spec, params, eps, k, Array.from(x.subarray(i * d, (i + 1) * d)));
    expect(Math.abs(got.iwae[i] - ref.iwae)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(ref.iwae)));
    expect(Math.abs(got.elbo[i] - ref.elbo)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(ref.elbo)));
    expect(Math.abs(got.rate[i] - ref.rate)).toBeLessThanOrEqual(1e-4 * Math.max(1, Math.abs(ref.rate)));
  }
}

describe('TfVae bounds vs float64 reference', () => {
  it('MLP, bernoulli, standard prior', () => {
    checkAgainstF64(
      {
        arch: { kind: 'mlp', inputDim: 7, encoderHidden: [5, 4], decoderHidden: [6], latentDim: 3 },
        likelihood: 'bernoulli',
        prior: { kind: 'standard' },
      },
      6,
      16,
      11,
    );
  });
  it('MLP, gaussian likelihood', () => {
    checkAgainstF64(
      {
        arch: { kind: 'mlp', inputDim: 5, encoderHidden: [8], decoderHidden: [8], latentDim: 2 },
        likelihood: 'gaussian',
        prior: { kind: 'standard' },
      },
      6,
      8,
      12,
    );
  });
  it('MLP, student-t likelihood', () => {
    checkAgainstF64(
      {
        arch: { kind: 'mlp', inputDim: 5, encoderHidden: [8], decoderHidden: [8], latentDim: 2 },
        likelihood: 'student-t',
        prior: { kind: 'standard' },
      },
      6,
      8,
      13,
    );
  });
  it('MLP, mixed likelihood (Gaussian columns and Bernoulli columns)', () => {
    checkAgainstF64(
      {
        arch: { kind: 'mlp', inputDim: 5, encoderHidden: [8], decoderHidden: [8], latentDim: 2 },
        likelihood: 'mixed',
        prior: { kind: 'standard' },
        binaryColumns: [0, 3],
      },
      6,
      8,
      14,
    );
  });
  it('MLP, MAF prior (2 layers, permutations)', () => {
    checkAgainstF64(
      {
        arch: { kind: 'mlp', inputDim: 6, encoderHidden: [7], decoderHidden: [5], latentDim: 4 },
        likelihood: 'bernoulli',
        prior: makeMafPrior(4, 2, [6, 5], 3),
      },
      5,
      16,
      13,
    );
  });
  it('conv architecture, 32×32 colour frames (8×8 VALID layers)', () => {
    checkAgainstF64(
      {
        arch: { kind: 'conv', height: 32, width: 32, channels: 3, base: 2, latentDim: 2 },
        likelihood: 'bernoulli',
        prior: { kind: 'standard' },
      },
      2,
      2,
      15,
    );
  });
  it('conv architecture (tiny base)', () => {
    checkAgainstF64(
      {
        arch: { kind: 'conv', height: 28, width: 28, channels: 1, base: 2, latentDim: 2 },
        likelihood: 'bernoulli',
        prior: { kind: 'standard' },
      },
      2,
      2,
      14,
    );
  });
});

describe('hand-worked 1-D model', () => {
  it('matches the formulas written out by hand', () => {
    // D = 1, Dz = 1, no hidden layers: mu = a·x + b, sigma = softplus(c·x + e) + SIGMA_MIN,
    // out = f·z + g; bernoulli log p(x|z) = x·out - softplus(out).
    const [a, b, c, e, f, g] = [0.7, -0.2, -0.5, 0.3, 1.3, -0.4];
    const spec: MemberSpec = {
      arch: { kind: 'mlp', inputDim: 1, encoderHidden: [], decoderHidden: [], latentDim: 1 },
      likelihood: 'bernoulli',
      prior: { kind: 'standard' },
    };
    const t = (v: number): { shape: number[]; data: Float32Array } => ({
      shape: [1, 1],
      data: new Float32Array([v]),
    });
    const bias = (v: number): { shape: number[]; data: Float32Array } => ({
      shape: [1],
      data: new Float32Array([v]),
    });
    const params: MemberParams = {
      'enc.mu.w': t(a),
      'enc.mu.b': bias(b),
      'enc.sigma.w': t(c),
      'enc.sigma.b': bias(e),
      'dec.out.w': t(f),
      'dec.out.b': bias(g),
    };
    const eps = new Float32Array([0.5, -1.25, 2.0]);
    const x = 0.8;
    const sp = (v: number): number => Math.log(1 + Math.exp(v));
    const mu = a * x + b;
    const sigma = sp(c * x + e) + SIGMA_MIN;
    const logw = Array.from(eps, (ep) => {
      const z = mu + sigma * ep;
      const out = f * z + g;
      const lpx = x * out - sp(out);
      const lpz = -0.5 * z * z - 0.5 * LOG_2PI;
      const lq = -0.5 * ep * ep - Math.log(sigma) - 0.5 * LOG_2PI;
      return { w: lpx + lpz - lq, kl: lq - lpz };
    });
    const iwae = Math.log(logw.reduce((s, v) => s + Math.exp(v.w), 0) / 3);
    const elbo = logw.reduce((s, v) => s + v.w, 0) / 3;
    const rate = logw.reduce((s, v) => s + v.kl, 0) / 3;
    const vae = TfVae.fromParams(spec, params, false);
    const r = vae.scoreArray(new Float32Array([x]), 1, eps, 3);
    vae.dispose();
    expect(r.iwae[0]).toBeCloseTo(iwae, 5);
    expect(r.elbo[0]).toBeCloseTo(elbo, 5);
    expect(r.rate[0]).toBeCloseTo(rate, 5);
  });
});

describe('numerics', () => {
  it('IWAE >= ELBO per record, and logsumexp is stable for log w far below -1e4', () => {
    const spec: MemberSpec = {
      arch: { kind: 'mlp', inputDim: 4, encoderHidden: [6], decoderHidden: [6], latentDim: 2 },
      likelihood: 'gaussian',
      prior: { kind: 'standard' },
    };
    const params = noisyParams(spec, 5);
    const vae = TfVae.fromParams(spec, params, false);
    const x = new Float32Array([300, -400, 500, 250, 0.1, 0.2, -0.3, 0.4]);
    const eps = makeEps(1, 16, 2);
    const r = vae.scoreArray(x, 2, eps, 16);
    vae.dispose();
    expect(r.iwae[0]).toBeLessThan(-1e4);
    for (let i = 0; i < 2; i++) {
      expect(Number.isFinite(r.iwae[i])).toBe(true);
      expect(r.iwae[i]).toBeGreaterThanOrEqual(r.elbo[i] - 1e-3 * Math.abs(r.elbo[i]));
      const ref = memberScoresOnInputF64(spec, params, eps, 16, Array.from(x.subarray(i * 4, i * 4 + 4)));
      expect(Math.abs(r.iwae[i] - ref.iwae)).toBeLessThanOrEqual(1e-4 * Math.abs(ref.iwae));
    }
  });

  it('toMemberParams returns the spec names and shapes with the values given', () => {
    const spec: MemberSpec = {
      arch: { kind: 'mlp', inputDim: 3, encoderHidden: [4], decoderHidden: [2], latentDim: 2 },
      likelihood: 'gaussian',
      prior: makeMafPrior(2, 1, [3], 1),
    };
    const params = noisyParams(spec, 8);
    const vae = TfVae.fromParams(spec, params);
    const back = vae.toMemberParams();
    vae.dispose();
    expect(Object.keys(back).sort()).toEqual(Object.keys(params).sort());
    for (const [name, t] of Object.entries(params)) {
      expect(back[name].shape).toEqual(t.shape);
      expect(Array.from(back[name].data)).toEqual(Array.from(t.data));
    }
  });

  it('rejects parameters of the wrong shape with a typed error', () => {
    const spec: MemberSpec = {
      arch: { kind: 'mlp', inputDim: 3, encoderHidden: [4], decoderHidden: [2], latentDim: 2 },
      likelihood: 'bernoulli',
      prior: { kind: 'standard' },
    };
    const params = randomParams(spec, 1);
    params['enc.h0.w'] = { shape: [4, 3], data: new Float32Array(12) };
    expect(() => TfVae.fromParams(spec, params)).toThrow(expect.objectContaining({ code: 'E_VAE_PARAMS' }));
  });
});

describe('gradients', () => {
  it('fast dense layer gradients equal the stock tfjs gradients of x·W + b (relu)', () => {
    const rng = new Rng(3);
    const mk = (shape: number[]): tf.Tensor =>
      tf.tensor(
        new Float32Array(shape.reduce((a, b) => a * b)).map(() => rng.normal()),
        shape,
      );
    const x = mk([5, 7]) as tf.Tensor2D;
    const w = mk([7, 4]) as tf.Tensor2D;
    const b = mk([4]) as tf.Tensor1D;
    const r = mk([5, 4]);
    const fast = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(dense(xx as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor1D, 'relu'), r)),
    );
    const stock = tf.grads((xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
      tf.sum(tf.mul(tf.relu(tf.add(tf.matMul(xx, ww), bb)), r)),
    );
    const gf = fast([x, w, b]).map((t) => Array.from(t.dataSync()));
    const gs = stock([x, w, b]).map((t) => Array.from(t.dataSync()));
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < gs[i].length; j++) expect(gf[i][j]).toBeCloseTo(gs[i][j], 4);
    tf.dispose([x, w, b, r]);
  });

  it('conv and transposed-conv filter gradients equal float64 brute force (strides 1 and 2, same and valid)', () => {
    // L(W) = Σ y(W) ⊙ R is linear in W, so dL/dW[j] = L(e_j) - L(0), computed with the f64 reference convolutions.
    const rng = new Rng(21);
    const cases: ConvCase[] = [
      { transpose: false, h: 8, cin: 2, cout: 3, k: 5, s: 1, pad: 'same' },
      { transpose: false, h: 8, cin: 2, cout: 3, k: 5, s: 2, pad: 'same' },
      { transpose: false, h: 7, cin: 2, cout: 2, k: 7, s: 1, pad: 'valid' },
      { transpose: true, h: 4, cin: 3, cout: 2, k: 5, s: 2, pad: 'same' },
      { transpose: true, h: 1, cin: 2, cout: 3, k: 7, s: 1, pad: 'valid' },
    ];
    for (const c of cases) {
      const x = new Float32Array(c.h * c.h * c.cin).map(() => rng.normal());
      const fShape = c.transpose ? [c.k, c.k, c.cout, c.cin] : [c.k, c.k, c.cin, c.cout];
      const wData = new Float32Array(fShape.reduce((a, b) => a * b)).map(() => rng.normal());
      const zeroB = new Float32Array(c.cout);
      const fwd = (w: Float32Array): number[] =>
        c.transpose
          ? conv2dTransposeF64(Array.from(x), c.h, c.h, c.cin, w, zeroB, c.k, c.s, c.pad).y
          : conv2dF64(Array.from(x), c.h, c.h, c.cin, w, zeroB, c.k, c.s, c.pad).y;
      const outLen = fwd(wData).length;
      const rData = Array.from({ length: outLen }, () => rng.normal());
      const refGrad = Array.from({ length: wData.length }, (_, j) => {
        const e = new Float32Array(wData.length);
        e[j] = 1;
        return fwd(e).reduce((s, v, q) => s + v * rData[q], 0);
      });
      const outH = c.transpose
        ? c.pad === 'same'
          ? c.h * c.s
          : (c.h - 1) * c.s + c.k
        : c.pad === 'same'
          ? Math.ceil(c.h / c.s)
          : c.h - c.k + 1;
      const g = tf.tidy(() => {
        const xt = tf.tensor4d(x, [1, c.h, c.h, c.cin]);
        const rt = tf.tensor4d(Float32Array.from(rData), [1, outH, outH, c.cout]);
        const wt = tf.tensor4d(wData, fShape as [number, number, number, number]);
        const layer = convLayerFor(c);
        return tf.grad((ww: tf.Tensor) =>
          tf.sum(tf.mul(layer(xt, ww as tf.Tensor4D, [1, outH, outH, c.cout]), rt)),
        )(wt);
      });
      const gd = g.dataSync();
      g.dispose();
      for (let j = 0; j < refGrad.length; j++)
        expect(Math.abs(gd[j] - refGrad[j])).toBeLessThan(1e-3 * Math.max(1, Math.abs(refGrad[j])));
    }
  });
});

describe('conv layers: forward and input gradients', () => {
  // The layers run conv2dTranspose as a stride-1 conv2d of the zero-upsampled input and compute
  // input gradients the same way; L(x) = Σ y(x) ⊙ R is linear in x (zero bias), so dL/dx[j] = L(e_j).
  const cases: ConvCase[] = [
    { transpose: false, h: 8, cin: 2, cout: 3, k: 5, s: 1, pad: 'same' },
    { transpose: false, h: 8, cin: 2, cout: 3, k: 5, s: 2, pad: 'same' },
    { transpose: false, h: 7, cin: 3, cout: 2, k: 5, s: 2, pad: 'same' },
    { transpose: false, h: 7, cin: 2, cout: 2, k: 7, s: 1, pad: 'valid' },
    { transpose: true, h: 4, cin: 3, cout: 2, k: 5, s: 2, pad: 'same' },
    { transpose: true, h: 5, cin: 2, cout: 2, k: 5, s: 1, pad: 'same' },
    { transpose: true, h: 1, cin: 2, cout: 3, k: 7, s: 1, pad: 'valid' },
  ];
  it('forward values and input gradients equal float64 brute force (strides 1 and 2, same and valid)', () => {
    const rng = new Rng(33);
    for (const c of cases) {
      const fShape = c.transpose ? [c.k, c.k, c.cout, c.cin] : [c.k, c.k, c.cin, c.cout];
      const wData = new Float32Array(fShape.reduce((a, b) => a * b)).map(() => rng.normal());
      const zeroB = new Float32Array(c.cout);
      const fwd = (x: ArrayLike<number>): number[] =>
        c.transpose
          ? conv2dTransposeF64(Array.from(x), c.h, c.h, c.cin, wData, zeroB, c.k, c.s, c.pad).y
          : conv2dF64(Array.from(x), c.h, c.h, c.cin, wData, zeroB, c.k, c.s, c.pad).y;
      const x = new Float32Array(c.h * c.h * c.cin).map(() => rng.normal());
      const yRef = fwd(x);
      const outH = Math.round(Math.sqrt(yRef.length / c.cout));
      const rData = Array.from({ length: yRef.length }, () => rng.normal());
      const refGrad = Array.from({ length: x.length }, (_, j) => {
        const e = new Float32Array(x.length);
        e[j] = 1;
        return fwd(e).reduce((acc, v, q) => acc + v * rData[q], 0);
      });
      const layer = convLayerFor(c);
      const [y, g] = tf.tidy(() => {
        const xt = tf.tensor4d(x, [1, c.h, c.h, c.cin]);
        const rt = tf.tensor4d(Float32Array.from(rData), [1, outH, outH, c.cout]);
        const wt = tf.tensor4d(wData, fShape as [number, number, number, number]);
        const out = layer(xt, wt, [1, outH, outH, c.cout]);
        const grad = tf.grad((xx: tf.Tensor) =>
          tf.sum(tf.mul(layer(xx as tf.Tensor4D, wt, [1, outH, outH, c.cout]), rt)),
        )(xt);
        return [out, grad];
      });
      const yd = y.dataSync();
      const gd = g.dataSync();
      tf.dispose([y, g]);
      const label = JSON.stringify(c);
      expect(yd.length, label).toBe(yRef.length);
      for (let q = 0; q < yRef.length; q++)
        expect(Math.abs(yd[q] - yRef[q]), label).toBeLessThan(1e-4 * Math.max(1, Math.abs(yRef[q])));
      for (let j = 0; j < refGrad.length; j++)
        expect(Math.abs(gd[j] - refGrad[j]), label).toBeLessThan(1e-3 * Math.max(1, Math.abs(refGrad[j])));
    }
  });
});

/** One conv layer case: input h×h×cin, k×k filter to cout channels, stride, padding, transposed or not. */
interface ConvCase {
  transpose: boolean;
  h: number;
  cin: number;
  cout: number;
  k: number;
  s: 1 | 2;
  pad: 'same' | 'valid';
}

/** The conv layers exactly as the VAE uses them (custom filter gradients), with a zero bias. */
function convLayerFor(c: Omit<ConvCase, 'h'>) {
  const l = { k: c.k, stride: c.s, padding: c.pad, cin: c.cin, cout: c.cout };
  return (x: tf.Tensor4D, w: tf.Tensor4D, outShape: [number, number, number, number]): tf.Tensor4D => {
    const b = tf.zeros([l.cout]) as tf.Tensor1D;
    return c.transpose ? deconv2dT(x, w, b, l, outShape) : conv2dT(x, w, b, l);
  };
}

describe('no tensor leaks', () => {
  it('1,000 batches of forward scoring leave tf.memory().numTensors unchanged', () => {
    const spec: MemberSpec = {
      arch: { kind: 'mlp', inputDim: 10, encoderHidden: [8], decoderHidden: [8], latentDim: 3 },
      likelihood: 'bernoulli',
      prior: makeMafPrior(3, 2, [6], 1),
    };
    const vae = TfVae.create(spec, 1);
    const x = randomData(4, 10, 3);
    const eps = makeEps(2, 16, 3);
    vae.scoreArray(x, 4, eps, 16, 4);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 1000; i++) vae.scoreArray(x, 4, eps, 16, 4);
    expect(tf.memory().numTensors).toBe(before);
    vae.dispose();
  });
});
