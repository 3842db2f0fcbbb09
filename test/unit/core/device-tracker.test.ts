import { describe, expect, test } from 'bun:test';
import { DeviceTracker } from '../../../src/core/fleet/device-tracker.ts';
import { type DeviceDelta, type FleetStore, mergeDelta, statsOf } from '../../../src/queue/fleet.ts';

/** A store that records what it is given, and fails while `failing` is set. */
class RecordingStore implements FleetStore {
  flushes: DeviceDelta[][] = [];
  failing = false;
  readonly hashes = new Map<string, Record<string, string>>();
  async apply(deltas: readonly DeviceDelta[], instance: string): Promise<void> {
    if (this.failing) throw new Error('store down');
    this.flushes.push(structuredClone([...deltas]));
    for (const d of deltas) this.hashes.set(d.id, mergeDelta(this.hashes.get(d.id) ?? {}, d, instance));
  }
  async stats() {
    return undefined;
  }
  async list() {
    return { devices: [], total: 0, next_cursor: null };
  }
  stats_(id: string) {
    return statsOf(id, this.hashes.get(id) ?? {}, () => true);
  }
}

const sensors = { pir: { motion_detected: true }, mq134: { gas_concentration: 1, unit: 'ppm' } };

describe('device tracker', () => {
  test('tracker - one delta per device per interval: counts, newest seen, largest skew, last refusal', async () => {
    const store = new RecordingStore();
    const t = new DeviceTracker(store, 'i1', { flushMs: 1000 });
    t.stored('a', 'http', sensors, 1000, 900, undefined);
    t.stored('a', 'mqtt', { pir: {} }, 2000, 1990, undefined);
    t.stored('b', 'http', sensors, 1500, 1500, undefined);
    t.duplicate('a');
    t.rejected('a', 'first', 1700);
    t.rejected('a', 'second', 1800);
    expect(t.pending).toBe(2);
    await t.flush();
    expect(t.pending).toBe(0);
    expect(store.flushes).toHaveLength(1);
    const a = store.flushes[0]!.find((d) => d.id === 'a')!;
    expect(a).toEqual({ id: 'a', seen: 2000, transport: 'mqtt', counts: { 'n:http': 1, 'n:mqtt': 1, 's:pir': 2, 's:mq134': 1, dup: 1, rej: 2 }, rejectReason: 'second', rejectedAt: 1800, skew: -10, skewSamples: 2 });
    await t.flush(); // nothing new: an empty flush (it keeps the instance alive)
    expect(store.flushes[1]).toEqual([]);
  });

  test('tracker - unknown fields: counted by action, the latest names kept; ill-formed device ids ignored; a failed flush keeps them', async () => {
    const store = new RecordingStore();
    const t = new DeviceTracker(store, 'i1', { flushMs: 1000 });
    t.unknownFields('a', { kept: 2, stripped: 0, refused: 0 }, ['rssi', 'sensors.pir.sensitivity'], 1000);
    t.unknownFields('a', { kept: 0, stripped: 1, refused: 0 }, ['__proto__'], 2000);
    t.unknownFields('a', { kept: 0, stripped: 0, refused: 3 }, ['late'], 1500);
    t.unknownFields('bad id!', { kept: 1, stripped: 0, refused: 0 }, ['x'], 1000);
    store.failing = true;
    await t.flush();
    store.failing = false;
    t.unknownFields('a', { kept: 1, stripped: 0, refused: 0 }, ['rssi'], 500);
    await t.flush();
    expect(store.flushes).toHaveLength(1);
    const [d] = store.flushes[0]!;
    expect(d).toMatchObject({ id: 'a', counts: { 'u:kept': 3, 'u:stripped': 1, 'u:refused': 3 }, unknownNames: '["__proto__"]', unknownAt: 2000 });
    expect(store.stats_('a').unknown_fields).toEqual({ kept: 3, stripped: 1, refused: 3, last_names: ['__proto__'], last_at: new Date(2000).toISOString() });
  });

  test('tracker - sequence numbers: min, max and count; a big step back is a restart (prev + seq)', async () => {
    const store = new RecordingStore();
    const t = new DeviceTracker(store, 'i1', { flushMs: 1000 });
    for (const seq of [5000, 5002, 5001, 5005]) t.stored('a', 'http', sensors, 1, 1, seq);
    for (const seq of [0, 1, 2]) t.stored('a', 'http', sensors, 1, 1, seq);
    await t.flush();
    const d = store.flushes[0]![0]!;
    expect(d.prev).toEqual({ min: 5000, max: 5005, n: 4 });
    expect(d.seq).toEqual({ min: 0, max: 2, n: 3 });
    expect(store.stats_('a').sequence).toMatchObject({ first: 0, last: 2, received: 7, expected: 9, missing: 2 });
  });

  test('tracker - a failed flush is merged into the next one: nothing counted twice or lost', async () => {
    const store = new RecordingStore();
    const errors: unknown[] = [];
    const t = new DeviceTracker(store, 'i1', { flushMs: 1000 }, { onFlushError: (e) => errors.push(e) });
    t.stored('a', 'http', sensors, 1000, 1000, 10);
    t.rejected('a', 'old reason', 1000);
    store.failing = true;
    await t.flush();
    expect(errors).toHaveLength(1);
    t.stored('a', 'mqtt', sensors, 2000, 1900, 12);
    t.stored('b', 'http', sensors, 2000, 2000, undefined);
    store.failing = false;
    await t.flush();
    expect(store.flushes).toHaveLength(1);
    const a = store.flushes[0]!.find((d) => d.id === 'a')!;
    expect(a).toMatchObject({ seen: 2000, transport: 'mqtt', counts: { 'n:http': 1, 'n:mqtt': 1, 's:pir': 2, 's:mq134': 2, rej: 1 }, rejectReason: 'old reason', skew: 0, skewSamples: 2, seq: { min: 10, max: 12, n: 2 } });
  });

  test('tracker - bounded: past maxDevices new devices are dropped and counted', async () => {
    const store = new RecordingStore();
    let dropped = 0;
    const t = new DeviceTracker(store, 'i1', { flushMs: 1000, maxDevices: 2 }, { onDropped: (n) => (dropped += n) });
    for (const id of ['a', 'b', 'c', 'd']) t.stored(id, 'http', sensors, 1, 1, undefined);
    t.stored('a', 'http', sensors, 1, 1, undefined);
    expect(t.pending).toBe(2);
    expect(dropped).toBe(2);
  });

  test('tracker - refusals naming a malformed device id are not kept', async () => {
    const store = new RecordingStore();
    const t = new DeviceTracker(store, 'i1', { flushMs: 1000 });
    t.rejected('../../etc/passwd', 'x', 1);
    t.rejected('x'.repeat(65), 'x', 1);
    t.rejected('', 'x', 1);
    expect(t.pending).toBe(0);
  });

  test('tracker - MQTT: a takeover (new connection before the old one closes) stays connected; stop() disconnects and flushes', async () => {
    const store = new RecordingStore();
    const t = new DeviceTracker(store, 'i1', { flushMs: 1000 });
    t.mqttConnected('a', 100);
    await t.flush();
    expect(store.stats_('a').mqtt.connected).toBe(true);
    t.mqttConnected('a', 200); // the takeover's new connection
    t.mqttDisconnected('a'); // the old one closes
    await t.flush();
    expect(store.stats_('a').mqtt.connected).toBe(true);
    t.mqttConnected('b', 300);
    await t.stop();
    expect(store.stats_('a').mqtt.connected).toBe(false);
    expect(store.stats_('b').mqtt.connected).toBe(false);
  });
});
