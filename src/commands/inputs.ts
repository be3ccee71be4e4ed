/**
 * Offline inputs of the CLI: a Kaggle-format credit-card CSV (transactions) or an IDX image file
 * (frames), read into the raw float32 rows the scorer takes.
 */
import { loadCreditCardCsv } from '../data/credit.js';
import { readIdx } from '../data/idx.js';
import { InputError } from '../errors.js';
import type { ModelKind } from '../engine/checkpoint.js';

export interface RawRecords {
  kind: ModelKind;
  n: number;
  d: number;
  raw: Float32Array;
  /** Record ids (CSV row ids, or image indices). */
  ids: ArrayLike<number>;
  /** 1 = anomaly/fraud when the input carries labels (Kaggle `Class`), else null. */
  labels: Uint8Array | null;
}

export async function readRecords(kind: ModelKind, path: string, limit?: number): Promise<RawRecords> {
  if (kind === 'transactions') {
    const data = await loadCreditCardCsv(path, {
      requireLabels: false,
      ...(limit !== undefined ? { maxRows: limit } : {}),
    });
    return { kind, n: data.n, d: data.d, raw: data.features, ids: data.rowIds, labels: data.labels };
  }
  const idx = await readIdx(path);
  if (idx.type !== 'uint8' || idx.dims.length < 2) {
    throw new InputError(
      'INPUT_NOT_IMAGES',
      `${path}: expected an IDX file of uint8 images [n, h, w(, c)], got ${idx.type} with dims [${idx.dims.join(', ')}]`,
    );
  }
  const total = idx.dims[0];
  const n = limit !== undefined ? Math.min(limit, total) : total;
  const d = idx.dims.slice(1).reduce((a, b) => a * b, 1);
  const raw = new Float32Array(n * d);
  const src = idx.data as Uint8Array;
  for (let i = 0; i < n * d; i++) raw[i] = src[i];
  return { kind, n, d, raw, ids: Uint32Array.from({ length: n }, (_, i) => i), labels: null };
}
