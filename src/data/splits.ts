/**
 * Seeded permutations, splits and bootstrap resampling. All randomness comes from the project's
 * seeded Rng (sfc32), so a seed gives the same split on every run and platform. Index arrays are
 * Uint32Array of record positions.
 */
import { Rng } from '../engine/random.js';
import { DataError } from './errors.js';

function checkCount(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0)
    throw new DataError('DATA_BAD_ARGUMENT', `${name} must be a non-negative integer, got ${v}`);
}

/** A uniformly random permutation of 0..n-1 (Fisher–Yates with the seeded Rng). */
export function permutation(n: number, seed: number): Uint32Array {
  checkCount('n', n);
  const rng = new Rng(seed);
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const t = p[i];
    p[i] = p[j];
    p[j] = t;
  }
  return p;
}

/** Returns a shuffled copy of `values` (seeded). */
export function shuffled<T>(values: readonly T[], seed: number): T[] {
  const p = permutation(values.length, seed);
  return Array.from(p, (i) => values[i]);
}

/**
 * `size` indices drawn uniformly WITH replacement from 0..n-1 (default size n): a bootstrap
 * resample, e.g. to decorrelate ensemble members. Seeded.
 */
export function bootstrapIndices(n: number, seed: number, size = n): Uint32Array {
  checkCount('n', n);
  checkCount('size', size);
  if (n === 0 && size > 0) throw new DataError('DATA_BAD_ARGUMENT', 'cannot bootstrap from 0 records');
  const rng = new Rng(seed);
  const out = new Uint32Array(size);
  for (let i = 0; i < size; i++) out[i] = rng.int(n);
  return out;
}

/** Splits 0..n-1 (seeded shuffle) into train and validation; validation gets round(n·fraction). */
export function trainValidationSplit(
  n: number,
  validationFraction: number,
  seed: number,
): { train: Uint32Array; validation: Uint32Array } {
  if (!(validationFraction >= 0 && validationFraction <= 1))
    throw new DataError(
      'DATA_BAD_ARGUMENT',
      `validationFraction must be in [0, 1], got ${validationFraction}`,
    );
  const p = permutation(n, seed);
  const nv = Math.round(n * validationFraction);
  return { validation: p.slice(0, nv), train: p.slice(nv) };
}

export interface CreditSplitOptions {
  seed: number;
  /**
   * Frauds set aside for choosing options (validation), never in the test set. Default 0: every fraud
   * is a test fraud (the paper's protocol).
   */
  validationFrauds?: number;
  /**
   * Normals held out of training AND validation, from which the balanced test normals are taken
   * (the first |testFrauds| of them). Default = |testFrauds| (the paper: exactly as many held-out
   * normals as frauds). Larger values give the fraud-rate-realistic view (AP over all held-out normals).
   * A number in (0, 1) is a fraction of all normals.
   */
  heldOutNormals?: number;
  /**
   * Normals for validation (early stopping, threshold calibration, option choice); a number in (0, 1)
   * is a fraction of the normals left after the held-out ones. Default 0.1.
   */
  validationNormals?: number;
}

export interface CreditSplit {
  seed: number;
  /** Normal records only. */
  train: Uint32Array;
  validationNormals: Uint32Array;
  validationFrauds: Uint32Array;
  testFrauds: Uint32Array;
  /** |testNormals| = |testFrauds|; a subset of heldOutNormals. */
  testNormals: Uint32Array;
  /** testFrauds then testNormals. */
  test: Uint32Array;
  /** Labels of `test` (1 then 0). */
  testLabels: Uint8Array;
  /** Every normal used neither for training nor validation (includes testNormals). */
  heldOutNormals: Uint32Array;
}

function amount(v: number, of: number, name: string): number {
  if (!(v >= 0)) throw new DataError('DATA_BAD_ARGUMENT', `${name} must be >= 0, got ${v}`);
  if (v > 0 && v < 1) return Math.round(v * of);
  if (!Number.isInteger(v))
    throw new DataError(
      'DATA_BAD_ARGUMENT',
      `${name} must be an integer count or a fraction in (0, 1), got ${v}`,
    );
  return v;
}

/**
 * The credit-fraud protocol (paper, Table 3): train on normal transactions only; test = all frauds
 * (less any validation frauds) + the same number of held-out normals; a validation split of normals
 * (and optionally frauds) that never overlaps test. Disjointness is by record position. Seeded: use
 * different seeds for repeated splits ({@link repeatedCreditSplits}).
 */
export function creditSplit(labels: ArrayLike<number>, options: CreditSplitOptions): CreditSplit {
  const frauds: number[] = [];
  const normals: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i];
    if (l === 1) frauds.push(i);
    else if (l === 0) normals.push(i);
    else throw new DataError('DATA_BAD_ARGUMENT', `label at ${i} is ${l}; expected 0 or 1`);
  }
  const seed = options.seed;
  // independent streams for frauds and normals, derived from the seed
  const fp = permutation(frauds.length, seed * 2 + 1);
  const np = permutation(normals.length, seed * 2 + 2);
  const fr = Uint32Array.from(fp, (i) => frauds[i]);
  const no = Uint32Array.from(np, (i) => normals[i]);

  const nvf = amount(options.validationFrauds ?? 0, frauds.length, 'validationFrauds');
  if (nvf >= frauds.length)
    throw new DataError(
      'DATA_BAD_ARGUMENT',
      `validationFrauds (${nvf}) leaves no test frauds (there are ${frauds.length})`,
    );
  const validationFrauds = fr.slice(0, nvf);
  const testFrauds = fr.slice(nvf);
  const nt = testFrauds.length;
  const nh = Math.max(nt, amount(options.heldOutNormals ?? nt, normals.length, 'heldOutNormals'));
  if (nh > normals.length)
    throw new DataError(
      'DATA_BAD_ARGUMENT',
      `need ${nh} held-out normals but there are only ${normals.length} normals`,
    );
  const heldOutNormals = no.slice(0, nh);
  const testNormals = no.slice(0, nt);
  const rest = no.subarray(nh);
  const nvn = amount(options.validationNormals ?? 0.1, rest.length, 'validationNormals');
  if (nvn > rest.length)
    throw new DataError(
      'DATA_BAD_ARGUMENT',
      `validationNormals (${nvn}) exceeds the ${rest.length} normals left after the held-out set`,
    );
  const validationNormals = rest.slice(0, nvn);
  const train = rest.slice(nvn);
  const test = new Uint32Array(2 * nt);
  test.set(testFrauds, 0);
  test.set(testNormals, nt);
  const testLabels = new Uint8Array(2 * nt);
  testLabels.fill(1, 0, nt);
  return {
    seed,
    train,
    validationNormals,
    validationFrauds,
    testFrauds,
    testNormals,
    test,
    testLabels,
    heldOutNormals,
  };
}

/** {@link creditSplit} once per seed. */
export function repeatedCreditSplits(
  labels: ArrayLike<number>,
  seeds: readonly number[],
  options: Omit<CreditSplitOptions, 'seed'> = {},
): CreditSplit[] {
  return seeds.map((seed) => creditSplit(labels, { ...options, seed }));
}

/** Gathers rows of a row-major [n, d] matrix by index. */
export function takeRows(x: Float32Array, d: number, indices: ArrayLike<number>): Float32Array {
  const out = new Float32Array(indices.length * d);
  const n = x.length / d;
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(i >= 0 && i < n))
      throw new DataError('DATA_BAD_ARGUMENT', `row index ${i} out of range 0..${n - 1}`);
    out.set(x.subarray(i * d, (i + 1) * d), k * d);
  }
  return out;
}

/** Gathers entries of a typed array by index. */
export function takeValues<T extends Uint8Array | Int32Array | Float32Array | Float64Array | Uint32Array>(
  a: T,
  indices: ArrayLike<number>,
): T {
  const Ctor = a.constructor as { new (n: number): T };
  const out = new Ctor(indices.length);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    if (!(i >= 0 && i < a.length))
      throw new DataError('DATA_BAD_ARGUMENT', `index ${i} out of range 0..${a.length - 1}`);
    out[k] = a[i];
  }
  return out;
}
