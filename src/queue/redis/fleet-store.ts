/**
 * Fleet state in Redis, shared by every instance: a hash per device, sorted sets by last
 * seen and last refused, and a short-lived key per instance (an MQTT connection counts only
 * while its instance is alive). Keys, per shard (../key-layout.ts): `<prefix>:d:<device>`,
 * `<prefix>:seen`, `<prefix>:rejected`, `<prefix>:instance:<id>`, where `<prefix>` is
 * DEVICE_STATE_PREFIX in the shard (`device-state:{3-3}`; `device-state` itself on one Redis with
 * one shard). A device's state is in its readings' shard, so a flush is one script call per
 * shard and no key is every instance's hot spot; the fleet queries merge the shards' sorted sets.
 * @module
 */
import { type DevicePage, type DeviceQuery, type DeviceDelta, type DeviceStats, type DeviceSummary, type FleetStore, SEQ_RESTART_GAP, statsOf, summaryOf } from '../fleet.ts';
import type { KeyLayout } from '../key-layout.ts';
import type { RedisClient } from './connection.ts';
import { FLEET_SCRIPT } from './fleet-script.ts';

const CHUNK = 200;

type FleetCommand = (seenKey: string, prefix: string, instance: string, ttl: number, deltas: string, gap: number, keepMs: number, nowMs: number) => Promise<number>;

export class RedisFleetStore implements FleetStore {
  readonly #redis: RedisClient;
  readonly #layout: KeyLayout;
  readonly #base: string;
  readonly #instanceTtlMs: number;
  readonly #keepMs: number;

  /** @param keepMs a device's state is dropped this long after its last fact */
  constructor(redis: RedisClient, layout: KeyLayout, prefix: string, instanceTtlMs: number, keepMs: number) {
    this.#redis = redis;
    this.#layout = layout;
    this.#base = prefix;
    this.#instanceTtlMs = instanceTtlMs;
    this.#keepMs = keepMs;
    redis.defineCommand('fleetApply', { numberOfKeys: 1, lua: FLEET_SCRIPT });
  }

  #prefix(shard: number): string {
    return this.#layout.name(this.#base, shard);
  }

  async apply(deltas: readonly DeviceDelta[], instance: string, nowMs: number): Promise<void> {
    const run = (this.#redis as unknown as { fleetApply: FleetCommand }).fleetApply.bind(this.#redis);
    const byShard = new Map<number, DeviceDelta[]>(this.#layout.all().map((i) => [i, []]));
    for (const d of deltas) byShard.get(this.#layout.shardOf(d.id))!.push(d);
    // every shard, even without deltas: the call marks this instance alive in the shard, where
    // its connected devices' hashes name it
    await Promise.all(
      [...byShard].map(async ([shard, own]) => {
        const prefix = this.#prefix(shard);
        // a script blocks Redis while it runs: a few hundred devices per call (~1-2 ms), so the
        // ingest batches on the same connection go in between the calls instead of waiting for all
        for (let i = 0; i < own.length || i === 0; i += CHUNK) {
          await run(`${prefix}:seen`, prefix, instance, this.#instanceTtlMs, JSON.stringify(own.slice(i, i + CHUNK)), SEQ_RESTART_GAP, this.#keepMs, nowMs);
        }
      }),
    );
  }

  async stats(deviceId: string): Promise<DeviceStats | undefined> {
    const prefix = this.#prefix(this.#layout.shardOf(deviceId));
    const h = await this.#redis.hgetall(`${prefix}:d:${deviceId}`);
    if (Object.keys(h).length === 0) return undefined;
    const alive = await this.#alive(prefix, [h]);
    return statsOf(deviceId, h, (i) => alive.has(i));
  }

  /**
   * A page of devices: each shard's sorted set gives its first offset + limit in the query's
   * order, merged; so a page costs O(shards × (offset + limit)) — deep pages of a large fleet
   * are better read with a narrower query (silent / rejecting) than by paging through `all`.
   */
  async list(q: DeviceQuery, offset: number, limit: number, nowMs: number): Promise<DevicePage> {
    const shards = this.#layout.all();
    const want = offset + limit;
    const parts = await Promise.all(shards.map((shard) => this.#range(this.#prefix(shard), q, want, nowMs)));
    const total = parts.reduce((n, p) => n + p.total, 0);
    const merged = parts.flatMap((p, k) => p.ids.map(([id, score]) => ({ id, score, shard: shards[k]! })));
    // all and rejecting: newest first; silent: longest silent first
    merged.sort(q.kind === 'silent' ? (a, b) => a.score - b.score || cmp(a.id, b.id) : (a, b) => b.score - a.score || cmp(b.id, a.id));
    const page = merged.slice(offset, want);
    const byShard = new Map<number, { id: string; at: number }[]>();
    page.forEach((d, at) => {
      const list = byShard.get(d.shard) ?? [];
      list.push({ id: d.id, at });
      byShard.set(d.shard, list);
    });
    const devices: DeviceSummary[] = new Array(page.length);
    await Promise.all(
      [...byShard].map(async ([shard, items]) => {
        const prefix = this.#prefix(shard);
        const p = this.#redis.pipeline();
        for (const { id } of items) p.hgetall(`${prefix}:d:${id}`);
        const hashes = ((await p.exec()) ?? []).map(([err, h]) => {
          if (err) throw err;
          return h as Record<string, string>;
        });
        const alive = await this.#alive(prefix, hashes);
        items.forEach(({ id, at }, i) => (devices[at] = summaryOf(id, hashes[i]!, nowMs, (inst) => alive.has(inst))));
      }),
    );
    const next = offset + page.length;
    return { devices, total, next_cursor: page.length === limit && next < total ? String(next) : null };
  }

  /** The first `want` ids of one shard in the query's order, with their scores, and how many match. */
  async #range(prefix: string, q: DeviceQuery, want: number, nowMs: number): Promise<{ ids: [string, number][]; total: number }> {
    const r = this.#redis;
    let flat: string[];
    let total: number;
    if (q.kind === 'all') {
      const key = `${prefix}:seen`;
      [flat, total] = await Promise.all([r.zrevrange(key, 0, want - 1, 'WITHSCORES'), r.zcard(key)]);
    } else if (q.kind === 'silent') {
      const key = `${prefix}:seen`;
      const until = nowMs - q.ms;
      [flat, total] = await Promise.all([r.zrangebyscore(key, '-inf', until, 'WITHSCORES', 'LIMIT', 0, want), r.zcount(key, '-inf', until)]);
    } else {
      const key = `${prefix}:rejected`;
      const since = nowMs - q.ms;
      [flat, total] = await Promise.all([r.zrevrangebyscore(key, '+inf', since, 'WITHSCORES', 'LIMIT', 0, want), r.zcount(key, since, '+inf')]);
    }
    const ids: [string, number][] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) ids.push([flat[i]!, Number(flat[i + 1])]);
    return { ids, total };
  }

  /** Instances named in these hashes (of one shard) whose key in that shard has not expired. */
  async #alive(prefix: string, hashes: Record<string, string>[]): Promise<Set<string>> {
    const names = [...new Set(hashes.map((h) => h.mqtt_instance).filter((i): i is string => i !== undefined))];
    if (names.length === 0) return new Set();
    const p = this.#redis.pipeline();
    for (const n of names) p.exists(`${prefix}:instance:${n}`);
    const res = (await p.exec()) ?? [];
    return new Set(names.filter((_, i) => res[i]?.[1] === 1));
  }
}

/** Redis orders equal scores by member, bytewise. */
function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
