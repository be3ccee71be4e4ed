/**
 * Raw model inputs from decoded records. The feature transform (scaling) is part of the model, so
 * these are the RAW values in the order the loaders in src/data use:
 *   Transaction → 30 floats: Time, V1..V28, Amount (the Kaggle CSV column order)
 *   ImageFrame  → height*width*channels floats 0..255, row-major HWC (784 for 28×28×1)
 */
import { ValidationError } from './errors.js';
import { TRANSACTION_PCA_FIELDS, type ImageFrame, type Transaction } from './schemas.js';

export const TRANSACTION_FEATURE_DIM = 30;
export const TRANSACTION_FEATURE_NAMES: readonly string[] = ['Time', ...TRANSACTION_PCA_FIELDS, 'Amount'];

export interface FrameShape {
  width: number;
  height: number;
  channels: number;
}
export const MNIST_SHAPE: FrameShape = { width: 28, height: 28, channels: 1 };

/**
 * Writes one transaction's 30 raw features into `out` at row `row`. Compiled once from the field
 * list with literal property names: a keyed loop over 28 names is several times slower in V8.
 */
export const writeTransactionFeatures: (r: Transaction, out: Float32Array, row: number) => void =
  new Function(
    'r',
    'out',
    'row',
    `const o = row * ${30};\n` +
      ['time_seconds', ...TRANSACTION_PCA_FIELDS, 'amount']
        .map((f, i) => `out[o + ${i}] = r.${f};`)
        .join('\n'),
  ) as (r: Transaction, out: Float32Array, row: number) => void;

/** n transactions → Float32Array [n, 30], row-major. */
export function transactionsToFeatures(records: readonly Transaction[]): Float32Array {
  const out = new Float32Array(records.length * TRANSACTION_FEATURE_DIM);
  for (let i = 0; i < records.length; i++) writeTransactionFeatures(records[i], out, i);
  return out;
}

/** Throws ValidationError SHAPE_MISMATCH when the frame is not of the model's shape. */
export function checkFrameShape(f: ImageFrame, shape: FrameShape): void {
  if (f.width !== shape.width || f.height !== shape.height || f.channels !== shape.channels) {
    throw new ValidationError(
      'SHAPE_MISMATCH',
      `frame is ${f.width}x${f.height}x${f.channels}, model expects ` +
        `${shape.width}x${shape.height}x${shape.channels}`,
      'pixels',
    );
  }
}

/** Writes one frame's pixels (0..255 as floats) into `out` at row `row`; checks the shape first. */
export function writeFrameFeatures(
  f: ImageFrame,
  out: Float32Array,
  row: number,
  shape: FrameShape = MNIST_SHAPE,
): void {
  checkFrameShape(f, shape);
  const dim = shape.width * shape.height * shape.channels;
  if (f.pixels.length !== dim) {
    throw new ValidationError(
      'PIXELS_LENGTH',
      `pixels has ${f.pixels.length} bytes, expected ${dim}`,
      'pixels',
    );
  }
  out.set(f.pixels, row * dim);
}

/** n frames → Float32Array [n, h*w*c], row-major; throws on the first frame of another shape. */
export function framesToFeatures(
  frames: readonly ImageFrame[],
  shape: FrameShape = MNIST_SHAPE,
): Float32Array {
  const dim = shape.width * shape.height * shape.channels;
  const out = new Float32Array(frames.length * dim);
  for (let i = 0; i < frames.length; i++) writeFrameFeatures(frames[i], out, i, shape);
  return out;
}
