/**
 * The paper's supervised baseline for Table 3: a fully connected classifier with 2 hidden ReLU layers
 * of 512 units, dropout, weighted sigmoid cross-entropy (positive weight 580) and RMSProp, in tfjs.
 * Inputs are standardised with statistics of its own training data. Deterministic from a seed
 * (initial weights from the project's Rng, batch order from a seeded permutation, seeded dropout).
 */
import * as tf from '@tensorflow/tfjs';
import { Rng } from '../../src/engine/random.js';
import { permutation } from '../../src/data/splits.js';
import { dense } from '../../src/engine/vae.js';
import { GensembleError } from '../../src/errors.js';

export class ClassifierError extends GensembleError {
  declare readonly code: 'E_CLASSIFIER_INPUT';
  constructor(message: string) {
    super('E_CLASSIFIER_INPUT', message);
  }
}

export interface ClassifierOptions {
  hidden?: number[];
  posWeight?: number;
  dropout?: number;
  learningRate?: number;
  steps?: number;
  batchSize?: number;
  seed?: number;
}

export interface TrainedClassifier {
  /** Fraud logits (higher = more likely fraud) for n raw records [n, d]. */
  predict(x: Float32Array, n: number): Float32Array;
  dispose(): void;
  steps: number;
  finalLoss: number;
}

/** Weighted sigmoid cross-entropy, mean over records: w·y·softplus(-l) + (1-y)·softplus(l) (TF's weighted_cross_entropy_with_logits). */
export function weightedSigmoidCe(logits: tf.Tensor, labels: tf.Tensor, posWeight: number): tf.Scalar {
  return tf.tidy(() => {
    const pos = tf.mul(tf.mul(labels, posWeight), tf.softplus(tf.neg(logits)));
    const neg = tf.mul(tf.sub(1, labels), tf.softplus(logits));
    return tf.mean(tf.add(pos, neg)) as tf.Scalar;
  });
}

export function trainClassifier(
  x: Float32Array,
  y: Uint8Array,
  n: number,
  d: number,
  o: ClassifierOptions = {},
): TrainedClassifier {
  if (x.length !== n * d || y.length !== n)
    throw new ClassifierError(
      `x holds ${x.length} values and y ${y.length} labels; expected ${n}×${d} and ${n}`,
    );
  let pos = 0;
  for (const v of y) pos += v;
  if (pos === 0 || pos === n)
    throw new ClassifierError(`training data needs both classes (${pos} positives of ${n})`);
  const hidden = o.hidden ?? [512, 512];
  const posWeight = o.posWeight ?? 580;
  const rate = o.dropout ?? 0.5;
  const steps = o.steps ?? 2000;
  const bs = Math.min(o.batchSize ?? 256, n);
  const seed = o.seed ?? 0;
  const rng = new Rng(seed);
  // standardisation statistics of the training data
  const mean = new Float32Array(d);
  const std = new Float32Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j] / n;
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) std[j] += (x[i * d + j] - mean[j]) ** 2 / n;
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j]) || 1;
  const standardise = (a: Float32Array, m: number): Float32Array => {
    const out = new Float32Array(m * d);
    for (let i = 0; i < m; i++)
      for (let j = 0; j < d; j++) out[i * d + j] = (a[i * d + j] - mean[j]) / std[j];
    return out;
  };
  const widths = [d, ...hidden, 1];
  const ws: tf.Variable[] = [];
  const bsV: tf.Variable[] = [];
  for (let l = 0; l + 1 < widths.length; l++) {
    const lim = Math.sqrt(6 / (widths[l] + widths[l + 1]));
    const w = new Float32Array(widths[l] * widths[l + 1]).map(() => (2 * rng.uniform() - 1) * lim);
    ws.push(tf.variable(tf.tensor2d(w, [widths[l], widths[l + 1]])));
    bsV.push(tf.variable(tf.zeros([widths[l + 1]])));
  }
  const forward = (xt: tf.Tensor2D, train: boolean, step: number): tf.Tensor2D => {
    let h: tf.Tensor2D = xt;
    for (let l = 0; l < ws.length; l++) {
      // the engine's dense layer: its backward pass avoids tfjs-wasm's slow transposed matmuls
      h = dense(h, ws[l] as tf.Tensor2D, bsV[l] as tf.Tensor1D, l + 1 < ws.length ? 'relu' : 'linear', l > 0);
      if (l + 1 < ws.length) {
        if (train && rate > 0) h = tf.dropout(h, rate, undefined, seed * 7 + step * 31 + l) as tf.Tensor2D;
      }
    }
    return h;
  };
  const xs = standardise(x, n);
  const opt = tf.train.rmsprop(o.learningRate ?? 5e-4);
  let order = permutation(n, seed + 1);
  let cursor = 0;
  let finalLoss = NaN;
  const xb = new Float32Array(bs * d);
  const yb = new Float32Array(bs);
  for (let step = 0; step < steps; step++) {
    for (let k = 0; k < bs; k++) {
      if (cursor >= n) {
        order = permutation(n, seed + 1 + step);
        cursor = 0;
      }
      const i = order[cursor++];
      xb.set(xs.subarray(i * d, (i + 1) * d), k * d);
      yb[k] = y[i];
    }
    const loss = opt.minimize(
      () =>
        tf.tidy(() => {
          const logits = forward(tf.tensor2d(xb, [bs, d]), true, step);
          return weightedSigmoidCe(logits, tf.tensor2d(yb, [bs, 1]), posWeight);
        }),
      true,
      [...ws, ...bsV],
    );
    if (step === steps - 1 && loss) finalLoss = loss.dataSync()[0];
    loss?.dispose();
  }
  opt.dispose();
  return {
    steps,
    finalLoss,
    predict(xr: Float32Array, m: number): Float32Array {
      const out = new Float32Array(m);
      const chunk = 4096;
      for (let s = 0; s < m; s += chunk) {
        const c = Math.min(chunk, m - s);
        const r = tf.tidy(() =>
          forward(tf.tensor2d(standardise(xr.subarray(s * d, (s + c) * d), c), [c, d]), false, 0),
        );
        out.set(r.dataSync(), s);
        r.dispose();
      }
      return out;
    },
    dispose(): void {
      for (const v of [...ws, ...bsV]) v.dispose();
    },
  };
}
