/**
 * Fast gradient sign method against one member (Goodfellow et al.; the paper's adversarial OoD
 * inputs): x_adv = x - ε·sign(∇x loss) with loss = -IWAE_K(x), i.e. one step towards HIGHER model
 * likelihood. No clipping by default (as the paper); `clip` bounds the result to [lo, hi].
 */
import * as tf from '@tensorflow/tfjs';
import type { MemberParams, MemberSpec } from './spec.js';
import { dataDim } from './spec.js';
import { TfVae } from './vae.js';
import { TfWgan, type WganSpec } from './wgan.js';
import { GensembleError } from '../errors.js';

export class FgsmError extends GensembleError {
  declare readonly code: 'E_FGSM_INPUT';
  constructor(message: string) {
    super('E_FGSM_INPUT', message);
  }
}

export interface FgsmOptions {
  /** Step size ε. Default 0.3. */
  epsilon?: number;
  /** Clip the result to this range, e.g. [0, 1]. Default: no clipping. */
  clip?: [number, number];
  /** Records per tfjs batch. Default 128. */
  batchSize?: number;
}

/**
 * x_adv for n records x [n, D] (model space) against one member with fixed noise eps [K, Dz].
 * Accepts a live {@link TfVae} or (spec, params).
 */
export function fgsm(
  model: TfVae | { spec: MemberSpec; params: MemberParams },
  x: Float32Array,
  n: number,
  eps: Float32Array,
  options: FgsmOptions = {},
): Float32Array {
  const own = !(model instanceof TfVae);
  const vae = model instanceof TfVae ? model : TfVae.fromParams(model.spec, model.params, false);
  try {
    const d = dataDim(vae.spec.arch);
    const dz = vae.latentDim;
    const e = options.epsilon ?? 0.3;
    if (!(e >= 0) || !Number.isFinite(e))
      throw new FgsmError(`epsilon must be a finite number ≥ 0, got ${e}`);
    if (x.length !== n * d) throw new FgsmError(`x holds ${x.length} values, expected ${n}×${d}`);
    if (eps.length === 0 || eps.length % dz !== 0)
      throw new FgsmError(`eps must hold K×${dz} values, got ${eps.length}`);
    const k = eps.length / dz;
    const bs = options.batchSize ?? 128;
    const out = new Float32Array(n * d);
    const epsT = tf.tensor2d(eps, [k, dz]);
    try {
      for (let s = 0; s < n; s += bs) {
        const m = Math.min(bs, n - s);
        const adv = tf.tidy(() => {
          const xt = tf.tensor2d(x.subarray(s * d, (s + m) * d), [m, d]);
          // Σ over records: each record's gradient only depends on its own loss.
          const g = tf.grad((xi: tf.Tensor) =>
            tf.neg(tf.sum(vae.bounds(xi as tf.Tensor2D, epsT, { needInputGrad: true }).iwae)),
          )(xt);
          let r = tf.sub(xt, tf.mul(tf.sign(g), e));
          if (options.clip !== undefined) r = tf.clipByValue(r, options.clip[0], options.clip[1]);
          return r;
        });
        out.set(adv.dataSync(), s * d);
        adv.dispose();
      }
    } finally {
      epsT.dispose();
    }
    return out;
  } finally {
    if (own) vae.dispose();
  }
}

/**
 * FGSM against one WGAN critic (the image benchmark's adversarial row for the critic columns):
 * x_adv = x + ε·sign(∇x D(x)), one step towards a HIGHER critic value (more "real" to that critic).
 * x [n, D] in model space (after the feature transform), as for {@link fgsm}.
 */
export function criticFgsm(
  model: { spec: WganSpec; critic: MemberParams },
  x: Float32Array,
  n: number,
  options: FgsmOptions = {},
): Float32Array {
  const gan = TfWgan.fromParams(model.spec, model.critic);
  try {
    const d = dataDim(model.spec.arch);
    const e = options.epsilon ?? 0.3;
    if (!(e >= 0) || !Number.isFinite(e))
      throw new FgsmError(`epsilon must be a finite number ≥ 0, got ${e}`);
    if (x.length !== n * d) throw new FgsmError(`x holds ${x.length} values, expected ${n}×${d}`);
    const bs = options.batchSize ?? 128;
    const out = new Float32Array(n * d);
    for (let s = 0; s < n; s += bs) {
      const m = Math.min(bs, n - s);
      const adv = tf.tidy(() => {
        const xt = tf.tensor2d(x.subarray(s * d, (s + m) * d), [m, d]);
        const g = tf.grad((xi: tf.Tensor) => tf.sum(gan.critic(xi as tf.Tensor2D, { needInputGrad: true })))(
          xt,
        );
        let r = tf.add(xt, tf.mul(tf.sign(g), e));
        if (options.clip !== undefined) r = tf.clipByValue(r, options.clip[0], options.clip[1]);
        return r;
      });
      out.set(adv.dataSync(), s * d);
      adv.dispose();
    }
    return out;
  } finally {
    gan.dispose();
  }
}
