/** Checks the float64 reference's convolutions against TensorFlow.js (cpu backend) itself. */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng } from '../../../src/engine/random.js';
import { STUDENT_LOG_NORM, STUDENT_NU } from '../../../src/engine/spec.js';
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

describe('student-t likelihood constants (spec.ts)', () => {
  it('STUDENT_LOG_NORM normalises the density: ∫ exp(c − (ν+1)/2·log(1 + r²/ν)) dr = 1, and the variance is ν/(ν−2)', () => {
    // Substitution r = tan(θ)·√ν turns the infinite integral into a smooth one on (−π/2, π/2);
    // composite Simpson's rule in float64 (independent of the closed form Γ(5/2) = 3√π/4).
    const nu = STUDENT_NU;
    const n = 20_000;
    const a = -Math.PI / 2;
    const h = Math.PI / n;
    let mass = 0;
    let second = 0;
    for (let i = 0; i <= n; i++) {
      const th = a + i * h;
      const w = i === 0 || i === n ? 1 : i % 2 === 1 ? 4 : 2;
      const c = Math.cos(th);
      if (c <= 1e-12) continue; // the integrand vanishes at ±π/2
      const r = Math.tan(th) * Math.sqrt(nu);
      const dens = Math.exp(STUDENT_LOG_NORM - ((nu + 1) / 2) * Math.log1p((r * r) / nu));
      const jac = Math.sqrt(nu) / (c * c);
      mass += w * dens * jac;
      second += w * dens * jac * r * r;
    }
    mass *= h / 3;
    second *= h / 3;
    expect(mass).toBeCloseTo(1, 8);
    expect(second).toBeCloseTo(nu / (nu - 2), 5);
    // the known value log Γ(2.5) − log Γ(2) − ½·log(4π), Γ(2.5) = 1.329340388179137
    expect(STUDENT_LOG_NORM).toBeCloseTo(Math.log(1.329340388179137) - 0.5 * Math.log(4 * Math.PI), 12);
  });
});
