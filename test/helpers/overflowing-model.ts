/**
 * A real checkpoint that overflows on some inputs: a copy of a test transactions model whose first
 * member's first encoder layer weighs the `Amount` feature by 1e20 (a member whose training blew up
 * on that feature). Rows with a large amount (thousands) overflow float32 and come out with a non-finite
 * score (NaN in onnxruntime, ±Infinity in the native kernel, whose log-sum-exp is in float64 before the
 * float32 output); ordinary amounts (tens to hundreds) score finite. Written with saveCheckpoint, so
 * it loads and verifies like any other checkpoint.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint, saveCheckpoint } from '../../src/engine/checkpoint.js';

/** Index of `Amount` among the 30 raw credit features (Time, V1..V28, Amount). */
export const AMOUNT_FEATURE = 29;
/** An amount that makes the overflowing model's score NaN. */
export const OVERFLOW_AMOUNT = 9000;

export async function overflowingTransactionsModel(srcDir: string): Promise<string> {
  const { manifest, spec, featureGaussian } = await loadCheckpoint(srcDir);
  if (manifest.kind !== 'transactions') throw new Error(`${srcDir} is not a transactions model`);
  const w = spec.members[0].params['enc.h0.w'];
  if (!w || w.shape[0] !== 30) throw new Error('unexpected encoder layout');
  const out = w.shape[1];
  for (let o = 0; o < out; o++) w.data[AMOUNT_FEATURE * out + o] *= 1e20;
  const dir = await mkdtemp(join(tmpdir(), 'gensemble-overflow-model-'));
  await saveCheckpoint(dir, spec, {
    kind: manifest.kind,
    thresholds: manifest.thresholds,
    // Flag on mean log p: its float32 value stays finite for ordinary amounts (≈ −1e35 from the blown-up
    // member), so only large amounts come out non-finite. (Under 'dose' the members' variance of log p
    // overflows float32 for every record of this model, so every record would be dead-lettered.)
    scoreRule: { ...manifest.scoreRule, score: 'neg_logp' },
    trainingConfig: manifest.trainingConfig,
    dataFingerprint: manifest.dataFingerprint,
    ...(featureGaussian ? { featureGaussian } : {}),
  });
  return dir;
}
