/**
 * Per-identity token buckets: `perMinute` tokens refilled evenly over a minute, a burst of
 * up to `perMinute`. One limiter per kind of request (single readings, batches).
 * @module
 */
export interface Bucket {
  perMinute: number;
}

export type Take = { ok: true } | { ok: false; retryAfterSeconds: number };

export interface RateLimiter {
  /** Takes one token of `key` from the bucket named `bucket`. */
  take(bucket: string, key: string): Promise<Take>;
  close(): Promise<void>;
}

/** Refill arithmetic shared by the in-memory limiter and the Redis script (same numbers). */
export function refill(tokens: number, lastMs: number, nowMs: number, perMinute: number): number {
  return Math.min(perMinute, tokens + ((nowMs - lastMs) * perMinute) / 60_000);
}

export function retryAfter(tokens: number, perMinute: number): number {
  return Math.max(1, Math.ceil(((1 - tokens) * 60) / perMinute));
}
