/**
 * Small seeded pseudo-random source (sfc32 seeded through splitmix32) for reproducible
 * initialisation and the fixed importance-sampling noise eps stored in checkpoints.
 * Not cryptographic. Identical seeds give identical streams on every platform.
 */
import type { MemberParams, MemberSpec } from './spec.js';
import { paramShapes, shapeSize } from './params.js';

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new RangeError(`Rng seed must be a finite number, got ${seed}`);
    const sm = splitmix32(Math.trunc(seed) >>> 0);
    this.a = sm();
    this.b = sm();
    this.c = sm();
    this.d = sm();
    for (let i = 0; i < 12; i++) this.nextUint32();
  }

  /** sfc32 step: a uniformly distributed unsigned 32-bit integer. */
  nextUint32(): number {
    const t = (((this.a + this.b) >>> 0) + this.d) >>> 0;
    this.d = (this.d + 1) >>> 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) >>> 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) >>> 0;
    return t;
  }

  /** Uniform in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Standard normal via Box–Muller (both outputs used). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
  permutation(n: number): number[] {
    const p = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [p[i], p[j]] = [p[j], p[i]];
    }
    return p;
  }
}

/** Fixed importance-sampling noise: [k, dz] row-major, N(0, 1), reproducible from the seed. */
export function makeEps(seed: number, k: number, dz: number): Float32Array {
  const rng = new Rng(seed ^ 0x5eed0e95);
  const out = new Float32Array(k * dz);
  for (let i = 0; i < out.length; i++) out[i] = rng.normal();
  return out;
}

/**
 * Glorot-uniform initialisation of every parameter of {@link paramShapes}: weights get
 * U(-l, l) with l = sqrt(6 / (fan_in + fan_out)) (for conv kernels fans include the kernel area),
 * biases are 0, `dec.scale_raw` is 0 (s = softplus(0) + SCALE_MIN ≈ 0.694).
 */
export function randomParams(spec: MemberSpec, seed: number): MemberParams {
  const rng = new Rng(seed);
  const params: MemberParams = {};
  for (const [name, shape] of paramShapes(spec)) {
    const data = new Float32Array(shapeSize(shape));
    if (name.endsWith('.w')) {
      let fanIn: number;
      let fanOut: number;
      if (shape.length === 2) {
        fanIn = shape[0];
        fanOut = shape[1];
      } else {
        const area = shape[0] * shape[1];
        fanIn = area * shape[2];
        fanOut = area * shape[3];
      }
      const lim = Math.sqrt(6 / (fanIn + fanOut));
      for (let i = 0; i < data.length; i++) data[i] = (2 * rng.uniform() - 1) * lim;
    }
    params[name] = { shape: [...shape], data };
  }
  return params;
}
