/**
 * The model contract shared by training (tfjs), export (ONNX), scoring (onnxruntime-node) and the
 * float64 reference used in tests. Every one of those implements exactly the math written here;
 * if you change a formula, change it in all of them (the cross-backend tests will tell you).
 *
 * ## Notation
 * x: one record after the feature transform (see {@link FeatureTransform}), length D.
 * K: importance samples (default 16). Dz: latent size. eps: a fixed noise tensor [K, Dz] per member,
 * drawn once from a seeded N(0,1) source at export time and stored in the checkpoint, so a record's
 * score never depends on the batch it came in or on the time of day.
 *
 * ## Member math (one VAE)
 * Encoder (MLP): h = x; for each hidden layer i: h = relu(h·W_i + b_i)
 * Encoder (conv): see {@link ConvArch}; ends with a flat vector h.
 *   mu    = h·W_mu + b_mu                        [Dz]
 *   sigma = softplus(h·W_sigma + b_sigma) + SIGMA_MIN
 *   z_k   = mu + sigma ⊙ eps_k                    k = 1..K
 *   log q(z_k|x) = Σ_j ( -0.5·eps_kj² - log sigma_j ) - Dz/2·log(2π)
 *   log p(z_k)   = standard: Σ_j -0.5·z_kj² - Dz/2·log(2π);  maf: see {@link MafSpec}
 * Decoder (MLP): g = z_k; for each hidden layer i: g = relu(g·V_i + c_i); out = g·V_out + c_out [D]
 *   bernoulli: log p(x|z) = Σ_d x_d·out_d - softplus(out_d)      (x in [0,1], not necessarily binary)
 *   gaussian:  s = softplus(scale_raw) + SCALE_MIN  (a learned vector [D], not a function of z)
 *              log p(x|z) = Σ_d -0.5·((x_d - out_d)/s_d)² - log s_d - 0.5·log(2π)
 *   student-t: s as gaussian; ν = STUDENT_NU (fixed), r_d = (x_d - out_d)/s_d
 *              log p(x|z) = Σ_d STUDENT_LOG_NORM - log s_d - (ν+1)/2·log(1 + r_d²/ν)
 *              (heavy tails: a feature far out costs ~ (ν+1)·log|r|, not r²/2, so a few heavy-tailed
 *              features do not inflate the learned scale s of every normal record)
 *   log w_k = log p(x|z_k) + log p(z_k) - log q(z_k|x)
 *   iwae  = logsumexp_k(log w_k) - log K          (the member's log p(x))
 *   elbo  = mean_k log w_k
 *   rate  = mean_k ( log q(z_k|x) - log p(z_k) )  (Monte-Carlo KL(q||p), the paper's "rate")
 *
 * ## Ensemble math (M members, per record)
 *   logpMean = mean_m iwae_m;  logpVar = mean_m (iwae_m - logpMean)²  (population variance, /M)
 *   waic = logpMean - logpVar;  rateMean = mean_m rate_m
 * Anomaly scores are "higher = more anomalous": -waic, -logp, rate, logpVar.
 */

export const SPEC_VERSION = 1;
export const SIGMA_MIN = 1e-4;
export const SCALE_MIN = 1e-3;
export const LOG_2PI = Math.log(2 * Math.PI);
/** Leaky-ReLU slope used by the convolutional architecture (tf.nn.leaky_relu default). */
export const LEAKY_ALPHA = 0.2;
/** MAF log-scale is bounded for stability: logscale = MAF_SCALE_BOUND · tanh(raw / MAF_SCALE_BOUND). */
export const MAF_SCALE_BOUND = 3;

/**
 * Objectives of a WGAN member's fine-tuning phase (engine/wgan-train.ts): 'wasserstein' (the
 * adversarial phase's critic loss and Lipschitz constraint) or 'logistic' (sigmoid cross-entropy, the
 * authors' code). Here, free of tfjs, so the CLI can list them without loading the trainer.
 */
export const WGAN_FINETUNE_LOSSES = ['wasserstein', 'logistic'] as const;
export type WganFineTuneLoss = (typeof WGAN_FINETUNE_LOSSES)[number];

/**
 * 'mixed': a Gaussian with a learned scale on the continuous columns and a Bernoulli on the columns in
 * `MemberSpec.binaryColumns` (0/1 by construction: one-hot, boolean and missing-indicator columns of a
 * declared kind, left unscaled by the transform). Under a Gaussian such a column of a category with
 * share p costs a member that has not learned it ≈ 1/p nats, under a Bernoulli ≈ log(1/p).
 */
export const LIKELIHOODS = ['bernoulli', 'gaussian', 'student-t', 'mixed'] as const;
export type Likelihood = (typeof LIKELIHOODS)[number];
/** Degrees of freedom of the 'student-t' likelihood (fixed: finite variance, infinite kurtosis). */
export const STUDENT_NU = 4;
/** log Γ((ν+1)/2) − log Γ(ν/2) − ½·log(νπ) for ν = 4: Γ(5/2) = 3√π/4, Γ(2) = 1 → log(3/8). */
export const STUDENT_LOG_NORM = Math.log(3 / 8);
/** The likelihoods with a learned per-feature scale `dec.scale_raw` (continuous features). */
export const hasScale = (l: Likelihood): boolean => l !== 'bernoulli';

/** Fully connected VAE. */
export interface MlpArch {
  kind: 'mlp';
  inputDim: number;
  encoderHidden: number[];
  decoderHidden: number[];
  latentDim: number;
}

/**
 * The paper's convolutional VAE (TensorFlow Probability's vae.py, NOTES.md), NHWC in tfjs.
 * Encoder: conv5x5(base, stride 1, same), conv5x5(base, 2, same), conv5x5(2base, 1, same),
 *   conv5x5(2base, 2, same), conv7x7(4·Dz, 1, valid), each followed by leaky_relu; flatten; then the
 *   mu/sigma dense heads from the 4·Dz vector. Requires height = width = 28.
 * Decoder: z as [1,1,Dz]; deconv7x7(2base, 1, valid), deconv5x5(2base, 1, same), deconv5x5(2base, 2,
 *   same), deconv5x5(base, 1, same), deconv5x5(base, 2, same), deconv5x5(base, 1, same), each followed
 *   by leaky_relu; then conv5x5(channels, 1, same) with no activation → logits [28,28,C] flattened
 *   in NHWC order to D = 28·28·C.
 */
export interface ConvArch {
  kind: 'conv';
  height: number;
  width: number;
  channels: number;
  base: number;
  latentDim: number;
}

export type Arch = MlpArch | ConvArch;

/**
 * Masked autoregressive flow prior: L MADE layers, each followed by a fixed permutation.
 * Density evaluation of z (what scoring needs), y = z, ld = 0:
 *   for l = 0..L-1:
 *     a = relu(y·(W1⊙M1) + b1); for further hidden: a = relu(a·(Wi⊙Mi) + bi)
 *     o = a·(Wo⊙Mo) + bo                          [2·Dz]
 *     shift = o[0:Dz]; logscale = B·tanh(o[Dz:2Dz] / B)   (B = MAF_SCALE_BOUND)
 *     u = (y - shift) ⊙ exp(-logscale); ld -= Σ logscale
 *     y = u[perm_l]        (y_new[j] = u[perm_l[j]])
 *   log p(z) = Σ_j -0.5·y_j² - Dz/2·log(2π) + ld
 * Masks come from {@link madeMasks}; raw weights are stored unmasked.
 */
export interface MafSpec {
  layers: number;
  hidden: number[];
  /** One permutation of 0..Dz-1 per layer. */
  permutations: number[][];
}

export type Prior = { kind: 'standard' } | ({ kind: 'maf' } & MafSpec);

/**
 * The learned prior's default shape: 6 MADE bijectors of the paper's width (512, 512); chosen on
 * validation data by detection protocol v4 (BENCHMARKS.md). `gensemble train` and the image benchmark
 * both default to it.
 */
export const MAF_DEFAULTS: { readonly layers: number; readonly hidden: readonly number[] } = {
  layers: 6,
  hidden: [512, 512],
};

/**
 * A periodic raw column: before the scaling, raw_column := fmod(f32(raw_column), f32(period)), i.e.
 * JavaScript `%` on the float32-rounded values (the result keeps the sign of a negative raw value:
 * -1 % 86400 = -1). E.g. the credit data's Time (seconds since the first transaction, unbounded in
 * a stream) wrapped with period 86400 becomes the time of day.
 */
export interface WrapColumn {
  /** Raw column index, an integer in [0, d). */
  column: number;
  /** Period in the column's raw unit, finite and > 0. */
  period: number;
}

/**
 * Why `wrap` is not valid for d raw columns, or undefined when it is: every column an integer in
 * [0, d), named at most once; every period finite and > 0, also once rounded to float32 (the graph
 * takes fmod by f32(period): 0 would give NaN, an infinite one would wrap nothing). Shared by the
 * feature transforms (src/features) and the ONNX exporter, which throw their own error types.
 */
export function wrapProblem(wrap: readonly WrapColumn[], d: number): string | undefined {
  const seen = new Set<number>();
  for (const w of wrap) {
    if (!Number.isInteger(w.column) || w.column < 0 || w.column >= d)
      return `wrap column must be an integer in [0, ${d}), got ${w.column}`;
    if (seen.has(w.column)) return `wrap names column ${w.column} more than once`;
    seen.add(w.column);
    const p32 = Math.fround(w.period);
    if (!Number.isFinite(w.period) || !(w.period > 0) || !(p32 > 0) || !Number.isFinite(p32))
      return `wrap period of column ${w.column} must be finite and > 0 (also in float32), got ${w.period}`;
  }
  return undefined;
}

/**
 * Raw record → model input x. Applied inside the ONNX graph too, so the scorer takes raw values.
 * minmax and standard may first wrap periodic columns (`wrap`, each column at most once; see
 * {@link WrapColumn}); the min/max or mean/std are then those of the wrapped values, and columns not
 * listed are unchanged. An absent or empty `wrap` wraps no column.
 */
/**
 * Gain of a constant minmax feature's deviation under `constant: 'indicator'`: 2^20, a power of two
 * (the product is exact in float32), so a deviation ≥ 2^-20 ≈ 9.5e-7 from the training value is 1.
 */
export const CONSTANT_GAIN = 1048576;

/** A standard-transform column with std ≤ this (the fit's floor, 1e-6) is constant: an indicator under `constant: 'indicator'`. */
export const CONSTANT_STD = 1e-6;

/** The value of a standard-transform indicator off its training value: 2^10 (exact in float32). */
export const CONSTANT_STANDARD_CAP = 1024;

/**
 * Which columns of a minmax / standard transform are constant-feature indicators (spec.ts): none
 * without `constant: 'indicator'`; else minmax columns of zero range, standard columns whose std is
 * ≤ CONSTANT_STD (floored).
 */
export function constantColumns(t: Exclude<FeatureTransform, { kind: 'scale' }>): boolean[] {
  if (t.constant !== 'indicator')
    return Array<boolean>(t.kind === 'minmax' ? t.min.length : t.mean.length).fill(false);
  return t.kind === 'minmax'
    ? t.max.map((mx, j) => mx - t.min[j] === 0)
    : t.std.map((s) => s <= CONSTANT_STD);
}

export type FeatureTransform =
  /**
   * x = clip((raw' - min) / (max - min), 0, 1); raw' = raw after `wrap`. A feature constant in
   * training (max == min): with `constant: 'indicator'` (every fit since it exists) its training value
   * maps to 0 and any other value towards 1, x = clip(|raw' - min| · {@link CONSTANT_GAIN}, 0, 1), so
   * a field that never varied in training (a boolean always true, the one category seen) flags when
   * it does; without it (checkpoints written before) the feature is 0 whatever the value.
   */
  | { kind: 'minmax'; min: number[]; max: number[]; wrap?: WrapColumn[]; constant?: 'indicator' }
  /**
   * x = (raw' - mean) / std; raw' = raw after `wrap`. A feature constant in training has its std
   * floored (features/transform.ts STD_FLOOR); with `constant: 'indicator'` (every fit since it exists,
   * when a column is floored) such a column (std ≤ {@link CONSTANT_STD}) is
   * x = min(|raw' − mean| · {@link CONSTANT_GAIN}, {@link CONSTANT_STANDARD_CAP}) instead: 0 at its
   * training value, 1,024 "standard deviations" out at any other (beyond any column of a real record:
   * a category seen once in a million is 1,000 out), far for the model yet finite in the float32 graph.
   * Without it (checkpoints written before) it is (raw' − mean) / 1e-6, which overflowed the scoring
   * graph for large deviations (the stream then dead-letters the record as NON_FINITE_SCORE).
   */
  | { kind: 'standard'; mean: number[]; std: number[]; wrap?: WrapColumn[]; constant?: 'indicator' }
  /** x = raw · factor (e.g. 1/255 for 8-bit pixels) */
  | { kind: 'scale'; factor: number };

export interface MemberSpec {
  arch: Arch;
  likelihood: Likelihood;
  prior: Prior;
  /** 'mixed' only (and required there): the Bernoulli columns, ascending, in 0..D−1. */
  binaryColumns?: number[];
}

/**
 * What is wrong with a member's `binaryColumns` for a model of `d` columns, or undefined: required
 * (at least one) with 'mixed', ascending indices in 0..d−1; absent with every other likelihood; MLP only.
 */
export function binaryColumnsProblem(member: MemberSpec, d: number): string | undefined {
  const bin = member.binaryColumns;
  if (member.likelihood !== 'mixed')
    return bin === undefined
      ? undefined
      : `binaryColumns belong to the mixed likelihood, not ${member.likelihood}`;
  if (member.arch.kind !== 'mlp') return 'the mixed likelihood is for MLP (tabular) models';
  if (!bin || bin.length === 0) return 'the mixed likelihood needs binaryColumns (at least one)';
  if (bin.some((j, i) => !Number.isInteger(j) || j < 0 || j >= d || (i > 0 && j <= bin[i - 1])))
    return `binaryColumns must be ascending column indices in 0..${d - 1}`;
  return undefined;
}

/** 1 for each Bernoulli column of a 'mixed' member, 0 elsewhere (length D). */
export function binaryMask(member: MemberSpec, d: number): Float32Array {
  const m = new Float32Array(d);
  for (const j of member.binaryColumns ?? []) m[j] = 1;
  return m;
}

/** A dense tensor in row-major order. Dense weights are [in, out]. */
export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/**
 * Parameter names (all float32):
 * MLP:   enc.h{i}.w [in,out], enc.h{i}.b; enc.mu.w, enc.mu.b, enc.sigma.w, enc.sigma.b;
 *        dec.h{i}.w, dec.h{i}.b, dec.out.w, dec.out.b
 * conv:  enc.conv{i}.w [kh,kw,in,out] (tfjs conv2d layout), enc.conv{i}.b, i = 0..4;
 *        enc.mu.*, enc.sigma.* as MLP (input 4·Dz);
 *        dec.deconv{i}.w [kh,kw,out,in] (tfjs conv2dTranspose layout), dec.deconv{i}.b, i = 0..5;
 *        dec.out.w [5,5,base,C], dec.out.b
 * gaussian, student-t and mixed likelihoods: dec.scale_raw [D] (mixed: unused on its binary columns)
 * maf prior: prior.maf{l}.h{i}.w, prior.maf{l}.h{i}.b, prior.maf{l}.out.w [h,2Dz], prior.maf{l}.out.b
 */
export type MemberParams = Record<string, NamedTensor>;

export interface TrainedMember {
  seed: number;
  params: MemberParams;
  /** Fixed importance-sampling noise [K, Dz], row-major. */
  eps: Float32Array;
}

export interface EnsembleSpec {
  specVersion: number;
  member: MemberSpec;
  transform: FeatureTransform;
  /** Raw input width (before transform). */
  inputDim: number;
  k: number;
  members: TrainedMember[];
}

/**
 * MADE masks (Germain et al. 2015) for input size d and the given hidden widths.
 * Degrees: inputs 1..d; hidden unit k of every hidden layer has degree (k mod max(1, d-1)) + 1;
 * output j (for both the shift half and the log-scale half) has degree (j mod d) + 1.
 * Hidden mask M[i][k] = deg_out_of_prev[i] <= deg_hidden[k]; output mask M[k][j] = deg_hidden[k] < deg_out[j].
 * Returned masks are row-major [in, out] Float32Arrays with 0/1 entries, one per weight matrix.
 */
export function madeMasks(d: number, hidden: number[]): Float32Array[] {
  const masks: Float32Array[] = [];
  const inDeg = Array.from({ length: d }, (_, i) => i + 1);
  let prev = inDeg;
  for (const h of hidden) {
    const deg = Array.from({ length: h }, (_, k) => (k % Math.max(1, d - 1)) + 1);
    const m = new Float32Array(prev.length * h);
    for (let i = 0; i < prev.length; i++)
      for (let k = 0; k < h; k++) m[i * h + k] = prev[i] <= deg[k] ? 1 : 0;
    masks.push(m);
    prev = deg;
  }
  const outDeg = Array.from({ length: 2 * d }, (_, j) => (j % d) + 1);
  const mo = new Float32Array(prev.length * 2 * d);
  for (let k = 0; k < prev.length; k++)
    for (let j = 0; j < 2 * d; j++) mo[k * 2 * d + j] = prev[k] < outDeg[j] ? 1 : 0;
  masks.push(mo);
  return masks;
}

/** Output size D of the decoder (= model input width after the transform). */
export function dataDim(arch: Arch): number {
  return arch.kind === 'mlp' ? arch.inputDim : arch.height * arch.width * arch.channels;
}
