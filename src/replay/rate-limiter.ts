/**
 * Token bucket: `rate` tokens per second, at most `burst` stored. `take(n)` resolves once n tokens are
 * available (and removes them). With a rate of Infinity it never waits. The clock and the sleep are
 * injectable so unit tests run on a fake clock.
 */
import { ReplayError } from './errors.js';

export interface Clock {
  /** Milliseconds, monotonic. */
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        resolve();
      }
      signal?.addEventListener('abort', done, { once: true });
    }),
};

export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly rate: number;
  readonly burst: number;

  /**
   * @param rate tokens per second (> 0, or Infinity = unlimited)
   * @param burst bucket capacity (>= 1); the bucket starts full
   */
  constructor(
    rate: number,
    burst: number,
    private readonly clock: Clock = realClock,
  ) {
    if (!(rate > 0)) throw new ReplayError('REPLAY_BAD_RATE', `rate must be > 0 records/s, got ${rate}`);
    if (!(burst >= 1) || !Number.isFinite(burst))
      throw new ReplayError('REPLAY_BAD_RATE', `burst must be a finite number >= 1, got ${burst}`);
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    this.last = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    if (Number.isFinite(this.rate))
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) / 1000) * this.rate);
    else this.tokens = this.burst;
    this.last = now;
  }

  /** Tokens available now (after refilling). */
  available(): number {
    this.refill();
    return this.tokens;
  }

  /**
   * Wait until `n` tokens (1 <= n <= burst) are available and take them. Returns the milliseconds
   * waited. Resolves early, taking nothing, when `signal` aborts.
   */
  async take(n: number, signal?: AbortSignal): Promise<number> {
    if (!(n >= 1) || n > this.burst)
      throw new ReplayError('REPLAY_BAD_RATE', `cannot take ${n} tokens from a bucket of ${this.burst}`);
    if (!Number.isFinite(this.rate)) return 0;
    const start = this.clock.now();
    // Bounded: each round either takes the tokens or sleeps exactly until enough have accrued.
    for (let round = 0; round < 1_000_000; round++) {
      if (signal?.aborted) break;
      this.refill();
      if (this.tokens >= n - 1e-9) {
        this.tokens -= n;
        return this.clock.now() - start;
      }
      const waitMs = ((n - this.tokens) / this.rate) * 1000;
      await this.clock.sleep(Math.max(1, Math.ceil(waitMs)), signal);
    }
    return this.clock.now() - start;
  }
}
