import { describe, expect, it } from 'vitest';
import { Rng } from '../../../src/engine/random.js';
import {
  OOD_KINDS,
  OodMixer,
  gaussianFrame,
  hflipFrame,
  parseOodKinds,
  uniformFrame,
  vflipFrame,
  type OodKind,
} from '../../../src/replay/ood-mix.js';

describe('OodMixer', () => {
  it('OoD fraction within 4 binomial standard deviations of the ratio, kinds about equally often', () => {
    const n = 20_000;
    for (const ratio of [0.05, 0.2, 0.5]) {
      const kinds: OodKind[] = ['uniform', 'hflip', 'notmnist'];
      const m = new OodMixer(ratio, kinds, 7);
      const counts = new Map<string, number>();
      let ood = 0;
      for (let i = 0; i < n; i++) {
        const s = m.next();
        if (s.ood) {
          ood++;
          counts.set(s.kind, (counts.get(s.kind) ?? 0) + 1);
        }
      }
      const sd = Math.sqrt(n * ratio * (1 - ratio));
      expect(Math.abs(ood - n * ratio)).toBeLessThan(4 * sd);
      expect([...counts.keys()].sort()).toEqual([...kinds].sort());
      for (const c of counts.values()) {
        const p = 1 / kinds.length;
        expect(Math.abs(c - ood * p)).toBeLessThan(4 * Math.sqrt(ood * p * (1 - p)));
      }
    }
  });

  it('ratio 0 never and ratio 1 always gives OoD', () => {
    const zero = new OodMixer(0, [], 1);
    const one = new OodMixer(1, ['gaussian'], 1);
    for (let i = 0; i < 1000; i++) {
      expect(zero.next().ood).toBe(false);
      expect(one.next()).toEqual({ ood: true, kind: 'gaussian' });
    }
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const seq = (seed: number) => {
      const m = new OodMixer(0.3, ['uniform', 'vflip'], seed);
      return Array.from({ length: 200 }, () => JSON.stringify(m.next())).join();
    };
    expect(seq(3)).toBe(seq(3));
    expect(seq(3)).not.toBe(seq(4));
  });

  it('rejects bad ratios and empty kinds with typed errors', () => {
    for (const r of [-0.1, 1.5, Number.NaN]) {
      expect(() => new OodMixer(r, ['uniform'], 0)).toThrow(
        expect.objectContaining({ code: 'REPLAY_BAD_OOD_RATIO' }),
      );
    }
    expect(() => new OodMixer(0.5, [], 0)).toThrow(expect.objectContaining({ code: 'REPLAY_BAD_OOD_KINDS' }));
  });
});

describe('parseOodKinds', () => {
  it('parses, lower-cases and de-duplicates', () => {
    expect(parseOodKinds('Uniform, hflip,uniform')).toEqual(['uniform', 'hflip']);
    expect(parseOodKinds(OOD_KINDS.join(','))).toEqual([...OOD_KINDS]);
  });
  it('rejects unknown and empty lists', () => {
    expect(() => parseOodKinds('noise')).toThrow(expect.objectContaining({ code: 'REPLAY_BAD_OOD_KINDS' }));
    expect(() => parseOodKinds(' , ')).toThrow(expect.objectContaining({ code: 'REPLAY_BAD_OOD_KINDS' }));
  });
});

describe('OoD frames', () => {
  // 2×3 image, hand-written: rows [1 2 3], [4 5 6].
  const f = { width: 3, height: 2, pixels: Uint8Array.from([1, 2, 3, 4, 5, 6]) };
  it('hflip mirrors each row, vflip swaps rows (hand-worked)', () => {
    expect([...hflipFrame(f).pixels]).toEqual([3, 2, 1, 6, 5, 4]);
    expect([...vflipFrame(f).pixels]).toEqual([4, 5, 6, 1, 2, 3]);
    expect([...f.pixels]).toEqual([1, 2, 3, 4, 5, 6]); // input untouched
  });

  it('colour frames: flips move whole pixels, channels stay in order (hand-worked 3×2×2)', () => {
    // rows [(1,10) (2,20) (3,30)], [(4,40) (5,50) (6,60)], channels interleaved (HWC)
    const c = {
      width: 3,
      height: 2,
      channels: 2,
      pixels: Uint8Array.from([1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60]),
    };
    expect([...hflipFrame(c).pixels]).toEqual([3, 30, 2, 20, 1, 10, 6, 60, 5, 50, 4, 40]);
    expect([...vflipFrame(c).pixels]).toEqual([4, 40, 5, 50, 6, 60, 1, 10, 2, 20, 3, 30]);
    expect(hflipFrame(c).channels).toBe(2);
    expect(uniformFrame(4, 3, new Rng(1), 3).pixels).toHaveLength(36);
    expect(gaussianFrame(4, 3, new Rng(1), 3).pixels).toHaveLength(36);
  });

  it('uniform noise covers 0..255 with mean ≈ 127.5; gaussian has ≈ 50% zeros and ≈ 15.9% saturated', () => {
    const u = uniformFrame(100, 100, new Rng(1)).pixels;
    const mean = u.reduce((a, b) => a + b, 0) / u.length;
    expect(Math.abs(mean - 127.5)).toBeLessThan(2.5); // sd of the mean ≈ 73.9 / 100
    expect(Math.min(...u)).toBe(0);
    expect(Math.max(...u)).toBe(255);
    const g = gaussianFrame(100, 100, new Rng(2)).pixels;
    const zeros = g.filter((v) => v === 0).length / g.length;
    const full = g.filter((v) => v === 255).length / g.length;
    expect(Math.abs(zeros - 0.5)).toBeLessThan(0.02);
    expect(Math.abs(full - 0.1587)).toBeLessThan(0.015); // P(Z >= 1)
  });
});
