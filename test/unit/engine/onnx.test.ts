import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { exportEnsembleOnnx } from '../../../src/engine/onnx/export.js';
import { onnx } from '../../../src/engine/onnx/graph.js';
import { OnnxScorer } from '../../../src/engine/scorer.js';
import type { EnsembleSpec, MemberSpec } from '../../../src/engine/spec.js';
import { makeMafPrior } from '../../../src/engine/vae.js';
import { ModelSpecError } from '../../../src/engine/errors.js';
import { makeEps } from '../../../src/engine/random.js';
import { ensembleScoresF64, memberScoresF64 } from '../../reference/f64.js';
import { TINY, tinyEnsemble, uniformBatch } from './fixtures.js';

/** Runs the exported graph directly and returns every output (incl. member_elbo). */
async function runGraph(
  spec: EnsembleSpec,
  x: Float32Array,
  n: number,
  bernoulliDotTrick = true,
  convTranspose: 'Conv' | 'ConvTranspose' = 'Conv',
): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(
    exportEnsembleOnnx(spec, { bernoulliDotTrick, convTranspose }),
    {
      graphOptimizationLevel: 'all',
    },
  );
  try {
    const res = await session.run({ x: new ort.Tensor('float32', x, [n, spec.inputDim]) });
    return Object.fromEntries(
      Object.entries(res).map(([k, v]) => [k, (v as ort.Tensor).data as Float32Array]),
    );
  } finally {
    await session.release();
  }
}

function expectRel(actual: number, expected: number, rel: number, abs = 0): void {
  expect(Number.isFinite(actual)).toBe(true);
  const tol = Math.max(rel * Math.abs(expected), abs);
  if (Math.abs(actual - expected) > tol)
    throw new Error(`|${actual} - ${expected}| = ${Math.abs(actual - expected)} > ${tol}`);
}

describe('ONNX export vs float64 reference (same weights, same eps)', () => {
  for (const [name, member] of Object.entries(TINY)) {
    const variants: Array<[boolean, 'Conv' | 'ConvTranspose']> =
      member.arch.kind === 'conv'
        ? [
            [true, 'Conv'],
            [true, 'ConvTranspose'],
          ]
        : member.likelihood === 'bernoulli'
          ? [
              [true, 'Conv'],
              [false, 'Conv'],
            ]
          : [[true, 'Conv']];
    for (const [trick, convTranspose] of variants) {
      const label = `${name}${trick ? '' : ' (no dot trick)'}${convTranspose === 'ConvTranspose' ? ' (decoder as ConvTranspose)' : ''}`;
      it(`${label}: IWAE, ELBO, rate per member to 1e-5 relative`, async () => {
        const spec = tinyEnsemble(member, { members: 2, k: 5 });
        const n = 4;
        const x = uniformBatch(n, spec.inputDim, 11);
        const out = await runGraph(spec, x, n, trick, convTranspose);
        for (let i = 0; i < n; i++) {
          const xi = x.subarray(i * spec.inputDim, (i + 1) * spec.inputDim);
          for (let m = 0; m < 2; m++) {
            const ref = memberScoresF64(spec, m, xi);
            expectRel(out.logp[i * 2 + m], ref.iwae, 1e-5);
            expectRel(out.member_elbo[i * 2 + m], ref.elbo, 1e-5);
            // rate can be near 0: relative to the magnitude of the terms it is a difference of.
            expectRel(out.member_rate[i * 2 + m], ref.rate, 1e-5, 1e-5 * Math.max(1, Math.abs(ref.elbo)));
          }
        }
      });
    }
  }

  it('applies the minmax transform inside the graph (zero range → 0, clipping)', async () => {
    const min = [0, -1, 2, 5, 0, 0];
    const max = [1, 1, 4, 5, 10, 0.5];
    const spec = tinyEnsemble(TINY.mlpGaussian, { transform: { kind: 'minmax', min, max } });
    const n = 3;
    const x = uniformBatch(n, 6, 5, -3, 12);
    const scorer = await OnnxScorer.create(exportEnsembleOnnx(spec));
    const got = await scorer.scoreBatch(x, n);
    await scorer.close();
    for (let i = 0; i < n; i++)
      expectRel(got.logpMean[i], ensembleScoresF64(spec, x.subarray(i * 6, (i + 1) * 6)).logpMean, 1e-5);
  });

  it('applies the standard transform inside the graph', async () => {
    const spec = tinyEnsemble(TINY.mlpBernoulli, {
      transform: { kind: 'standard', mean: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6], std: [1, 2, 0.5, 3, 0.25, 1] },
    });
    const x = uniformBatch(2, 6, 6);
    const scorer = await OnnxScorer.create(exportEnsembleOnnx(spec));
    const got = await scorer.scoreBatch(x, 2);
    await scorer.close();
    for (let i = 0; i < 2; i++)
      expectRel(got.logpMean[i], ensembleScoresF64(spec, x.subarray(i * 6, (i + 1) * 6)).logpMean, 1e-5);
  });

  it('ensemble outputs equal a direct computation from the members’ log p', async () => {
    const spec = tinyEnsemble(TINY.mlpMaf, { members: 4, k: 6 });
    const n = 20;
    const x = uniformBatch(n, 6, 3);
    const scorer = await OnnxScorer.create(exportEnsembleOnnx(spec));
    const s = await scorer.scoreBatch(x, n);
    await scorer.close();
    for (let i = 0; i < n; i++) {
      const lp = Array.from(s.logp.subarray(i * 4, i * 4 + 4), Number);
      const mean = lp.reduce((a, b) => a + b, 0) / 4;
      const v = lp.reduce((a, b) => a + (b - mean) ** 2, 0) / 4;
      const r = Array.from(s.memberRate.subarray(i * 4, i * 4 + 4), Number).reduce((a, b) => a + b, 0) / 4;
      expectRel(s.logpMean[i], mean, 1e-6, 1e-6);
      expectRel(s.logpVar[i], v, 1e-4, 1e-6);
      expectRel(s.waic[i], mean - v, 1e-6, 1e-5);
      expectRel(s.rate[i], r, 1e-6, 1e-6);
    }
  });
});

describe('conv decoder layouts', () => {
  it('the cell layout (default) and ConvTranspose agree at the benchmarked width (base 8, MAF), the f64 reference on a record', async () => {
    const member: MemberSpec = {
      arch: { kind: 'conv', height: 28, width: 28, channels: 1, base: 8, latentDim: 16 },
      likelihood: 'bernoulli',
      prior: makeMafPrior(16, 2, [32], 1),
    };
    const spec = tinyEnsemble(member, { members: 2, k: 4 });
    const n = 3;
    const x = uniformBatch(n, spec.inputDim, 5);
    const cell = await runGraph(spec, x, n, true, 'Conv');
    const tr = await runGraph(spec, x, n, true, 'ConvTranspose');
    for (const k of ['logp', 'member_elbo', 'member_rate'])
      for (let i = 0; i < cell[k].length; i++) expectRel(cell[k][i], tr[k][i], 1e-5, 1e-4);
    const ref = memberScoresF64(spec, 1, x.subarray(0, spec.inputDim));
    expectRel(cell.logp[1], ref.iwae, 1e-5);
    // the default graph has no ConvTranspose node; the ConvTranspose one has six per member
    const ops = (o: 'Conv' | 'ConvTranspose') =>
      onnx.ModelProto.decode(exportEnsembleOnnx(spec, { convTranspose: o })).graph!.node!.map(
        (nd) => nd.opType,
      );
    expect(ops('Conv').filter((t) => t === 'ConvTranspose')).toHaveLength(0);
    expect(ops('ConvTranspose').filter((t) => t === 'ConvTranspose')).toHaveLength(12);
  });
});

describe('bounds', () => {
  it("OnnxScorer returns each member's ELBO when asked (ScoreBatch.memberElbo) across chunks, equal to the f64 reference and ≤ its IWAE", async () => {
    const spec = tinyEnsemble(TINY.mlpGaussian, { members: 2, k: 8 });
    const n = 7;
    const x = uniformBatch(n, spec.inputDim, 23);
    const plain = await OnnxScorer.create(exportEnsembleOnnx(spec), { chunkSize: 3 });
    expect((await plain.scoreBatch(x, n)).memberElbo).toBeUndefined(); // not fetched unless asked
    await plain.close();
    const scorer = await OnnxScorer.create(exportEnsembleOnnx(spec), { chunkSize: 3, memberElbo: true });
    try {
      const b = await scorer.scoreBatch(x, n);
      expect(b.memberElbo).toBeInstanceOf(Float32Array);
      expect(b.memberElbo!.length).toBe(n * 2);
      for (let i = 0; i < n; i++)
        for (let m = 0; m < 2; m++) {
          const ref = memberScoresF64(spec, m, x.subarray(i * spec.inputDim, (i + 1) * spec.inputDim));
          expectRel(b.memberElbo![i * 2 + m], ref.elbo, 1e-5);
          expect(b.memberElbo![i * 2 + m]).toBeLessThanOrEqual(b.logp[i * 2 + m] + 1e-4);
        }
    } finally {
      await scorer.close();
    }
  });

  it('IWAE ≥ ELBO on average (and per record, by Jensen with the same samples)', async () => {
    const spec = tinyEnsemble(TINY.mlpGaussian, { members: 2, k: 8 });
    const n = 50;
    const out = await runGraph(spec, uniformBatch(n, 6, 21), n);
    let sIwae = 0;
    let sElbo = 0;
    for (let i = 0; i < n * 2; i++) {
      expect(out.logp[i]).toBeGreaterThanOrEqual(out.member_elbo[i] - 1e-4);
      sIwae += out.logp[i];
      sElbo += out.member_elbo[i];
    }
    expect(sIwae / n).toBeGreaterThan(sElbo / n);
  });

  it('IWAE-K is non-decreasing in K on average over noise draws', async () => {
    // One set of weights; 32 "members" that differ only in their eps, so the mean over members and
    // records estimates E_eps[IWAE-K] (which is monotone in K; a single fixed eps need not be).
    const n = 100;
    const x = uniformBatch(n, 6, 22);
    const means: number[] = [];
    for (const k of [1, 4, 16, 64]) {
      const base = tinyEnsemble(TINY.mlpBernoulli, { members: 1, k, seed: 5 });
      const spec: EnsembleSpec = {
        ...base,
        members: Array.from({ length: 32 }, (_, m) => ({
          seed: m,
          params: base.members[0].params,
          eps: makeEps(1000 + 17 * m + k, k, 2),
        })),
      };
      const out = await runGraph(spec, x, n);
      means.push(out.logp.reduce((a, b) => a + b, 0) / out.logp.length);
    }
    for (let i = 1; i < means.length; i++) expect(means[i]).toBeGreaterThanOrEqual(means[i - 1]);
  });

  it('stays finite and matches f64 when log p(x|z) is far below -1e4 (gaussian, far input)', async () => {
    const spec = tinyEnsemble(TINY.mlpGaussian, { members: 2, k: 5 });
    for (const m of spec.members) m.params['dec.scale_raw'].data.fill(-12); // s ≈ 1e-3 + 6e-6
    const n = 3;
    const x = uniformBatch(n, 6, 23, 50, 200);
    const out = await runGraph(spec, x, n);
    for (let i = 0; i < n; i++) {
      const ref = ensembleScoresF64(spec, x.subarray(i * 6, (i + 1) * 6));
      expect(ref.logpMean).toBeLessThan(-1e4);
      for (let m = 0; m < 2; m++) expectRel(out.logp[i * 2 + m], ref.logp[m], 1e-5);
      expect(Number.isFinite(out.waic[i])).toBe(true);
      expectRel(out.logp_var[i], ref.logpVar, 1e-3, 1e-3 * Math.abs(ref.logpMean));
    }
  });

  it('student-t: matches f64 for inputs far in the tails (log p falls like (ν+1)·log|r|, not r²/2)', async () => {
    const spec = tinyEnsemble(TINY.mlpStudent, { members: 2, k: 5 });
    const n = 3;
    const x = uniformBatch(n, 6, 29, 50, 2000);
    const out = await runGraph(spec, x, n);
    const gauss = tinyEnsemble({ ...TINY.mlpStudent, likelihood: 'gaussian' }, { members: 2, k: 5 });
    for (let i = 0; i < n; i++) {
      const xi = x.subarray(i * 6, (i + 1) * 6);
      const ref = ensembleScoresF64(spec, xi);
      for (let m = 0; m < 2; m++) expectRel(out.logp[i * 2 + m], ref.logp[m], 1e-5);
      // same weights under a Gaussian: far more negative (quadratic tails)
      expect(ensembleScoresF64(gauss, xi).logpMean).toBeLessThan(ref.logpMean - 100);
    }
  });

  it('mixed: stays finite and matches f64 with huge logits on its Bernoulli columns', async () => {
    const spec = tinyEnsemble(TINY.mlpMixed, { members: 2, k: 5 });
    // columns 1, 4, 5 are Bernoulli: logits ±5e3 (−log σ(|o|) underflows to 0 in float32)
    for (const m of spec.members) m.params['dec.out.b'].data.set([0.1, -5e3, 0.2, -0.1, 4e3, -6e3]);
    const n = 2;
    const x = new Float32Array([0.3, 1, -0.2, 0.8, 0, 1, 0.3, 0, -0.2, 0.8, 1, 0]);
    const out = await runGraph(spec, x, n);
    for (let i = 0; i < n; i++) {
      const ref = ensembleScoresF64(spec, x.subarray(i * 6, (i + 1) * 6));
      // row 0 contradicts every huge logit (≈ −15,000 nats), row 1 agrees with them (a few nats)
      if (i === 0) expect(ref.logpMean).toBeLessThan(-1e4);
      else expect(ref.logpMean).toBeGreaterThan(-50);
      for (let m = 0; m < 2; m++) expectRel(out.logp[i * 2 + m], ref.logp[m], 1e-5);
    }
  });

  it('stays finite and matches f64 with huge Bernoulli logits', async () => {
    const spec = tinyEnsemble(TINY.mlpBernoulli, { members: 2, k: 5 });
    for (const m of spec.members) m.params['dec.out.b'].data.set([5e3, -5e3, 4e3, -4e3, 6e3, -6e3]);
    const n = 2;
    const x = new Float32Array([0, 1, 0, 1, 0, 1, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
    const out = await runGraph(spec, x, n);
    for (let i = 0; i < n; i++) {
      const ref = ensembleScoresF64(spec, x.subarray(i * 6, (i + 1) * 6));
      expect(ref.logpMean).toBeLessThan(-1e4);
      for (let m = 0; m < 2; m++) expectRel(out.logp[i * 2 + m], ref.logp[m], 1e-5);
    }
  });
});

describe('export validation', () => {
  it('mixed: binaryColumns are required, ascending and in range, and belong to mixed only (MLP only)', () => {
    const ok = tinyEnsemble(TINY.mlpMixed);
    expect(() => exportEnsembleOnnx(ok)).not.toThrow();
    const none = tinyEnsemble({ ...TINY.mlpMixed, binaryColumns: [] });
    expect(() => exportEnsembleOnnx(none)).toThrow(/needs binaryColumns/);
    const order = tinyEnsemble({ ...TINY.mlpMixed, binaryColumns: [4, 1] });
    expect(() => exportEnsembleOnnx(order)).toThrow(/ascending column indices in 0..5/);
    const range = tinyEnsemble({ ...TINY.mlpMixed, binaryColumns: [1, 6] });
    expect(() => exportEnsembleOnnx(range)).toThrow(/ascending column indices/);
    const gauss = tinyEnsemble({ ...TINY.mlpGaussian, binaryColumns: [1] });
    expect(() => exportEnsembleOnnx(gauss)).toThrow(/belong to the mixed likelihood, not gaussian/);
  });

  it("mixed and gaussian graphs of the same weights differ as the reference's per-column terms do", async () => {
    // Same weights: the mixed graph's log p(x|z) differs from the all-Gaussian one only on the binary
    // columns. With one sample (K 1) and eps 0 the bound is log p(x|z=μ) + log p(μ) − log q(μ), so the
    // difference of the two graphs is the per-column difference at the decoder output o of z = μ.
    const mixed = tinyEnsemble(TINY.mlpMixed, { members: 1, k: 1 });
    mixed.members[0].eps.fill(0);
    const gauss: EnsembleSpec = {
      ...mixed,
      member: { ...TINY.mlpMixed, likelihood: 'gaussian', binaryColumns: undefined },
    };
    delete gauss.member.binaryColumns;
    const x = new Float32Array([0.3, 1, -0.2, 0.8, 0, 1]);
    const a = await runGraph(mixed, x, 1);
    const b = await runGraph(gauss, x, 1);
    const refM = memberScoresF64(mixed, 0, x);
    const refG = memberScoresF64(gauss, 0, x);
    expectRel(a.logp[0], refM.iwae, 1e-5);
    expectRel(b.logp[0], refG.iwae, 1e-5);
    expect(Math.abs(a.logp[0] - b.logp[0] - (refM.iwae - refG.iwae))).toBeLessThan(1e-3);
    expect(refM.iwae).not.toBeCloseTo(refG.iwae, 2);
  });

  it('rejects a missing parameter, a wrong shape and a bad permutation with ModelSpecError', () => {
    const a = tinyEnsemble(TINY.mlpBernoulli);
    delete a.members[1].params['dec.out.b'];
    expect(() => exportEnsembleOnnx(a)).toThrow(/member 1: missing parameter dec.out.b/);
    const b = tinyEnsemble(TINY.mlpBernoulli);
    b.members[0].params['enc.h0.w'].shape = [5, 6];
    expect(() => exportEnsembleOnnx(b)).toThrow(ModelSpecError);
    const c = tinyEnsemble(TINY.mlpMaf);
    if (c.member.prior.kind === 'maf') c.member.prior.permutations[0] = [0, 0, 1];
    expect(() => exportEnsembleOnnx(c)).toThrow(/not a permutation/);
  });
});
