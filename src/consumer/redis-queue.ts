/**
 * The names the platform's existing services use (INTEGRATION.md: `redisQueue.dequeue()`,
 * `requeueWithRetry(message, error)`, `subscribe('sensor-events', …)`) on top of a consumer
 * group, so their loops move over unchanged and become at-least-once:
 *
 *   const message = await queue.dequeue();        // null when nothing arrived within blockMs
 *   await save(message.data);                     // throws → queue.requeueWithRetry(message, err.message)
 *
 * - `dequeue()` acknowledges the message it returned last time, unless that one was requeued:
 *   the loop coming back for more means it was handled. `ack(message)` does it explicitly.
 * - `requeueWithRetry(message, error)` leaves the entry pending and hands it out again from
 *   `dequeue()` after a backoff (200 ms doubling); after `maxRetryAttempts` it moves to the
 *   DLQ with the error. The entry is never appended twice, so other groups see it once.
 * - `subscribe(channel, listener)` is plain pub/sub (live, at most once), on its own connection.
 * - Entries of crashed consumers are claimed after `claimIdleMs`, as in StreamConsumer.
 * @module
 */
import type { Redis } from 'ioredis';
import type { EnrichedReading } from '../core/readings/reading.ts';
import { backoffDelay } from '../util/backoff.ts';
import { deadLetter } from './dead-letter.ts';
import { type ConsumedEntry, ensureGroup } from './entry.ts';
import { GroupReader, retryPolicy } from './group-reader.ts';

export interface QueueMessage {
  id: string;
  data: EnrichedReading;
  /** Failed attempts so far (requeueWithRetry calls). */
  attempts: number;
  /** @internal */
  entry: ConsumedEntry;
}

export interface RedisQueueOptions {
  stream: string;
  group: string;
  consumer: string;
  dlq: string;
  /** @default 3 */
  maxRetryAttempts?: number;
  /** How long dequeue() waits for a new entry. @default 100 */
  blockMs?: number;
  /** @default 30000 */
  claimIdleMs?: number;
  /** @default 200 */
  retryBaseMs?: number;
}

export class RedisQueue {
  readonly #redis: Redis;
  readonly #o: Required<RedisQueueOptions>;
  #unacked: QueueMessage | undefined;
  readonly #retries: { message: QueueMessage; at: number }[] = [];
  readonly #subscribers: Redis[] = [];
  #groupReady: Promise<void> | undefined;
  readonly #reader: GroupReader;

  constructor(redis: Redis, opts: RedisQueueOptions) {
    this.#redis = redis;
    this.#o = { maxRetryAttempts: 3, blockMs: 100, claimIdleMs: 30_000, retryBaseMs: 200, ...opts };
    this.#reader = new GroupReader(redis, this.#o);
  }

  /** The next message (a retry that is due first, then abandoned entries, then new ones), or null. */
  async dequeue(): Promise<QueueMessage | null> {
    await (this.#groupReady ??= ensureGroup(this.#redis, this.#o.stream, this.#o.group, '$'));
    if (this.#unacked) await this.ack(this.#unacked);
    const due = this.#retries.findIndex((r) => r.at <= Date.now());
    if (due >= 0) return (this.#unacked = this.#retries.splice(due, 1)[0]!.message);
    const entry = (await this.#reader.claimed(1))?.[0] ?? (await this.#reader.read(1))[0];
    if (entry === undefined) return null;
    if (entry.reading === undefined) {
      await deadLetter(this.#redis, this.#o, entry, 'entry data is not JSON', 0);
      return this.dequeue();
    }
    return (this.#unacked = { id: entry.id, data: entry.reading, attempts: 0, entry });
  }

  async ack(message: QueueMessage): Promise<void> {
    if (this.#unacked === message) this.#unacked = undefined;
    await this.#reader.ack(message.id);
  }

  /** Hands `message` out again after a backoff, or moves it to the DLQ once it failed maxRetryAttempts + 1 times. */
  async requeueWithRetry(message: QueueMessage | null | undefined, error: string): Promise<void> {
    if (!message) return;
    if (this.#unacked === message) this.#unacked = undefined;
    const attempts = message.attempts + 1;
    if (attempts > this.#o.maxRetryAttempts) {
      await deadLetter(this.#redis, this.#o, message.entry, error, attempts);
      return;
    }
    const delay = backoffDelay(retryPolicy(this.#o.retryBaseMs), attempts);
    this.#retries.push({ message: { ...message, attempts }, at: Date.now() + delay });
  }

  /** Live messages of `channel` (pub/sub, at most once) on a connection of their own. */
  async subscribe(channel: string, listener: (message: string) => void): Promise<void> {
    const sub = this.#redis.duplicate();
    this.#subscribers.push(sub);
    sub.on('message', (ch: string, message: string) => {
      if (ch === channel) listener(message);
    });
    await sub.subscribe(channel);
  }

  /** Acknowledges the last message if it was handled, and closes the subscriptions. */
  async close(): Promise<void> {
    if (this.#unacked) await this.ack(this.#unacked);
    await Promise.all(this.#subscribers.map((s) => s.quit().catch(() => s.disconnect())));
  }
}
