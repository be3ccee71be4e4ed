/** Content checks run after decoding (and before encoding): a record that passes can be scored. */
import { ValidationError } from './errors.js';
import { TRANSACTION_PCA_FIELDS, type FlagRecord, type ImageFrame, type Transaction } from './schemas.js';

/** Longest accepted record id (characters). */
export const MAX_ID_LENGTH = 512;
/** Largest accepted frame: width * height * channels bytes (64 MiB). */
export const MAX_FRAME_BYTES = 1 << 26;
export const MAX_CHANNELS = 4;

function checkId(id: unknown, field = 'id'): void {
  if (typeof id !== 'string' || id.length === 0 || id.length > MAX_ID_LENGTH) {
    throw new ValidationError(
      'BAD_ID',
      `${field} must be a non-empty string of at most ${MAX_ID_LENGTH} characters`,
      field,
    );
  }
}

function checkFinite(v: unknown, field: string): void {
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new ValidationError('NON_FINITE', `${field} is ${String(v)}, not a finite number`, field);
  }
}

/** Sum of every number field: finite only if (almost always) each one is; compiled like features. */
const sumTransactionNumbers: (r: Transaction) => number = new Function(
  'r',
  'return ' +
    ['event_time', 'time_seconds', ...TRANSACTION_PCA_FIELDS, 'amount'].map((f) => `r.${f}`).join(' + ') +
    ';',
) as (r: Transaction) => number;

export function validateTransaction(r: Transaction): void {
  checkId(r.id);
  // Fast path: a finite sum means no NaN/Infinity (and no non-number, which would make it a string
  // or NaN). A non-finite sum is checked field by field; a sum that overflowed passes that check.
  const sum = sumTransactionNumbers(r);
  if (typeof sum === 'number' && Number.isFinite(sum)) return;
  checkFinite(r.event_time, 'event_time');
  checkFinite(r.time_seconds, 'time_seconds');
  for (const f of TRANSACTION_PCA_FIELDS) checkFinite(r[f], f);
  checkFinite(r.amount, 'amount');
}

export function validateImageFrame(f: ImageFrame): void {
  checkId(f.id);
  checkFinite(f.event_time, 'event_time');
  const { width, height, channels } = f;
  for (const [name, v] of [
    ['width', width],
    ['height', height],
    ['channels', channels],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new ValidationError('BAD_DIMENSIONS', `${name} is ${v}, must be a positive integer`, name);
    }
  }
  if (channels > MAX_CHANNELS) {
    throw new ValidationError(
      'BAD_DIMENSIONS',
      `channels is ${channels}, at most ${MAX_CHANNELS}`,
      'channels',
    );
  }
  const size = width * height * channels;
  if (size > MAX_FRAME_BYTES) {
    throw new ValidationError(
      'BAD_DIMENSIONS',
      `${width}x${height}x${channels} = ${size} bytes exceeds ${MAX_FRAME_BYTES}`,
      'width',
    );
  }
  if (!Buffer.isBuffer(f.pixels) || f.pixels.length !== size) {
    throw new ValidationError(
      'PIXELS_LENGTH',
      `pixels has ${Buffer.isBuffer(f.pixels) ? f.pixels.length : 'no'} bytes, ` +
        `width*height*channels = ${width}*${height}*${channels} = ${size}`,
      'pixels',
    );
  }
}

export function validateFlag(f: FlagRecord): void {
  checkId(f.record_id, 'record_id');
  for (const k of ['score', 'threshold', 'event_time', 'flagged_at', 'source_offset'] as const) {
    checkFinite(f[k], k);
  }
}
