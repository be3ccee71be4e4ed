/**
 * The VAE of spec.ts in TensorFlow.js: parameters are tf.Variables keyed by the spec's names, so
 * {@link TfVae.toMemberParams} yields the contract's MemberParams exactly (dense W [in,out], conv
 * filters in tfjs layout). Computes per-record log w [B,K], IWAE, ELBO and rate for a given noise
 * tensor eps ([K,Dz] shared by every record, as scoring does, or [B,K,Dz] fresh per record, as
 * training does).
 *
 * Speed: tfjs-wasm's BatchMatMul with transposeA/transposeB is 10–25× slower than the plain form,
 * and the stock MatMul gradient uses exactly those. Dense layers here are therefore a tf.customGrad
 * whose backward pass uses explicit tf.transpose + plain matMul (see {@link dense}). Convolutions
 * get a custom filter gradient too, because tfjs-wasm has no Conv2DBackpropFilter kernel.
 */
import * as tf from '@tensorflow/tfjs';
import {
  LEAKY_ALPHA,
  LOG_2PI,
  MAF_SCALE_BOUND,
  SCALE_MIN,
  STUDENT_LOG_NORM,
  STUDENT_NU,
  SIGMA_MIN,
  binaryColumnsProblem,
  binaryMask,
  dataDim,
  madeMasks,
  type MafSpec,
  type MemberParams,
  type MemberSpec,
  type Prior,
} from './spec.js';
import {
  convDecoderLayers,
  convEncoderLayers,
  convShapeProblem,
  paramShapes,
  shapeSize,
  type ConvLayerSpec,
} from './params.js';
import { Rng, randomParams } from './random.js';
import { GensembleError } from '../errors.js';

export class VaeError extends GensembleError {
  declare readonly code: 'E_VAE_PARAMS' | 'E_VAE_INPUT';
  constructor(code: 'E_VAE_PARAMS' | 'E_VAE_INPUT', message: string) {
    super(code, message);
  }
}

/** A MAF prior spec with permutations drawn from `seed` (one random permutation per layer). */
export function makeMafPrior(latentDim: number, layers: number, hidden: number[], seed: number): Prior {
  const rng = new Rng(seed ^ 0x0fa11e5);
  const permutations = Array.from({ length: layers }, () => rng.permutation(latentDim));
  return { kind: 'maf', layers, hidden: [...hidden], permutations };
}

// ---------------------------------------------------------------------------------------------
// Fast dense layer

type DenseAct = 'relu' | 'linear';
type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** dx = dy·Wᵀ computed with whichever explicit transpose moves fewer values. */
function denseInputGrad(dy: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const [din, dout] = w.shape;
  const b = dy.shape[0];
  if (din * dout <= b * (din + dout)) return tf.matMul(dy, tf.transpose(w));
  return tf.transpose(tf.matMul(w, tf.transpose(dy))) as tf.Tensor2D;
}

const denseCache = new Map<string, (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D>();

function denseFn(
  act: DenseAct,
  needDx: boolean,
): (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D {
  const key = `${act}:${needDx}`;
  let f = denseCache.get(key);
  if (f === undefined) {
    f = tf.customGrad(((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
      const y = tf.fused.matMul({
        a: x as tf.Tensor2D,
        b: w as tf.Tensor2D,
        bias: b,
        activation: act === 'relu' ? 'relu' : 'linear',
      });
      save(act === 'relu' ? [x, w, y] : [x, w]);
      return {
        value: y,
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
          const dpre = (act === 'relu' ? tf.mul(dy, tf.step(saved[2])) : dy) as tf.Tensor2D;
          const dx = needDx ? denseInputGrad(dpre, ws) : tf.zerosLike(xs);
          const dw = tf.matMul(tf.transpose(xs), dpre);
          // Σ over the batch as a [1,B]·[B,out] matmul: tfjs-wasm's Sum over axis 0 is ~5× slower.
          const db = tf.reshape(tf.matMul(tf.ones([1, dpre.shape[0]]), dpre), [-1]);
          return [dx, dw, db];
        },
      };
    }) as unknown as CustomGradFn) as unknown as (
      x: tf.Tensor2D,
      w: tf.Tensor2D,
      b: tf.Tensor1D,
    ) => tf.Tensor2D;
    denseCache.set(key, f);
  }
  return f;
}

/**
 * y = act(x·W + b) with a backward pass free of transposed matmuls. `needDx` false skips the
 * input gradient (first layer during training), returning zeros for it.
 */
export function dense(
  x: tf.Tensor2D,
  w: tf.Tensor2D,
  b: tf.Tensor1D,
  act: DenseAct,
  needDx = true,
): tf.Tensor2D {
  return denseFn(act, needDx)(x, w, b);
}

// ---------------------------------------------------------------------------------------------
// Convolutions with a filter gradient that works on wasm

function samePads(inSize: number, outSize: number, k: number, s: number): [number, number] {
  const total = Math.max((outSize - 1) * s + k - inSize, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/**
 * x padded (and, for a 'valid' conv whose last rows/columns no output reads, cropped) to exactly the
 * window the outputs read: [(h−1)·s + k, (w−1)·s + k].
 */
function paddedWindow(
  x: tf.Tensor4D,
  h: number,
  w: number,
  k: number,
  s: number,
  padding: 'same' | 'valid',
): tf.Tensor4D {
  const [bsz, hIn, wIn, ci] = x.shape;
  const top = padding === 'same' ? samePads(hIn, h, k, s)[0] : 0;
  const left = padding === 'same' ? samePads(wIn, w, k, s)[0] : 0;
  const needH = (h - 1) * s + k;
  const needW = (w - 1) * s + k;
  let xp = tf.pad(x, [
    [0, 0],
    [top, Math.max(needH - hIn - top, 0)],
    [left, Math.max(needW - wIn - left, 0)],
    [0, 0],
  ]);
  if (xp.shape[1] > needH || xp.shape[2] > needW) xp = tf.slice(xp, [0, 0, 0, 0], [bsz, needH, needW, ci]);
  return xp;
}

/**
 * Filter gradient of y = conv2d(x, W, s, pad): dW[i,j,ci,co] = Σ_{b,p,q} x_pad[b, p·s+i, q·s+j, ci]·dy[b,p,q,co].
 * x [B,H,W,Ci], dy [B,h,w,Co] → [k,k,Ci,Co]. Computed as ONE stride-1 conv2d with dilation s (XNNPACK
 * on wasm): the input is x_pad with batch and channels swapped [Ci, H', W', B], the "filter" is dy as
 * [h, w, B, Co]; the output [Ci, k, k, Co] is dW up to a transpose. (tfjs-wasm has no
 * Conv2DBackpropFilter kernel; 25 strided slices + matmuls per layer were 10× slower than the forward.)
 */
function convFilterGrad(
  x: tf.Tensor4D,
  dy: tf.Tensor4D,
  k: number,
  s: number,
  padding: 'same' | 'valid',
): tf.Tensor4D {
  const [, h, w] = dy.shape;
  const xt = tf.transpose(paddedWindow(x, h, w, k, s, padding), [3, 1, 2, 0]);
  const dyt = tf.transpose(dy, [1, 2, 0, 3]);
  const r = tf.conv2d(xt as tf.Tensor4D, dyt as tf.Tensor4D, 1, 'valid', 'NHWC', s);
  return tf.transpose(r, [1, 2, 0, 3]);
}

/** dy [B,h,w,C] with s−1 zero rows/columns between its entries: [B, (h−1)·s+1, (w−1)·s+1, C]. */
function upsampleZeros(dy: tf.Tensor4D, s: number): tf.Tensor4D {
  if (s === 1) return dy;
  const [bsz, h, w, c] = dy.shape;
  const cols = tf.reshape(
    tf.concat([tf.reshape(dy, [bsz, h, w, 1, c]), tf.zeros([bsz, h, w, s - 1, c])], 3),
    [bsz, h, w * s, c],
  ) as tf.Tensor4D;
  const rows = tf.reshape(
    tf.concat([tf.reshape(cols, [bsz, h, 1, w * s, c]), tf.zeros([bsz, h, s - 1, w * s, c])], 2),
    [bsz, h * s, w * s, c],
  ) as tf.Tensor4D;
  return tf.slice(rows, [0, 0, 0, 0], [bsz, (h - 1) * s + 1, (w - 1) * s + 1, c]);
}

/**
 * Input gradient of y = conv2d(x, W, s, pad), i.e. conv2dTranspose(dy, W, xShape, s, pad), as ONE
 * stride-1 conv2d (XNNPACK on wasm, where tfjs' Conv2DBackpropInput kernel is 5–10× slower): the
 * zero-upsampled dy, padded by k−1−before in front (and what makes the output H×W behind), correlated
 * with W flipped in space and with its channel axes swapped. W [k,k,Ci,Co], dy [B,h,w,Co] → [B,H,W,Ci].
 */
function convInputGrad(
  dy: tf.Tensor4D,
  w: tf.Tensor4D,
  xShape: [number, number, number, number],
  s: number,
  padding: 'same' | 'valid',
): tf.Tensor4D {
  const [bsz, hIn, wIn] = xShape;
  const [, h, wd, co] = dy.shape;
  const k = w.shape[0];
  const beforeH = padding === 'same' ? samePads(hIn, h, k, s)[0] : 0;
  const beforeW = padding === 'same' ? samePads(wIn, wd, k, s)[0] : 0;
  const z = upsampleZeros(dy, s);
  const lh = (h - 1) * s + 1;
  const lw = (wd - 1) * s + 1;
  const topH = k - 1 - beforeH;
  const topW = k - 1 - beforeW;
  const bottomH = hIn + k - 1 - lh - topH;
  const bottomW = wIn + k - 1 - lw - topW;
  let zp = tf.pad(z, [
    [0, 0],
    [topH, Math.max(bottomH, 0)],
    [topW, Math.max(bottomW, 0)],
    [0, 0],
  ]);
  if (bottomH < 0 || bottomW < 0) zp = tf.slice(zp, [0, 0, 0, 0], [bsz, hIn + k - 1, wIn + k - 1, co]);
  const wf = tf.transpose(tf.reverse(w, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
  return tf.conv2d(zp, wf, 1, 'valid');
}

/**
 * The VAE's conv2d layer, x [B,h,w,cin] * w [k,k,cin,cout] + b (stride and padding from `l`), with
 * custom input and filter gradients that work on the wasm backend. Also the WGAN critic's conv layer
 * (wgan.ts).
 */
export function conv2dT(x: tf.Tensor4D, w: tf.Tensor4D, b: tf.Tensor1D, l: ConvLayerSpec): tf.Tensor4D {
  const f = tf.customGrad(((xi: tf.Tensor, wi: tf.Tensor, save: tf.GradSaveFunc) => {
    const y = tf.conv2d(xi as tf.Tensor4D, wi as tf.Tensor4D, l.stride, l.padding);
    save([xi, wi]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dx = convInputGrad(dy as tf.Tensor4D, ws, xs.shape, l.stride, l.padding);
        const dw = convFilterGrad(xs, dy as tf.Tensor4D, l.k, l.stride, l.padding);
        return [dx, dw];
      },
    };
  }) as unknown as CustomGradFn) as unknown as (xi: tf.Tensor4D, wi: tf.Tensor4D) => tf.Tensor4D;
  return tf.add(f(x, w), b);
}

/**
 * The VAE's conv2dTranspose layer to `outShape`, w [k,k,cout,cin] (tfjs' conv2dTranspose layout) + b,
 * computed as the input gradient of a conv2d, with custom gradients that work on the wasm backend.
 * Also the WGAN generator's deconv layer (wgan.ts).
 */
export function deconv2dT(
  x: tf.Tensor4D,
  w: tf.Tensor4D,
  b: tf.Tensor1D,
  l: ConvLayerSpec,
  outShape: [number, number, number, number],
): tf.Tensor4D {
  const f = tf.customGrad(((xi: tf.Tensor, wi: tf.Tensor, save: tf.GradSaveFunc) => {
    // conv2dTranspose(x, W) is the input gradient of conv2d(out, W) (W [k,k,out,in] in tfjs' layout)
    const y = convInputGrad(xi as tf.Tensor4D, wi as tf.Tensor4D, outShape, l.stride, l.padding);
    save([xi, wi]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved as [tf.Tensor4D, tf.Tensor4D];
        const dx = tf.conv2d(dy as tf.Tensor4D, ws, l.stride, l.padding);
        // its filter gradient is the conv2d filter gradient with the roles of input (dy here) and
        // output (x) swapped.
        const dw = convFilterGrad(dy as tf.Tensor4D, xs, l.k, l.stride, l.padding);
        return [dx, dw];
      },
    };
  }) as unknown as CustomGradFn) as unknown as (xi: tf.Tensor4D, wi: tf.Tensor4D) => tf.Tensor4D;
  return tf.add(f(x, w), b);
}

// ---------------------------------------------------------------------------------------------

/**
 * softplus(o) = max(o, 0) - log(sigmoid(|o|)). Exact in real arithmetic; sigmoid(|o|) ∈ [0.5, 1]
 * never underflows, and the float32 rounding of log(sigmoid(|o|)) near 1 costs at most ~6e-8 per
 * element in absolute terms. tfjs-wasm's Sigmoid is vectorised (XNNPACK); its Softplus, Exp and
 * Log1p are scalar and ~4× slower, which matters for the [B·K, 784] decoder outputs.
 */
export function fastSoftplus(o: tf.Tensor): tf.Tensor {
  return tf.sub(tf.relu(o), tf.log(tf.sigmoid(tf.abs(o))));
}

let bernoulliFn: ((x: tf.Tensor, o: tf.Tensor) => tf.Tensor) | null = null;

/** Σ_d x·o - softplus(o) over the last axis of [B,K,D] (x [B,1,D]); gradient wrt o is x - sigmoid(o). */
function bernoulliLogLik(x3: tf.Tensor, o3: tf.Tensor): tf.Tensor2D {
  if (bernoulliFn === null) {
    bernoulliFn = tf.customGrad(((x: tf.Tensor, o: tf.Tensor, save: tf.GradSaveFunc) => {
      save([x, o]);
      return {
        value: tf.sum(tf.sub(tf.mul(x, o), fastSoftplus(o)), 2),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
          const [xs, os] = saved;
          const dyo = tf.expandDims(dy, 2);
          const dO = tf.mul(dyo, tf.sub(xs, tf.sigmoid(os)));
          // d/dx = Σ_k dy·o (x is broadcast over K), used by FGSM.
          const dX = tf.sum(tf.mul(dyo, os), 1, true);
          return [dX, dO];
        },
      };
    }) as unknown as CustomGradFn) as unknown as (x: tf.Tensor, o: tf.Tensor) => tf.Tensor;
  }
  return bernoulliFn(x3, o3) as tf.Tensor2D;
}

/**
 * Stable logsumexp over axis 1 of [B,K]: m + log Σ exp(v - m), m = the row max (0 where the max is
 * not finite, so an all -Infinity row gives -Infinity, not NaN). The gradient through m cancels.
 */
export function logSumExpRows(v: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const m = tf.max(v, 1, true);
    const mSafe = tf.where(tf.isFinite(m), m, tf.zerosLike(m));
    return tf.add(tf.log(tf.sum(tf.exp(tf.sub(v, mSafe)), 1)), tf.reshape(mSafe, [-1])) as tf.Tensor1D;
  });
}

export interface LogWeights {
  /** log w [B,K] */
  logw: tf.Tensor2D;
  /** log q(z_k|x) - log p(z_k) [B,K] */
  kl: tf.Tensor2D;
}

export interface Bounds {
  iwae: tf.Tensor1D;
  elbo: tf.Tensor1D;
  rate: tf.Tensor1D;
}

export interface ForwardOptions {
  /** Whether gradients with respect to x are needed (FGSM). Default false. */
  needInputGrad?: boolean;
}

export class TfVae {
  readonly spec: MemberSpec;
  readonly vars: Record<string, tf.Variable>;
  readonly dataDim: number;
  readonly latentDim: number;
  private readonly mafMasks: tf.Tensor2D[][] = [];
  private readonly mafPerms: tf.Tensor2D[] = [];
  /** 'mixed': 1 on the Bernoulli columns, 0 elsewhere [D]. */
  private readonly binMask: tf.Tensor1D | null = null;
  private disposed = false;

  private constructor(spec: MemberSpec, params: MemberParams, trainable: boolean) {
    this.spec = spec;
    this.dataDim = dataDim(spec.arch);
    this.latentDim = spec.arch.latentDim;
    const expected = paramShapes(spec);
    const vars: Record<string, tf.Variable> = {};
    const names = new Set(expected.map(([n]) => n));
    for (const name of Object.keys(params)) {
      if (!names.has(name))
        throw new VaeError('E_VAE_PARAMS', `unexpected parameter "${name}" for this member spec`);
    }
    for (const [name, shape] of expected) {
      const p = params[name];
      if (p === undefined) throw new VaeError('E_VAE_PARAMS', `missing parameter "${name}"`);
      if (
        p.shape.length !== shape.length ||
        p.shape.some((v, i) => v !== shape[i]) ||
        p.data.length !== shapeSize(shape)
      ) {
        throw new VaeError(
          'E_VAE_PARAMS',
          `parameter "${name}" has shape [${p.shape.join(',')}] (${p.data.length} values), expected [${shape.join(',')}]`,
        );
      }
      // tidy frees the initial value tensor; the variable keeps its data.
      vars[name] = tf.tidy(() =>
        tf.variable(tf.tensor(p.data, shape, 'float32'), trainable, `${name}#${nextVarId++}`),
      );
    }
    this.vars = vars;
    if (spec.prior.kind === 'maf') this.initMaf(spec.prior);
    if (spec.likelihood === 'mixed') this.binMask = tf.tensor1d(binaryMask(spec, this.dataDim));
  }

  /** A freshly initialised member (Glorot-uniform weights from `seed`, see random.ts). */
  static create(spec: MemberSpec, seed: number): TfVae {
    validateSpec(spec);
    return new TfVae(spec, randomParams(spec, seed), true);
  }

  static fromParams(spec: MemberSpec, params: MemberParams, trainable = true): TfVae {
    validateSpec(spec);
    return new TfVae(spec, params, trainable);
  }

  private initMaf(prior: MafSpec): void {
    const dz = this.latentDim;
    if (prior.permutations.length !== prior.layers) {
      throw new VaeError(
        'E_VAE_PARAMS',
        `MAF prior has ${prior.layers} layers but ${prior.permutations.length} permutations`,
      );
    }
    const widths = [dz, ...prior.hidden, 2 * dz];
    const masks = madeMasks(dz, prior.hidden);
    for (let l = 0; l < prior.layers; l++) {
      const perm = prior.permutations[l];
      const sorted = [...perm].sort((a, b) => a - b);
      if (perm.length !== dz || sorted.some((v, i) => v !== i)) {
        throw new VaeError('E_VAE_PARAMS', `MAF permutation ${l} is not a permutation of 0..${dz - 1}`);
      }
      this.mafMasks.push(masks.map((m, i) => tf.keep(tf.tensor2d(m, [widths[i], widths[i + 1]]))));
      // The permutation as a one-hot matrix P (y = u·P, P[perm[j], j] = 1, so y[:, j] = u[:, perm[j]]):
      // exact in float32, and its gradient is a matmul, while tf.gather's gradient needs the
      // UnsortedSegmentSum kernel, which tfjs-wasm lacks (MAF training failed on wasm).
      const onehot = new Float32Array(dz * dz);
      perm.forEach((src, j) => {
        onehot[src * dz + j] = 1;
      });
      this.mafPerms.push(tf.keep(tf.tensor2d(onehot, [dz, dz])));
    }
  }

  /** Trainable variables in the stable {@link paramShapes} order. */
  variables(): tf.Variable[] {
    return paramShapes(this.spec).map(([n]) => this.vars[n]);
  }

  private v2(name: string): tf.Tensor2D {
    return this.vars[name] as unknown as tf.Tensor2D;
  }
  private v1(name: string): tf.Tensor1D {
    return this.vars[name] as unknown as tf.Tensor1D;
  }
  private v4(name: string): tf.Tensor4D {
    return this.vars[name] as unknown as tf.Tensor4D;
  }

  /** Posterior parameters: mu, sigma [B,Dz]. */
  encode(x: tf.Tensor2D, opts: ForwardOptions = {}): { mu: tf.Tensor2D; sigma: tf.Tensor2D } {
    const arch = this.spec.arch;
    let h: tf.Tensor2D;
    if (arch.kind === 'mlp') {
      h = x;
      arch.encoderHidden.forEach((_, i) => {
        h = dense(
          h,
          this.v2(`enc.h${i}.w`),
          this.v1(`enc.h${i}.b`),
          'relu',
          i > 0 || opts.needInputGrad === true,
        );
      });
    } else {
      let a = tf.reshape(x, [-1, arch.height, arch.width, arch.channels]) as tf.Tensor4D;
      for (const [i, l] of convEncoderLayers(arch).entries()) {
        a = tf.leakyRelu(conv2dT(a, this.v4(`enc.conv${i}.w`), this.v1(`enc.conv${i}.b`), l), LEAKY_ALPHA);
      }
      h = tf.reshape(a, [-1, 4 * arch.latentDim]) as tf.Tensor2D;
    }
    const first = arch.kind === 'mlp' && arch.encoderHidden.length === 0 && opts.needInputGrad !== true;
    const mu = dense(h, this.v2('enc.mu.w'), this.v1('enc.mu.b'), 'linear', !first);
    const sigma = tf.add(
      tf.softplus(dense(h, this.v2('enc.sigma.w'), this.v1('enc.sigma.b'), 'linear', !first)),
      SIGMA_MIN,
    ) as tf.Tensor2D;
    return { mu, sigma };
  }

  /** Decoder output (bernoulli logits / gaussian mean) [N,D] for z [N,Dz]. */
  decode(z: tf.Tensor2D): tf.Tensor2D {
    const arch = this.spec.arch;
    if (arch.kind === 'mlp') {
      let g = z;
      arch.decoderHidden.forEach((_, i) => {
        g = dense(g, this.v2(`dec.h${i}.w`), this.v1(`dec.h${i}.b`), 'relu');
      });
      return dense(g, this.v2('dec.out.w'), this.v1('dec.out.b'), 'linear');
    }
    const n = z.shape[0];
    let a = tf.reshape(z, [n, 1, 1, arch.latentDim]) as tf.Tensor4D;
    let size = 1;
    for (const [i, l] of convDecoderLayers(arch).entries()) {
      size = l.padding === 'valid' ? (size - 1) * l.stride + l.k : size * l.stride;
      a = tf.leakyRelu(
        deconv2dT(a, this.v4(`dec.deconv${i}.w`), this.v1(`dec.deconv${i}.b`), l, [n, size, size, l.cout]),
        LEAKY_ALPHA,
      );
    }
    const out = conv2dT(a, this.v4('dec.out.w'), this.v1('dec.out.b'), {
      k: 5,
      stride: 1,
      padding: 'same',
      cin: arch.base,
      cout: arch.channels,
    });
    return tf.reshape(out, [n, this.dataDim]) as tf.Tensor2D;
  }

  /** log p(z) [N] for z [N,Dz]. */
  logPrior(z: tf.Tensor2D): tf.Tensor1D {
    const dz = this.latentDim;
    const c = -0.5 * dz * LOG_2PI;
    const prior = this.spec.prior;
    if (prior.kind === 'standard') {
      return tf.add(tf.mul(tf.sum(tf.square(z), 1), -0.5), c) as tf.Tensor1D;
    }
    let y = z;
    let ld: tf.Tensor1D | null = null;
    for (let l = 0; l < prior.layers; l++) {
      const masks = this.mafMasks[l];
      let a = y;
      prior.hidden.forEach((_, i) => {
        const w = tf.mul(this.v2(`prior.maf${l}.h${i}.w`), masks[i]) as tf.Tensor2D;
        a = dense(a, w, this.v1(`prior.maf${l}.h${i}.b`), 'relu');
      });
      const wo = tf.mul(this.v2(`prior.maf${l}.out.w`), masks[prior.hidden.length]) as tf.Tensor2D;
      const o = dense(a, wo, this.v1(`prior.maf${l}.out.b`), 'linear');
      const shift = tf.slice(o, [0, 0], [-1, dz]);
      const logscale = tf.mul(
        tf.tanh(tf.div(tf.slice(o, [0, dz], [-1, dz]), MAF_SCALE_BOUND)),
        MAF_SCALE_BOUND,
      );
      const u = tf.mul(tf.sub(y, shift), tf.exp(tf.neg(logscale))) as tf.Tensor2D;
      const s = tf.sum(logscale, 1) as tf.Tensor1D;
      ld = ld === null ? (tf.neg(s) as tf.Tensor1D) : (tf.sub(ld, s) as tf.Tensor1D);
      y = tf.matMul(u, this.mafPerms[l]);
    }
    const base = tf.add(tf.mul(tf.sum(tf.square(y), 1), -0.5), c) as tf.Tensor1D;
    return ld === null ? base : (tf.add(base, ld) as tf.Tensor1D);
  }

  /** log p(x|z) [B,K] for x [B,D] and decoder output [B*K,D] (rows b*K+k). */
  logLikelihood(x: tf.Tensor2D, out: tf.Tensor2D, k: number): tf.Tensor2D {
    const b = x.shape[0];
    const d = this.dataDim;
    const o3 = tf.reshape(out, [b, k, d]);
    const x3 = tf.reshape(x, [b, 1, d]);
    if (this.spec.likelihood === 'bernoulli') return bernoulliLogLik(x3, o3);
    const s = tf.add(tf.softplus(this.v1('dec.scale_raw')), SCALE_MIN);
    if (this.binMask) {
      // mixed: −½ r² − log s − ½ log 2π on the continuous columns, x·o − softplus(o) on the binary ones
      const mb = this.binMask;
      const mc = tf.sub(1, mb);
      const r = tf.div(tf.sub(x3, o3), tf.add(tf.mul(s, mc), mb));
      const gauss = tf.mul(tf.square(r), tf.mul(mc, -0.5));
      const bern = tf.mul(tf.sub(tf.mul(x3, o3), fastSoftplus(o3)), mb);
      const nCont = d - (this.spec.binaryColumns?.length ?? 0);
      const constant = tf.add(tf.sum(tf.mul(tf.log(s), mc)), 0.5 * nCont * LOG_2PI);
      return tf.sub(tf.sum(tf.add(gauss, bern), 2), constant) as tf.Tensor2D;
    }
    const r = tf.div(tf.sub(x3, o3), s);
    if (this.spec.likelihood === 'student-t') {
      const perRecord = tf.mul(tf.sum(tf.log1p(tf.div(tf.square(r), STUDENT_NU)), 2), -(STUDENT_NU + 1) / 2);
      const constant = tf.sub(tf.sum(tf.log(s)), d * STUDENT_LOG_NORM);
      return tf.sub(perRecord, constant) as tf.Tensor2D;
    }
    const perRecord = tf.mul(tf.sum(tf.square(r), 2), -0.5);
    const constant = tf.add(tf.sum(tf.log(s)), 0.5 * d * LOG_2PI);
    return tf.sub(perRecord, constant) as tf.Tensor2D;
  }

  /**
   * log w and log q - log p for x [B,D] and eps [K,Dz] (shared) or [B,K,Dz] (per record).
   * Call inside tf.tidy (or dispose the results).
   */
  logWeights(x: tf.Tensor2D, eps: tf.Tensor2D | tf.Tensor3D, opts: ForwardOptions = {}): LogWeights {
    this.checkAlive();
    const b = x.shape[0];
    const dz = this.latentDim;
    if (x.shape[1] !== this.dataDim) {
      throw new VaeError(
        'E_VAE_INPUT',
        `input has ${x.shape[1]} features, the model expects ${this.dataDim}`,
      );
    }
    const k = eps.rank === 2 ? eps.shape[0] : eps.shape[1];
    if (eps.shape[eps.rank - 1] !== dz || (eps.rank === 3 && eps.shape[0] !== b)) {
      throw new VaeError(
        'E_VAE_INPUT',
        `eps has shape [${eps.shape.join(',')}], expected [K,${dz}] or [${b},K,${dz}]`,
      );
    }
    const { mu, sigma } = this.encode(x, opts);
    const e3 = eps.rank === 2 ? tf.reshape(eps, [1, k, dz]) : eps;
    const z3 = tf.add(tf.reshape(mu, [b, 1, dz]), tf.mul(tf.reshape(sigma, [b, 1, dz]), e3));
    const z = tf.reshape(z3, [b * k, dz]) as tf.Tensor2D;
    // log q(z_k|x) = Σ_j (-0.5 eps² - log sigma) - Dz/2 log 2π
    const sumLogSigma = tf.reshape(tf.sum(tf.log(sigma), 1), [b, 1]);
    const epsSq = tf.mul(tf.sum(tf.square(e3), 2), -0.5); // [1,K] or [B,K]
    const logq = tf.sub(tf.sub(epsSq, sumLogSigma), 0.5 * dz * LOG_2PI) as tf.Tensor2D;
    const logpz = tf.reshape(this.logPrior(z), [b, k]) as tf.Tensor2D;
    const logpx = this.logLikelihood(x, this.decode(z), k);
    const kl = tf.sub(logq, logpz) as tf.Tensor2D;
    return { logw: tf.sub(logpx, kl) as tf.Tensor2D, kl };
  }

  /** Per-record IWAE-K, ELBO and rate [B]. Call inside tf.tidy (or dispose the results). */
  bounds(x: tf.Tensor2D, eps: tf.Tensor2D | tf.Tensor3D, opts: ForwardOptions = {}): Bounds {
    const { logw, kl } = this.logWeights(x, eps, opts);
    const k = logw.shape[1];
    return {
      iwae: tf.sub(logSumExpRows(logw), Math.log(k)) as tf.Tensor1D,
      elbo: tf.mean(logw, 1) as tf.Tensor1D,
      rate: tf.mean(kl, 1) as tf.Tensor1D,
    };
  }

  /** Scores a whole Float32Array [n,D] in batches with fixed eps [K,Dz]; returns iwae/elbo/rate. */
  scoreArray(
    data: Float32Array,
    n: number,
    eps: Float32Array,
    k: number,
    batchSize = 256,
  ): { iwae: Float32Array; elbo: Float32Array; rate: Float32Array } {
    this.checkAlive();
    const d = this.dataDim;
    if (data.length < n * d)
      throw new VaeError('E_VAE_INPUT', `data holds ${data.length} values, need ${n}×${d}`);
    if (eps.length !== k * this.latentDim) {
      throw new VaeError('E_VAE_INPUT', `eps holds ${eps.length} values, need ${k}×${this.latentDim}`);
    }
    const out = { iwae: new Float32Array(n), elbo: new Float32Array(n), rate: new Float32Array(n) };
    const epsT = tf.tensor2d(eps, [k, this.latentDim]);
    try {
      for (let start = 0; start < n; start += batchSize) {
        const m = Math.min(batchSize, n - start);
        const [iw, el, ra] = tf.tidy(() => {
          const x = tf.tensor2d(data.subarray(start * d, (start + m) * d), [m, d]);
          const r = this.bounds(x, epsT);
          return [r.iwae, r.elbo, r.rate];
        });
        out.iwae.set(iw.dataSync(), start);
        out.elbo.set(el.dataSync(), start);
        out.rate.set(ra.dataSync(), start);
        tf.dispose([iw, el, ra]);
      }
    } finally {
      epsT.dispose();
    }
    return out;
  }

  /** The parameters as the contract's MemberParams (copies). */
  toMemberParams(): MemberParams {
    this.checkAlive();
    const out: MemberParams = {};
    for (const [name, shape] of paramShapes(this.spec)) {
      out[name] = { shape: [...shape], data: new Float32Array(this.vars[name].dataSync()) };
    }
    return out;
  }

  /** Overwrites every variable with `params` (e.g. restoring the best checkpoint). */
  assign(params: MemberParams): void {
    this.checkAlive();
    for (const [name, shape] of paramShapes(this.spec)) {
      const p = params[name];
      if (p === undefined || p.data.length !== shapeSize(shape)) {
        throw new VaeError('E_VAE_PARAMS', `cannot assign: parameter "${name}" missing or of the wrong size`);
      }
      tf.tidy(() => this.vars[name].assign(tf.tensor(p.data, shape, 'float32')));
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose(Object.values(this.vars));
    for (const ms of this.mafMasks) tf.dispose(ms);
    tf.dispose(this.mafPerms);
    if (this.binMask) this.binMask.dispose();
  }

  private checkAlive(): void {
    if (this.disposed) throw new VaeError('E_VAE_PARAMS', 'this model has been disposed');
  }
}

let nextVarId = 0;

function validateSpec(spec: MemberSpec): void {
  const a = spec.arch;
  if (!Number.isInteger(a.latentDim) || a.latentDim < 1)
    throw new VaeError('E_VAE_PARAMS', `latentDim must be ≥ 1`);
  const convProblem = a.kind === 'conv' ? convShapeProblem(a) : null;
  if (convProblem) throw new VaeError('E_VAE_PARAMS', convProblem);
  if (a.kind === 'mlp' && (!Number.isInteger(a.inputDim) || a.inputDim < 1)) {
    throw new VaeError('E_VAE_PARAMS', `inputDim must be ≥ 1`);
  }
  const problem = binaryColumnsProblem(spec, dataDim(a));
  if (problem) throw new VaeError('E_VAE_PARAMS', problem);
}
