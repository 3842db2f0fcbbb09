/**
 * The circuit breaker in front of the queue (CIRCUIT_BREAKER_THRESHOLD,
 * CIRCUIT_BREAKER_TIMEOUT_MS): after `threshold` queue batches failed in a row it opens and
 * new readings are refused at once (HTTP 503, MQTT acknowledgements held) instead of each
 * waiting for a Redis timeout; after `timeoutMs` it half-opens and lets one reading through as
 * a probe: the probe's batch succeeding closes it, failing opens it again. Pure (time is passed
 * in), so it is unit-tested.
 * @module
 */

export type BreakerState = 'closed' | 'open' | 'half-open';

export interface BreakerHooks {
  /** Called on every state change. */
  onChange?(to: BreakerState, from: BreakerState, failures: number): void;
}

export class CircuitBreaker {
  #state: BreakerState = 'closed';
  #failures = 0;
  #openedAt = 0;
  #probing = false;

  constructor(
    readonly threshold: number,
    readonly timeoutMs: number,
    private readonly hooks: BreakerHooks = {},
  ) {}

  get state(): BreakerState {
    return this.#state;
  }

  /** Whether a new reading may go to the queue now. In half-open state only the first one (the probe) may. */
  allow(now: number): boolean {
    if (this.#state === 'closed') return true;
    if (this.#state === 'open') {
      if (now - this.#openedAt < this.timeoutMs) return false;
      this.#set('half-open');
    }
    if (this.#probing) return false;
    this.#probing = true;
    return true;
  }

  /** Makes the next allow() a probe at once (when open): e.g. the queue reconnected. */
  probeNow(): void {
    if (this.#state === 'open') this.#openedAt = -Infinity;
  }

  /** Milliseconds until the next probe (0 when closed or due). */
  retryInMs(now: number): number {
    return this.#state === 'open' ? Math.max(0, this.timeoutMs - (now - this.#openedAt)) : 0;
  }

  /** A queue batch succeeded. */
  success(): void {
    this.#failures = 0;
    this.#probing = false;
    if (this.#state !== 'closed') this.#set('closed');
  }

  /** A queue batch failed as a whole (unreachable, timed out, durability not confirmed). */
  failure(now: number): void {
    this.#failures++;
    this.#probing = false;
    if (this.#state === 'half-open' || (this.#state === 'closed' && this.#failures >= this.threshold)) {
      this.#openedAt = now;
      this.#set('open');
    } else if (this.#state === 'open') this.#openedAt = now;
  }

  #set(to: BreakerState): void {
    const from = this.#state;
    this.#state = to;
    this.hooks.onChange?.(to, from, this.#failures);
  }
}
