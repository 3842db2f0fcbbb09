/**
 * HTTP load at a fixed rate of new readings: single POST /api/v1/sensor-data and
 * POST /api/v1/sensor-data/batch (a share of the readings), at most `concurrency` requests
 * open. Every acknowledgement goes to the tracker: a 202's message_id, a batch item's
 * "accepted" message_id, and a 409 / batch "duplicate" (the server's "already stored").
 * Readings refused with 503 or lost to a connection error are resent with the same
 * device_id and timestamp (as a device would), after Retry-After (connection errors: 250 ms).
 * @module
 */
import type { AckTracker } from './tracker.ts';
import { ReadingSource, type ScenarioReading } from './readings.ts';

export interface HttpLoadOptions {
  /** The server's base URL (asked for each request: a restarted server keeps its ports). */
  base: string | (() => string);
  tracker: AckTracker;
  /** New readings per second. */
  rate: number;
  /** Share of the readings sent in batch requests (default 0.5). */
  batchShare?: number;
  /** Readings per batch request (default 10). */
  batchSize?: number;
  /** Requests open at most (default 32); readings due while all are busy are skipped and counted. */
  concurrency?: number;
  /** Resend readings refused with 503 or a connection error (default true). */
  resend?: boolean;
  /** Attempts per reading at most (default 100). */
  maxAttempts?: number;
  /** Device ids `${prefix}${i}` (default "scn-h"). */
  prefix?: string;
  devices?: number;
  /** A request with no answer after this long is aborted and counts as a connection error (default 15 s). */
  requestTimeoutMs?: number;
}

interface Pending {
  r: ScenarioReading;
  attempts: number;
  due: number;
}

type Body = { message_id?: string; code?: string; results?: { status: string; message_id?: string; error?: string }[] };

export class HttpLoad {
  /** Readings that were due while `concurrency` requests were open (not offered). */
  skipped = 0;
  /** Requests sent, resends included. */
  requests = 0;
  readonly #o: Required<Omit<HttpLoadOptions, 'base' | 'tracker'>>;
  readonly #base: () => string;
  readonly #tracker: AckTracker;
  readonly #source: ReadingSource;
  #resends: Pending[] = [];
  #credit = 0;
  #last = 0;
  #open = 0;
  #single = 0;
  #batched = 0;
  #producing = false;
  #timer: NodeJS.Timeout | undefined;
  /** Readings given up on after maxAttempts. */
  gaveUp = 0;

  constructor(opts: HttpLoadOptions) {
    this.#o = {
      rate: opts.rate,
      batchShare: opts.batchShare ?? 0.5,
      batchSize: opts.batchSize ?? 10,
      concurrency: opts.concurrency ?? 32,
      resend: opts.resend ?? true,
      maxAttempts: opts.maxAttempts ?? 100,
      prefix: opts.prefix ?? 'scn-h',
      devices: opts.devices ?? 40,
      requestTimeoutMs: opts.requestTimeoutMs ?? 15_000,
    };
    const base = opts.base;
    this.#base = typeof base === 'string' ? () => base : base;
    this.#tracker = opts.tracker;
    this.#source = new ReadingSource(this.#o.prefix, this.#o.devices);
  }

  /** Requests open now. */
  get open(): number {
    return this.#open;
  }

  /** Readings waiting to be resent. */
  get resendBacklog(): number {
    return this.#resends.length;
  }

  start(): this {
    this.#producing = true;
    this.#last = Date.now();
    this.#timer ??= setInterval(() => this.#tick(), 5);
    return this;
  }

  /** Changes the rate of new readings from now on. */
  setRate(rate: number): void {
    this.#o.rate = rate;
  }

  /** Stops offering new readings; resends go on until settle(). */
  stopProducing(): void {
    this.#producing = false;
  }

  /**
   * Stops new readings and waits until no request is open and nothing waits to be resent
   * (or `timeoutMs`); then stops. Returns the readings still unresolved.
   */
  async settle(timeoutMs = 15_000): Promise<number> {
    this.stopProducing();
    const deadline = Date.now() + timeoutMs;
    while ((this.#open > 0 || this.#resends.length > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    clearInterval(this.#timer);
    this.#timer = undefined;
    const left = this.#resends.length;
    this.#resends = [];
    while (this.#open > 0) await new Promise((r) => setTimeout(r, 20));
    return left;
  }

  #tick(): void {
    const now = Date.now();
    if (this.#producing) {
      this.#credit += ((now - this.#last) * this.#o.rate) / 1000;
      // at most a second's worth waits for a free request slot; beyond that the reading is not offered
      const cap = Math.max(this.#o.rate, this.#o.batchSize);
      if (this.#credit > cap) {
        this.skipped += Math.floor(this.#credit - cap);
        this.#credit = cap;
      }
    }
    this.#last = now;
    while (this.#open < this.#o.concurrency) {
      const due = this.#dueResends(now);
      if (due.length > 0) {
        void this.#send(due, due.length > 1);
        continue;
      }
      if (!this.#producing) break;
      const wantBatch = this.#o.batchShare > 0 && this.#batched <= (this.#single + this.#batched) * this.#o.batchShare;
      if (wantBatch && this.#credit >= this.#o.batchSize) {
        this.#credit -= this.#o.batchSize;
        this.#batched += this.#o.batchSize;
        void this.#send(Array.from({ length: this.#o.batchSize }, () => this.#fresh(now)), true);
      } else if (!wantBatch && this.#credit >= 1) {
        this.#credit -= 1;
        this.#single++;
        void this.#send([this.#fresh(now)], false);
      } else break;
    }
  }

  #fresh(now: number): Pending {
    const r = this.#source.next();
    this.#tracker.offer(r.key, 'http', now);
    return { r, attempts: 0, due: now };
  }

  #dueResends(now: number): Pending[] {
    if (this.#resends.length === 0 || this.#resends[0]!.due > now) return [];
    const out: Pending[] = [];
    while (out.length < this.#o.batchSize && this.#resends.length > 0 && this.#resends[0]!.due <= now) out.push(this.#resends.shift()!);
    return out;
  }

  #resend(p: Pending, delayMs: number): void {
    if (!this.#o.resend) return;
    if (p.attempts >= this.#o.maxAttempts) {
      this.gaveUp++;
      return;
    }
    p.due = Date.now() + delayMs;
    // kept in due order: delays are one of a few values, so a sorted insert from the back is short
    let i = this.#resends.length;
    while (i > 0 && this.#resends[i - 1]!.due > p.due) i--;
    this.#resends.splice(i, 0, p);
  }

  /** One request; never rejects (every failure is counted and resent here), so callers `void` it. */
  async #send(items: Pending[], batch: boolean): Promise<void> {
    this.#open++;
    this.requests++;
    for (const p of items) p.attempts++;
    const t = this.#tracker;
    const path = batch ? '/api/v1/sensor-data/batch' : '/api/v1/sensor-data';
    const body = batch ? `[${items.map((p) => p.r.json).join(',')}]` : items[0]!.r.json;
    try {
      const res = await fetch(this.#base() + path, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json' },
        signal: AbortSignal.timeout(this.#o.requestTimeoutMs),
      });
      const text = await res.text();
      let json: Body = {};
      try {
        json = JSON.parse(text) as Body;
      } catch {
        // not JSON (should not happen): counted by status below
      }
      const retryMs = Math.max(100, Number(res.headers.get('retry-after') ?? '1') * 1000);
      if (batch && Array.isArray(json.results)) {
        t.answer('http', `batch ${res.status}`);
        json.results.forEach((r, i) => {
          const p = items[i];
          if (!p) return;
          if (r.status === 'accepted') t.ack(p.r.key, 'http', { messageId: r.message_id! });
          else if (r.status === 'duplicate') t.ack(p.r.key, 'http', { asDuplicate: true });
          else {
            t.answer('http', `batch item ${res.status} ${r.error ?? r.status}`);
            if (res.status === 503) this.#resend(p, retryMs);
          }
        });
        return;
      }
      t.answer('http', `${batch ? 'batch ' : ''}${res.status}${json.code ? ` ${json.code}` : ''}`);
      if (!batch && res.status === 202 && json.message_id) t.ack(items[0]!.r.key, 'http', { messageId: json.message_id });
      else if (!batch && res.status === 409) t.ack(items[0]!.r.key, 'http', { asDuplicate: true });
      else if (res.status === 503) for (const p of items) this.#resend(p, retryMs);
    } catch {
      t.answer('http', 'connection error');
      for (const p of items) this.#resend(p, 250);
    } finally {
      this.#open--;
    }
  }
}
