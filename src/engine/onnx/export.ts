/**
 * Export an {@link EnsembleSpec} to one ONNX graph (opset 17) that computes every score of
 * spec.ts for a batch of RAW records.
 *
 * Graph input:  x            float32 [N, inputDim]  (raw; the feature transform is in the graph)
 * Graph outputs: logp        [N, M]  each member's IWAE-K log p(x)
 *                member_rate [N, M]  each member's rate
 *                member_elbo [N, M]  each member's ELBO (tests, diagnostics)
 *                logp_mean, logp_var, waic, rate  [N]
 *
 * Layout choices (the decoder on N·K latent samples is the hot path):
 * - z is built as [N, K, Dz] by broadcasting and flattened to [N·K, Dz]; each decoder layer is one
 *   Gemm (ORT fuses Gemm+Relu).
 * - log q's eps part is a per-member constant vector [K] folded at export.
 * - Bernoulli: log p(x|z) = Σ(x−½)·o − Σ[softplus(o) − o/2]; the second sum via
 *   {@link sumSoftplusMinusHalf} (Abs, Sigmoid, grouped ReduceProd: no big Log/Exp), the first as a
 *   batched MatMul of g [N,K,H] with ((x−½)·V_outᵀ) [N,H,1] (MLP), so the [N·K, D] logits are only
 *   read by the reductions.
 * - Gaussian (MLP): 1/s is folded into V_out, c_out and applied to x once; the per-record constant
 *   -Σ log s - D/2·log 2π is folded at export.
 * - Conv: NHWC → NCHW once on x; the decoder's output stays NCHW and x/scales are compared in that
 *   same order (the sum over d is order-free), so the big logits tensor is never transposed.
 * - MAF: masks pre-multiplied into the weights; permutations via Gather.
 * - logsumexp: ReduceMax + Sub + Exp + ReduceSum + Log + Add (finite for log-likelihoods ≪ -1e4).
 */
import { ModelSpecError } from '../errors.js';
import {
  convDecoderLayers,
  convEncoderLayers,
  convShapeProblem,
  paramShapes,
  shapeSize,
  type ConvLayerSpec,
} from '../params.js';
import {
  CONSTANT_GAIN,
  CONSTANT_STANDARD_CAP,
  constantColumns,
  dataDim,
  LEAKY_ALPHA,
  LOG_2PI,
  MAF_SCALE_BOUND,
  madeMasks,
  SCALE_MIN,
  STUDENT_LOG_NORM,
  STUDENT_NU,
  SIGMA_MIN,
  SPEC_VERSION,
  type EnsembleSpec,
  type FeatureTransform,
  type Likelihood,
  type MemberParams,
  type MemberSpec,
  type TrainedMember,
  type WrapColumn,
  wrapProblem,
} from '../spec.js';
import { binaryColumnsProblem, binaryMask } from '../spec.js';
import { GraphBuilder } from './graph.js';

export const ONNX_INPUT = 'x';
export const ONNX_OUTPUTS = [
  'logp',
  'member_rate',
  'member_elbo',
  'logp_mean',
  'logp_var',
  'waic',
  'rate',
] as const;
export type OnnxOutputName = (typeof ONNX_OUTPUTS)[number];

export interface ExportOptions {
  /**
   * Bernoulli MLP: compute Σ_d x_d·out_d via the x·V_outᵀ identity (default true) instead of an
   * elementwise product over [N·K, D].
   */
  bernoulliDotTrick?: boolean;
  /**
   * How the conv decoder's transposed convolutions are emitted (default 'Conv'): as onnxruntime's
   * ConvTranspose, or (same function) as a MatMul for the first (1×1 → 7×7) layer, a Conv with the
   * flipped kernel for stride 1, and for stride 2 one Conv computing the s² output phases as channels
   * followed by DepthToSpace (see {@link transposedConvAsConv}). onnxruntime's ConvTranspose runs
   * these thin layers at a quarter of the speed of its Conv (BENCHMARKS.md).
   */
  convTranspose?: 'Conv' | 'ConvTranspose';
}

const softplus64 = (v: number): number => (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));

/**
 * Throws {@link ModelSpecError} unless the feature transform fits d features (minmax/standard vectors of
 * length d, every std > 0, a valid wrap: see wrapProblem in spec.ts). Shared with the critic graph
 * (critic-export.ts).
 */
export function validateTransform(t: FeatureTransform, d: number): void {
  if (t.kind === 'minmax' && (t.min.length !== d || t.max.length !== d))
    throw new ModelSpecError(
      `minmax transform has ${t.min.length}/${t.max.length} entries for ${d} features`,
    );
  if (t.kind === 'standard' && (t.mean.length !== d || t.std.length !== d))
    throw new ModelSpecError(
      `standard transform has ${t.mean.length}/${t.std.length} entries for ${d} features`,
    );
  if (t.kind === 'standard' && t.std.some((s) => !(s > 0)))
    throw new ModelSpecError('standard transform needs every std > 0');
  if (t.kind !== 'scale' && t.wrap) {
    const problem = wrapProblem(t.wrap, d);
    if (problem !== undefined) throw new ModelSpecError(`${t.kind} transform: ${problem}`);
  }
}

/** Throws {@link ModelSpecError} when the spec's parameters do not match its architecture. */
export function validateEnsembleSpec(spec: EnsembleSpec): void {
  if (spec.specVersion !== SPEC_VERSION)
    throw new ModelSpecError(`specVersion ${spec.specVersion} is not supported (expected ${SPEC_VERSION})`);
  if (!Number.isInteger(spec.k) || spec.k < 1)
    throw new ModelSpecError(`k must be a positive integer, got ${spec.k}`);
  if (spec.members.length < 1) throw new ModelSpecError('an ensemble needs at least one member');
  const arch = spec.member.arch;
  const d = dataDim(arch);
  if (spec.inputDim !== d)
    throw new ModelSpecError(`inputDim ${spec.inputDim} does not match the architecture's data size ${d}`);
  const convProblem = arch.kind === 'conv' ? convShapeProblem(arch) : null;
  if (convProblem) throw new ModelSpecError(convProblem);
  validateTransform(spec.transform, d);
  const binProblem = binaryColumnsProblem(spec.member, d);
  if (binProblem) throw new ModelSpecError(binProblem);
  const prior = spec.member.prior;
  if (prior.kind === 'maf') {
    if (prior.permutations.length !== prior.layers)
      throw new ModelSpecError(
        `MAF prior has ${prior.permutations.length} permutations for ${prior.layers} layers`,
      );
    for (const perm of prior.permutations) {
      const sorted = [...perm].sort((a, b) => a - b);
      if (sorted.length !== arch.latentDim || sorted.some((v, i) => v !== i))
        throw new ModelSpecError(
          `MAF permutation [${perm}] is not a permutation of 0..${arch.latentDim - 1}`,
        );
    }
  }
  const shapes = paramShapes(spec.member);
  spec.members.forEach((m, mi) => {
    if (m.eps.length !== spec.k * arch.latentDim)
      throw new ModelSpecError(
        `member ${mi}: eps has ${m.eps.length} values, expected k·Dz = ${spec.k * arch.latentDim}`,
      );
    for (const [name, shape] of shapes) {
      const p = m.params[name];
      if (!p) throw new ModelSpecError(`member ${mi}: missing parameter ${name}`);
      if (p.shape.length !== shape.length || p.shape.some((v, i) => v !== shape[i]))
        throw new ModelSpecError(
          `member ${mi}: parameter ${name} has shape [${p.shape}], expected [${shape}]`,
        );
      if (p.data.length !== shapeSize(shape))
        throw new ModelSpecError(
          `member ${mi}: parameter ${name} holds ${p.data.length} values, expected ${shapeSize(shape)}`,
        );
    }
  });
}

function transposeMat(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

/** [kh,kw,a,b] → [b,a,kh,kw] (tfjs conv2d [kh,kw,in,out] → ONNX Conv [out,in,kh,kw]; tfjs conv2dTranspose [kh,kw,out,in] → ONNX ConvTranspose [in,out,kh,kw]). */
export function kernelToOnnx(w: Float32Array, kh: number, kw: number, a: number, b: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let p = 0; p < a; p++)
        for (let q = 0; q < b; q++) out[((q * a + p) * kh + i) * kw + j] = w[((i * kw + j) * a + p) * b + q];
  return out;
}

/**
 * ONNX pads [top, left, bottom, right] reproducing TF padding for a square input of size n: of a
 * conv2d, or (transpose) of a conv2dTranspose. Shared with the critic graph (critic-export.ts).
 */
export function tfPads(n: number, l: ConvLayerSpec, transpose: boolean): number[] {
  if (l.padding === 'valid') return [0, 0, 0, 0];
  const total = transpose
    ? Math.max(l.k - l.stride, 0)
    : Math.max((Math.ceil(n / l.stride) - 1) * l.stride + l.k - n, 0);
  const before = Math.floor(total / 2);
  return [before, before, total - before, total - before];
}

/**
 * The conv decoder in a "cell" layout, as onnxruntime runs it fast (default; see ExportOptions).
 * A feature map of (g·b)×(g·b) pixels and C channels is held as g×g cells of b×b pixels, [N, b²·C, g, g]
 * with channel (ry·b + rx)·C + c for pixel (b·my + ry, b·mx + rx) (ONNX SpaceToDepth/DepthToSpace DCR
 * order). A stride-s transposed conv from cells of b_in to cells of b_out = s·b_in, or a stride-1 conv,
 * is then ONE stride-1 Conv over the cell grid: output pixel Y = b_out·m + R takes input pixel
 * i = b_in·(m + d) + r_in with tap t wherever s·i + t − pb = Y (transposed; pb its leading pad) or
 * i = Y + t − p (conv), i.e. b_out·d + s·r_in = R + pb − t (resp. R + t − p): one cell offset d and
 * one r_in per (R, t), zero weight elsewhere. With b ≤ 2 and 5×5 kernels the cell kernel is 3×3
 * (1.44× the multiply-adds of the 5×5 pixel kernel), and every channel count is a multiple of the
 * NCHWc block of MLAS (16 with AVX-512), where the pixel layout pads 8 → 16 and 1 → 16 channels.
 */
export function cellConv(
  g: GraphBuilder,
  name: string,
  x: string,
  l: ConvLayerSpec,
  transposed: boolean,
  pad: number,
  bIn: number,
  bOut: number,
  w: Float32Array,
  b: Float32Array,
): string {
  const { k, cin, cout } = l;
  const s = transposed ? l.stride : 1;
  if (bOut !== s * bIn) throw new ModelSpecError(`${name}: cells of ${bIn} → ${bOut} with stride ${s}`);
  // tfjs layouts: conv2dTranspose [k, k, cout, cin], conv2d [k, k, cin, cout]
  const tap = transposed
    ? (ty: number, tx: number, o: number, c: number) => w[((ty * k + tx) * cout + o) * cin + c]
    : (ty: number, tx: number, o: number, c: number) => w[((ty * k + tx) * cin + c) * cout + o];
  /** For output offset R and tap t: [cell offset d, input offset r_in], or null (no contribution). */
  const solve = (R: number, t: number): [number, number] | null => {
    const v = transposed ? R + pad - t : R + t - pad;
    const d = Math.floor(v / bOut);
    const rem = v - bOut * d;
    return rem % s === 0 ? [d, rem / s] : null;
  };
  let dmin = Infinity;
  let dmax = -Infinity;
  for (let R = 0; R < bOut; R++)
    for (let t = 0; t < k; t++) {
      const r = solve(R, t);
      if (r) {
        dmin = Math.min(dmin, r[0]);
        dmax = Math.max(dmax, r[0]);
      }
    }
  if (dmin > 0 || dmax < 0) throw new ModelSpecError(`${name}: unsupported padding`);
  const kd = dmax - dmin + 1;
  const ci = bIn * bIn * cin;
  const co = bOut * bOut * cout;
  const wc = new Float32Array(co * ci * kd * kd); // ONNX Conv [co, ci, kd, kd]
  const bc = new Float32Array(co);
  for (let Ry = 0; Ry < bOut; Ry++)
    for (let Rx = 0; Rx < bOut; Rx++) for (let o = 0; o < cout; o++) bc[(Ry * bOut + Rx) * cout + o] = b[o];
  for (let Ry = 0; Ry < bOut; Ry++)
    for (let ty = 0; ty < k; ty++) {
      const sy = solve(Ry, ty);
      if (!sy) continue;
      for (let Rx = 0; Rx < bOut; Rx++)
        for (let tx = 0; tx < k; tx++) {
          const sx = solve(Rx, tx);
          if (!sx) continue;
          const uy = sy[0] - dmin;
          const ux = sx[0] - dmin;
          for (let o = 0; o < cout; o++) {
            const oc = (Ry * bOut + Rx) * cout + o;
            for (let c = 0; c < cin; c++) {
              const icc = (sy[1] * bIn + sx[1]) * cin + c;
              wc[((oc * ci + icc) * kd + uy) * kd + ux] += tap(ty, tx, o, c);
            }
          }
        }
    }
  return g.op('Conv', [x, g.f32(`${name}.cell_w`, [co, ci, kd, kd], wc), g.f32(`${name}.cell_b`, [co], bc)], {
    kernel_shape: { ints: [kd, kd] },
    strides: { ints: [1, 1] },
    pads: { ints: [-dmin, -dmin, dmax, dmax] },
  });
}

/**
 * The first decoder layer (a 'valid' k×k transposed conv of the 1×1 latent image) as one Gemm:
 * y[o, Y, X] = b[o] + Σ_c z[c]·W[Y, X, o, c], [N, cin] → [N, cout, k, k].
 */
function latentDeconv(
  g: GraphBuilder,
  name: string,
  z: string,
  l: ConvLayerSpec,
  w: Float32Array,
  b: Float32Array,
): string {
  const { k, cin, cout } = l;
  const cols = cout * k * k;
  const mat = new Float32Array(cin * cols); // [cin, cout·k·k], columns in NCHW order
  const bias = new Float32Array(cols);
  for (let o = 0; o < cout; o++)
    for (let yy = 0; yy < k; yy++)
      for (let xx = 0; xx < k; xx++) {
        const col = (o * k + yy) * k + xx;
        bias[col] = b[o];
        for (let c = 0; c < cin; c++) mat[c * cols + col] = w[((yy * k + xx) * cout + o) * cin + c];
      }
  const y = g.op('Gemm', [
    z,
    g.f32(`${name}.as_mat`, [cin, cols], mat),
    g.f32(`${name}.as_mat_b`, [cols], bias),
  ]);
  return g.op('Reshape', [y, g.ints([-1, cout, k, k])]);
}

/** Where pixel (i, j) channel ch of an H×W×C image lies in its flat cell layout with cells of b (see {@link cellConv}). */
export function cellIndex(
  i: number,
  j: number,
  ch: number,
  H: number,
  W: number,
  C: number,
  b: number,
): number {
  return ((((i % b) * b + (j % b)) * C + ch) * (H / b) + Math.floor(i / b)) * (W / b) + Math.floor(j / b);
}

/**
 * Cell size of the decoder's output in the cell layout ({@link cellConv}): 2 (the last stride-2
 * layer's phases are kept as channels through the last layers), or 1 with ConvTranspose.
 */
export function decoderOutputCells(opts: Required<ExportOptions>): number {
  return opts.convTranspose === 'Conv' ? 2 : 1;
}

/**
 * Σ_d [softplus(o_d) − o_d/2] over the last axis (size D) of `o` (N·K·D values in all), as [N, K].
 *
 * softplus(o) − o/2 = |o|/2 − log σ(|o|), so the sum is ½·Σ|o| − log Π σ(|o|). The product runs over
 * groups of G ≤ 100 consecutive values (σ(|o|) ∈ [½, 1], so a group's product is ≥ 2⁻¹⁰⁰, far from
 * float32 underflow) and only one Log per group is taken. This touches the big [N·K, D] logits with
 * four vectorised passes (Abs, ReduceSum, Sigmoid, ReduceProd) instead of eight (onnxruntime's CPU
 * Log and Softplus kernels are scalar and were the hot spot); the −o/2 part is folded by the caller
 * into Σ (x_d − ½)·o_d. Never overflows; the per-term error stays ~1e-7 absolute.
 */
function sumSoftplusMinusHalf(g: GraphBuilder, o: string, D: number, K: number): string {
  let G = 1;
  for (let q = Math.min(D, 100); q >= 1; q--)
    if (D % q === 0) {
      G = q;
      break;
    }
  const o3 = g.op('Reshape', [o, g.ints([-1, D / G, G])]);
  const a = g.op('Abs', [o3]);
  const l1 = g.op('ReduceSum', [a, g.ints([1, 2])], { keepdims: { int: 0 } }); // [N·K]
  const lp = g.op('ReduceProd', [g.op('Sigmoid', [a])], { axes: { ints: [2] }, keepdims: { int: 0 } }); // [N·K, D/G]
  const logSig = g.op('ReduceSum', [g.op('Log', [lp]), g.ints([1])], { keepdims: { int: 0 } }); // [N·K]
  return g.op('Reshape', [g.op('Sub', [g.op('Mul', [l1, g.scalar(0.5)]), logSig]), g.ints([-1, K])]);
}

class MemberExporter {
  constructor(
    private readonly g: GraphBuilder,
    private readonly spec: MemberSpec,
    private readonly k: number,
    private readonly opts: Required<ExportOptions>,
  ) {}

  private w(
    prefix: string,
    params: MemberParams,
    name: string,
    transform?: (d: Float32Array) => { dims: number[]; data: Float32Array },
  ): string {
    const p = params[name];
    const t = transform ? transform(p.data) : { dims: p.shape, data: p.data };
    return this.g.f32(`${prefix}${name}`, t.dims, t.data);
  }

  /**
   * Emits one member. `x` is the transformed input [N, D] in NHWC-flat order, `xOrd` the same values
   * in the decoder's output order (NCHW-flat for conv, else x), `xImg` the NCHW image (conv only).
   * Returns [N,1] tensors.
   */
  emit(
    mi: number,
    member: TrainedMember,
    x: string,
    xOrd: string,
    xImg: string | null,
  ): { iwae: string; elbo: string; rate: string } {
    const g = this.g;
    const { arch, likelihood, prior } = this.spec;
    const params = member.params;
    const pre = `m${mi}.`;
    const dz = arch.latentDim;
    const K = this.k;
    const D = dataDim(arch);

    // ---- encoder → h [N, Hh]
    let h: string;
    let hDim: number;
    if (arch.kind === 'mlp') {
      h = x;
      hDim = arch.inputDim;
      arch.encoderHidden.forEach((units, i) => {
        h = g.op('Relu', [
          g.op('Gemm', [h, this.w(pre, params, `enc.h${i}.w`), this.w(pre, params, `enc.h${i}.b`)]),
        ]);
        hDim = units;
      });
    } else {
      let cur = xImg as string;
      let n = arch.height;
      for (const [i, l] of convEncoderLayers(arch).entries()) {
        const wName = this.w(pre, params, `enc.conv${i}.w`, (d) => ({
          dims: [l.cout, l.cin, l.k, l.k],
          data: kernelToOnnx(d, l.k, l.k, l.cin, l.cout),
        }));
        cur = g.op('Conv', [cur, wName, this.w(pre, params, `enc.conv${i}.b`)], {
          kernel_shape: { ints: [l.k, l.k] },
          strides: { ints: [l.stride, l.stride] },
          pads: { ints: tfPads(n, l, false) },
        });
        cur = g.op('LeakyRelu', [cur], { alpha: { float: LEAKY_ALPHA } });
        n = l.padding === 'same' ? Math.ceil(n / l.stride) : Math.floor((n - l.k) / l.stride) + 1;
      }
      h = g.op('Reshape', [cur, g.ints([-1, 4 * dz])]);
      hDim = 4 * dz;
    }

    // ---- heads: one Gemm for [mu | sigma_raw]
    const wmu = params['enc.mu.w'].data;
    const wsg = params['enc.sigma.w'].data;
    const wHead = new Float32Array(hDim * 2 * dz);
    for (let r = 0; r < hDim; r++)
      for (let c = 0; c < dz; c++) {
        wHead[r * 2 * dz + c] = wmu[r * dz + c];
        wHead[r * 2 * dz + dz + c] = wsg[r * dz + c];
      }
    const bHead = new Float32Array(2 * dz);
    bHead.set(params['enc.mu.b'].data, 0);
    bHead.set(params['enc.sigma.b'].data, dz);
    const heads = g.op('Gemm', [
      h,
      g.f32(`${pre}enc.heads.w`, [hDim, 2 * dz], wHead),
      g.f32(`${pre}enc.heads.b`, [2 * dz], bHead),
    ]);
    const [mu, sraw] = g.opN('Split', [heads, g.ints([dz, dz])], 2, { axis: { int: 1 } });
    const sigma = g.op('Add', [g.op('Softplus', [sraw]), g.scalar(SIGMA_MIN)]);
    const sumLogSig = g.op('ReduceSum', [g.op('Log', [sigma]), g.ints([1])], { keepdims: { int: 1 } }); // [N,1]
    const cq = new Float64Array(K);
    for (let kk = 0; kk < K; kk++) {
      let s = -(dz / 2) * LOG_2PI;
      for (let j = 0; j < dz; j++) s += -0.5 * member.eps[kk * dz + j] ** 2;
      cq[kk] = s;
    }
    const logq = g.op('Sub', [g.f32(`${pre}logq.const`, [K], Float32Array.from(cq)), sumLogSig]); // [N,K]
    // z[n,k,:] = mu[n,:] + sigma[n,:]·eps[k,:] as ONE MatMul [mu | sigma] [N, 2Dz] × E [2Dz, K·Dz] with
    // E = [[I I … I], [diag(eps_0) … diag(eps_K-1)]]: the broadcast Mul/Add over [N,K,Dz] take
    // onnxruntime's slow general-broadcast path. Exact: every product but sigma·eps is by 1 or 0.
    const em = new Float32Array(2 * dz * K * dz);
    for (let kk = 0; kk < K; kk++)
      for (let j = 0; j < dz; j++) {
        em[j * K * dz + kk * dz + j] = 1;
        em[(dz + j) * K * dz + kk * dz + j] = member.eps[kk * dz + j];
      }
    const musig = g.op('Concat', [mu, sigma], { axis: { int: 1 } });
    const z3 = g.op('Reshape', [
      g.op('MatMul', [musig, g.f32(`${pre}eps.expand`, [2 * dz, K * dz], em)]),
      g.ints([-1, K, dz]),
    ]); // [N,K,Dz]
    const zf = g.op('Reshape', [z3, g.ints([-1, dz])]); // [N·K, Dz]

    // ---- prior → logpz [N,K]
    let logpz: string;
    if (prior.kind === 'standard') {
      const ss = g.op('ReduceSumSquare', [z3], { axes: { ints: [2] }, keepdims: { int: 0 } });
      logpz = g.op('Sub', [g.op('Mul', [ss, g.scalar(-0.5)]), g.scalar((dz / 2) * LOG_2PI)]);
    } else {
      const masks = madeMasks(dz, prior.hidden);
      let y = zf;
      let ld: string | null = null;
      for (let l = 0; l < prior.layers; l++) {
        let a = y;
        prior.hidden.forEach((units, i) => {
          const m = masks[i];
          const wn = this.w(pre, params, `prior.maf${l}.h${i}.w`, (d) => ({
            dims: params[`prior.maf${l}.h${i}.w`].shape,
            data: d.map((v, q) => v * m[q]),
          }));
          a = g.op('Relu', [g.op('Gemm', [a, wn, this.w(pre, params, `prior.maf${l}.h${i}.b`)])]);
        });
        const mo = masks[prior.hidden.length];
        const won = this.w(pre, params, `prior.maf${l}.out.w`, (d) => ({
          dims: params[`prior.maf${l}.out.w`].shape,
          data: d.map((v, q) => v * mo[q]),
        }));
        const o = g.op('Gemm', [a, won, this.w(pre, params, `prior.maf${l}.out.b`)]);
        const [shift, lraw] = g.opN('Split', [o, g.ints([dz, dz])], 2, { axis: { int: 1 } });
        const B = g.scalar(MAF_SCALE_BOUND);
        const ls = g.op('Mul', [g.op('Tanh', [g.op('Div', [lraw, B])]), B]);
        const u = g.op('Mul', [g.op('Sub', [y, shift]), g.op('Exp', [g.op('Neg', [ls])])]);
        const lsSum = g.op('ReduceSum', [ls, g.ints([1])], { keepdims: { int: 0 } });
        ld = ld === null ? lsSum : g.op('Add', [ld, lsSum]);
        y = g.op('Gather', [u, g.i64(`${pre}prior.perm${l}`, [dz], prior.permutations[l])], {
          axis: { int: 1 },
        });
      }
      const ss = g.op('ReduceSumSquare', [y], { axes: { ints: [1] }, keepdims: { int: 0 } });
      let lp = g.op('Sub', [g.op('Mul', [ss, g.scalar(-0.5)]), g.scalar((dz / 2) * LOG_2PI)]);
      if (ld !== null) lp = g.op('Sub', [lp, ld]);
      logpz = g.op('Reshape', [lp, g.ints([-1, K])]);
    }

    // ---- decoder + likelihood → loglik [N,K]
    let loglik: string;
    if (arch.kind === 'mlp') {
      const xHalf = likelihood === 'bernoulli' ? g.op('Sub', [x, g.scalar(0.5)]) : x;
      let gg = zf;
      let gDim = dz;
      arch.decoderHidden.forEach((units, i) => {
        gg = g.op('Relu', [
          g.op('Gemm', [gg, this.w(pre, params, `dec.h${i}.w`), this.w(pre, params, `dec.h${i}.b`)]),
        ]);
        gDim = units;
      });
      const V = params['dec.out.w'].data;
      const c = params['dec.out.b'].data;
      if (likelihood === 'bernoulli') {
        // log p(x|z) = Σ x·o − Σ softplus(o) = Σ (x − ½)·o − Σ [softplus(o) − o/2]
        const out = g.op('Gemm', [
          gg,
          g.f32(`${pre}dec.out.w`, [gDim, D], V),
          g.f32(`${pre}dec.out.b`, [D], c),
        ]);
        const sp = sumSoftplusMinusHalf(g, out, D, K);
        let xo: string;
        if (this.opts.bernoulliDotTrick) {
          // (x−½)·V_outᵀ [N,H] and (x−½)·c_out [N,1] in one MatMul with [D, H+1].
          const vt = transposeMat(V, gDim, D);
          const vtc = new Float32Array(D * (gDim + 1));
          for (let dd = 0; dd < D; dd++) {
            vtc.set(vt.subarray(dd * gDim, (dd + 1) * gDim), dd * (gDim + 1));
            vtc[dd * (gDim + 1) + gDim] = c[dd];
          }
          const xvc = g.op('MatMul', [xHalf, g.f32(`${pre}dec.out.wt_b`, [D, gDim + 1], vtc)]); // [N, H+1]
          const [xv, xc] = g.opN('Split', [xvc, g.ints([gDim, 1])], 2, { axis: { int: 1 } });
          const g3 = g.op('Reshape', [gg, g.ints([-1, K, gDim])]);
          const dot = g.op('MatMul', [g3, g.op('Unsqueeze', [xv, g.ints([2])])]); // [N,K,1]
          xo = g.op('Add', [g.op('Reshape', [dot, g.ints([-1, K])]), xc]);
        } else {
          const out3 = g.op('Reshape', [out, g.ints([-1, K, D])]);
          xo = g.op(
            'ReduceSum',
            [g.op('Mul', [out3, g.op('Unsqueeze', [xHalf, g.ints([1])])]), g.ints([2])],
            { keepdims: { int: 0 } },
          );
        }
        loglik = g.op('Sub', [xo, sp]);
      } else {
        const raw = params['dec.scale_raw'].data;
        const inv = new Float32Array(D);
        // mixed: the binary columns are Bernoulli logits, unscaled, with no normaliser in cst
        const bin = likelihood === 'mixed' ? binaryMask(this.spec, D) : new Float32Array(D);
        const nBin = bin.reduce((a, v) => a + v, 0);
        let cst = likelihood === 'student-t' ? D * STUDENT_LOG_NORM : -((D - nBin) / 2) * LOG_2PI;
        for (let dd = 0; dd < D; dd++) {
          if (bin[dd] === 1) {
            inv[dd] = 1;
            continue;
          }
          const s = softplus64(raw[dd]) + SCALE_MIN;
          inv[dd] = 1 / s;
          cst -= Math.log(s);
        }
        const Vs = new Float32Array(V.length);
        for (let r = 0; r < gDim; r++)
          for (let dd = 0; dd < D; dd++) Vs[r * D + dd] = V[r * D + dd] * inv[dd];
        const cs = c.map((v, dd) => v * inv[dd]);
        const out = g.op('Gemm', [
          gg,
          g.f32(`${pre}dec.out.w_scaled`, [gDim, D], Vs),
          g.f32(`${pre}dec.out.b_scaled`, [D], cs),
        ]);
        const xs = g.op('Mul', [x, g.f32(`${pre}dec.inv_scale`, [D], inv)]);
        const out3 = g.op('Reshape', [out, g.ints([-1, K, D])]);
        const xs3 = g.op('Unsqueeze', [xs, g.ints([1])]);
        const diff = g.op('Sub', [out3, xs3]);
        if (likelihood === 'mixed') {
          loglik = g.op('Add', [mixedLogLik(g, pre, out3, xs3, diff, bin, K), g.scalar(cst)]);
        } else {
          loglik = scaledResidualLogLik(g, diff, likelihood, cst);
        }
      }
    } else {
      const lo: ConvLayerSpec = { k: 5, stride: 1, padding: 'same', cin: arch.base, cout: arch.channels };
      let cur: string;
      let n = 1; // pixels per side
      let cells = 1; // cell size of the cell layout (see cellConv)
      if (this.opts.convTranspose === 'Conv') {
        cur = zf; // [N·K, Dz]
        for (const [i, l] of convDecoderLayers(arch).entries()) {
          const wt = params[`dec.deconv${i}.w`].data; // tfjs [k, k, cout, cin]
          const bias = params[`dec.deconv${i}.b`].data;
          if (n === 1) {
            if (l.padding !== 'valid')
              throw new ModelSpecError(`dec.deconv${i}: a 'same' layer on the 1×1 latent`);
            cur = latentDeconv(g, `${pre}dec.deconv${i}`, cur, l, wt, bias);
          } else {
            if (l.stride > 1 && cells > 1) {
              cur = g.op('DepthToSpace', [cur], { blocksize: { int: cells }, mode: { string: 'DCR' } });
              cells = 1;
            }
            const bOut = cells * l.stride;
            cur = cellConv(
              g,
              `${pre}dec.deconv${i}`,
              cur,
              l,
              true,
              tfPads(n, l, true)[0],
              cells,
              bOut,
              wt,
              bias,
            );
            cells = bOut;
          }
          cur = g.op('LeakyRelu', [cur], { alpha: { float: LEAKY_ALPHA } });
          n = l.padding === 'same' ? n * l.stride : (n - 1) * l.stride + l.k;
        }
        const want = decoderOutputCells(this.opts);
        if (cells !== want)
          throw new ModelSpecError(`the decoder ends in cells of ${cells}, expected ${want}`);
        cur = cellConv(
          g,
          `${pre}dec.out`,
          cur,
          lo,
          false,
          tfPads(n, lo, false)[0],
          cells,
          cells,
          params['dec.out.w'].data,
          params['dec.out.b'].data,
        );
      } else {
        cur = g.op('Reshape', [zf, g.ints([-1, dz, 1, 1])]);
        for (const [i, l] of convDecoderLayers(arch).entries()) {
          const wName = this.w(pre, params, `dec.deconv${i}.w`, (d) => ({
            dims: [l.cin, l.cout, l.k, l.k],
            data: kernelToOnnx(d, l.k, l.k, l.cout, l.cin),
          }));
          cur = g.op('ConvTranspose', [cur, wName, this.w(pre, params, `dec.deconv${i}.b`)], {
            kernel_shape: { ints: [l.k, l.k] },
            strides: { ints: [l.stride, l.stride] },
            pads: { ints: tfPads(n, l, true) },
          });
          cur = g.op('LeakyRelu', [cur], { alpha: { float: LEAKY_ALPHA } });
          n = l.padding === 'same' ? n * l.stride : (n - 1) * l.stride + l.k;
        }
        const woName = this.w(pre, params, 'dec.out.w', (d) => ({
          dims: [lo.cout, lo.cin, 5, 5],
          data: kernelToOnnx(d, 5, 5, lo.cin, lo.cout),
        }));
        cur = g.op('Conv', [cur, woName, this.w(pre, params, 'dec.out.b')], {
          kernel_shape: { ints: [5, 5] },
          strides: { ints: [1, 1] },
          pads: { ints: tfPads(n, lo, false) },
        });
      }
      const out3 = g.op('Reshape', [cur, g.ints([-1, K, D])]); // cell order (pixel order with cells of 1), like xOrd
      const xo3 = g.op('Unsqueeze', [xOrd, g.ints([1])]);
      if (likelihood === 'bernoulli') {
        const sp = sumSoftplusMinusHalf(g, out3, D, K);
        const xo = g.op(
          'ReduceSum',
          [
            g.op('Mul', [out3, g.op('Unsqueeze', [g.op('Sub', [xOrd, g.scalar(0.5)]), g.ints([1])])]),
            g.ints([2]),
          ],
          { keepdims: { int: 0 } },
        );
        loglik = g.op('Sub', [xo, sp]);
      } else {
        const raw = params['dec.scale_raw'].data; // NHWC order
        const { height: H, width: W, channels: C } = arch;
        const inv = new Float32Array(D);
        let cst = likelihood === 'student-t' ? D * STUDENT_LOG_NORM : -(D / 2) * LOG_2PI;
        for (let i = 0; i < H; i++)
          for (let j = 0; j < W; j++)
            for (let ch = 0; ch < C; ch++) {
              const s = softplus64(raw[(i * W + j) * C + ch]) + SCALE_MIN;
              inv[cellIndex(i, j, ch, H, W, C, cells)] = 1 / s;
              cst -= Math.log(s);
            }
        const diff = g.op('Mul', [g.op('Sub', [out3, xo3]), g.f32(`${pre}dec.inv_scale`, [D], inv)]);
        loglik = scaledResidualLogLik(g, diff, likelihood, cst);
      }
    }

    // ---- bounds
    const logw = g.op('Sub', [g.op('Add', [loglik, logpz]), logq]); // [N,K]
    const mx = g.op('ReduceMax', [logw], { axes: { ints: [1] }, keepdims: { int: 1 } });
    const se = g.op('ReduceSum', [g.op('Exp', [g.op('Sub', [logw, mx])]), g.ints([1])], {
      keepdims: { int: 1 },
    });
    const iwae = g.op('Add', [g.op('Log', [se]), g.op('Sub', [mx, g.scalar(Math.log(K))])]);
    const elbo = g.op('ReduceMean', [logw], { axes: { ints: [1] }, keepdims: { int: 1 } });
    const rate = g.op('ReduceMean', [g.op('Sub', [logq, logpz])], {
      axes: { ints: [1] },
      keepdims: { int: 1 },
    });
    return { iwae, elbo, rate };
  }
}

/**
 * Σ_continuous −½ r² + Σ_binary (x·o − softplus(o)) [N,K] of the 'mixed' likelihood, from the decoder
 * output o [N,K,D] (continuous columns divided by s_d), the input x [N,1,D] (likewise), r = o − x and
 * the 0/1 vector `bin`. softplus(o) = max(o, 0) − log σ(|o|), and Σ log σ(|o|) is taken as the log of
 * products of up to 100 factors (1 on the continuous columns), as {@link sumSoftplusMinusHalf} does:
 * onnxruntime's Softplus and Log are an order of magnitude slower than its Sigmoid on these shapes.
 */
function mixedLogLik(
  g: GraphBuilder,
  pre: string,
  out3: string,
  x3: string,
  diff: string,
  bin: Float32Array,
  K: number,
): string {
  const D = bin.length;
  const mb = g.f32(`${pre}dec.binary`, [D], bin);
  const halfCont = g.f32(
    `${pre}dec.half_cont`,
    [D],
    bin.map((v) => (v === 1 ? 0 : -0.5)),
  );
  const gauss = g.op('Mul', [g.op('Mul', [diff, diff]), halfCont]);
  const lin = g.op('Mul', [g.op('Sub', [g.op('Mul', [out3, x3]), g.op('Relu', [out3])]), mb]);
  const sum = g.op('ReduceSum', [g.op('Add', [gauss, lin]), g.ints([2])], { keepdims: { int: 0 } });
  // factors σ(|o|) on the binary columns, 1 elsewhere: 1 − b·(1 − σ(|o|))
  const one = g.scalar(1);
  const f = g.op('Sub', [one, g.op('Mul', [g.op('Sub', [one, g.op('Sigmoid', [g.op('Abs', [out3])])]), mb])]);
  let G = 1;
  for (let q = Math.min(D, 100); q >= 1; q--)
    if (D % q === 0) {
      G = q;
      break;
    }
  const prod = g.op('ReduceProd', [g.op('Reshape', [f, g.ints([-1, D / G, G])])], {
    axes: { ints: [2] },
    keepdims: { int: 0 },
  });
  const logSig = g.op('ReduceSum', [g.op('Log', [prod]), g.ints([1])], { keepdims: { int: 0 } });
  return g.op('Add', [sum, g.op('Reshape', [logSig, g.ints([-1, K])])]);
}

/**
 * log p(x|z) [N,K] of a continuous likelihood from the scaled residuals r = (out − x)/s [N,K,D] and the
 * constant `cst` (normalisers and −Σ log s): gaussian −½·Σ r² + cst; student-t
 * −(ν+1)/2·Σ log(1 + r²/ν) + cst (spec.ts).
 */
function scaledResidualLogLik(g: GraphBuilder, r: string, likelihood: Likelihood, cst: number): string {
  if (likelihood === 'student-t') {
    const t = g.op('Log', [
      g.op('Add', [g.op('Mul', [g.op('Mul', [r, r]), g.scalar(1 / STUDENT_NU)]), g.scalar(1)]),
    ]);
    const sum = g.op('ReduceSum', [t, g.ints([2])], { keepdims: { int: 0 } });
    return g.op('Add', [g.op('Mul', [sum, g.scalar(-(STUDENT_NU + 1) / 2)]), g.scalar(cst)]);
  }
  const ss = g.op('ReduceSumSquare', [r], { axes: { ints: [2] }, keepdims: { int: 0 } });
  return g.op('Add', [g.op('Mul', [ss, g.scalar(-0.5)]), g.scalar(cst)]);
}

/**
 * Emits the spec's feature transform (scale, standard or minmax with a clip to [0, 1]; a constant
 * minmax feature maps its training value to 0 and, with `constant: 'indicator'`, any other value to 1
 * (Max(q, −q)·2^20: a Max against the column-sign vector's product, exact for the other columns), or
 * else to 0 as well; minmax and standard first wrap their periodic columns, {@link emitWrap}) of the
 * [N, d] input `input`; returns the transformed tensor's name. Shared with the critic graph
 * (critic-export.ts), so both graphs apply the same transform.
 */
export function emitTransform(g: GraphBuilder, t: FeatureTransform, input: string, d: number): string {
  if (t.kind === 'scale') return g.op('Mul', [input, g.scalar(t.factor)]);
  const x = emitWrap(g, t.wrap ?? [], input, d);
  if (t.kind === 'standard') {
    const ind = constantColumns(t);
    if (!ind.some((c) => c))
      return g.op('Div', [
        g.op('Sub', [x, g.f32('transform.mean', [d], t.mean)]),
        g.f32('transform.std', [d], t.std),
      ]);
    // constant columns are indicators, min(|x − mean|·2^20, 2^10), the others (x − mean)/std: one run of
    // adjacent columns of either sort at a time (Slice), joined again (Concat), so the other columns
    // are computed exactly as without indicators (no Min / Max against a bound on them)
    const parts: string[] = [];
    let start = 0;
    while (start < d) {
      const c = ind[start];
      let end = start + 1;
      while (end < d && ind[end] === c) end++;
      const run =
        start === 0 && end === d ? x : g.op('Slice', [x, g.ints([start]), g.ints([end]), g.ints([1])]);
      const mean = g.f32(`transform.mean.${start}`, [end - start], t.mean.slice(start, end));
      const centred = g.op('Sub', [run, mean]);
      parts.push(
        c
          ? g.op('Min', [
              g.op('Mul', [g.op('Abs', [centred]), g.scalar(CONSTANT_GAIN)]),
              g.scalar(CONSTANT_STANDARD_CAP),
            ])
          : g.op('Div', [centred, g.f32(`transform.std.${start}`, [end - start], t.std.slice(start, end))]),
      );
      start = end;
    }
    return parts.length === 1 ? parts[0] : g.op('Concat', parts, { axis: { int: 1 } });
  }
  const range = t.max.map((mx, i) => mx - t.min[i]);
  const safe = range.map((r) => (r === 0 ? 1 : r));
  let q = g.op('Div', [
    g.op('Sub', [x, g.f32('transform.min', [d], t.min)]),
    g.f32('transform.range', [d], safe),
  ]);
  const indicator = t.constant === 'indicator' && range.some((r) => r === 0);
  if (indicator) {
    // |q| on the constant columns (Max(q, −q)), q elsewhere (Max(q, q·1) = q, −0 and NaN kept)
    const sign = g.f32(
      'transform.constant_sign',
      [d],
      range.map((r) => (r === 0 ? -1 : 1)),
    );
    const gain = g.f32(
      'transform.constant_gain',
      [d],
      range.map((r) => (r === 0 ? CONSTANT_GAIN : 1)),
    );
    q = g.op('Mul', [g.op('Max', [q, g.op('Mul', [q, sign])]), gain]);
  }
  let y = g.op('Clip', [q, g.scalar(0), g.scalar(1)]);
  if (!indicator && range.some((r) => r === 0))
    y = g.op('Mul', [
      y,
      g.f32(
        'transform.nonzero',
        [d],
        range.map((r) => (r === 0 ? 0 : 1)),
      ),
    ]);
  return y;
}

/**
 * The wrap of periodic columns (spec.ts, {@link WrapColumn}): Mod (fmod = 1: exact, the sign of x) of
 * the wrapped columns by their float32 periods. The input is cut into runs of adjacent wrapped /
 * unwrapped columns (Slice), each wrapped run gets one Mod against its [run] period vector, and the
 * runs are joined again (Concat), so unwrapped columns pass bit for bit. (Not one Mod of all columns
 * with a huge dummy period, which would turn an unwrapped ±Infinity into NaN and ±FLT_MAX into 0; nor
 * a Where on a column mask: onnxruntime's Where turns a selected −0 into +0.)
 */
function emitWrap(g: GraphBuilder, wrap: readonly WrapColumn[], x: string, d: number): string {
  if (wrap.length === 0) return x;
  const period = new Map(wrap.map((w) => [w.column, w.period]));
  const parts: string[] = [];
  let start = 0;
  while (start < d) {
    const wrapped = period.has(start);
    let end = start + 1;
    while (end < d && period.has(end) === wrapped) end++;
    const run =
      start === 0 && end === d ? x : g.op('Slice', [x, g.ints([start]), g.ints([end]), g.ints([1])]);
    if (!wrapped) parts.push(run);
    else {
      const p = Array.from({ length: end - start }, (_, j) => period.get(start + j) as number);
      const pv = g.f32(`transform.wrap_period.${start}`, [end - start], p);
      parts.push(g.op('Mod', [run, pv], { fmod: { int: 1 } }));
    }
    start = end;
  }
  return parts.length === 1 ? parts[0] : g.op('Concat', parts, { axis: { int: 1 } });
}

/** Builds the scoring graph; returns the serialized ModelProto. Throws {@link ModelSpecError}. */
export function exportEnsembleOnnx(spec: EnsembleSpec, options: ExportOptions = {}): Uint8Array {
  validateEnsembleSpec(spec);
  const opts: Required<ExportOptions> = {
    bernoulliDotTrick: options.bernoulliDotTrick ?? true,
    convTranspose: options.convTranspose ?? 'Conv',
  };
  const g = new GraphBuilder();
  const arch = spec.member.arch;
  const D = dataDim(arch);
  const x = emitTransform(g, spec.transform, ONNX_INPUT, D);
  let xImg: string | null = null;
  let xOrd = x;
  if (arch.kind === 'conv') {
    xImg = g.op('Transpose', [g.op('Reshape', [x, g.ints([-1, arch.height, arch.width, arch.channels])])], {
      perm: { ints: [0, 3, 1, 2] },
    });
    const cells = decoderOutputCells(opts);
    xOrd =
      cells > 1
        ? g.op('Reshape', [g.op('SpaceToDepth', [xImg], { blocksize: { int: cells } }), g.ints([-1, D])])
        : arch.channels === 1
          ? x
          : g.op('Reshape', [xImg, g.ints([-1, D])]);
  }
  const ex = new MemberExporter(g, spec.member, spec.k, opts);
  const res = spec.members.map((m, mi) => ex.emit(mi, m, x, xOrd, xImg));
  const M = spec.members.length;
  const cat = (parts: string[], name: string): string =>
    parts.length === 1
      ? g.op('Identity', parts, {}, name)
      : g.op('Concat', parts, { axis: { int: 1 } }, name);
  const logp = cat(
    res.map((r) => r.iwae),
    'logp',
  );
  const memberRate = cat(
    res.map((r) => r.rate),
    'member_rate',
  );
  cat(
    res.map((r) => r.elbo),
    'member_elbo',
  );
  const mean1 = g.op('ReduceMean', [logp], { axes: { ints: [1] }, keepdims: { int: 1 } });
  const mean = g.op('Reshape', [mean1, g.ints([-1])], {}, 'logp_mean');
  const dev = g.op('Sub', [logp, mean1]);
  const variance = g.op(
    'ReduceMean',
    [g.op('Mul', [dev, dev])],
    { axes: { ints: [1] }, keepdims: { int: 0 } },
    'logp_var',
  );
  g.op('Sub', [mean, variance], {}, 'waic');
  g.op('ReduceMean', [memberRate], { axes: { ints: [1] }, keepdims: { int: 0 } }, 'rate');
  return g.toModel({
    graphName: 'gensemble_scores',
    docString: `gensemble ensemble scorer: M=${M}, K=${spec.k}, ${arch.kind}, ${spec.member.likelihood}, prior ${spec.member.prior.kind}`,
    metadata: { specVersion: String(spec.specVersion), members: String(M), k: String(spec.k) },
    inputs: [{ name: ONNX_INPUT, dims: ['N', spec.inputDim] }],
    outputs: [
      { name: 'logp', dims: ['N', M] },
      { name: 'member_rate', dims: ['N', M] },
      { name: 'member_elbo', dims: ['N', M] },
      { name: 'logp_mean', dims: ['N'] },
      { name: 'logp_var', dims: ['N'] },
      { name: 'waic', dims: ['N'] },
      { name: 'rate', dims: ['N'] },
    ],
  });
}
