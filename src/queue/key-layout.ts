/**
 * Where every Redis key and channel of the service lives, on one Redis and on Redis Cluster,
 * with the readings spread over STREAM_SHARDS streams. The one place that names keys by shard:
 * the ingest script, the fleet state, the rate limits, the consumers and the status all ask it.
 *
 * A device belongs to shard `crc32(device_id) mod STREAM_SHARDS` (CRC-32 of the UTF-8 bytes,
 * as zlib and every language compute it), for good: its readings, its dedupe keys, its fleet
 * state and its rate-limit buckets are in that shard, so per-device order and dedupe stay
 * exact and each shard's scripts touch one slot. Changing STREAM_SHARDS moves devices between
 * shards: drain the streams first (docs/redis-cluster.md).
 *
 * A shard's keys share a hash tag, `{i-k}` with several shards: `sensor-data:{0-k0}` …
 * `sensor-data:{N-1-kN-1}`, `sensor-data:{3-k3}:dedupe:<bucket>`, `sensor-data-dlq:{3-k3}`,
 * `device-state:{3-k3}:d:<device>`, where `k` is the smallest integer ≥ 0 that puts the tag's
 * slot in the i-th of N equal parts of the 16384 slots (`tagsFor(N)`; 6 shards: `{0-0}`,
 * `{1-2}`, `{2-3}`, `{3-3}`, `{4-3}`, `{5-1}`). `redis-cli --cluster create` gives each of P
 * primaries 16384/P consecutive slots, so with N a multiple of P every primary serves N/P shards
 * (plain `{0}` … `{5}` would put 1, 3 and 2 of 6 on three primaries: the busiest would carry half
 * the readings). With one shard the stream keeps its name (`sensor-data`, the
 * platform's contract), and the keys that must share its slot on Cluster take the stream's own
 * name as their tag (`sensor-data-dlq:{sensor-data}`, whose slot is the slot of `sensor-data`);
 * on one Redis with one shard every name is what it always was.
 * @module
 */
import { crc32 } from 'node:zlib';
import slotOf from 'cluster-key-slot';

/** Redis Cluster's hash slots. */
export const CLUSTER_SLOTS = 16384;

const tagCache = new Map<number, readonly string[]>();

/**
 * The hash tags of N shards (without braces): shard i's is `i-k` with the smallest k ≥ 0 whose
 * slot lies in [i·16384/N, (i+1)·16384/N), so that shards spread over the slot space as evenly as
 * N allows. Pure and stable: every instance, consumer and tool computes the same names.
 */
export function tagsFor(shards: number): readonly string[] {
  let tags = tagCache.get(shards);
  if (!tags) {
    tags = Array.from({ length: shards }, (_, i) => {
      const [lo, hi] = [Math.floor((i * CLUSTER_SLOTS) / shards), Math.floor(((i + 1) * CLUSTER_SLOTS) / shards)];
      for (let k = 0; ; k++) {
        const slot = slotOf(`${i}-${k}`);
        if (slot >= lo && slot < hi) return `${i}-${k}`;
      }
    });
    tagCache.set(shards, tags);
  }
  return tags;
}

export interface KeyLayoutOptions {
  /** The readings stream's name (QUEUE_NAME). */
  stream: string;
  /** STREAM_SHARDS. @default 1 */
  shards?: number;
  /** Whether the keys must be slot-safe for Redis Cluster. */
  cluster?: boolean;
}

/** What Redis Cluster hashes of a key: the first non-empty `{…}`, else the whole key. */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

export class KeyLayout {
  readonly shards: number;
  readonly cluster: boolean;
  readonly #stream: string;
  readonly #tags: string[];

  constructor(o: KeyLayoutOptions) {
    this.shards = o.shards ?? 1;
    if (!Number.isInteger(this.shards) || this.shards < 1) throw new Error(`shards must be a positive integer (got ${o.shards})`);
    this.cluster = o.cluster ?? false;
    this.#stream = o.stream;
    this.#tags = this.shards > 1 ? tagsFor(this.shards).map((t) => `{${t}}`) : [this.cluster ? `{${o.stream}}` : ''];
  }

  /** The shard of a device (of any identity whose keys follow a device's). */
  shardOf(deviceId: string): number {
    return this.shards === 1 ? 0 : crc32(deviceId) % this.shards;
  }

  /** 0 … shards-1. */
  all(): number[] {
    return Array.from({ length: this.shards }, (_, i) => i);
  }

  /** `base` in shard `i`: `base:{i-k}`, or `base` itself on one Redis with one shard. */
  name(base: string, shard: number): string {
    const tag = this.#tags[shard];
    if (tag === undefined) throw new Error(`no shard ${shard} (STREAM_SHARDS=${this.shards})`);
    return tag === '' ? base : `${base}:${tag}`;
  }

  /**
   * A name for a key that must share `key`'s slot on Cluster (a MULTI or a script over both):
   * `name:{<what Redis hashes of key>}`; `name` itself on one Redis.
   */
  alongside(name: string, key: string): string {
    return this.cluster ? `${name}:{${hashTagOf(key)}}` : name;
  }

  /** The readings stream of a shard. */
  stream(shard: number): string {
    return this.shards === 1 ? this.#stream : this.name(this.#stream, shard);
  }

  /** Every readings stream, shard 0 first. */
  streams(): string[] {
    return this.all().map((i) => this.stream(i));
  }

  /** The prefix of a shard's dedupe bucket sets (in the stream's slot). */
  dedupePrefix(shard: number): string {
    return `${this.name(this.#stream, shard)}:dedupe:`;
  }

  /**
   * A key or prefix that is one for the whole deployment (API keys, device metadata): as given
   * on one Redis; on Cluster in braces, so that the keys made from it (`{api-keys}:by-id`) share
   * one slot and a MULTI over them stays legal.
   */
  global(base: string): string {
    return this.cluster && !base.includes('{') ? `{${base}}` : base;
  }
}
