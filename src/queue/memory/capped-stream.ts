/**
 * An in-process stand-in for a Redis stream: ordered entries with `ms-seq` ids, trimmed
 * to about `maxLen` (like XADD MAXLEN ~), oldest first.
 * @module
 */
export interface StreamEntry {
  id: string;
  fields: Record<string, string>;
}

export class CappedStream {
  #entries: StreamEntry[] = [];
  #lastMs = 0;
  #seq = 0;
  readonly #maxLen: number;

  constructor(maxLen: number) {
    this.#maxLen = maxLen;
  }

  get length(): number {
    return this.#entries.length;
  }

  add(fields: Record<string, string>): string {
    const now = Date.now();
    if (now > this.#lastMs) {
      this.#lastMs = now;
      this.#seq = 0;
    } else this.#seq++;
    const id = `${this.#lastMs}-${this.#seq}`;
    this.#entries.push({ id, fields });
    // trim in steps of ~10% so trimming costs O(1) amortised per append, like MAXLEN ~
    if (this.#entries.length > this.#maxLen + Math.ceil(this.#maxLen / 10)) {
      this.#entries = this.#entries.slice(this.#entries.length - this.#maxLen);
    }
    return id;
  }

  /** The entries in order, oldest first (not a copy: read, do not keep). */
  view(): readonly StreamEntry[] {
    return this.#entries;
  }

  /** Removes the entries with these ids (XDEL); returns how many there were. */
  delete(ids: readonly string[]): number {
    const gone = new Set(ids);
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((e) => !gone.has(e.id));
    return before - this.#entries.length;
  }

  /** Entries in order, oldest first (a copy). */
  range(count = Infinity): StreamEntry[] {
    return this.#entries.slice(0, count);
  }
}
