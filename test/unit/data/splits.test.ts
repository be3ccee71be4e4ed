import { describe, expect, it } from 'vitest';
import {
  permutation,
  shuffled,
  bootstrapIndices,
  trainValidationSplit,
  creditSplit,
  repeatedCreditSplits,
  takeRows,
  takeValues,
  DataError,
} from '../../../src/data/index.js';

function isPermutation(p: ArrayLike<number>, n: number): boolean {
  if (p.length !== n) return false;
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (p[i] < 0 || p[i] >= n || seen[p[i]]) return false;
    seen[p[i]] = 1;
  }
  return true;
}
function overlap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const s = new Set(Array.from(a));
  return Array.from(b).filter((v) => s.has(v)).length;
}

describe('permutations and bootstrap', () => {
  it('permutation is a seeded permutation', () => {
    const p = permutation(1000, 5);
    expect(isPermutation(p, 1000)).toBe(true);
    expect(permutation(1000, 5)).toEqual(p);
    expect(permutation(1000, 6)).not.toEqual(p);
    expect(permutation(0, 1).length).toBe(0);
    expect(shuffled(['a', 'b', 'c'], 1).sort()).toEqual(['a', 'b', 'c']);
  });
  it('permutation positions are roughly uniform (chi-square-ish bound)', () => {
    // position of element 0 over 4,000 seeds of permutation(4): each of 4 positions ≈ 1,000
    const counts = [0, 0, 0, 0];
    for (let s = 0; s < 4000; s++) counts[permutation(4, s).indexOf(0)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(120);
  });
  it('bootstrap draws with replacement from 0..n-1, ≈63.2% unique', () => {
    const b = bootstrapIndices(10000, 3);
    expect(b.length).toBe(10000);
    expect(b.every((v) => v < 10000)).toBe(true);
    const unique = new Set(b).size / 10000;
    expect(unique).toBeGreaterThan(0.62); // 1 - 1/e = 0.632
    expect(unique).toBeLessThan(0.645);
    expect(bootstrapIndices(10000, 3)).toEqual(b);
    expect(bootstrapIndices(50, 1, 7).length).toBe(7);
    expect(bootstrapIndices(0, 1).length).toBe(0);
    expect(() => bootstrapIndices(0, 1, 5)).toThrow(DataError);
  });
  it('trainValidationSplit partitions 0..n-1', () => {
    const { train, validation } = trainValidationSplit(101, 0.2, 9);
    expect(validation.length).toBe(20);
    expect(train.length).toBe(81);
    expect(isPermutation([...train, ...validation], 101)).toBe(true);
    expect(() => trainValidationSplit(10, 1.5, 1)).toThrow(DataError);
  });
});

describe('credit protocol split', () => {
  // 1,000 records, frauds at every 20th position → 50 frauds, 950 normals
  const labels = Uint8Array.from({ length: 1000 }, (_, i) => (i % 20 === 7 ? 1 : 0));
  it('paper protocol: train on normals only; test = all frauds + as many held-out normals', () => {
    const s = creditSplit(labels, { seed: 1 });
    expect(s.testFrauds.length).toBe(50);
    expect(s.testNormals.length).toBe(50);
    expect(s.test.length).toBe(100);
    expect(Array.from(s.testLabels)).toEqual([...Array(50).fill(1), ...Array(50).fill(0)]);
    for (let k = 0; k < s.test.length; k++) expect(labels[s.test[k]]).toBe(s.testLabels[k]);
    expect(s.train.every((i) => labels[i] === 0)).toBe(true);
    expect(s.validationNormals.every((i) => labels[i] === 0)).toBe(true);
    // 950 normals - 50 held out = 900; validation 10% = 90; train 810
    expect(s.validationNormals.length).toBe(90);
    expect(s.train.length).toBe(810);
    expect(overlap(s.train, s.test)).toBe(0);
    expect(overlap(s.validationNormals, s.test)).toBe(0);
    expect(overlap(s.train, s.validationNormals)).toBe(0);
    // every record is used exactly once
    expect(isPermutation([...s.train, ...s.validationNormals, ...s.test], 1000)).toBe(true);
  });
  it('validation frauds and extra held-out normals never overlap test or train', () => {
    const s = creditSplit(labels, {
      seed: 2,
      validationFrauds: 10,
      heldOutNormals: 200,
      validationNormals: 100,
    });
    expect(s.validationFrauds.length).toBe(10);
    expect(s.testFrauds.length).toBe(40);
    expect(s.testNormals.length).toBe(40);
    expect(s.heldOutNormals.length).toBe(200);
    expect(overlap(s.testNormals, s.heldOutNormals)).toBe(40);
    expect(overlap(s.validationFrauds, s.testFrauds)).toBe(0);
    expect(overlap(s.heldOutNormals, s.train)).toBe(0);
    expect(overlap(s.heldOutNormals, s.validationNormals)).toBe(0);
    expect(s.validationNormals.length).toBe(100);
    expect(s.train.length).toBe(950 - 200 - 100);
    expect(
      isPermutation(
        [...s.train, ...s.validationNormals, ...s.heldOutNormals, ...s.validationFrauds, ...s.testFrauds],
        1000,
      ),
    ).toBe(true);
  });
  it('repeated splits differ by seed and are reproducible', () => {
    const r = repeatedCreditSplits(labels, [1, 2, 3, 4, 5]);
    expect(r.length).toBe(5);
    expect(r[0].testNormals).not.toEqual(r[1].testNormals);
    expect(creditSplit(labels, { seed: 3 })).toEqual(r[2]);
  });
  it('rejects impossible requests', () => {
    expect(() => creditSplit(labels, { seed: 1, validationFrauds: 50 })).toThrow(DataError);
    expect(() => creditSplit(labels, { seed: 1, heldOutNormals: 5000 })).toThrow(DataError);
    expect(() => creditSplit([0, 2, 1], { seed: 1 })).toThrow(DataError);
  });
});

describe('gathering', () => {
  it('takeRows and takeValues', () => {
    const x = Float32Array.from([1, 2, 3, 4, 5, 6]);
    expect(Array.from(takeRows(x, 2, [2, 0]))).toEqual([5, 6, 1, 2]);
    expect(Array.from(takeValues(Uint8Array.from([7, 8, 9]), [1, 1]))).toEqual([8, 8]);
    expect(() => takeRows(x, 2, [3])).toThrow(DataError);
  });
});
