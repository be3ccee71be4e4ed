/**
 * Wasserstein GAN members for the paper's second detector family (Choi & Jang 2018, section 2.1 and
 * 4; Arjovsky et al. 2017): "Our WGAN model's generator and discriminator share the same architecture
 * with the VAE decoder and encoder, respectively. The discriminator has an additional linear
 * projection layer to its prediction of the Wasserstein metric."
 *
 * ## Member math (one WGAN; the architectures of spec.ts {@link Arch})
 * Critic (discriminator) D: R^D → R, no sigmoid (WGAN):
 *   MLP:  h = x; for each encoder hidden layer i: h = relu(h·W_i + b_i)
 *   conv: the VAE encoder's five convolutions, each followed by leaky_relu (spec.ts ConvArch); h is
 *         the flat [4·Dz] output of the 7×7 VALID convolution
 *   e    = h·W_head + b_head                   [2·Dz]  (the VAE's mu|sigma heads, linear, no softplus)
 *   D(x) = e·w_out + b_out                     [1]     (the paper's extra linear projection)
 * Generator G: R^Dz → R^D, the VAE decoder (MLP hidden relu layers / conv transposed convolutions,
 *   spec.ts) giving o [D] (NHWC-flat for conv), then out = sigmoid(o) for data in [0,1] (pixels,
 *   min-max features) or out = o ('linear', e.g. standardised or raw features). z ~ N(0, I_Dz).
 *
 * ## Parameter names (float32, same layouts as the VAE's {@link MemberParams})
 * critic MLP:  enc.h{i}.w [in,out], enc.h{i}.b
 * critic conv: enc.conv{i}.w [kh,kw,in,out], enc.conv{i}.b, i = 0..4
 * critic both: enc.head.w [H, 2Dz], enc.head.b [2Dz], critic.out.w [2Dz, 1], critic.out.b [1]
 *              (H = last hidden width, the input width when there is none, 4·Dz for conv)
 * generator:   exactly the VAE decoder's names: dec.h{i}.*, dec.out.* (MLP); dec.deconv{i}.*, dec.out.* (conv)
 *
 * ## Ensemble math (M critics, per record; see {@link criticAffine})
 *   c_m = (D_m(x) − offset_m) / scale_m      offset/scale from the member's {@link CriticStats} and the
 *                                            ensemble's {@link CriticNormalization} ('none': 0 and 1)
 *   criticMean = mean_m c_m;  criticVar = mean_m (c_m − criticMean)²   (population variance, /M, as logp_var)
 * Anomaly scores ("higher = more anomalous"): −criticMean (a WGAN critic is higher on real data),
 * −c_0 (one discriminator, the paper's D(x) column) and criticVar (the paper's Var(D(x))).
 *
 * Why a normalisation option: the WGAN loss E D(real) − E D(fake) is invariant to adding a constant to
 * D, so each critic's offset is arbitrary (set by its initialisation and training path) and raw values
 * of different members are not on a common origin; 'center' subtracts each member's mean critic value
 * on the training data, 'standardize' also divides by its standard deviation there. The paper uses raw
 * values ('none', the default here).
 */
import * as tf from '@tensorflow/tfjs';
import { GensembleError } from '../errors.js';
import { convDecoderLayers, convEncoderLayers, convShapeProblem, shapeSize } from './params.js';
import { Rng } from './random.js';
import {
  LEAKY_ALPHA,
  dataDim,
  type Arch,
  type FeatureTransform,
  type MemberParams,
  type MemberSpec,
} from './spec.js';
import { conv2dT, deconv2dT, dense } from './vae.js';

export class WganError extends GensembleError {
  declare readonly code: 'E_WGAN_PARAMS' | 'E_WGAN_INPUT';
  constructor(code: 'E_WGAN_PARAMS' | 'E_WGAN_INPUT', message: string) {
    super(code, message);
  }
}

/** Output activation of the generator (the data space the critic sees). */
export type GeneratorOutput = 'sigmoid' | 'linear';

/** One WGAN member's architecture. */
export interface WganSpec {
  arch: Arch;
  /** 'sigmoid' for data in [0,1] (pixels, min-max features), 'linear' otherwise. */
  output: GeneratorOutput;
}

/** The WGAN twin of a VAE member spec: same arch; sigmoid output for Bernoulli, linear for Gaussian. */
export function wganSpecFor(member: MemberSpec): WganSpec {
  return { arch: member.arch, output: member.likelihood === 'bernoulli' ? 'sigmoid' : 'linear' };
}

/** Per-member critic statistics measured at the end of training (see {@link criticAffine}). */
export interface CriticStats {
  /** Mean and (population) standard deviation of D on a sample of the training data. */
  dataMean: number;
  dataStd: number;
  /** The same on samples of the final (frozen) generator. */
  fakeMean: number;
  fakeStd: number;
  /** Records in each sample. */
  samples: number;
}

export interface WganMember {
  seed: number;
  critic: MemberParams;
  /** The frozen generator (not needed for scoring). */
  generator?: MemberParams;
  stats: CriticStats;
}

/** How member critic values are put on a common scale before the ensemble mean and variance. */
export type CriticNormalization = 'none' | 'center' | 'standardize';

/** A critic ensemble ready for export (the WGAN analogue of spec.ts {@link EnsembleSpec}). */
export interface WganEnsembleSpec {
  specVersion: number;
  wgan: WganSpec;
  transform: FeatureTransform;
  /** Raw input width (before transform) = dataDim(arch). */
  inputDim: number;
  /** Default 'none' (raw critic values, as the paper). */
  normalization?: CriticNormalization;
  members: WganMember[];
}

/** c = (D − offset) / scale for one member under a normalisation. */
export function criticAffine(
  stats: CriticStats,
  normalization: CriticNormalization = 'none',
): { offset: number; scale: number } {
  if (normalization === 'none') return { offset: 0, scale: 1 };
  const scale = normalization === 'standardize' && stats.dataStd > 0 ? stats.dataStd : 1;
  return { offset: stats.dataMean, scale };
}

/** Critic parameter names and shapes, in a stable order. */
export function criticParamShapes(arch: Arch): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  const dz = arch.latentDim;
  let prev: number;
  if (arch.kind === 'mlp') {
    prev = arch.inputDim;
    arch.encoderHidden.forEach((h, i) => {
      out.push([`enc.h${i}.w`, [prev, h]], [`enc.h${i}.b`, [h]]);
      prev = h;
    });
  } else {
    for (const [i, l] of convEncoderLayers(arch).entries())
      out.push([`enc.conv${i}.w`, [l.k, l.k, l.cin, l.cout]], [`enc.conv${i}.b`, [l.cout]]);
    prev = 4 * dz;
  }
  out.push(
    [`enc.head.w`, [prev, 2 * dz]],
    [`enc.head.b`, [2 * dz]],
    [`critic.out.w`, [2 * dz, 1]],
    [`critic.out.b`, [1]],
  );
  return out;
}

/** Generator parameter names and shapes (the VAE decoder's), in a stable order. */
export function generatorParamShapes(arch: Arch): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  const dz = arch.latentDim;
  if (arch.kind === 'mlp') {
    let prev = dz;
    arch.decoderHidden.forEach((h, i) => {
      out.push([`dec.h${i}.w`, [prev, h]], [`dec.h${i}.b`, [h]]);
      prev = h;
    });
    out.push([`dec.out.w`, [prev, arch.inputDim]], [`dec.out.b`, [arch.inputDim]]);
  } else {
    for (const [i, l] of convDecoderLayers(arch).entries())
      out.push([`dec.deconv${i}.w`, [l.k, l.k, l.cout, l.cin]], [`dec.deconv${i}.b`, [l.cout]]);
    out.push([`dec.out.w`, [5, 5, arch.base, arch.channels]], [`dec.out.b`, [arch.channels]]);
  }
  return out;
}

/**
 * Glorot-uniform weights (U(−l, l), l = √(6 / (fan_in + fan_out)), conv fans include the kernel
 * area), zero biases: random.ts' randomParams rule for an arbitrary shape list.
 */
export function glorotParams(shapes: Array<[string, number[]]>, seed: number): MemberParams {
  const rng = new Rng(seed);
  const params: MemberParams = {};
  for (const [name, shape] of shapes) {
    const data = new Float32Array(shapeSize(shape));
    if (name.endsWith('.w')) {
      const area = shape.length === 4 ? shape[0] * shape[1] : 1;
      const fanIn = shape.length === 4 ? area * shape[2] : shape[0];
      const fanOut = shape.length === 4 ? area * shape[3] : shape[1];
      const lim = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < data.length; i++) data[i] = (2 * rng.uniform() - 1) * lim;
    }
    params[name] = { shape: [...shape], data };
  }
  return params;
}

/** Salt between a member's seed and its generator's initialisation seed. */
const GENERATOR_SEED_SALT = 0x6e4e7a;

/** Throws {@link WganError} for an architecture the WGAN cannot use. */
export function validateWganSpec(spec: WganSpec): void {
  const a = spec.arch;
  if (!Number.isInteger(a.latentDim) || a.latentDim < 1)
    throw new WganError('E_WGAN_PARAMS', `latentDim must be ≥ 1, got ${a.latentDim}`);
  const convProblem = a.kind === 'conv' ? convShapeProblem(a) : null;
  if (convProblem) throw new WganError('E_WGAN_PARAMS', convProblem);
  if (a.kind === 'mlp' && (!Number.isInteger(a.inputDim) || a.inputDim < 1))
    throw new WganError('E_WGAN_PARAMS', `inputDim must be ≥ 1`);
  if (spec.output !== 'sigmoid' && spec.output !== 'linear')
    throw new WganError('E_WGAN_PARAMS', `output must be 'sigmoid' or 'linear', got ${String(spec.output)}`);
}

/** Throws {@link WganError} when `params` does not hold exactly `shapes`. */
export function checkParams(what: string, shapes: Array<[string, number[]]>, params: MemberParams): void {
  const names = new Set(shapes.map(([n]) => n));
  for (const name of Object.keys(params))
    if (!names.has(name)) throw new WganError('E_WGAN_PARAMS', `${what}: unexpected parameter "${name}"`);
  for (const [name, shape] of shapes) {
    const p = params[name];
    if (p === undefined) throw new WganError('E_WGAN_PARAMS', `${what}: missing parameter "${name}"`);
    if (
      p.shape.length !== shape.length ||
      p.shape.some((v, i) => v !== shape[i]) ||
      p.data.length !== shapeSize(shape)
    )
      throw new WganError(
        'E_WGAN_PARAMS',
        `${what}: parameter "${name}" has shape [${p.shape.join(',')}] (${p.data.length} values), expected [${shape.join(',')}]`,
      );
  }
}

type CustomGradFn = Parameters<typeof tf.customGrad>[0];
let leakyFn: ((x: tf.Tensor) => tf.Tensor) | null = null;

/**
 * leaky_relu(x) with a gradient that is itself differentiable: dy ⊙ (α + (1−α)·step(x)). tfjs' stock
 * LeakyRelu gradient uses Greater, which has no gradient, so double backprop (the gradient penalty)
 * fails through it; Step's gradient is registered (zero).
 */
function leaky(x: tf.Tensor4D): tf.Tensor4D {
  if (leakyFn === null) {
    leakyFn = tf.customGrad(((xi: tf.Tensor, save: tf.GradSaveFunc) => {
      save([xi]);
      return {
        value: tf.leakyRelu(xi, LEAKY_ALPHA),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
          tf.mul(dy, tf.add(tf.mul(tf.step(saved[0]), 1 - LEAKY_ALPHA), LEAKY_ALPHA)),
      };
    }) as unknown as CustomGradFn) as unknown as (x: tf.Tensor) => tf.Tensor;
  }
  return leakyFn(x) as tf.Tensor4D;
}

let nextVarId = 0;

function makeVars(
  shapes: Array<[string, number[]]>,
  params: MemberParams,
  tag: string,
): Record<string, tf.Variable> {
  const vars: Record<string, tf.Variable> = {};
  for (const [name, shape] of shapes)
    vars[name] = tf.tidy(() =>
      tf.variable(tf.tensor(params[name].data, shape, 'float32'), true, `wgan.${tag}.${name}#${nextVarId++}`),
    );
  return vars;
}

/** One WGAN (critic + generator) as tf.Variables keyed by the names above. */
export class TfWgan {
  readonly spec: WganSpec;
  readonly dataDim: number;
  readonly latentDim: number;
  readonly criticVars: Record<string, tf.Variable>;
  readonly generatorVars: Record<string, tf.Variable>;
  private readonly criticShapes: Array<[string, number[]]>;
  private readonly generatorShapes: Array<[string, number[]]>;
  private disposed = false;

  private constructor(spec: WganSpec, critic: MemberParams, generator: MemberParams) {
    this.spec = spec;
    this.dataDim = dataDim(spec.arch);
    this.latentDim = spec.arch.latentDim;
    this.criticShapes = criticParamShapes(spec.arch);
    this.generatorShapes = generatorParamShapes(spec.arch);
    checkParams('critic', this.criticShapes, critic);
    checkParams('generator', this.generatorShapes, generator);
    this.criticVars = makeVars(this.criticShapes, critic, 'critic');
    this.generatorVars = makeVars(this.generatorShapes, generator, 'gen');
  }

  /** Fresh Glorot-uniform critic (from `seed`) and generator (from a salted `seed`). */
  static create(spec: WganSpec, seed: number): TfWgan {
    validateWganSpec(spec);
    return new TfWgan(
      spec,
      glorotParams(criticParamShapes(spec.arch), seed),
      glorotParams(generatorParamShapes(spec.arch), (seed ^ GENERATOR_SEED_SALT) >>> 0),
    );
  }

  /** From stored parameters; a missing generator gets a fresh one from seed 0 (critic-only use). */
  static fromParams(spec: WganSpec, critic: MemberParams, generator?: MemberParams): TfWgan {
    validateWganSpec(spec);
    return new TfWgan(spec, critic, generator ?? glorotParams(generatorParamShapes(spec.arch), 0));
  }

  /** Critic variables in the stable {@link criticParamShapes} order. */
  criticVariables(): tf.Variable[] {
    return this.criticShapes.map(([n]) => this.criticVars[n]);
  }
  /** Generator variables in the stable {@link generatorParamShapes} order. */
  generatorVariables(): tf.Variable[] {
    return this.generatorShapes.map(([n]) => this.generatorVars[n]);
  }

  private c2(name: string): tf.Tensor2D {
    return this.criticVars[name] as unknown as tf.Tensor2D;
  }
  private c1(name: string): tf.Tensor1D {
    return this.criticVars[name] as unknown as tf.Tensor1D;
  }
  private g2(name: string): tf.Tensor2D {
    return this.generatorVars[name] as unknown as tf.Tensor2D;
  }
  private g1(name: string): tf.Tensor1D {
    return this.generatorVars[name] as unknown as tf.Tensor1D;
  }

  /**
   * D(x) [B] for x [B,D] in model space. `needInputGrad` keeps the input gradient of the first dense
   * layer (the generator step and the gradient penalty differentiate through x). Call inside tf.tidy.
   */
  critic(x: tf.Tensor2D, opts: { needInputGrad?: boolean } = {}): tf.Tensor1D {
    this.checkAlive();
    if (x.shape[1] !== this.dataDim)
      throw new WganError(
        'E_WGAN_INPUT',
        `input has ${x.shape[1]} features, the critic expects ${this.dataDim}`,
      );
    const arch = this.spec.arch;
    const needDx = opts.needInputGrad === true;
    let h: tf.Tensor2D;
    let first = true;
    if (arch.kind === 'mlp') {
      h = x;
      arch.encoderHidden.forEach((_, i) => {
        h = dense(h, this.c2(`enc.h${i}.w`), this.c1(`enc.h${i}.b`), 'relu', !first || needDx);
        first = false;
      });
    } else {
      let a = tf.reshape(x, [-1, arch.height, arch.width, arch.channels]) as tf.Tensor4D;
      for (const [i, l] of convEncoderLayers(arch).entries()) {
        const w = this.criticVars[`enc.conv${i}.w`] as unknown as tf.Tensor4D;
        a = leaky(conv2dT(a, w, this.c1(`enc.conv${i}.b`), l));
      }
      h = tf.reshape(a, [-1, 4 * arch.latentDim]) as tf.Tensor2D;
      first = false;
    }
    const e = dense(h, this.c2('enc.head.w'), this.c1('enc.head.b'), 'linear', !first || needDx);
    const d = dense(e, this.c2('critic.out.w'), this.c1('critic.out.b'), 'linear');
    return tf.reshape(d, [-1]) as tf.Tensor1D;
  }

  /** G(z) [N,D] (after the output activation) for z [N,Dz]. Call inside tf.tidy. */
  generate(z: tf.Tensor2D): tf.Tensor2D {
    this.checkAlive();
    const arch = this.spec.arch;
    if (z.shape[1] !== this.latentDim)
      throw new WganError(
        'E_WGAN_INPUT',
        `z has ${z.shape[1]} dimensions, the generator expects ${this.latentDim}`,
      );
    let o: tf.Tensor2D;
    if (arch.kind === 'mlp') {
      let g = z;
      arch.decoderHidden.forEach((_, i) => {
        g = dense(g, this.g2(`dec.h${i}.w`), this.g1(`dec.h${i}.b`), 'relu', i > 0);
      });
      o = dense(g, this.g2('dec.out.w'), this.g1('dec.out.b'), 'linear', arch.decoderHidden.length > 0);
    } else {
      const n = z.shape[0];
      let a = tf.reshape(z, [n, 1, 1, arch.latentDim]) as tf.Tensor4D;
      let size = 1;
      for (const [i, l] of convDecoderLayers(arch).entries()) {
        size = l.padding === 'valid' ? (size - 1) * l.stride + l.k : size * l.stride;
        const w = this.generatorVars[`dec.deconv${i}.w`] as unknown as tf.Tensor4D;
        a = leaky(deconv2dT(a, w, this.g1(`dec.deconv${i}.b`), l, [n, size, size, l.cout]));
      }
      const out = conv2dT(
        a,
        this.generatorVars['dec.out.w'] as unknown as tf.Tensor4D,
        this.g1('dec.out.b'),
        {
          k: 5,
          stride: 1,
          padding: 'same',
          cin: arch.base,
          cout: arch.channels,
        },
      );
      o = tf.reshape(out, [n, this.dataDim]) as tf.Tensor2D;
    }
    return this.spec.output === 'sigmoid' ? tf.sigmoid(o) : o;
  }

  /** Clips every critic parameter (weights and biases, as Arjovsky et al.) to [−c, c]. */
  clipCritic(c: number): void {
    this.checkAlive();
    tf.tidy(() => {
      for (const v of this.criticVariables()) v.assign(tf.clipByValue(v, -c, c));
    });
  }

  /** D(x) for a whole Float32Array [n,D], in batches. */
  criticArray(data: Float32Array, n: number, batchSize = 256): Float32Array {
    this.checkAlive();
    const d = this.dataDim;
    if (data.length < n * d)
      throw new WganError('E_WGAN_INPUT', `data holds ${data.length} values, need ${n}×${d}`);
    const out = new Float32Array(n);
    for (let start = 0; start < n; start += batchSize) {
      const m = Math.min(batchSize, n - start);
      const t = tf.tidy(() => this.critic(tf.tensor2d(data.subarray(start * d, (start + m) * d), [m, d])));
      out.set(t.dataSync(), start);
      t.dispose();
    }
    return out;
  }

  /** n generator samples [n,D] from z [n,Dz] (row-major Float32Array). */
  generateArray(z: Float32Array, n: number, batchSize = 256): Float32Array {
    this.checkAlive();
    const dz = this.latentDim;
    const d = this.dataDim;
    if (z.length < n * dz) throw new WganError('E_WGAN_INPUT', `z holds ${z.length} values, need ${n}×${dz}`);
    const out = new Float32Array(n * d);
    for (let start = 0; start < n; start += batchSize) {
      const m = Math.min(batchSize, n - start);
      const t = tf.tidy(() => this.generate(tf.tensor2d(z.subarray(start * dz, (start + m) * dz), [m, dz])));
      out.set(t.dataSync(), start * d);
      t.dispose();
    }
    return out;
  }

  /** The critic's parameters (copies). */
  criticParams(): MemberParams {
    return this.copyOut(this.criticShapes, this.criticVars);
  }
  /** The generator's parameters (copies). */
  generatorParams(): MemberParams {
    return this.copyOut(this.generatorShapes, this.generatorVars);
  }

  private copyOut(shapes: Array<[string, number[]]>, vars: Record<string, tf.Variable>): MemberParams {
    this.checkAlive();
    const out: MemberParams = {};
    for (const [name, shape] of shapes)
      out[name] = { shape: [...shape], data: new Float32Array(vars[name].dataSync()) };
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose(Object.values(this.criticVars));
    tf.dispose(Object.values(this.generatorVars));
  }

  private checkAlive(): void {
    if (this.disposed) throw new WganError('E_WGAN_PARAMS', 'this model has been disposed');
  }
}
