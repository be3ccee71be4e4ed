/**
 * Mixed frame streams: which output slots are in-distribution frames and which are out-of-distribution
 * (OoD) frames of which kind, and how each OoD frame is made. Seeded: the same seed gives the same
 * stream on every run.
 *
 * Kinds: other data sets (notmnist, fashion, omniglot — drawn from their test/evaluation images),
 * noise (uniform: i.i.d. U{0..255} pixels; gaussian: N(0,1) clipped to [0,1], as the paper's Gaussian
 * set, scaled to bytes) and flips of in-distribution images (hflip, vflip).
 */
import { Rng } from '../engine/random.js';
import { hflipImages, vflipImages } from '../data/ood.js';
import { ReplayError } from './errors.js';

export const OOD_KINDS = [
  'notmnist',
  'fashion',
  'omniglot',
  'uniform',
  'gaussian',
  'hflip',
  'vflip',
] as const;
export type OodKind = (typeof OOD_KINDS)[number];
export const DATASET_OOD_KINDS: readonly OodKind[] = ['notmnist', 'fashion', 'omniglot'];

/** Header value of in-distribution frames. */
export const IN_DISTRIBUTION = 'none';

export function parseOodKinds(spec: string): OodKind[] {
  const parts = spec
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (parts.length === 0)
    throw new ReplayError(
      'REPLAY_BAD_OOD_KINDS',
      `--ood-kinds must name at least one of ${OOD_KINDS.join(', ')}`,
    );
  const out: OodKind[] = [];
  for (const p of parts) {
    if (!(OOD_KINDS as readonly string[]).includes(p)) {
      throw new ReplayError(
        'REPLAY_BAD_OOD_KINDS',
        `unknown OoD kind "${p}"; choose from ${OOD_KINDS.join(', ')}`,
      );
    }
    if (!out.includes(p as OodKind)) out.push(p as OodKind);
  }
  return out;
}

export type Slot = { ood: false } | { ood: true; kind: OodKind };

/**
 * Decides slot by slot: OoD with probability `ratio` (independent draws), the kind uniformly among
 * `kinds`. ratio 0 → never, 1 → always.
 */
export class OodMixer {
  private readonly rng: Rng;
  constructor(
    readonly ratio: number,
    readonly kinds: readonly OodKind[],
    seed: number,
  ) {
    if (!(ratio >= 0 && ratio <= 1))
      throw new ReplayError('REPLAY_BAD_OOD_RATIO', `--ood-ratio must be in [0, 1], got ${ratio}`);
    if (ratio > 0 && kinds.length === 0)
      throw new ReplayError('REPLAY_BAD_OOD_KINDS', 'an OoD ratio > 0 needs at least one OoD kind');
    this.rng = new Rng(seed);
  }

  next(): Slot {
    if (this.ratio === 0) return { ood: false };
    const u = this.rng.uniform();
    if (u >= this.ratio) return { ood: false };
    return { ood: true, kind: this.kinds[this.rng.int(this.kinds.length)] };
  }
}

/** Image side lengths and pixels of one 1-channel frame. */
export interface Frame {
  width: number;
  height: number;
  /** Interleaved channels per pixel (row-major HWC); absent = 1 (grayscale). */
  channels?: number;
  pixels: Uint8Array;
}

/** i.i.d. uniform bytes 0..255. */
export function uniformFrame(width: number, height: number, rng: Rng, channels = 1): Frame {
  const pixels = new Uint8Array(width * height * channels);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.floor(rng.uniform() * 256);
  return { width, height, channels, pixels };
}

/** N(0, 1) clipped to [0, 1], times 255, rounded (about half the pixels are 0). */
export function gaussianFrame(width: number, height: number, rng: Rng, channels = 1): Frame {
  const pixels = new Uint8Array(width * height * channels);
  for (let i = 0; i < pixels.length; i++) {
    const z = rng.normal();
    pixels[i] = z <= 0 ? 0 : z >= 1 ? 255 : Math.round(z * 255);
  }
  return { width, height, channels, pixels };
}

/** Left–right mirror of one frame (each pixel's channels stay together). */
export function hflipFrame(f: Frame): Frame {
  return { ...f, pixels: hflipImages({ count: 1, ...f }).pixels };
}

/** Top–bottom mirror of one frame. */
export function vflipFrame(f: Frame): Frame {
  return { ...f, pixels: vflipImages({ count: 1, ...f }).pixels };
}
