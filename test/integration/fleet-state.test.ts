/**
 * Fleet state end to end (issue 9 points 1 and 2): two server instances on one redis-server,
 * readings over HTTP and MQTT, the answers of /api/v1/devices on either instance: last seen
 * and counts, silent devices, refusals, clock skew, sequence numbers (dedupe across
 * transports and instances, gaps, completeness), MQTT connection; admin-only with auth on;
 * the embedded default too.
 */
import { describe, expect, test } from 'bun:test';
import mqtt from 'mqtt';
import { reading } from '../fixtures/readings.ts';
import { useStack } from '../helpers/stack.ts';
import type { ServerProcess } from '../helpers/spawn-server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const FLUSH = { DEVICE_STATE_FLUSH_MS: '200' };

async function getJson(server: ServerProcess, path: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(server.base + path, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

type Stats = {
  readings: { total: number; by_transport: Record<string, number>; by_sensor: Record<string, number> };
  duplicates: number;
  rejected: { total: number; last_reason: string | null };
  clock_skew_ms: number | null;
  mqtt: { connected: boolean };
  sequence: { first: number; last: number; received: number; expected: number; missing: number; completeness: number; restarts_seen: boolean } | null;
  last_seen: string | null;
  last_transport: string | null;
};

describe('fleet state - two instances on Redis', () => {
  const stack = useStack(FLUSH, { servers: 2 });
  const stats = async (id: string, server = stack.servers[1]!) => (await getJson(server, `/api/v1/devices/${id}/stats`)).body as unknown as Stats;
  const listed = async (query: string, server = stack.servers[1]!) => (await getJson(server, `/api/v1/devices?${query}`)).body as { devices: { device_id: string; [k: string]: unknown }[]; total: number; next_cursor: string | null };

  test('fleet - counts by transport and sensor over HTTP and MQTT on two instances, MQTT connection while connected, clock skew', async () => {
    const id = 'fleet-counted';
    const [a, b] = stack.servers as ServerProcess[];
    expect((await a!.post('/api/v1/sensor-data', reading({ device_id: id }))).status).toBe(202);
    expect((await b!.post('/api/v1/sensor-data', reading({ device_id: id, sensors: { pir: { motion_detected: false } } }))).status).toBe(202);
    const c = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${a!.mqttPort}`, { clientId: id, protocolVersion: 5, reconnectPeriod: 0 }));
    await c.publishAsync(`neurobuild/sensors/${id}/data`, JSON.stringify(reading({ device_id: id })), { qos: 1 });
    const s = await waitFor(async () => {
      const r = await stats(id);
      return r.readings?.total === 3 && r.mqtt.connected ? r : undefined;
    }, 5000, 'three readings and the MQTT connection in the fleet state') as Stats;
    expect(s.readings.by_transport).toEqual({ http: 2, mqtt: 1 });
    expect(s.readings.by_sensor).toEqual({ ld2410: 2, pir: 3, mq134: 2 });
    expect(s.last_transport).toBe('mqtt');
    expect(Date.now() - Date.parse(s.last_seen!)).toBeLessThan(5000);
    await c.endAsync();
    await waitFor(async () => !(await stats(id)).mqtt.connected, 5000, 'the MQTT connection gone from the fleet state');
    // clock skew: a device whose clock runs 30 s ahead
    const ahead = 'fleet-ahead';
    expect((await b!.post('/api/v1/sensor-data', reading({ device_id: ahead, timestamp: new Date(Date.now() + 30_000).toISOString() }))).status).toBe(202);
    const skew = await waitFor(async () => (await stats(ahead, a)).clock_skew_ms, 5000, 'the clock skew');
    expect(skew).toBeGreaterThan(29_000);
    expect(skew).toBeLessThanOrEqual(30_000);
  });

  test('fleet - a silent device appears in silent_for after the interval, and leaves it when heard from again', async () => {
    const id = 'fleet-silent';
    expect((await stack.server.post('/api/v1/sensor-data', reading({ device_id: id }))).status).toBe(202);
    const heard = (await waitFor(async () => {
      const r = await stats(id);
      return r.readings?.total === 1 ? r : undefined;
    }, 5000, 'the reading in the fleet state')) as Stats;
    const silentIds = async () => (await listed('silent_for=2s&limit=1000')).devices.map((d) => d.device_id);
    expect(await silentIds()).not.toContain(id);
    // silence is a matter of time: 2 s (and a little) after the last_seen the server recorded
    await sleep(Math.max(0, Date.parse(heard.last_seen!) + 2100 - Date.now()));
    expect(await silentIds()).toContain(id);
    const entry = (await listed('silent_for=2s&limit=1000')).devices.find((d) => d.device_id === id)!;
    expect(entry.silent_for_s).toBeGreaterThanOrEqual(2);
    expect((await stack.servers[1]!.post('/api/v1/sensor-data', reading({ device_id: id }))).status).toBe(202);
    await waitFor(async () => !(await silentIds()).includes(id), 5000, 'the device no longer silent');
  });

  test('fleet - sequence numbers: a resend over another transport and instance is a duplicate; gaps counted; completeness', async () => {
    const id = 'fleet-seq';
    const [a, b] = stack.servers as ServerProcess[];
    for (const seq of [1, 2, 3, 5, 6]) expect((await a!.post('/api/v1/sensor-data', reading({ device_id: id, seq }))).status).toBe(202);
    // the same seq again, another timestamp, over MQTT on the other instance: one copy only
    const c = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${b!.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0 }));
    const dup = await c.publishAsync(`neurobuild/sensors/${id}/data`, JSON.stringify(reading({ device_id: id, seq: 3 })), { qos: 1 });
    expect((dup as { reasonCode?: number } | undefined)?.reasonCode ?? 0).toBe(0); // a duplicate is acknowledged, not stored twice
    const single = await b!.post('/api/v1/sensor-data', reading({ device_id: id, seq: 5 }));
    expect(single.status).toBe(409);
    const s = await waitFor(async () => {
      const r = await stats(id);
      return r.sequence?.received === 5 && r.duplicates === 2 ? r : undefined;
    }, 5000, 'five sequence numbers and two duplicates') as Stats;
    expect(s.sequence).toEqual({ first: 1, last: 6, received: 5, expected: 6, missing: 1, completeness: 5 / 6, restarts_seen: false });
    const stream = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
    const seqs = stream.map(([, f]) => JSON.parse(f[f.indexOf('data') + 1]!) as { device_id: string; seq?: number }).filter((r) => r.device_id === id).map((r) => r.seq);
    expect(seqs.sort()).toEqual([1, 2, 3, 5, 6]);
    // the missing one arrives late: complete
    expect((await a!.post('/api/v1/sensor-data', reading({ device_id: id, seq: 4 }))).status).toBe(202);
    await waitFor(async () => (await stats(id)).sequence?.completeness === 1, 5000, 'completeness 1');
    // seq must be a non-negative integer
    const bad = await a!.post('/api/v1/sensor-data', reading({ device_id: id, seq: -1 }));
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { details: string }).details).toContain('seq must be >= 0');
  });

  test('fleet - refused readings: counted with the last reason, listed by rejecting=true', async () => {
    const id = 'fleet-rejecting';
    const res = await stack.server.post('/api/v1/sensor-data', reading({ device_id: id, sensors: { ld2410: { presence: true, distance: 900, energy: 10 } } }));
    expect(res.status).toBe(400);
    const s = await waitFor(async () => {
      const r = await stats(id);
      return r.rejected?.total === 1 ? r : undefined;
    }, 5000, 'the refusal in the fleet state') as Stats;
    expect(s.rejected.last_reason).toBe('sensors.ld2410.distance must be <= 600');
    const page = await listed('rejecting=true&within=10m');
    expect(page.devices.find((d) => d.device_id === id)).toMatchObject({ rejected: 1, last_reject_reason: 'sensors.ld2410.distance must be <= 600' });
    // a payload naming a malformed device id leaves no trace
    await stack.server.post('/api/v1/sensor-data', { device_id: '../../etc', timestamp: 'x', sensors: {} });
    // a well-formed refusal after it: once its count is in, the flush that would carry the malformed one is done
    const marker = 'fleet-rejecting-marker';
    expect((await stack.server.post('/api/v1/sensor-data', { device_id: marker, timestamp: 'x', sensors: {} })).status).toBe(400);
    await waitFor(async () => (await stats(marker)).rejected?.total === 1, 5000, 'the marker refusal in the fleet state');
    expect((await getJson(stack.servers[1]!, '/api/v1/devices/..%2F..%2Fetc/stats')).status).toBe(404);
  });

  test('fleet - pagination, unknown devices and malformed queries', async () => {
    for (let i = 0; i < 5; i++) expect((await stack.server.post('/api/v1/sensor-data', reading({ device_id: `fleet-page-${i}` }))).status).toBe(202);
    await waitFor(async () => (await listed('limit=1000')).devices.filter((d) => d.device_id.startsWith('fleet-page-')).length === 5, 5000, 'five devices');
    const seen: string[] = [];
    let cursor: string | null = '';
    let pages = 0;
    while (cursor !== null) {
      const p = await listed(`limit=2&cursor=${cursor}`);
      seen.push(...p.devices.map((d) => d.device_id));
      cursor = p.next_cursor;
      pages++;
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.filter((d) => d.startsWith('fleet-page-')).length).toBe(5);
    expect(pages).toBeGreaterThan(3);
    expect((await getJson(stack.server, '/api/v1/devices/never-heard-of/stats')).status).toBe(404);
    for (const q of ['silent_for=soon', 'limit=0', 'limit=5000', 'cursor=-1', 'rejecting=yes', 'silent_for=1m&rejecting=true', 'rejecting=true&within=x']) {
      const r = await getJson(stack.server, `/api/v1/devices?${q}`);
      expect({ q, status: r.status, code: r.body.code }).toEqual({ q, status: 400, code: 'INGEST_ERR_INVALID_QUERY' });
    }
  });
});

describe('fleet state - admin only with auth on; off with DEVICE_STATE=off', () => {
  const ADMIN = 'admin-token-for-fleet-tests-012345';
  const stack = useStack({ ...FLUSH, AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN });

  test('fleet - the device API needs the admin token when AUTH_MODE is on', async () => {
    expect((await getJson(stack.server, '/api/v1/devices')).status).toBe(401);
    expect((await getJson(stack.server, '/api/v1/devices', { authorization: 'Bearer wrong-token-wrong-token-wrong-tok' })).status).toBe(403);
    expect((await getJson(stack.server, '/api/v1/devices', { authorization: `Bearer ${ADMIN}` })).status).toBe(200);
    expect((await getJson(stack.server, '/api/v1/devices/x/stats')).status).toBe(401);
  });

  test('fleet - DEVICE_STATE=off: readings stored, no fleet state kept', async () => {
    const off = await stack.startServer({ AUTH_MODE: 'none', DEVICE_STATE: 'off' });
    expect((await off.post('/api/v1/sensor-data', reading({ device_id: 'fleet-off' }))).status).toBe(202);
    // a graceful stop ends with the last fleet-state flush when the state is kept: after the
    // exit, anything kept for the reading would be in Redis
    expect(await off.stop()).toBe(0);
    expect(await stack.client.exists('device-state:d:fleet-off')).toBe(0);
    expect((await getJson(stack.server, '/api/v1/devices/fleet-off/stats', { authorization: `Bearer ${ADMIN}` })).status).toBe(404);
  });
});

describe('fleet state - embedded default', () => {
  const stack = useStack(FLUSH, { redis: false });

  test('fleet - the embedded backend keeps the same state', async () => {
    for (const seq of [10, 11, 13]) expect((await stack.server.post('/api/v1/sensor-data', reading({ device_id: 'fleet-embedded', seq }))).status).toBe(202);
    const s = await waitFor(async () => {
      const r = (await getJson(stack.server, '/api/v1/devices/fleet-embedded/stats')).body as unknown as Stats;
      return r.sequence?.received === 3 ? r : undefined;
    }, 5000, 'the embedded fleet state') as Stats;
    expect(s.sequence).toMatchObject({ first: 10, last: 13, missing: 1 });
    expect(s.readings.by_transport).toEqual({ http: 3 });
  });
});
