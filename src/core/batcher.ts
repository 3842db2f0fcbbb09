/**
 * Coalesces items into one flush per event-loop turn, or sooner at `maxBatch` items, and
 * settles each item from its own result. Bounds the items in flight itself, because
 * ioredis does not honour socket write backpressure.
 * @module
 */

export interface BatcherOptions {
  /** Flush as soon as this many items are gathered. */
  maxBatch: number;
  /** Items added but not yet settled, beyond which `add` refuses. */
  maxInFlight: number;
}

export interface BatcherHooks<R> {
  /** Called with every flushed batch's size and round-trip time. */
  onFlush?(size: number, seconds: number): void;
  /** A whole-batch failure becomes this per-item result. */
  onBatchError(err: unknown): R;
  /** An item's callback threw (a bug): told here; the batch's other items are settled all the same. */
  onSettleError(err: unknown): void;
}

type Settle<R> = (result: R) => void;


export class Batcher<T, R> {
  #items: T[] = [];
  #settles: Settle<R>[] = [];
  #scheduled = false;
  #inFlight = 0;
  #pendingFlushes = new Set<Promise<void>>();
  #roomWaiters: (() => void)[] = [];
  readonly #flushFn: (items: T[]) => Promise<R[]>;
  readonly #opts: BatcherOptions;
  readonly #hooks: BatcherHooks<R>;

  constructor(flushFn: (items: T[]) => Promise<R[]>, opts: BatcherOptions, hooks: BatcherHooks<R>) {
    this.#flushFn = flushFn;
    this.#opts = opts;
    this.#hooks = hooks;
  }

  /** Items added and not yet settled. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** True when `add` would exceed the in-flight bound by `extra` items. */
  wouldSaturate(extra = 1): boolean {
    return this.#inFlight + extra > this.#opts.maxInFlight;
  }

  /** Calls `resume` once at most half of maxInFlight items are in flight (at once if so already). */
  whenRoom(resume: () => void): void {
    if (this.#inFlight <= this.#opts.maxInFlight / 2) resume();
    else this.#roomWaiters.push(resume);
  }

  /** Queues one item; the promise resolves with that item's own result (never rejects). */
  add(item: T): Promise<R> {
    return new Promise<R>((resolve) => this.push(item, resolve));
  }

  /**
   * Queues one item; `settle` is called once with that item's own result. The reading path's
   * form: a callback kept in the batch's array, no promise per item.
   */
  push(item: T, settle: Settle<R>): void {
    this.#inFlight++;
    this.#items.push(item);
    this.#settles.push(settle);
    if (this.#items.length >= this.#opts.maxBatch) this.#flushNow();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      // setImmediate, not a microtask: lets every request parsed from this socket read land in one batch
      setImmediate(this.#onTurn);
    }
  }

  readonly #onTurn = (): void => {
    this.#scheduled = false;
    if (this.#items.length > 0) this.#flushNow();
  };

  #flushNow(): void {
    const items = this.#items;
    const settles = this.#settles;
    this.#items = [];
    this.#settles = [];
    const started = performance.now();
    let sent: Promise<R[]>;
    try {
      sent = this.#flushFn(items);
    } catch (err) {
      // a synchronous throw must settle these items like a failed round trip, not strand them
      sent = Promise.reject(err);
    }
    const done = sent.then(
      (results) => {
        this.#hooks.onFlush?.(items.length, (performance.now() - started) / 1000);
        for (let i = 0; i < settles.length; i++) {
          const r = results[i];
          this.#settle(settles[i]!, r === undefined ? this.#hooks.onBatchError(new Error('queue returned fewer results than entries')) : r);
        }
      },
      (err: unknown) => {
        const r = this.#hooks.onBatchError(err);
        for (const s of settles) this.#settle(s, r);
      },
    );
    const tracked = done.finally(() => {
      this.#inFlight -= settles.length;
      this.#pendingFlushes.delete(tracked);
      if (this.#roomWaiters.length > 0 && this.#inFlight <= this.#opts.maxInFlight / 2) {
        const waiters = this.#roomWaiters;
        this.#roomWaiters = [];
        for (const w of waiters) w();
      }
    });
    this.#pendingFlushes.add(tracked);
  }

  /** One item's callback, which must not keep the batch's other items from theirs. */
  #settle(s: Settle<R>, r: R): void {
    try {
      s(r);
    } catch (err) {
      this.#hooks.onSettleError(err);
    }
  }

  /** Flushes what is gathered and waits until every item added so far is settled. */
  async drain(): Promise<void> {
    if (this.#items.length > 0) this.#flushNow();
    while (this.#pendingFlushes.size > 0) await Promise.all([...this.#pendingFlushes]);
  }
}
