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
 * - With `shards` (the server's STREAM_SHARDS > 1), every shard's stream (or `shardsServed`) is
 *   read in turn, each with its own DLQ; a message is acknowledged, retried or dead-lettered in
 *   its own shard.
 * @module
 */
import { KeyLayout } from '../queue/key-layout.ts';
import { isCluster, type RedisClient } from '../queue/redis/connection.ts';
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
  /** @internal the index of its shard among those this queue reads */
  shard: number;
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
  /** The server's STREAM_SHARDS: `stream` and `dlq` are then the base names of the shards'. @default 1 */
  shards?: number;
  /** Which shards to read (with `shards`). @default all */
  shardsServed?: number[];
}

interface Shard {
  o: { stream: string; group: string; consumer: string; dlq: string; blockMs: number; claimIdleMs: number };
  reader: GroupReader;
}

export class RedisQueue {
  readonly #redis: RedisClient;
  readonly #o: Required<RedisQueueOptions>;
  #unacked: QueueMessage | undefined;
  readonly #retries: { message: QueueMessage; at: number }[] = [];
  readonly #subscribers: RedisClient[] = [];
  #groupReady: Promise<void> | undefined;
  readonly #shards: Shard[];
  readonly #layout: KeyLayout;
  /** The shard the next dequeue starts with (round robin, so that no shard starves). */
  #next = 0;

  constructor(redis: RedisClient, opts: RedisQueueOptions) {
    this.#redis = redis;
    this.#o = { maxRetryAttempts: 3, blockMs: 100, claimIdleMs: 30_000, retryBaseMs: 200, shards: 1, shardsServed: [], ...opts };
    const layout = (this.#layout = new KeyLayout({ stream: this.#o.stream, shards: this.#o.shards, cluster: isCluster(redis) }));
    const served = this.#o.shardsServed.length > 0 ? this.#o.shardsServed : layout.all();
    this.#shards = served.map((i) => {
      const o = { ...this.#o, stream: layout.stream(i), dlq: layout.name(this.#o.dlq, i) };
      return { o, reader: new GroupReader(redis, o) };
    });
  }

  /** The next message (a retry that is due first, then abandoned entries, then new ones), or null. */
  async dequeue(): Promise<QueueMessage | null> {
    await (this.#groupReady ??= Promise.all(this.#shards.map((s) => ensureGroup(this.#redis, s.o.stream, s.o.group, '$'))).then(() => {}));
    if (this.#unacked) await this.ack(this.#unacked);
    const due = this.#retries.findIndex((r) => r.at <= Date.now());
    if (due >= 0) return (this.#unacked = this.#retries.splice(due, 1)[0]!.message);
    // each shard in turn: a quick look at all but the last, which waits up to blockMs
    const n = this.#shards.length;
    const start = this.#next;
    this.#next = (start + 1) % n;
    for (let k = 0; k < n; k++) {
      const shard = (start + k) % n;
      const { o, reader } = this.#shards[shard]!;
      const entry = (await reader.claimed(1))?.[0] ?? (await reader.read(1, k === n - 1 ? undefined : 1))[0];
      if (entry === undefined) continue;
      if (entry.reading === undefined) {
        await deadLetter(this.#redis, o, entry, 'entry data is not JSON', 0);
        return this.dequeue();
      }
      return (this.#unacked = { id: entry.id, data: entry.reading, attempts: 0, entry, shard });
    }
    return null;
  }

  async ack(message: QueueMessage): Promise<void> {
    if (this.#unacked === message) this.#unacked = undefined;
    await this.#shards[message.shard]!.reader.ack(message.id);
  }

  /** Hands `message` out again after a backoff, or moves it to the DLQ once it failed maxRetryAttempts + 1 times. */
  async requeueWithRetry(message: QueueMessage | null | undefined, error: string): Promise<void> {
    if (!message) return;
    if (this.#unacked === message) this.#unacked = undefined;
    const attempts = message.attempts + 1;
    if (attempts > this.#o.maxRetryAttempts) {
      await deadLetter(this.#redis, this.#shards[message.shard]!.o, message.entry, error, attempts);
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

  /**
   * Live events published by SPUBLISH (the server's EVENTS_PUBSUB=sharded): `channel` of every
   * shard (`sensor-events:{0-0}` …, named by the same layout as the streams), in one listener.
   * Each shard's events keep their order; events of different shards interleave.
   */
  async subscribeSharded(channel: string, listener: (message: string) => void): Promise<void> {
    const layout = this.#layout;
    const sub = isCluster(this.#redis) ? this.#redis.duplicate(undefined, { shardedSubscribers: true }) : this.#redis.duplicate();
    this.#subscribers.push(sub);
    sub.on('smessage', (_channel: string, message: string) => listener(message));
    // one call per channel: on Cluster each shard's channel is in its own slot
    await Promise.all(layout.all().map((i) => sub.ssubscribe(layout.name(channel, i))));
  }

  /** Acknowledges the last message if it was handled, and closes the subscriptions. */
  async close(): Promise<void> {
    if (this.#unacked) await this.ack(this.#unacked);
    await Promise.all(this.#subscribers.map((s) => s.quit().catch(() => s.disconnect())));
  }
}
