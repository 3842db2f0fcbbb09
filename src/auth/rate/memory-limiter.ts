/** Token buckets in this process (the embedded default, or no Redis). Idle buckets are swept. */
import { type Bucket, type RateLimiter, refill, retryAfter, type Take } from './rate-limiter.ts';

export class MemoryRateLimiter implements RateLimiter {
  readonly #state = new Map<string, { tokens: number; at: number }>();
  readonly #sweeper: NodeJS.Timeout;

  constructor(
    readonly buckets: Record<string, Bucket>,
    private readonly now: () => number = Date.now,
  ) {
    // a full bucket is the same as no entry: forget those untouched for two minutes
    this.#sweeper = setInterval(() => {
      const old = this.now() - 120_000;
      for (const [k, v] of this.#state) if (v.at < old) this.#state.delete(k);
    }, 60_000);
    this.#sweeper.unref();
  }

  async take(bucket: string, key: string): Promise<Take> {
    return this.takeNow(bucket, key);
  }

  /** Synchronous form, for tests and callers that cannot wait. */
  takeNow(bucket: string, key: string): Take {
    const { perMinute } = this.buckets[bucket]!;
    const now = this.now();
    const id = `${bucket}\u0000${key}`;
    const s = this.#state.get(id);
    const tokens = s ? refill(s.tokens, s.at, now, perMinute) : perMinute;
    if (tokens < 1) {
      this.#state.set(id, { tokens, at: now });
      return { ok: false, retryAfterSeconds: retryAfter(tokens, perMinute) };
    }
    this.#state.set(id, { tokens: tokens - 1, at: now });
    return { ok: true };
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
  }
}
