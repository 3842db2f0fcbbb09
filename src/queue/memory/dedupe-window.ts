/**
 * Keys seen within a time window, bounded in count. Keys are kept in insertion order,
 * which is also expiry order (one window for all), so expiry only looks at the front.
 * @module
 */
export class DedupeWindow {
  #seen = new Map<string, number>();
  readonly #windowMs: number;
  readonly #maxKeys: number;

  constructor(windowMs: number, maxKeys: number) {
    this.#windowMs = windowMs;
    this.#maxKeys = maxKeys;
  }

  get size(): number {
    return this.#seen.size;
  }

  /** Marks `key` seen; false when it was already seen within the window. */
  claim(key: string, now: number): boolean {
    this.#expire(now);
    const until = this.#seen.get(key);
    if (until !== undefined && until > now) return false;
    this.#seen.delete(key);
    this.#seen.set(key, now + this.#windowMs);
    // bounded memory: past maxKeys the oldest keys are forgotten early (the window shrinks)
    if (this.#seen.size > this.#maxKeys) this.#seen.delete(this.#seen.keys().next().value as string);
    return true;
  }

  release(key: string): void {
    this.#seen.delete(key);
  }

  #expire(now: number): void {
    for (const [key, until] of this.#seen) {
      if (until > now) return;
      this.#seen.delete(key);
    }
  }
}
