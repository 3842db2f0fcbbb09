/**
 * Fleet state of the embedded backend: the same hashes and answers as the Redis store, in a
 * map (one instance, so every MQTT connection's instance is alive). Queries sort the devices
 * they match: fine for the embedded default's fleets, which fit one process. Bounded: a device
 * is dropped `keepMs` after its last fact, and past `maxDevices` the least recently heard of
 * goes first.
 * @module
 */
import { type DevicePage, type DeviceQuery, type DeviceDelta, type DeviceStats, type FleetStore, mergeDelta, statsOf, summaryOf } from '../fleet.ts';

const alive = () => true;

export class MemoryFleetStore implements FleetStore {
  /** In order of the last fact (oldest first), with its time. */
  readonly #devices = new Map<string, Record<string, string>>();
  readonly #touched = new Map<string, number>();
  readonly #keepMs: number;
  readonly #maxDevices: number;

  constructor(keepMs = 30 * 86_400_000, maxDevices = 100_000) {
    this.#keepMs = keepMs;
    this.#maxDevices = maxDevices;
  }

  async apply(deltas: readonly DeviceDelta[], instance: string, nowMs: number): Promise<void> {
    for (const d of deltas) {
      const h = this.#devices.get(d.id) ?? {};
      this.#devices.delete(d.id);
      this.#touched.delete(d.id);
      this.#devices.set(d.id, mergeDelta(h, d, instance));
      this.#touched.set(d.id, nowMs);
    }
    for (const [id, at] of this.#touched) {
      if (at >= nowMs - this.#keepMs && this.#devices.size <= this.#maxDevices) break;
      this.#devices.delete(id);
      this.#touched.delete(id);
    }
  }

  /** Devices kept. */
  get size(): number {
    return this.#devices.size;
  }

  async stats(deviceId: string): Promise<DeviceStats | undefined> {
    const h = this.#devices.get(deviceId);
    // as in Redis, where a hash whose last field went is no more
    return h === undefined || Object.keys(h).length === 0 ? undefined : statsOf(deviceId, h, alive);
  }

  async list(q: DeviceQuery, offset: number, limit: number, nowMs: number): Promise<DevicePage> {
    const at = (h: Record<string, string>, k: string) => (h[k] === undefined ? undefined : Number(h[k]));
    let rows: [string, number][] = [];
    for (const [id, h] of this.#devices) {
      const seen = at(h, 'last_seen');
      const refused = at(h, 'last_reject_at');
      if (q.kind === 'all' && seen !== undefined) rows.push([id, -seen]);
      else if (q.kind === 'silent' && seen !== undefined && seen <= nowMs - q.ms) rows.push([id, seen]);
      else if (q.kind === 'rejecting' && refused !== undefined && refused >= nowMs - q.ms) rows.push([id, -refused]);
    }
    rows.sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
    const total = rows.length;
    rows = rows.slice(offset, offset + limit);
    const devices = rows.map(([id]) => summaryOf(id, this.#devices.get(id)!, nowMs, alive));
    const next = offset + rows.length;
    return { devices, total, next_cursor: rows.length === limit && next < total ? String(next) : null };
  }
}
