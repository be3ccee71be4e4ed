import { describe, expect, it } from 'vitest';
import { TokenBucket, type Clock } from '../../../src/replay/rate-limiter.js';
import { pacedBatchSize } from '../../../src/replay/runner.js';

/** A fake clock: sleep advances time instantly and records the requested durations. */
function fakeClock(): Clock & { t: number; sleeps: number[] } {
  const c = {
    t: 1000,
    sleeps: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => {
      c.sleeps.push(ms);
      c.t += ms;
    },
  };
  return c;
}

describe('TokenBucket', () => {
  it('starts full: a burst of `burst` tokens is free, then waits (n / rate) seconds', async () => {
    const clock = fakeClock();
    const b = new TokenBucket(100, 10, clock); // 100 tokens/s
    expect(await b.take(10)).toBe(0);
    // 5 more tokens at 100/s need 50 ms.
    const waited = await b.take(5);
    expect(waited).toBeGreaterThanOrEqual(50);
    expect(waited).toBeLessThanOrEqual(51);
  });

  it('paces a long run at the configured rate (hand count: 1000 tokens at 200/s ≈ 5 s after the burst)', async () => {
    const clock = fakeClock();
    const b = new TokenBucket(200, 20, clock);
    const t0 = clock.now();
    for (let i = 0; i < 50; i++) await b.take(20); // 1000 tokens, the first 20 free
    const elapsed = clock.now() - t0;
    // (1000 - 20) / 200 s = 4.9 s; sleeps are rounded up to whole ms.
    expect(elapsed).toBeGreaterThanOrEqual(4900);
    expect(elapsed).toBeLessThan(4900 + 50 * 2);
  });

  it('refills over idle time but never beyond the burst', async () => {
    const clock = fakeClock();
    const b = new TokenBucket(10, 5, clock);
    await b.take(5);
    clock.t += 60_000; // a minute idle
    expect(b.available()).toBe(5);
    expect(await b.take(5)).toBe(0);
    expect(await b.take(1)).toBeGreaterThanOrEqual(100);
  });

  it('never waits with an infinite rate', async () => {
    const clock = fakeClock();
    const b = new TokenBucket(Infinity, 500, clock);
    for (let i = 0; i < 100; i++) expect(await b.take(500)).toBe(0);
    expect(clock.sleeps).toEqual([]);
  });

  it('returns early, taking nothing, when aborted', async () => {
    const clock = fakeClock();
    const b = new TokenBucket(1, 1, clock);
    await b.take(1);
    const ac = new AbortController();
    ac.abort();
    await b.take(1, ac.signal);
    expect(clock.sleeps).toEqual([]);
  });

  it('rejects bad rates and takes with typed errors', async () => {
    expect(() => new TokenBucket(0, 1)).toThrow(expect.objectContaining({ code: 'REPLAY_BAD_RATE' }));
    expect(() => new TokenBucket(Number.NaN, 1)).toThrow(
      expect.objectContaining({ code: 'REPLAY_BAD_RATE' }),
    );
    expect(() => new TokenBucket(-5, 1)).toThrow(expect.objectContaining({ code: 'REPLAY_BAD_RATE' }));
    expect(() => new TokenBucket(10, 0)).toThrow(expect.objectContaining({ code: 'REPLAY_BAD_RATE' }));
    await expect(new TokenBucket(10, 5).take(6)).rejects.toMatchObject({ code: 'REPLAY_BAD_RATE' });
  });

  it('on the real clock, 30 tokens at 300/s after a burst of 10 take about 67 ms', async () => {
    const b = new TokenBucket(300, 10);
    const t0 = performance.now();
    for (let i = 0; i < 4; i++) await b.take(10);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(95); // 30 tokens / 300 per s = 100 ms, minus timer slack
    expect(ms).toBeLessThan(1000);
  });
});

describe('pacedBatchSize', () => {
  it('about 20 sends per second, within [1, max]', () => {
    expect(pacedBatchSize(undefined, 500)).toBe(500);
    expect(pacedBatchSize(Infinity, 500)).toBe(500);
    expect(pacedBatchSize(1000, 500)).toBe(50);
    expect(pacedBatchSize(5, 500)).toBe(1);
    expect(pacedBatchSize(1e9, 500)).toBe(500);
  });
});
