/**
 * The image benchmark's data, in one place for its VAE columns (run.ts) and its WGAN columns
 * (wgan.ts): the six data sets, the seeded training split of each trained-on set, and the OoD sets
 * (same seeds for both, so the two tables score the very same images).
 */
import {
  loadFashionMnist,
  loadMnist,
  loadNotMnist,
  loadOmniglot,
  type LabeledImages,
} from '../../src/data/datasets.js';
import { gaussianNoiseImages, hflipImages, uniformNoiseImages, vflipImages } from '../../src/data/ood.js';
import type { Command } from 'commander';
import { permutation } from '../../src/data/splits.js';
import type { OodName, TrainSet } from './paper.js';

export const D = 784;

export interface ImageData {
  mnistTrain: LabeledImages;
  mnistTest: LabeledImages;
  fashionTrain: LabeledImages;
  fashionTest: LabeledImages;
  notmnist: LabeledImages;
  omniglot: LabeledImages;
}

export async function loadImageData(dir: string | undefined): Promise<ImageData> {
  const [mnistTrain, mnistTest, fashionTrain, fashionTest, notmnist, omniglot] = await Promise.all([
    loadMnist(dir, 'train'),
    loadMnist(dir, 'test'),
    loadFashionMnist(dir, 'train'),
    loadFashionMnist(dir, 'test'),
    loadNotMnist(dir),
    loadOmniglot(dir, 'evaluation', { size: 28 }),
  ]);
  return { mnistTrain, mnistTest, fashionTrain, fashionTest, notmnist, omniglot };
}

/** Raw pixel values 0..255 (what the stream hands the scorer) of the first `count` images in `order`. */
export function rawImages(
  set: LabeledImages,
  order: ArrayLike<number> | null,
  count: number,
): { raw: Float32Array; n: number } {
  const total = set.images.count;
  const n = Math.min(count, order ? order.length : total);
  const raw = new Float32Array(n * D);
  const px = set.images.pixels;
  for (let k = 0; k < n; k++) {
    const i = order ? order[k] : k;
    for (let j = 0; j < D; j++) raw[k * D + j] = px[i * D + j];
  }
  return { raw, n };
}

export function fromUnit(pixels: Float32Array): Float32Array {
  return pixels.map((v) => v * 255);
}

export function flip(raw: Float32Array, n: number, dir: 'h' | 'v'): Float32Array {
  const img = { count: n, height: 28, width: 28, pixels: raw };
  return (dir === 'h' ? hflipImages(img) : vflipImages(img)).pixels;
}

/** One trained-on set: its splits (seeded permutation: valN validation images, then trainN training). */
export interface TrainSplit {
  trainSet: LabeledImages;
  testSet: LabeledImages;
  otherTest: LabeledImages;
  valIdx: Uint32Array;
  trIdx: Uint32Array;
  /** The training images, raw. */
  tr: { raw: Float32Array; n: number };
}

export function trainSplit(
  data: ImageData,
  t: TrainSet,
  seed: number,
  valN: number,
  trainN: number,
): TrainSplit {
  const trainSet = t === 'mnist' ? data.mnistTrain : data.fashionTrain;
  const perm = permutation(trainSet.images.count, seed * 7919 + (t === 'mnist' ? 1 : 2));
  const valIdx = perm.subarray(0, valN);
  const trIdx = perm.subarray(valN, valN + trainN);
  return {
    trainSet,
    testSet: t === 'mnist' ? data.mnistTest : data.fashionTest,
    otherTest: t === 'mnist' ? data.fashionTest : data.mnistTest,
    valIdx,
    trIdx,
    tr: rawImages(trainSet, trIdx, trainN),
  };
}

/**
 * The held-out training images of a split, halved: `normal` (the first half, the in-distribution side
 * of validation) and `source` (the second half, the images the corruption proxies are made from), each
 * at most `cap` images. Neither half is ever trained on.
 */
export function validationHalves(
  split: TrainSplit,
  cap = Infinity,
): { normal: { raw: Float32Array; n: number }; source: { raw: Float32Array; n: number } } {
  const { valIdx, trainSet } = split;
  const half = Math.floor(valIdx.length / 2);
  return {
    normal: rawImages(trainSet, valIdx.subarray(0, half), Math.min(half, cap)),
    source: rawImages(trainSet, valIdx.subarray(half), Math.min(valIdx.length - half, cap)),
  };
}

/**
 * The OoD sets of one trained-on set, raw: Omniglot (seeded order), notMNIST, the other data set's
 * test images, uniform and Gaussian noise (seeded), flips of the in-distribution test images, and the
 * adversarial images the caller made (raw).
 */
export function oodSets(
  data: ImageData,
  split: TrainSplit,
  test: { raw: Float32Array; n: number },
  maxEval: number,
  seed: number,
  adversarial: { raw: Float32Array; n: number },
): Record<OodName, { raw: Float32Array; n: number }> {
  return {
    omniglot: rawImages(data.omniglot, permutation(data.omniglot.images.count, seed + 11), maxEval),
    notmnist: rawImages(data.notmnist, null, maxEval),
    other: rawImages(split.otherTest, null, maxEval),
    uniform: { raw: fromUnit(uniformNoiseImages(maxEval, 28, 28, seed + 101).pixels), n: maxEval },
    gaussian: { raw: fromUnit(gaussianNoiseImages(maxEval, 28, 28, seed + 202).pixels), n: maxEval },
    hflip: { raw: flip(test.raw, test.n, 'h'), n: test.n },
    vflip: { raw: flip(test.raw, test.n, 'v'), n: test.n },
    adversarial,
  };
}

/** The noise the adversarial images start from: Gaussian noise images in [0, 1] (seeded). */
export function adversarialNoise(n: number, seed: number): Float32Array {
  return gaussianNoiseImages(n, 28, 28, seed + 303).pixels;
}

// ---------------------------------------------------------------- command-line flags (both columns)

/**
 * The options both image benchmarks take (run.ts: the VAE columns, wgan.ts: the WGAN columns);
 * `what` names their members and steps in the help text.
 */
export function imageCommonOptions(
  program: Command,
  what: { quick: string; members: string; steps: string },
): Command {
  return program
    .option('--quick', `CI smoke settings (${what.quick}, few steps, subsets of the real data)`, false)
    .option('--train <set>', 'mnist | fashion | both', 'both')
    .option('--out <dir>', 'report directory')
    .option('--data <dir>', 'data directory (default $GENSEMBLE_DATA_DIR or ./data)')
    .option('--seed <n>', 'base seed', '0')
    .option('--members <m>', `${what.members} (override)`)
    .option('--steps <n>', `${what.steps} (override)`)
    .option('--max-eval <n>', 'records per evaluated set (override)');
}

/** `--train mnist | fashion | both` → the trained-on sets. */
export function parseTrainSets(v: string): TrainSet[] {
  if (v === 'both') return ['mnist', 'fashion'];
  if (v === 'mnist' || v === 'fashion') return [v];
  throw new Error(`--train must be mnist, fashion or both, got ${v}`);
}

/** A non-negative integer flag, or undefined when not given; a clear error for anything else. */
export function intFlag(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const x = Number(v);
  if (!Number.isInteger(x) || x < 0) throw new Error(`${flag} must be a non-negative integer, got ${v}`);
  return x;
}
