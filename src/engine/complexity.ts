/**
 * Input complexity L(x) (Serrà et al., "Input complexity and out-of-distribution detection with
 * likelihood-based generative models", ICLR 2020): the length of the record under a generic lossless
 * compressor, in nats. Likelihood models give simple inputs (much background, few strokes: MNIST under
 * a Fashion-MNIST model) HIGH likelihood for their simplicity, not their familiarity; S(x) = −log p(x)
 * − L(x) removes that part, leaving how much better the model compresses x than a model of nothing in
 * particular does (score 'neg_logp_ic' in score-rules.ts).
 *
 * The compressor is DEFLATE (node:zlib, raw stream, level 9) over the record's raw values rounded and
 * clamped to 0..255, i.e. defined for 8-bit inputs such as image frames; L(x) = 8·bytes·ln 2 nats.
 * Constant header costs cancel in rankings and in z-scores.
 */
import { deflateRawSync } from 'node:zlib';
import { ScoringInputError } from './errors.js';

/** Complexity in nats of each of the n records of width d in x (raw values, 0..255). */
export function inputComplexity(x: Float32Array, n: number, d: number): Float32Array {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(d) || d < 1 || x.length !== n * d)
    throw new ScoringInputError(`inputComplexity: x has ${x.length} values, expected ${n}·${d}`);
  const out = new Float32Array(n);
  const buf = Buffer.alloc(d);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < d; j++) {
      const v = x[i * d + j];
      // NaN → 0; the scorer rejects nothing here, the model's own scores carry the NaN
      buf[j] = v > 255 ? 255 : v > 0 ? Math.round(v) : 0;
    }
    out[i] = deflateRawSync(buf, { level: 9 }).length * 8 * Math.LN2;
  }
  return out;
}
