/**
 * The one backoff rule: the delay before retry number `attempt` (1 = the first retry) is
 * `firstMs × 2^(attempt-1)`, capped at `maxMs`, then shortened by a random part of at most
 * `jitter` (0: exact, 0.5: between half and all of it, 1: "full jitter", anywhere from 0). Jitter
 * keeps a fleet of clients (or a deployment's instances) that failed together from retrying in
 * step. Each caller states its own policy beside the loop that uses it; a pure function rather
 * than a retry package because the loops differ in shape (ioredis' retryStrategy, MQTT.js'
 * reconnectPeriod, timers, awaited sleeps) and only the delay is common.
 * @module
 */
export interface BackoffPolicy {
  /** Delay before the first retry (ms). */
  readonly firstMs: number;
  /** No delay is longer (ms). */
  readonly maxMs: number;
  /** Fraction of the delay that may be taken off at random, 0..1. */
  readonly jitter: number;
}

/** Delay before retry `attempt` (1-based) under `policy`; `random` in [0, 1) (tests pass their own). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 30);
  const capped = Math.min(policy.firstMs * 2 ** exponent, policy.maxMs);
  return Math.round(capped * (1 - policy.jitter * random()));
}
