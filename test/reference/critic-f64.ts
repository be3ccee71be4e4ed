/**
 * Float64 brute-force reference of the WGAN member math of src/engine/wgan.ts (critic and generator),
 * written independently of tfjs and the ONNX exporter: plain loops, the two final linear maps applied
 * one after the other (the exporter folds them). The critic's trunk is f64.ts' encoder trunk and the
 * generator f64.ts' decoder (the WGAN members share the VAE's layers); f64.ts' transform and dense.
 * Slow; use with tiny models only.
 */
import type { MemberParams } from '../../src/engine/spec.js';
import { criticAffine, type WganEnsembleSpec, type WganSpec } from '../../src/engine/wgan.js';
import { decodeF64, dense, encodeF64, p, transformF64 } from './f64.js';

type Vec = number[];

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

/** D(x) of one critic for one record x already in model space (NHWC-flat for conv). */
export function criticF64(spec: WganSpec, params: MemberParams, x: ArrayLike<number>): number {
  const h = encodeF64(spec.arch, params, Array.from(x, Number));
  const e = dense(h, p(params, 'enc.head.w'), p(params, 'enc.head.b'));
  return dense(e, p(params, 'critic.out.w'), p(params, 'critic.out.b'))[0];
}

/** G(z) of one generator (after the output activation), length D (NHWC-flat for conv). */
export function generatorF64(spec: WganSpec, params: MemberParams, z: ArrayLike<number>): Vec {
  const o = decodeF64(spec.arch, params, Array.from(z, Number));
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
