import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { inputComplexity } from '../../../src/engine/complexity.js';
import { ScoringInputError } from '../../../src/engine/errors.js';
import { exportEnsembleOnnx } from '../../../src/engine/onnx/export.js';
import { OnnxScorer } from '../../../src/engine/scorer.js';
import { anomalyScores, needsComplexity } from '../../../src/engine/score-rules.js';
import { Rng } from '../../../src/engine/random.js';
import type { ScoreBatch } from '../../../src/engine/types.js';
import { TINY, tinyEnsemble } from './fixtures.js';

const D = 784;

describe('input complexity L(x)', () => {
  it('is 8·ln2 nats per byte of the raw DEFLATE stream of the 8-bit record', () => {
    const rng = new Rng(3);
    const x = Float32Array.from({ length: 2 * D }, () => Math.floor(rng.uniform() * 256));
    const L = inputComplexity(x, 2, D);
    for (let i = 0; i < 2; i++) {
      const bytes = deflateRawSync(Uint8Array.from(x.subarray(i * D, (i + 1) * D)), { level: 9 }).length;
      expect(L[i]).toBeCloseTo(bytes * 8 * Math.LN2, 3);
    }
  });

  it('orders inputs by complexity: blank < a drawn bar < noise', () => {
    const blank = new Float32Array(D);
    const bar = new Float32Array(D);
    for (let r = 4; r < 24; r++) bar[r * 28 + 14] = 255;
    const rng = new Rng(9);
    const noise = Float32Array.from({ length: D }, () => Math.floor(rng.uniform() * 256));
    const L = inputComplexity(Float32Array.from([...blank, ...bar, ...noise]), 3, D);
    expect(L[0]).toBeLessThan(L[1]);
    expect(L[1]).toBeLessThan(L[2]);
    // incompressible noise costs at least its 784 bytes
    expect(L[2]).toBeGreaterThanOrEqual(784 * 8 * Math.LN2);
  });

  it('rounds and clamps raw values to 0..255 (NaN → 0) and rejects a wrong length', () => {
    const a = inputComplexity(Float32Array.from([0.4, 254.6, 300, -5, NaN]), 1, 5)[0];
    const b = inputComplexity(Float32Array.from([0, 255, 255, 0, 0]), 1, 5)[0];
    expect(a).toBe(b);
    expect(() => inputComplexity(new Float32Array(5), 2, 5)).toThrow(ScoringInputError);
  });

  it("'neg_logp_ic' = −mean log p − L(x); without the complexity it is a typed error", () => {
    const batch: ScoreBatch = {
      n: 2,
      members: 1,
      logp: new Float32Array([-100, -50]),
      memberRate: new Float32Array([1, 1]),
      logpMean: new Float32Array([-100, -50]),
      logpVar: new Float32Array([0, 0]),
      waic: new Float32Array([-100, -50]),
      rate: new Float32Array([1, 1]),
    };
    expect(() => anomalyScores(batch, 'neg_logp_ic')).toThrow(/inputComplexity/);
    batch.complexity = new Float32Array([30, 70]);
    expect(Array.from(anomalyScores(batch, 'neg_logp_ic'))).toEqual([70, -20]);
    expect(
      Array.from(
        anomalyScores(batch, 'combined', {
          combined: { components: [{ score: 'neg_logp_ic', weight: 2, mean: 10, std: 5 }] },
        }),
      ),
    ).toEqual([24, -12]);
  });

  it('needsComplexity: the score itself, or a combined rule with an IC component', () => {
    expect(needsComplexity('neg_logp_ic')).toBe(true);
    expect(needsComplexity('neg_logp')).toBe(false);
    expect(needsComplexity('typicality')).toBe(false);
    const comb = (score: 'neg_logp' | 'neg_logp_ic') => ({
      combined: { components: [{ score, weight: 1, mean: 0, std: 1 }] },
    });
    expect(needsComplexity('combined', comb('neg_logp_ic'))).toBe(true);
    expect(needsComplexity('combined', comb('neg_logp'))).toBe(false);
  });

  it('OnnxScorer fills ScoreBatch.complexity only when asked, equal to inputComplexity', async () => {
    const spec = tinyEnsemble(TINY.mlpBernoulli, { transform: { kind: 'scale', factor: 1 / 255 } });
    const d = spec.inputDim;
    const rng = new Rng(5);
    const n = 9;
    const x = Float32Array.from({ length: n * d }, () => Math.floor(rng.uniform() * 256));
    const plain = await OnnxScorer.create(exportEnsembleOnnx(spec));
    const withC = await OnnxScorer.create(exportEnsembleOnnx(spec), { inputComplexity: true, chunkSize: 4 });
    try {
      const a = await plain.scoreBatch(x, n);
      const b = await withC.scoreBatch(x, n);
      expect(a.complexity).toBeUndefined();
      expect(Array.from(b.complexity!)).toEqual(Array.from(inputComplexity(x, n, d)));
      expect(b.logpMean).toEqual(a.logpMean);
    } finally {
      await Promise.all([plain.close(), withC.close()]);
    }
  });
});
