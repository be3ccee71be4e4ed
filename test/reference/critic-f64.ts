/**
 * Float64 brute-force reference of the WGAN member math of src/engine/wgan.ts (critic and generator),
 * written independently of tfjs and the ONNX exporter: plain loops, the two final linear maps applied
 * one after the other (the exporter folds them). Reuses only f64.ts' conv loops and transform.
 * Slow; use with tiny models only.
 */
import { LEAKY_ALPHA, type MemberParams } from '../../src/engine/spec.js';
import { criticAffine, type WganEnsembleSpec, type WganSpec } from '../../src/engine/wgan.js';
import { conv2dF64, conv2dTransposeF64, transformF64 } from './f64.js';

type Vec = number[];

const relu = (v: number): number => (v > 0 ? v : 0);
const leaky = (v: number): number => (v > 0 ? v : LEAKY_ALPHA * v);
const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

function p(params: MemberParams, name: string): Float32Array {
  const t = params[name];
  if (!t) throw new Error(`critic-f64 reference: missing parameter ${name}`);
  return t.data;
}

/** y = x·W + b with W [in, out] row-major. */
function dense(x: Vec, w: Float32Array, b: Float32Array): Vec {
  const nOut = b.length;
  const y = Array.from(b, Number);
  for (let i = 0; i < x.length; i++) for (let o = 0; o < nOut; o++) y[o] += x[i] * w[i * nOut + o];
  return y;
}

/** D(x) of one critic for one record x already in model space (NHWC-flat for conv). */
export function criticF64(spec: WganSpec, params: MemberParams, x: ArrayLike<number>): number {
  const arch = spec.arch;
  let h: Vec = Array.from(x, Number);
  if (arch.kind === 'mlp') {
    arch.encoderHidden.forEach((_, i) => {
      h = dense(h, p(params, `enc.h${i}.w`), p(params, `enc.h${i}.b`)).map(relu);
    });
  } else {
    const layers: Array<[number, number, 'same' | 'valid']> = [
      [5, 1, 'same'],
      [5, 2, 'same'],
      [5, 1, 'same'],
      [5, 2, 'same'],
      [7, 1, 'valid'],
    ];
    let cur = { y: h, h: arch.height, w: arch.width };
    let cin = arch.channels;
    layers.forEach(([k, s, pad], i) => {
      const b = p(params, `enc.conv${i}.b`);
      cur = conv2dF64(cur.y, cur.h, cur.w, cin, p(params, `enc.conv${i}.w`), b, k, s, pad);
      cur.y = cur.y.map(leaky);
      cin = b.length;
    });
    h = cur.y;
  }
  const e = dense(h, p(params, 'enc.head.w'), p(params, 'enc.head.b'));
  return dense(e, p(params, 'critic.out.w'), p(params, 'critic.out.b'))[0];
}

/** G(z) of one generator (after the output activation), length D (NHWC-flat for conv). */
export function generatorF64(spec: WganSpec, params: MemberParams, z: ArrayLike<number>): Vec {
  const arch = spec.arch;
  let o: Vec;
  if (arch.kind === 'mlp') {
    let g: Vec = Array.from(z, Number);
    arch.decoderHidden.forEach((_, i) => {
      g = dense(g, p(params, `dec.h${i}.w`), p(params, `dec.h${i}.b`)).map(relu);
    });
    o = dense(g, p(params, 'dec.out.w'), p(params, 'dec.out.b'));
  } else {
    const layers: Array<[number, number, 'same' | 'valid']> = [
      [7, 1, 'valid'],
      [5, 1, 'same'],
      [5, 2, 'same'],
      [5, 1, 'same'],
      [5, 2, 'same'],
      [5, 1, 'same'],
    ];
    let cur = { y: Array.from(z, Number), h: 1, w: 1 };
    let cin = z.length;
    layers.forEach(([k, s, pad], i) => {
      const b = p(params, `dec.deconv${i}.b`);
      cur = conv2dTransposeF64(cur.y, cur.h, cur.w, cin, p(params, `dec.deconv${i}.w`), b, k, s, pad);
      cur.y = cur.y.map(leaky);
      cin = b.length;
    });
    o = conv2dF64(cur.y, cur.h, cur.w, cin, p(params, 'dec.out.w'), p(params, 'dec.out.b'), 5, 1, 'same').y;
  }
  return spec.output === 'sigmoid' ? o.map(sigmoid) : o;
}

export interface CriticEnsembleF64 {
  /** Each member's normalised critic value c_m. */
  critic: number[];
  mean: number;
  /** Population variance (/M). */
  var: number;
}

/** The ensemble outputs of the critic graph for one RAW record. */
export function criticEnsembleF64(spec: WganEnsembleSpec, xRaw: ArrayLike<number>): CriticEnsembleF64 {
  const x = transformF64(spec.transform, xRaw);
  const critic = spec.members.map((m) => {
    const { offset, scale } = criticAffine(m.stats, spec.normalization ?? 'none');
    return (criticF64(spec.wgan, m.critic, x) - offset) / scale;
  });
  const M = critic.length;
  const mean = critic.reduce((a, b) => a + b, 0) / M;
  return { critic, mean, var: critic.reduce((a, b) => a + (b - mean) ** 2, 0) / M };
}
