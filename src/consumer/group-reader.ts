/**
 * Reading a stream through a consumer group, written once for StreamConsumer and RedisQueue:
 * new entries (XREADGROUP `>`), entries abandoned by crashed consumers (XAUTOCLAIM after
 * `claimIdleMs`, with how often each was delivered), acknowledgement (XACK), and the retry
 * delay both use before an entry is tried again.
 * @module
 */
import type { RedisClient } from '../queue/redis/connection.ts';
import { type BackoffPolicy } from '../util/backoff.ts';
import { type ConsumedEntry, type RawEntry, toEntry } from './entry.ts';

export interface GroupReaderOptions {
  stream: string;
  group: string;
  /** This consumer's name in the group. */
  consumer: string;
  /** How long a read waits for new entries. */
  blockMs: number;
  /** Entries pending this long with another consumer are claimed. */
  claimIdleMs: number;
}

/** Before retry n of an entry: RETRY_DELAY_MS (retryBaseMs) doubling to 30 s, half jitter. */
export function retryPolicy(retryBaseMs: number): BackoffPolicy {
  return { firstMs: retryBaseMs, maxMs: 30_000, jitter: 0.5 };
}

export class GroupReader {
  readonly #redis: RedisClient;
  readonly #o: GroupReaderOptions;
  #lastClaim = 0;
  #claimCursor = '0-0';

  /** @param redis a connection of its own: XREADGROUP BLOCK holds it while waiting */
  constructor(redis: RedisClient, o: GroupReaderOptions) {
    this.#redis = redis;
    this.#o = o;
  }

  /**
   * Up to `count` entries abandoned by crashed consumers, each with its delivery count (this
   * claim included); undefined when none. The pending list is walked with XAUTOCLAIM's cursor,
   * and after a full pass not again before claimIdleMs / 2.
   */
  async claimed(count: number): Promise<ConsumedEntry[] | undefined> {
    const now = Date.now();
    if (this.#claimCursor === '0-0' && now - this.#lastClaim < this.#o.claimIdleMs / 2) return undefined;
    const [next, raw] = (await this.#redis.xautoclaim(this.#o.stream, this.#o.group, this.#o.consumer, this.#o.claimIdleMs, this.#claimCursor, 'COUNT', count)) as [string, (RawEntry | null)[]];
    this.#claimCursor = next;
    if (next === '0-0') this.#lastClaim = now; // a full pass over the pending entries is done
    // entries deleted from the stream while pending come back as null (Redis 7)
    const entries = raw.filter((e): e is RawEntry => e !== null && Array.isArray(e[1]));
    if (entries.length === 0) return undefined;
    const pending = (await this.#redis.xpending(this.#o.stream, this.#o.group, entries[0]![0], entries.at(-1)![0], entries.length, this.#o.consumer)) as [string, string, number, number][];
    const deliveries = new Map(pending.map(([id, , , n]) => [id, n]));
    return entries.map((e) => toEntry(e, deliveries.get(e[0]) ?? 2));
  }

  /** Up to `count` new entries, waiting up to `blockMs` (default: the reader's; at least 1 ms when given, BLOCK 0 being forever) for the first. */
  async read(count: number, blockMs?: number): Promise<ConsumedEntry[]> {
    const block = blockMs === undefined ? this.#o.blockMs : Math.max(1, blockMs);
    const res = (await this.#redis.xreadgroup('GROUP', this.#o.group, this.#o.consumer, 'COUNT', count, 'BLOCK', block, 'STREAMS', this.#o.stream, '>')) as [string, RawEntry[]][] | null;
    return res?.[0]?.[1].map((e) => toEntry(e)) ?? [];
  }

  async ack(...ids: string[]): Promise<void> {
    if (ids.length > 0) await this.#redis.xack(this.#o.stream, this.#o.group, ...ids);
  }
}
