/** Checks the float64 reference's convolutions against TensorFlow.js (cpu backend) itself. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../src/engine/random.js';
import { conv2dF64, conv2dTransposeF64, logSumExpF64 } from '../../reference/f64.js';

const rand = (n: number, seed: number): Float32Array => {
  const r = new Rng(seed);
  return new Float32Array(n).map(() => r.normal());
};

describe('f64 reference vs tfjs semantics', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  const cases: Array<[number, number, number, number, number, 'same' | 'valid']> = [
    // h, cin, cout, k, stride, padding
    [28, 1, 2, 5, 1, 'same'],
    [28, 2, 3, 5, 2, 'same'],
    [14, 2, 2, 5, 2, 'same'],
    [7, 3, 4, 7, 1, 'valid'],
    [9, 1, 2, 4, 2, 'same'],
  ];
  for (const [h, cin, cout, k, s, pad] of cases) {
    it(`conv2d ${h}x${h}x${cin} k${k} s${s} ${pad}`, () => {
      const x = rand(h * h * cin, 1);
      const f = rand(k * k * cin * cout, 2);
      const b = new Float32Array(cout);
      const ref = conv2dF64(Array.from(x), h, h, cin, f, b, k, s, pad);
      const got = tf.tidy(() =>
        tf.conv2d(tf.tensor4d(x, [1, h, h, cin]), tf.tensor4d(f, [k, k, cin, cout]), s, pad).dataSync(),
      );
      expect(got.length).toBe(ref.y.length);
      for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(ref.y[i], 4);
    });
  }
  const tcases: Array<[number, number, number, number, number, 'same' | 'valid']> = [
    [1, 2, 4, 7, 1, 'valid'],
    [7, 4, 4, 5, 1, 'same'],
    [7, 4, 3, 5, 2, 'same'],
    [14, 3, 2, 5, 2, 'same'],
  ];
  for (const [h, cin, cout, k, s, pad] of tcases) {
    it(`conv2dTranspose ${h}x${h}x${cin} → ${cout} k${k} s${s} ${pad}`, () => {
      const x = rand(h * h * cin, 3);
      const f = rand(k * k * cout * cin, 4);
      const b = new Float32Array(cout);
      const ref = conv2dTransposeF64(Array.from(x), h, h, cin, f, b, k, s, pad);
      const got = tf.tidy(() =>
        tf
          .conv2dTranspose(
            tf.tensor4d(x, [1, h, h, cin]),
            tf.tensor4d(f, [k, k, cout, cin]),
            [1, ref.h, ref.w, cout],
            s,
            pad,
          )
          .dataSync(),
      );
      expect(got.length).toBe(ref.y.length);
      for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(ref.y[i], 4);
    });
  }
  it('logsumexp is stable for very negative values', () => {
    expect(logSumExpF64([-1e5, -1e5])).toBeCloseTo(-1e5 + Math.log(2), 8);
    expect(logSumExpF64([-2e4, -1e6])).toBeCloseTo(-2e4, 8);
  });
});
