/**
 * Loaders for the image data sets (MNIST, Fashion-MNIST, notMNIST, Omniglot) and, re-exported from
 * ./credit.ts, the credit-card CSV.
 *
 * Data directory: the `dir` argument, else the env variable GENSEMBLE_DATA_DIR, else `./data`
 * (see {@link resolveDataDir}). Layout (that of the project's shared data folder):
 *
 *   <dir>/SHA256SUMS                    optional; paths relative to <dir>, e.g. "mnist/t10k-images-idx3-ubyte.gz"
 *   <dir>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]
 *   <dir>/fashion-mnist/  same names as mnist
 *   <dir>/notmnist/t10k-{images-idx3,labels-idx1}-ubyte[.gz]          (letters A..J = labels 0..9)
 *   <dir>/omniglot/images_{background,evaluation}-images-idx3-ubyte[.gz]   105×105 uint8, 255 = ink
 *   <dir>/omniglot/images_{background,evaluation}-labels-idx1-int[.gz]     int32 character index
 *   <dir>/creditcard/creditcard-subset.csv.gz  or a user's Kaggle creditcard.csv
 *
 * Each file is looked up first in the data set's subfolder, then in <dir> itself (so `dir` may also
 * point straight at e.g. the mnist folder), with and without `.gz`; the original MNIST web names with
 * a dot (`train-images.idx3-ubyte`) are accepted too. Gzip is detected from the content.
 *
 * Checksums: with `verify: 'if-listed'` (default) a file is checked against a SHA256SUMS found in
 * <dir> (or in the subfolder) when that listing names it; `verify: true` requires a listing entry;
 * `verify: false` skips hashing. A mismatch is a {@link DataError} `DATA_CHECKSUM_MISMATCH`.
 */
import { access } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { DataError } from './errors.js';
import { maybeGunzip, parseIdx, readDataFile, type IdxArray } from './idx.js';
import { readSha256Sums, sha256Hex } from './fingerprint.js';
import { resizeArea, type ByteImages } from './images.js';

export { loadCreditCardCsv } from './credit.js';
export type { CreditCardData, CreditCsvOptions } from './credit.js';

export const DEFAULT_DATA_DIR = './data';

/** `dir` if given, else $GENSEMBLE_DATA_DIR, else ./data — resolved to an absolute path. */
export function resolveDataDir(dir?: string): string {
  const env = process.env.GENSEMBLE_DATA_DIR;
  return resolve(dir ?? (env !== undefined && env !== '' ? env : DEFAULT_DATA_DIR));
}

export type VerifyMode = boolean | 'if-listed';

export interface LoadOptions {
  /** SHA256 verification against SHA256SUMS; default 'if-listed'. */
  verify?: VerifyMode;
}

export interface LabeledImages {
  /** e.g. "mnist/train". */
  name: string;
  images: ByteImages;
  /** One label per image: Uint8Array for the MNIST-family files, Int32Array for Omniglot. */
  labels: Uint8Array | Int32Array;
  /** Absolute paths of the files read. */
  files: { images: string; labels: string };
  /** True when both files were checked against SHA256SUMS. */
  verified: boolean;
}

/** True when `p` exists (file or folder). */
export async function pathExists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

async function locate(root: string, sub: string, names: string[]): Promise<string> {
  const tried: string[] = [];
  for (const folder of [join(root, sub), root])
    for (const name of names)
      for (const suffix of ['.gz', '']) {
        const p = join(folder, name + suffix);
        tried.push(p);
        if (await pathExists(p)) return p;
      }
  throw new DataError(
    'DATA_NOT_FOUND',
    `data file ${sub}/${names[0]}[.gz] not found under ${root} (tried ${tried.length} paths, e.g. ${tried[0]}); ` +
      `set GENSEMBLE_DATA_DIR or pass the data directory`,
  );
}

/** Verifies `bytes` (the file at `path`) against SHA256SUMS in `root` or the file's own folder. */
async function verifyChecksum(
  root: string,
  path: string,
  bytes: Uint8Array,
  mode: VerifyMode,
): Promise<boolean> {
  if (mode === false) return false;
  const folders = [root];
  const own = resolve(path, '..');
  if (own !== root) folders.push(own);
  for (const folder of folders) {
    const sums = await readSha256Sums(join(folder, 'SHA256SUMS'));
    if (!sums) continue;
    const key = relative(folder, path).split(sep).join('/');
    const want = sums.get(key);
    if (want === undefined) continue;
    const got = sha256Hex(bytes);
    if (got !== want)
      throw new DataError(
        'DATA_CHECKSUM_MISMATCH',
        `${path}: SHA256 ${got} does not match ${want} listed in ${join(folder, 'SHA256SUMS')} (corrupt or replaced file)`,
      );
    return true;
  }
  if (mode === true)
    throw new DataError(
      'DATA_CHECKSUM_MISSING',
      `${path}: no SHA256SUMS entry found (looked in ${folders.join(', ')})`,
    );
  return false;
}

async function readIdxVerified(
  root: string,
  path: string,
  mode: VerifyMode,
): Promise<{ arr: IdxArray; verified: boolean }> {
  const raw = await readDataFile(path);
  const verified = await verifyChecksum(root, path, raw, mode);
  return { arr: parseIdx(await maybeGunzip(raw, path), path), verified };
}

interface PairSpec {
  name: string;
  sub: string;
  imageNames: string[];
  labelNames: string[];
  /** Expected image side (height = width), if fixed. */
  side?: number;
  labelType: 'uint8' | 'int32';
}

async function loadPair(
  dir: string | undefined,
  spec: PairSpec,
  options: LoadOptions,
): Promise<LabeledImages> {
  const root = resolveDataDir(dir);
  const mode = options.verify ?? 'if-listed';
  const [imgPath, lblPath] = await Promise.all([
    locate(root, spec.sub, spec.imageNames),
    locate(root, spec.sub, spec.labelNames),
  ]);
  const [img, lbl] = await Promise.all([
    readIdxVerified(root, imgPath, mode),
    readIdxVerified(root, lblPath, mode),
  ]);
  const { dims } = img.arr;
  if (img.arr.type !== 'uint8' || dims.length !== 3)
    throw new DataError(
      'DATA_SHAPE_MISMATCH',
      `${imgPath}: expected a 3-D uint8 IDX image file, got ${img.arr.type} with dims [${dims.join(', ')}]`,
    );
  if (spec.side !== undefined && (dims[1] !== spec.side || dims[2] !== spec.side))
    throw new DataError(
      'DATA_SHAPE_MISMATCH',
      `${imgPath}: expected ${spec.side}×${spec.side} images, got ${dims[1]}×${dims[2]}`,
    );
  if (lbl.arr.type !== spec.labelType || lbl.arr.dims.length !== 1)
    throw new DataError(
      'DATA_SHAPE_MISMATCH',
      `${lblPath}: expected a 1-D ${spec.labelType} IDX label file, got ${lbl.arr.type} with dims [${lbl.arr.dims.join(', ')}]`,
    );
  if (lbl.arr.dims[0] !== dims[0])
    throw new DataError(
      'DATA_SHAPE_MISMATCH',
      `${imgPath} has ${dims[0]} images but ${lblPath} has ${lbl.arr.dims[0]} labels`,
    );
  return {
    name: spec.name,
    images: { count: dims[0], height: dims[1], width: dims[2], pixels: img.arr.data as Uint8Array },
    labels: lbl.arr.data,
    files: { images: imgPath, labels: lblPath },
    verified: img.verified && lbl.verified,
  };
}

export type MnistSplit = 'train' | 'test';

function mnistLike(name: string, sub: string, split: MnistSplit): PairSpec {
  const p = split === 'train' ? 'train' : 't10k';
  return {
    name: `${name}/${split}`,
    sub,
    imageNames: [`${p}-images-idx3-ubyte`, `${p}-images.idx3-ubyte`],
    labelNames: [`${p}-labels-idx1-ubyte`, `${p}-labels.idx1-ubyte`],
    side: 28,
    labelType: 'uint8',
  };
}

/** MNIST: train 60,000 / test 10,000 images 28×28, labels 0..9. */
export function loadMnist(
  dir: string | undefined,
  split: MnistSplit,
  options: LoadOptions = {},
): Promise<LabeledImages> {
  return loadPair(dir, mnistLike('mnist', 'mnist', split), options);
}

/** Fashion-MNIST: train 60,000 / test 10,000 images 28×28, labels 0..9. */
export function loadFashionMnist(
  dir: string | undefined,
  split: MnistSplit,
  options: LoadOptions = {},
): Promise<LabeledImages> {
  return loadPair(dir, mnistLike('fashion-mnist', 'fashion-mnist', split), options);
}

/** notMNIST sample (t10k only): 10,000 images 28×28, labels 0..9 = letters A..J. */
export function loadNotMnist(dir: string | undefined, options: LoadOptions = {}): Promise<LabeledImages> {
  return loadPair(dir, { ...mnistLike('notmnist', 'notmnist', 'test'), name: 'notmnist/test' }, options);
}

export type OmniglotSplit = 'background' | 'evaluation';

export interface OmniglotOptions extends LoadOptions {
  /**
   * Output side length: images are resized from 105×105 by area averaging ({@link resizeArea}),
   * rounded to bytes. Default 28; 105 (or null) keeps the source size.
   */
  size?: number | null;
}

/**
 * Omniglot: background 19,280 / evaluation 13,180 images (105×105 source, 255 = ink), labels =
 * int32 character index within the split. Resized to `size`×`size` (default 28) by area averaging.
 */
export async function loadOmniglot(
  dir: string | undefined,
  split: OmniglotSplit,
  options: OmniglotOptions = {},
): Promise<LabeledImages> {
  const base = `images_${split}`;
  const set = await loadPair(
    dir,
    {
      name: `omniglot/${split}`,
      sub: 'omniglot',
      imageNames: [`${base}-images-idx3-ubyte`],
      labelNames: [`${base}-labels-idx1-int`],
      side: 105,
      labelType: 'int32',
    },
    options,
  );
  const size = options.size === undefined ? 28 : options.size;
  if (size === null || size === 105) return set;
  return { ...set, images: resizeArea(set.images, size, size) };
}
