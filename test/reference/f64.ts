/**
 * Float64 brute-force reference of src/engine/spec.ts, written independently of the ONNX exporter:
 * plain loops, no shared math with the engine (only the spec's constants, madeMasks and dataDim).
 * Slow; use with tiny models only.
 */
import {
  CONSTANT_GAIN,
  CONSTANT_STANDARD_CAP,
  CONSTANT_STD,
  dataDim,
  LEAKY_ALPHA,
  LOG_2PI,
  MAF_SCALE_BOUND,
  madeMasks,
  SCALE_MIN,
  STUDENT_LOG_NORM,
  STUDENT_NU,
  SIGMA_MIN,
  type Arch,
  type ConvArch,
  type EnsembleSpec,
  type FeatureTransform,
  type MemberParams,
  type MemberSpec,
} from '../../src/engine/spec.js';

type Vec = number[];

const softplus = (v: number): number => (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v)));
const relu = (v: number): number => (v > 0 ? v : 0);
const leaky = (v: number): number => (v > 0 ? v : LEAKY_ALPHA * v);

/** The data of parameter `name` (throws when missing). */
export function p(params: MemberParams, name: string): Float32Array {
  const t = params[name];
  if (!t) throw new Error(`f64 reference: missing parameter ${name}`);
  return t.data;
}

/** y = x·W + b with W [in, out] row-major. */
export function dense(x: Vec, w: Float32Array, b: Float32Array): Vec {
  const nOut = b.length;
  const y = Array.from(b, Number);
  for (let i = 0; i < x.length; i++) {
    const xi = x[i];
    for (let o = 0; o < nOut; o++) y[o] += xi * w[i * nOut + o];
  }
  return y;
}

/**
 * The feature transform of one raw record in float64. minmax / standard first wrap their periodic
 * columns by the definition (spec.ts WrapColumn): fmod(f32(raw), f32(period)), which is exact, so it
 * is the same number in any precision.
 */
export function transformF64(t: FeatureTransform, raw: ArrayLike<number>): Vec {
  const out: Vec = [];
  const period = new Map<number, number>();
  if (t.kind !== 'scale') for (const w of t.wrap ?? []) period.set(w.column, w.period);
  for (let i = 0; i < raw.length; i++) {
    const p = period.get(i);
    const r = p === undefined ? raw[i] : Math.fround(raw[i]) % Math.fround(p);
    if (t.kind === 'scale') out.push(r * t.factor);
    else if (t.kind === 'standard')
      // a constant column under constant: 'indicator' (std floored): min(|r − mean|·2^20, 2^10)
      out.push(
        t.constant === 'indicator' && t.std[i] <= CONSTANT_STD
          ? Math.min(CONSTANT_STANDARD_CAP, Math.abs(r - t.mean[i]) * CONSTANT_GAIN)
          : (r - t.mean[i]) / t.std[i],
      );
    else {
      const range = t.max[i] - t.min[i];
      // a constant feature: 0 (before constant indicators), or |r − min|·2^20 clipped to [0, 1]
      const constant = t.constant === 'indicator' ? Math.min(1, Math.abs(r - t.min[i]) * CONSTANT_GAIN) : 0;
      out.push(range === 0 ? constant : Math.min(1, Math.max(0, (r - t.min[i]) / range)));
    }
  }
  return out;
}

/** TF 'same'/'valid' output size and leading pad for one spatial dim. */
function padInfo(
  n: number,
  k: number,
  s: number,
  padding: 'same' | 'valid',
): { out: number; before: number } {
  if (padding === 'valid') return { out: Math.floor((n - k) / s) + 1, before: 0 };
  const out = Math.ceil(n / s);
  const total = Math.max((out - 1) * s + k - n, 0);
  return { out, before: Math.floor(total / 2) };
}

/** NHWC conv2d (single image [H,W,Cin]) with filter [k,k,Cin,Cout], TF padding semantics. */
export function conv2dF64(
  x: Vec,
  h: number,
  w: number,
  cin: number,
  f: Float32Array,
  b: Float32Array,
  k: number,
  s: number,
  padding: 'same' | 'valid',
): { y: Vec; h: number; w: number } {
  const cout = b.length;
  const ph = padInfo(h, k, s, padding);
  const pw = padInfo(w, k, s, padding);
  const y = new Array<number>(ph.out * pw.out * cout).fill(0);
  for (let oi = 0; oi < ph.out; oi++)
    for (let oj = 0; oj < pw.out; oj++)
      for (let co = 0; co < cout; co++) {
        let acc = b[co];
        for (let ki = 0; ki < k; ki++) {
          const ii = oi * s + ki - ph.before;
          if (ii < 0 || ii >= h) continue;
          for (let kj = 0; kj < k; kj++) {
            const jj = oj * s + kj - pw.before;
            if (jj < 0 || jj >= w) continue;
            for (let ci = 0; ci < cin; ci++)
              acc += x[(ii * w + jj) * cin + ci] * f[((ki * k + kj) * cin + ci) * cout + co];
          }
        }
        y[(oi * pw.out + oj) * cout + co] = acc;
      }
  return { y, h: ph.out, w: pw.out };
}

/**
 * NHWC conv2dTranspose as TF (the adjoint of conv2d from the output size back to the input size),
 * filter [k,k,Cout,Cin]. Output size: same → n·s, valid → (n-1)·s + k.
 */
export function conv2dTransposeF64(
  x: Vec,
  h: number,
  w: number,
  cin: number,
  f: Float32Array,
  b: Float32Array,
  k: number,
  s: number,
  padding: 'same' | 'valid',
): { y: Vec; h: number; w: number } {
  const cout = b.length;
  const oh = padding === 'same' ? h * s : (h - 1) * s + k;
  const ow = padding === 'same' ? w * s : (w - 1) * s + k;
  const bh = padding === 'same' ? Math.floor(Math.max((h - 1) * s + k - oh, 0) / 2) : 0;
  const bw = padding === 'same' ? Math.floor(Math.max((w - 1) * s + k - ow, 0) / 2) : 0;
  const y = new Array<number>(oh * ow * cout).fill(0);
  for (let i = 0; i < h; i++)
    for (let j = 0; j < w; j++)
      for (let ki = 0; ki < k; ki++) {
        const yi = i * s + ki - bh;
        if (yi < 0 || yi >= oh) continue;
        for (let kj = 0; kj < k; kj++) {
          const yj = j * s + kj - bw;
          if (yj < 0 || yj >= ow) continue;
          for (let ci = 0; ci < cin; ci++) {
            const xv = x[(i * w + j) * cin + ci];
            for (let co = 0; co < cout; co++)
              y[(yi * ow + yj) * cout + co] += xv * f[((ki * k + kj) * cout + co) * cin + ci];
          }
        }
      }
  for (let q = 0; q < oh * ow; q++) for (let co = 0; co < cout; co++) y[q * cout + co] += b[co];
  return { y, h: oh, w: ow };
}

/**
 * The encoder trunk (MLP: Relu hidden layers; conv: the five LeakyRelu conv layers) of one record x in
 * model space (NHWC-flat for conv), before the mu/sigma heads. Also the WGAN critic's trunk
 * (critic-f64.ts).
 */
export function encodeF64(arch: Arch, params: MemberParams, x: Vec): Vec {
  if (arch.kind === 'mlp') {
    let h = x;
    arch.encoderHidden.forEach((_, i) => {
      h = dense(h, p(params, `enc.h${i}.w`), p(params, `enc.h${i}.b`)).map(relu);
    });
    return h;
  }
  const a = arch as ConvArch;
  // two stride-2 'same' layers leave a (side/4)×(side/4) map; the VALID kernel spans it (7 at 28×28)
  const layers: Array<[number, number, 'same' | 'valid']> = [
    [5, 1, 'same'],
    [5, 2, 'same'],
    [5, 1, 'same'],
    [5, 2, 'same'],
    [Math.ceil(Math.ceil(a.height / 2) / 2), 1, 'valid'],
  ];
  let cur = { y: x, h: a.height, w: a.width };
  let cin = a.channels;
  layers.forEach(([k, s, pad], i) => {
    const b = p(params, `enc.conv${i}.b`);
    cur = conv2dF64(cur.y, cur.h, cur.w, cin, p(params, `enc.conv${i}.w`), b, k, s, pad);
    cur.y = cur.y.map(leaky);
    cin = b.length;
  });
  return cur.y;
}

/**
 * The decoder's output layer pre-activation (logits, means) for one latent z, length D (NHWC-flat for
 * conv). Also the WGAN generator before its output activation (critic-f64.ts).
 */
export function decodeF64(arch: Arch, params: MemberParams, z: Vec): Vec {
  if (arch.kind === 'mlp') {
    let g = z;
    arch.decoderHidden.forEach((_, i) => {
      g = dense(g, p(params, `dec.h${i}.w`), p(params, `dec.h${i}.b`)).map(relu);
    });
    return dense(g, p(params, 'dec.out.w'), p(params, 'dec.out.b'));
  }
  const side = (arch as ConvArch).height;
  const layers: Array<[number, number, 'same' | 'valid']> = [
    [Math.ceil(Math.ceil(side / 2) / 2), 1, 'valid'],
    [5, 1, 'same'],
    [5, 2, 'same'],
    [5, 1, 'same'],
    [5, 2, 'same'],
    [5, 1, 'same'],
  ];
  let cur = { y: z, h: 1, w: 1 };
  let cin = z.length;
  layers.forEach(([k, s, pad], i) => {
    const b = p(params, `dec.deconv${i}.b`);
    cur = conv2dTransposeF64(cur.y, cur.h, cur.w, cin, p(params, `dec.deconv${i}.w`), b, k, s, pad);
    cur.y = cur.y.map(leaky);
    cin = b.length;
  });
  return conv2dF64(cur.y, cur.h, cur.w, cin, p(params, 'dec.out.w'), p(params, 'dec.out.b'), 5, 1, 'same').y;
}

function logPrior(spec: MemberSpec, params: MemberParams, z: Vec): number {
  const dz = z.length;
  let y = z.slice();
  let ld = 0;
  const prior = spec.prior;
  if (prior.kind === 'maf') {
    const masks = madeMasks(dz, prior.hidden);
    for (let l = 0; l < prior.layers; l++) {
      let a = y;
      prior.hidden.forEach((_, i) => {
        const w = p(params, `prior.maf${l}.h${i}.w`);
        const mw = w.map((v, q) => v * masks[i][q]);
        a = dense(a, mw, p(params, `prior.maf${l}.h${i}.b`)).map(relu);
      });
      const wo = p(params, `prior.maf${l}.out.w`);
      const o = dense(
        a,
        wo.map((v, q) => v * masks[prior.hidden.length][q]),
        p(params, `prior.maf${l}.out.b`),
      );
      const u: Vec = [];
      for (let j = 0; j < dz; j++) {
        const ls = MAF_SCALE_BOUND * Math.tanh(o[dz + j] / MAF_SCALE_BOUND);
        u.push((y[j] - o[j]) * Math.exp(-ls));
        ld -= ls;
      }
      y = prior.permutations[l].map((src) => u[src]);
    }
  }
  let s = 0;
  for (const v of y) s += -0.5 * v * v;
  return s - (dz / 2) * LOG_2PI + ld;
}

function logLik(spec: MemberSpec, params: MemberParams, x: Vec, out: Vec): number {
  let s = 0;
  if (spec.likelihood === 'bernoulli') {
    for (let d = 0; d < x.length; d++) s += x[d] * out[d] - softplus(out[d]);
  } else {
    const raw = p(params, 'dec.scale_raw');
    const binary = new Set(spec.likelihood === 'mixed' ? (spec.binaryColumns ?? []) : []);
    for (let d = 0; d < x.length; d++) {
      if (binary.has(d)) {
        s += x[d] * out[d] - softplus(out[d]);
        continue;
      }
      const sd = softplus(raw[d]) + SCALE_MIN;
      const r = (x[d] - out[d]) / sd;
      s +=
        spec.likelihood === 'student-t'
          ? STUDENT_LOG_NORM - Math.log(sd) - ((STUDENT_NU + 1) / 2) * Math.log1p((r * r) / STUDENT_NU)
          : -0.5 * r * r - Math.log(sd) - 0.5 * LOG_2PI;
    }
  }
  return s;
}

export function logSumExpF64(v: Vec): number {
  const m = Math.max(...v);
  if (!Number.isFinite(m)) return m;
  let s = 0;
  for (const a of v) s += Math.exp(a - m);
  return m + Math.log(s);
}

export interface MemberScoresF64 {
  iwae: number;
  elbo: number;
  rate: number;
  logw: number[];
}

/** One member's scores for one already-transformed record x (length D). */
export function memberScoresOnInputF64(
  spec: MemberSpec,
  params: MemberParams,
  eps: Float32Array,
  k: number,
  x: Vec,
): MemberScoresF64 {
  const dz = spec.arch.latentDim;
  if (x.length !== dataDim(spec.arch)) throw new Error('f64 reference: bad x length');
  const h = encodeF64(spec.arch, params, x);
  const mu = dense(h, p(params, 'enc.mu.w'), p(params, 'enc.mu.b'));
  const sigma = dense(h, p(params, 'enc.sigma.w'), p(params, 'enc.sigma.b')).map(
    (v) => softplus(v) + SIGMA_MIN,
  );
  const logw: number[] = [];
  let rateSum = 0;
  for (let kk = 0; kk < k; kk++) {
    const z: Vec = [];
    let logq = -(dz / 2) * LOG_2PI;
    for (let j = 0; j < dz; j++) {
      const e = eps[kk * dz + j];
      z.push(mu[j] + sigma[j] * e);
      logq += -0.5 * e * e - Math.log(sigma[j]);
    }
    const lpz = logPrior(spec, params, z);
    const out = decodeF64(spec.arch, params, z);
    const lpx = logLik(spec, params, x, out);
    logw.push(lpx + lpz - logq);
    rateSum += logq - lpz;
  }
  return {
    iwae: logSumExpF64(logw) - Math.log(k),
    elbo: logw.reduce((a, b) => a + b, 0) / k,
    rate: rateSum / k,
    logw,
  };
}

/** Member m's scores for one raw record. */
export function memberScoresF64(ens: EnsembleSpec, m: number, xRaw: ArrayLike<number>): MemberScoresF64 {
  const mem = ens.members[m];
  return memberScoresOnInputF64(ens.member, mem.params, mem.eps, ens.k, transformF64(ens.transform, xRaw));
}

export interface EnsembleScoresF64 {
  logp: number[];
  memberRate: number[];
  logpMean: number;
  logpVar: number;
  waic: number;
  rate: number;
}

export function ensembleScoresF64(ens: EnsembleSpec, xRaw: ArrayLike<number>): EnsembleScoresF64 {
  const per = ens.members.map((_, m) => memberScoresF64(ens, m, xRaw));
  const logp = per.map((s) => s.iwae);
  const memberRate = per.map((s) => s.rate);
  const M = logp.length;
  const logpMean = logp.reduce((a, b) => a + b, 0) / M;
  const logpVar = logp.reduce((a, b) => a + (b - logpMean) ** 2, 0) / M;
  return {
    logp,
    memberRate,
    logpMean,
    logpVar,
    waic: logpMean - logpVar,
    rate: memberRate.reduce((a, b) => a + b, 0) / M,
  };
}

/** One kernel density of a dose rule (as stored in a manifest). */
export interface DoseDensityF64 {
  stat: string;
  bandwidth: number;
  support: number[];
}

/**
 * The 'dose' score of one record in float64, brute force: Σ over the rule's densities of −log of the
 * Gaussian kernel estimate at the record's statistic, every support point summed (no grid, no window).
 * `stats` maps a statistic name (neg_logp, rate, logp_var, neg_logp_ic) to the record's value.
 */
export function doseScoreF64(densities: DoseDensityF64[], stats: Record<string, number>): number {
  let total = 0;
  for (const d of densities) {
    const x = stats[d.stat];
    if (x === undefined) throw new Error(`doseScoreF64: no value for statistic ${d.stat}`);
    const terms = d.support.map((p) => -0.5 * ((x - p) / d.bandwidth) ** 2);
    const m = Math.max(...terms);
    const sum = terms.reduce((a, t) => a + Math.exp(t - m), 0);
    total -= m + Math.log(sum) - Math.log(d.support.length * d.bandwidth * Math.sqrt(2 * Math.PI));
  }
  return total;
}

/**
 * feature_maha of one raw record in float64: the transform in float64, then (x − μ)ᵀ Σ⁻¹ (x − μ) with
 * Σ = L Lᵀ from the checkpoint's packed factor, by back-substitution written out here (the engine runs
 * a float32 GEMM with L⁻¹).
 */
export function featureMahaF64(
  g: { dim: number; mean: ArrayLike<number>; cholesky: ArrayLike<number> },
  t: FeatureTransform,
  xRaw: ArrayLike<number>,
): number {
  const x = transformF64(t, xRaw);
  const p = g.dim;
  const L = (a: number, b: number): number => g.cholesky[(a * (a + 1)) / 2 + b];
  const y = new Array<number>(p);
  let d2 = 0;
  for (let a = 0; a < p; a++) {
    let v = x[a] - g.mean[a];
    for (let k = 0; k < a; k++) v -= L(a, k) * y[k];
    y[a] = v / L(a, a);
    d2 += y[a] * y[a];
  }
  return d2;
}

/** The members' typicality in float64: ‖W·(v − mean)‖², v = (log p₁..log p_M, rate₁..rate_M). */
export function memberTypicalityF64(
  t: { mean: number[]; whiten: number[] },
  logp: number[],
  memberRate: number[],
): number {
  const v = [...logp, ...memberRate];
  const d = v.length;
  let q = 0;
  for (let r = 0; r < d; r++) {
    let acc = 0;
    for (let c = 0; c < d; c++) acc += t.whiten[r * d + c] * (v[c] - t.mean[c]);
    q += acc * acc;
  }
  return q;
}
