/**
 * Fleet state in Redis, shared by every instance: a hash per device, sorted sets by last
 * seen and last refused, and a short-lived key per instance (an MQTT connection counts only
 * while its instance is alive). Keys: `<prefix>:d:<device>`, `<prefix>:seen`,
 * `<prefix>:rejected`, `<prefix>:instance:<id>`. On Redis Cluster, put the prefix in braces
 * (`{device-state}`) so the flush script's keys share a slot.
 * @module
 */
import type { Redis } from 'ioredis';
import { type DevicePage, type DeviceQuery, type DeviceDelta, type DeviceStats, type FleetStore, SEQ_RESTART_GAP, statsOf, summaryOf } from '../fleet.ts';
import { FLEET_SCRIPT } from './fleet-script.ts';

const CHUNK = 200;

type FleetCommand = (prefix: string, instance: string, ttl: number, deltas: string, gap: number, keepMs: number, nowMs: number) => Promise<number>;

export class RedisFleetStore implements FleetStore {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #instanceTtlMs: number;
  readonly #keepMs: number;

  /** @param keepMs a device's state is dropped this long after its last fact */
  constructor(redis: Redis, prefix: string, instanceTtlMs: number, keepMs: number) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#instanceTtlMs = instanceTtlMs;
    this.#keepMs = keepMs;
    redis.defineCommand('fleetApply', { numberOfKeys: 0, lua: FLEET_SCRIPT });
  }

  async apply(deltas: readonly DeviceDelta[], instance: string, nowMs: number): Promise<void> {
    const run = (this.#redis as unknown as { fleetApply: FleetCommand }).fleetApply.bind(this.#redis);
    // a script blocks Redis while it runs: a few hundred devices per call (~1-2 ms), so the
    // ingest batches on the same connection go in between the calls instead of waiting for all
    for (let i = 0; i < deltas.length || i === 0; i += CHUNK) {
      await run(this.#prefix, instance, this.#instanceTtlMs, JSON.stringify(deltas.slice(i, i + CHUNK)), SEQ_RESTART_GAP, this.#keepMs, nowMs);
    }
  }

  async stats(deviceId: string): Promise<DeviceStats | undefined> {
    const h = await this.#redis.hgetall(`${this.#prefix}:d:${deviceId}`);
    if (Object.keys(h).length === 0) return undefined;
    const alive = await this.#alive([h]);
    return statsOf(deviceId, h, (i) => alive.has(i));
  }

  async list(q: DeviceQuery, offset: number, limit: number, nowMs: number): Promise<DevicePage> {
    const r = this.#redis;
    let ids: string[];
    let total: number;
    if (q.kind === 'all') {
      const key = `${this.#prefix}:seen`;
      [ids, total] = await Promise.all([r.zrevrange(key, offset, offset + limit - 1), r.zcard(key)]);
    } else if (q.kind === 'silent') {
      const key = `${this.#prefix}:seen`;
      const until = nowMs - q.ms;
      [ids, total] = await Promise.all([r.zrangebyscore(key, '-inf', until, 'LIMIT', offset, limit), r.zcount(key, '-inf', until)]);
    } else {
      const key = `${this.#prefix}:rejected`;
      const since = nowMs - q.ms;
      [ids, total] = await Promise.all([r.zrevrangebyscore(key, '+inf', since, 'LIMIT', offset, limit), r.zcount(key, since, '+inf')]);
    }
    const p = r.pipeline();
    for (const id of ids) p.hgetall(`${this.#prefix}:d:${id}`);
    const hashes = ((await p.exec()) ?? []).map(([err, h]) => {
      if (err) throw err;
      return h as Record<string, string>;
    });
    const alive = await this.#alive(hashes);
    const devices = ids.map((id, i) => summaryOf(id, hashes[i]!, nowMs, (inst) => alive.has(inst)));
    const next = offset + ids.length;
    return { devices, total, next_cursor: ids.length === limit && next < total ? String(next) : null };
  }

  /** Instances named in these hashes whose key has not expired. */
  async #alive(hashes: Record<string, string>[]): Promise<Set<string>> {
    const names = [...new Set(hashes.map((h) => h.mqtt_instance).filter((i): i is string => i !== undefined))];
    if (names.length === 0) return new Set();
    const p = this.#redis.pipeline();
    for (const n of names) p.exists(`${this.#prefix}:instance:${n}`);
    const res = (await p.exec()) ?? [];
    return new Set(names.filter((_, i) => res[i]?.[1] === 1));
  }
}
