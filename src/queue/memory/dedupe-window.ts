/**
 * The embedded backend's dedupe memory, with the rule of ../dedupe-rule.ts: one Set of keys per
 * bucket of device time, each bucket forgotten dedupeBucketTtlMs after the last claim that
 * touched it. Buckets are kept in the order they were last touched, which is also expiry order,
 * so expiry only looks at the front. Bounded in keys: past maxKeys the least recently touched
 * buckets are forgotten early.
 * @module
 */
import { dedupeBucket, dedupeBucketTtlMs } from '../dedupe-rule.ts';

interface Bucket {
  keys: Set<string>;
  until: number;
}

export class DedupeWindow {
  readonly #buckets = new Map<string, Bucket>();
  readonly #windowMs: number;
  readonly #maxKeys: number;
  #size = 0;

  constructor(windowMs: number, maxKeys: number) {
    this.#windowMs = windowMs;
    this.#maxKeys = maxKeys;
  }

  /** Keys remembered, over all buckets. */
  get size(): number {
    return this.#size;
  }

  /** Marks `key` of a reading taken at `timestampMs` seen at `now`; false when it already was. */
  claim(key: string, timestampMs: number, now: number): boolean {
    this.#expire(now);
    const id = dedupeBucket(timestampMs, this.#windowMs);
    let b = this.#buckets.get(id);
    if (b === undefined) b = { keys: new Set(), until: 0 };
    else this.#buckets.delete(id); // re-inserted below: the most recently touched goes last
    b.until = now + dedupeBucketTtlMs(this.#windowMs);
    this.#buckets.set(id, b);
    // the bucket is touched either way, as Redis' PEXPIRE touches it for a duplicate too
    if (b.keys.has(key)) return false;
    b.keys.add(key);
    this.#size++;
    while (this.#size > this.#maxKeys) this.#forgetOldest();
    return true;
  }

  #forgetOldest(): void {
    const first = this.#buckets.entries().next();
    if (first.done === true) return;
    const [id, b] = first.value;
    this.#buckets.delete(id);
    this.#size -= b.keys.size;
  }

  #expire(now: number): void {
    for (const b of this.#buckets.values()) {
      if (b.until > now) return;
      this.#forgetOldest();
    }
  }
}
