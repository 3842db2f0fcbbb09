/**
 * The fleet state, every backend: run by memory-backend.test.ts and redis-backend.test.ts.
 * Deltas are written by hand here (the tracker that builds them has its own unit tests).
 */
import { describe, expect, test } from 'bun:test';
import type { DeviceDelta, FleetStore } from '../../src/queue/fleet.ts';
import { sleep } from '../helpers/wait.ts';

export interface FleetUnderTest {
  store: FleetStore;
  /** How long an instance stays alive without a flush (Redis: the instance key's TTL); undefined: always alive. */
  instanceTtlMs?: number;
}

let n = 0;
const dev = () => `fleet-dev-${++n}`;

function delta(id: string, over: Partial<DeviceDelta> = {}): DeviceDelta {
  return { id, seen: 0, transport: '', counts: {}, skew: 0, skewSamples: 0, ...over };
}

/** @param create `keepMs`: how long a device's state is kept after its last fact (default: the production 30 days) */
export function runFleetStoreContract(name: string, create: (keepMs?: number) => Promise<FleetUnderTest>): void {
  describe(`fleet store contract - ${name}`, () => {
    test(`${name} - counts by transport and sensor, duplicates, refusals with the last reason, clock skew; last seen never goes back`, async () => {
      const { store } = await create();
      const id = dev();
      const now = Date.now();
      await store.apply([delta(id, { seen: now - 5000, transport: 'http', counts: { 'n:http': 3, 's:pir': 3, 's:mq134': 1, dup: 2 }, skew: 1500, skewSamples: 3 })], 'i1', now);
      await store.apply([delta(id, { seen: now - 1000, transport: 'mqtt', counts: { 'n:mqtt': 2, 's:pir': 2, rej: 1 }, rejectReason: 'sensors.pir.motion_detected must be a boolean', rejectedAt: now - 900, skew: -250, skewSamples: 2 })], 'i2', now);
      // an instance flushing late: older facts do not move last_seen or the last refusal back
      await store.apply([delta(id, { seen: now - 3000, transport: 'ws', counts: { 'n:ws': 1, rej: 1 }, rejectReason: 'older reason', rejectedAt: now - 4000 })], 'i3', now);
      const s = await store.stats(id, now);
      expect(s).toEqual({
        device_id: id,
        last_seen: new Date(now - 1000).toISOString(),
        last_transport: 'mqtt',
        readings: { total: 6, by_transport: { http: 3, mqtt: 2, ws: 1 }, by_sensor: { pir: 5, mq134: 1 } },
        duplicates: 2,
        rejected: { total: 2, last_reason: 'sensors.pir.motion_detected must be a boolean', last_at: new Date(now - 900).toISOString() },
        clock_skew_ms: -250,
        clock_skew_at: new Date(now - 1000).toISOString(),
        quality_flags: {},
        unknown_fields: { kept: 0, stripped: 0, refused: 0, last_names: [], last_at: null },
        mqtt: { connected: false, since: null },
        sequence: null,
      });
      expect(await store.stats(dev(), now)).toBeUndefined();
    });

    test(`${name} - unknown fields: counted by action, the latest names win and a late flush does not move them back`, async () => {
      const { store } = await create();
      const id = dev();
      const now = Date.now();
      await store.apply([delta(id, { seen: now - 5000, transport: 'http', counts: { 'n:http': 2, 'u:kept': 3, 'q:unknown_fields_kept': 2 }, unknownNames: JSON.stringify(['rssi', 'sensors.pir.sensitivity']), unknownAt: now - 5000 })], 'i1', now);
      await store.apply([delta(id, { counts: { 'u:stripped': 1, 'u:refused': 2, rej: 1 }, rejectReason: 'rssi is not an allowed property (2 unknown fields)', rejectedAt: now - 1000, unknownNames: JSON.stringify(['rssi', 'uptime']), unknownAt: now - 1000 })], 'i2', now);
      await store.apply([delta(id, { counts: { 'u:kept': 1 }, unknownNames: JSON.stringify(['older']), unknownAt: now - 3000 })], 'i3', now);
      const s = (await store.stats(id, now))!;
      expect(s.unknown_fields).toEqual({ kept: 4, stripped: 1, refused: 2, last_names: ['rssi', 'uptime'], last_at: new Date(now - 1000).toISOString() });
      expect(s.quality_flags).toEqual({ unknown_fields_kept: 2 });
      expect(s.readings.total).toBe(2);
    });

    test(`${name} - sequence numbers: gaps counted, late arrivals fill them, a restart starts a new run`, async () => {
      const { store } = await create();
      const id = dev();
      const now = Date.now();
      const seq = async () => (await store.stats(id, now))!.sequence;
      await store.apply([delta(id, { seen: now, transport: 'http', counts: { 'n:http': 8 }, seq: { min: 5001, max: 5010, n: 8 } })], 'i1', now);
      expect(await seq()).toEqual({ first: 5001, last: 5010, received: 8, expected: 10, missing: 2, completeness: 0.8, restarts_seen: false });
      await store.apply([delta(id, { seq: { min: 5011, max: 5020, n: 10 } }), delta(dev(), { seq: { min: 5, max: 5, n: 1 } })], 'i2', now);
      await store.apply([delta(id, { seq: { min: 5003, max: 5003, n: 1 } })], 'i1', now); // a late one
      expect(await seq()).toMatchObject({ first: 5001, last: 5020, received: 19, expected: 20, missing: 1 });
      // a step back smaller than SEQ_RESTART_GAP is a late reading, not a restart
      await store.apply([delta(id, { seq: { min: 4500, max: 4500, n: 1 } })], 'i1', now);
      expect(await seq()).toMatchObject({ first: 4500, last: 5020, received: 20, expected: 521 });
      // the device restarted at 0: the run 4500..5020 (20 of 521) is closed, 0..5 (6 of 6) begins
      await store.apply([delta(id, { seq: { min: 0, max: 5, n: 6 } })], 'i1', now);
      expect(await seq()).toEqual({ first: 0, last: 5, received: 26, expected: 527, missing: 501, completeness: 26 / 527, restarts_seen: true });
      // a restart inside one interval arrives as prev + seq
      const other = dev();
      await store.apply([delta(other, { seq: { min: 5000, max: 5009, n: 10 } })], 'i1', now);
      await store.apply([delta(other, { prev: { min: 5010, max: 5019, n: 8 }, seq: { min: 0, max: 3, n: 4 } })], 'i1', now);
      expect((await store.stats(other, now))!.sequence).toMatchObject({ first: 0, last: 3, received: 22, expected: 24, missing: 2 });
      // sequence numbers past 2^31 stay exact
      const big = dev();
      await store.apply([delta(big, { seq: { min: 9_007_199_254_740_000, max: 9_007_199_254_740_990, n: 991 } })], 'i1', now);
      expect((await store.stats(big, now))!.sequence).toMatchObject({ first: 9_007_199_254_740_000, last: 9_007_199_254_740_990, missing: 0 });
    });

    test(`${name} - lists: all (latest first), silent for a duration (longest silent first), rejecting within a window; paginated`, async () => {
      const { store } = await create();
      const now = Date.now() + 10 * 86_400_000; // later than every other test's devices
      const ids: string[] = [dev(), dev(), dev(), dev()];
      await store.apply(ids.map((id, i) => delta(id, { seen: now - (i + 1) * 60_000, transport: 'http', counts: { 'n:http': 1 } })), 'i1', now);
      await store.apply([delta(ids[1]!, { counts: { rej: 1 }, rejectReason: 'bad', rejectedAt: now - 30_000 }), delta(ids[3]!, { counts: { rej: 1 }, rejectReason: 'worse', rejectedAt: now - 10_000 })], 'i1', now);
      const all = await store.list({ kind: 'all' }, 0, 2, now);
      expect(all.devices.map((d) => d.device_id)).toEqual([ids[0]!, ids[1]!]);
      expect(all.next_cursor).toBe('2');
      const silent = await store.list({ kind: 'silent', ms: 150_000 }, 0, 10, now);
      expect(silent.devices.map((d) => d.device_id).filter((d) => ids.includes(d))).toEqual([ids[3]!, ids[2]!]);
      expect(silent.devices.find((d) => d.device_id === ids[2])).toMatchObject({ silent_for_s: 180, readings: 1, rejected: 0 });
      const page1 = await store.list({ kind: 'silent', ms: 90_000 }, 0, 1, now);
      const page2 = await store.list({ kind: 'silent', ms: 90_000 }, Number(page1.next_cursor), 100, now);
      expect([...page1.devices, ...page2.devices].map((d) => d.device_id).filter((d) => ids.includes(d))).toEqual([ids[3]!, ids[2]!, ids[1]!]);
      const rejecting = await store.list({ kind: 'rejecting', ms: 20_000 }, 0, 10, now);
      expect(rejecting).toMatchObject({ total: 1, next_cursor: null });
      expect(rejecting.devices[0]).toMatchObject({ device_id: ids[3], last_reject_reason: 'worse', rejected: 1 });
      const wider = await store.list({ kind: 'rejecting', ms: 60_000 }, 0, 10, now);
      expect(wider.devices.map((d) => d.device_id)).toEqual([ids[3]!, ids[1]!]);
    });

    test(`${name} - a device not heard of for the keep time is dropped: from the lists and its stats`, async () => {
      const { store } = await create(400);
      const [gone, stays] = [dev(), dev()];
      await store.apply([delta(gone, { seen: Date.now(), transport: 'http', counts: { 'n:http': 1 } })], 'i1', Date.now());
      await sleep(600);
      const now = Date.now();
      await store.apply([delta(stays, { seen: now, transport: 'http', counts: { 'n:http': 1 } })], 'i1', now);
      expect(await store.stats(gone, now)).toBeUndefined();
      expect((await store.stats(stays, now))?.readings.total).toBe(1);
      const all = (await store.list({ kind: 'all' }, 0, 1000, now)).devices.map((d) => d.device_id);
      expect(all).toContain(stays);
      expect(all).not.toContain(gone);
    });

    test(`${name} - MQTT connection: set by its instance, cleared only by it, gone when the instance stops flushing`, async () => {
      const { store, instanceTtlMs } = await create();
      const id = dev();
      const now = Date.now();
      await store.apply([delta(id, { seen: now - 600, transport: 'mqtt', counts: { 'n:mqtt': 1 }, mqttConnected: 1, mqttSince: now - 500 })], 'inst-a', now);
      expect((await store.stats(id, now))!.mqtt).toEqual({ connected: true, since: new Date(now - 500).toISOString() });
      // a takeover elsewhere: b connected, then a's old connection closing does not clear b's
      await store.apply([delta(id, { mqttConnected: 1, mqttSince: now })], 'inst-b', now);
      await store.apply([delta(id, { mqttConnected: 0 })], 'inst-a', now);
      expect((await store.stats(id, now))!.mqtt.connected).toBe(true);
      await store.apply([delta(id, { mqttConnected: 0 })], 'inst-b', now);
      expect((await store.stats(id, now))!.mqtt.connected).toBe(false);
      if (instanceTtlMs === undefined) return;
      // an instance that died (no more flushes): its connections stop counting after the TTL
      await store.apply([delta(id, { mqttConnected: 1, mqttSince: now })], 'inst-c', now);
      expect((await store.stats(id, now))!.mqtt.connected).toBe(true);
      await sleep(instanceTtlMs + 200);
      expect((await store.stats(id, now))!.mqtt.connected).toBe(false);
    });
  });
}
