/**
 * Reading the readings stream correctly, for the storage, analytics and alert services:
 * a consumer group (XREADGROUP), batches handed to a handler, acknowledged (XACK) only after
 * the handler succeeded, failures retried with exponential backoff up to `maxRetryAttempts`,
 * then each entry that still fails moved to the DLQ stream with its last error; entries
 * left pending by a crashed consumer are claimed (XAUTOCLAIM) after `claimIdleMs`; `stop()`
 * finishes the batch in hand and returns.
 *
 * A handler that proves some entries can never be handled throws a FailedEntriesError naming
 * them: those go to the DLQ at once and the rest of the batch is acknowledged. With `lingerMs`,
 * a read that returned less than a batch is followed by more reads until the batch is full or
 * lingerMs passed (a sink's flush interval: fewer, larger writes at low rates).
 *
 * Delivery is at least once: a consumer that dies after its handler wrote but before XACK
 * hands the batch to another consumer, so handlers must be idempotent (the PostgreSQL sink is,
 * on message_id + sensor_type).
 * @module
 */
import type { RedisClient } from '../queue/redis/connection.ts';
import { backoffDelay } from '../util/backoff.ts';
import { deadLetter } from './dead-letter.ts';
import { type ConsumedEntry, ensureGroup } from './entry.ts';
import { FailedEntriesError } from './failed-entries.ts';
import { GroupReader, retryPolicy } from './group-reader.ts';

export interface ConsumerOptions {
  stream: string;
  group: string;
  /** This consumer's name in the group (unique per process). */
  consumer: string;
  dlq: string;
  /** Entries per XREADGROUP. @default 500 */
  batchSize?: number;
  /** How long one XREADGROUP waits for new entries. @default 1000 */
  blockMs?: number;
  /** Attempts after the first failure before an entry goes to the DLQ. @default 3 */
  maxRetryAttempts?: number;
  /** First retry delay, doubled per attempt (capped at 30 s). @default 200 */
  retryBaseMs?: number;
  /** Entries pending this long with another (crashed) consumer are claimed. @default 30000 */
  claimIdleMs?: number;
  /** Where a new group starts: '$' = only new entries, '0' = the whole stream. @default '$' */
  startId?: string;
  /**
   * After a read that returned fewer than batchSize entries, keep reading for up to this long
   * (from that read) to fill the batch; 0: hand over what each read returns. @default 0
   */
  lingerMs?: number;
}

/**
 * Handles a batch; throwing fails the whole batch (it is retried, then split to find the failing
 * entries), except a FailedEntriesError, which fails only the entries it names.
 */
export type BatchHandler = (entries: ConsumedEntry[]) => Promise<void>;

export interface ConsumerEvents {
  /** An entry was moved to the DLQ. */
  onDeadLetter?(entry: ConsumedEntry, error: string): void;
  /** A batch failed and will be retried after `delayMs`. */
  onRetry?(error: unknown, attempt: number, delayMs: number): void;
  /** RedisClient itself failed (the loop waits and goes on). */
  onError?(error: unknown): void;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class StreamConsumer {
  readonly #redis: RedisClient;
  readonly #o: Required<ConsumerOptions>;
  readonly #handler: BatchHandler;
  readonly #events: ConsumerEvents;
  readonly #reader: GroupReader;
  #running: Promise<void> | undefined;
  #stopping = false;

  /**
   * @param redis a connection of its own: XREADGROUP BLOCK holds it while waiting
   */
  constructor(redis: RedisClient, opts: ConsumerOptions, handler: BatchHandler, events: ConsumerEvents = {}) {
    this.#redis = redis;
    this.#o = {
      batchSize: 500,
      blockMs: 1000,
      maxRetryAttempts: 3,
      retryBaseMs: 200,
      claimIdleMs: 30_000,
      startId: '$',
      lingerMs: 0,
      ...opts,
    };
    this.#handler = handler;
    this.#events = events;
    this.#reader = new GroupReader(redis, this.#o);
  }

  /** Creates the group when missing (and the stream with it). */
  ensureGroup(): Promise<void> {
    return ensureGroup(this.#redis, this.#o.stream, this.#o.group, this.#o.startId);
  }

  /** Starts the loop (after ensuring the group); resolves once it runs. */
  async start(): Promise<void> {
    await this.ensureGroup();
    this.#stopping = false;
    this.#running = this.#loop();
  }

  /** Finishes the batch in hand (handler and acknowledgement), then stops; at most blockMs later. */
  async stop(): Promise<void> {
    this.#stopping = true;
    await this.#running;
  }

  async #loop(): Promise<void> {
    while (!this.#stopping) {
      try {
        let batch = (await this.#reader.claimed(this.#o.batchSize)) ?? (await this.#reader.read(this.#o.batchSize));
        if (batch.length > 0 && batch.length < this.#o.batchSize && this.#o.lingerMs > 0) batch = await this.#fill(batch);
        if (batch.length > 0) await this.#process(batch);
      } catch (err) {
        this.#events.onError?.(err);
        if (!this.#stopping) await sleep(500);
      }
    }
  }

  /** More reads into `batch` until it is full, lingerMs passed or stop() was called. */
  async #fill(batch: ConsumedEntry[]): Promise<ConsumedEntry[]> {
    const deadline = Date.now() + this.#o.lingerMs;
    const out = [...batch];
    while (out.length < this.#o.batchSize && !this.#stopping) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        // each wait at most blockMs, so that stop() is seen as soon as without lingering
        out.push(...(await this.#reader.read(this.#o.batchSize - out.length, Math.ceil(Math.min(left, this.#o.blockMs)))));
      } catch (err) {
        // the entries in hand are pending with this consumer: handle them rather than leave them to a claim
        this.#events.onError?.(err);
        break;
      }
    }
    return out;
  }

  /** Handler with retries; then one by one to find the entries that fail; those go to the DLQ. */
  async #process(batch: ConsumedEntry[]): Promise<void> {
    // entries that cannot be handled at all: not JSON, or delivered too often (their consumers died on them)
    const limit = this.#o.maxRetryAttempts + 1;
    const good: ConsumedEntry[] = [];
    for (const e of batch) {
      if (e.reading === undefined) await this.#dead(e, 'entry data is not JSON', 0);
      else if (e.deliveries > limit + 1) await this.#dead(e, `delivered ${e.deliveries} times without being acknowledged (its consumers crashed or timed out)`, e.deliveries);
      else good.push(e);
    }
    if (good.length === 0) return;
    const err = await this.#attempt(good);
    if (err === undefined) return;
    if (good.length === 1) return this.#dead(good[0]!, message(err), limit);
    for (const e of good) {
      const one = await this.#attempt([e]);
      if (one !== undefined) await this.#dead(e, message(one), limit);
    }
  }

  /** Up to 1 + maxRetryAttempts handler calls; acknowledges on success; the last error otherwise. */
  async #attempt(entries: ConsumedEntry[]): Promise<unknown> {
    let last: unknown;
    for (let attempt = 0; attempt <= this.#o.maxRetryAttempts; attempt++) {
      if (attempt > 0) {
        const delay = backoffDelay(retryPolicy(this.#o.retryBaseMs), attempt);
        this.#events.onRetry?.(last, attempt, delay);
        await sleep(delay);
      }
      try {
        await this.#handler(entries);
        await this.#reader.ack(...entries.map((e) => e.id));
        return undefined;
      } catch (err) {
        if (err instanceof FailedEntriesError && entries.some((e) => err.failed.has(e.id))) {
          await this.#reader.ack(...entries.filter((e) => !err.failed.has(e.id)).map((e) => e.id));
          for (const e of entries) {
            const why = err.failed.get(e.id);
            if (why !== undefined) await this.#dead(e, why, attempt + 1);
          }
          return undefined;
        }
        last = err;
      }
    }
    return last ?? new Error('handler failed');
  }

  async #dead(e: ConsumedEntry, error: string, attempts: number): Promise<void> {
    await deadLetter(this.#redis, this.#o, e, error, attempts);
    this.#events.onDeadLetter?.(e, error);
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
