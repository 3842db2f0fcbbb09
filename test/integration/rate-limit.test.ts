/**
 * Rate limits and connection limits on two instances sharing one redis-server: one token bucket
 * per device across instances and transports; HTTP 429 + Retry-After, MQTT v5 PUBACK 0x97 and
 * DISCONNECT 0x96, v3.1.1 disconnected after sustained abuse; recovery once tokens refill;
 * MAX_CONNECTIONS_PER_IP. Backfill (readings older than BACKFILL_AFTER_MS) on its own budget.
 */
import { describe, expect, test } from 'bun:test';
import mqtt from 'mqtt';
import { reading } from '../fixtures/readings.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { LiveClient } from '../helpers/ws-client.ts';

const ADMIN = 'admin-token-for-tests-0123456789';
// 30 a minute: a burst of 30, then one token every 2 s
const stack = useStack(
  { AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN, RATE_LIMIT: 'on', RATE_LIMIT_PER_MINUTE: '30', RATE_LIMIT_BATCH_PER_MINUTE: '3', RATE_LIMIT_BACKFILL_PER_MINUTE: '40', MAX_CONNECTIONS_PER_IP: '40' },
  { servers: 2 },
);

async function register(id: string): Promise<string> {
  const res = await fetch(`${stack.server.base}/api/v1/admin/devices`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ device_id: id }) });
  return ((await res.json()) as { api_key: string }).api_key;
}
const post = (key: string, body: unknown, path = '/api/v1/sensor-data', i = 0) =>
  fetch(stack.servers[i]!.base + path, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(body) });

describe('rate limits', () => {
  test('rate - one bucket per device across instances: 429 with Retry-After, then recovery', async () => {
    const key = await register('rl-http');
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await post(key, reading({ device_id: 'rl-http' }), '/api/v1/sensor-data', i % 2)).status);
    expect(statuses.every((s) => s === 202)).toBe(true);
    const limited = await post(key, reading({ device_id: 'rl-http' }), '/api/v1/sensor-data', 1);
    const limitedAt = Date.now();
    expect(limited.status).toBe(429);
    const retry = Number(limited.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(((await limited.json()) as { code: string }).code).toBe('INGEST_ERR_RATE_LIMITED');
    // another device is not affected
    const other = await register('rl-other');
    expect((await post(other, reading({ device_id: 'rl-other' }))).status).toBe(202);
    // the time under test: Retry-After is long enough
    await Bun.sleep(Math.max(0, limitedAt + retry * 1000 + 200 - Date.now()));
    expect((await post(key, reading({ device_id: 'rl-http' }))).status).toBe(202);
  });

  test('rate - batches have their own bucket', async () => {
    const key = await register('rl-batch');
    for (let i = 0; i < 3; i++) expect((await post(key, [reading({ device_id: 'rl-batch' })], '/api/v1/sensor-data/batch')).status).toBe(202);
    expect((await post(key, [reading({ device_id: 'rl-batch' })], '/api/v1/sensor-data/batch')).status).toBe(429);
    expect((await post(key, reading({ device_id: 'rl-batch' }))).status).toBe(202);
  });

  test('rate - MQTT v5: PUBACK 0x97 (quota exceeded) past the rate, nothing stored for it; recovers', async () => {
    const key = await register('rl-mqtt');
    const c = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.server.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0, username: 'rl-mqtt', password: key }));
    const codes: (number | undefined)[] = [];
    for (let i = 0; i < 31; i++) {
      codes.push(
        await c.publishAsync('neurobuild/sensors/rl-mqtt/data', JSON.stringify(reading({ device_id: 'rl-mqtt' })), { qos: 1 }).then(
          () => 0,
          (e: { code?: number }) => e.code,
        ),
      );
    }
    const refusedAt = Date.now();
    expect(codes.slice(0, 30).every((x) => x === 0)).toBe(true);
    expect(codes[30]).toBe(0x97);
    const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
    expect(rows.filter(([, f]) => f[f.indexOf('device_id') + 1] === 'rl-mqtt').length).toBe(30);
    // the time under test: one token every 2 s
    await Bun.sleep(Math.max(0, refusedAt + 2300 - Date.now()));
    await c.publishAsync('neurobuild/sensors/rl-mqtt/data', JSON.stringify(reading({ device_id: 'rl-mqtt' })), { qos: 1 });
  });

  test('rate - MQTT v3.1.1: no ack past the rate, disconnected after sustained abuse', async () => {
    const key = await register('rl-v3');
    const raw = await RawMqtt.open(stack.server.mqttPort, 4);
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'rl-v3', keepalive: 60, username: 'rl-v3', password: Buffer.from(key) });
    await raw.next('connack');
    const publish = (i: number) =>
      raw.send({ cmd: 'publish', topic: 'neurobuild/sensors/rl-v3/data', payload: Buffer.from(JSON.stringify(reading({ device_id: 'rl-v3' }))), qos: 1, messageId: i, retain: false, dup: false });
    for (let i = 1; i <= 30; i++) publish(i);
    await waitFor(() => raw.packets.filter((p) => p.cmd === 'puback').length === 30, 5000, '30 acks within the burst');
    for (let i = 31; i <= 60; i++) publish(i);
    expect(await raw.waitClosed(10_000)).toBe(true);
    expect(raw.packets.filter((p) => p.cmd === 'puback').length).toBe(30);
  });
});

describe('backfill budget', () => {
  const old = (i: number) => new Date(Date.now() - 600_000 + i).toISOString();

  test('rate - a reconnect storm of buffered readings spends the backfill budget, never the live one; batches answer per item', async () => {
    const id = 'rl-backfill';
    const key = await register(id);
    const c = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.server.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0, username: id, password: key }));
    const publish = (body: unknown) =>
      c.publishAsync(`neurobuild/sensors/${id}/data`, JSON.stringify(body), { qos: 1 }).then(
        () => 0,
        (e: { code?: number }) => e.code,
      );
    // the device flushes 41 buffered readings: 40 fit the backfill budget (more than the live 30)
    const flushed: (number | undefined)[] = [];
    for (let i = 0; i < 41; i++) flushed.push(await publish(reading({ device_id: id, timestamp: old(i) })));
    expect(flushed.slice(0, 40).every((x) => x === 0)).toBe(true);
    expect(flushed[40]).toBe(0x97);
    // its live readings are untouched by the flush: the whole live burst of 30 still goes in
    const live: (number | undefined)[] = [];
    for (let i = 0; i < 30; i++) live.push(await publish(reading({ device_id: id })));
    expect(live.every((x) => x === 0)).toBe(true);
    const rows = ((await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][]).map(([, f]) => JSON.parse(f[f.indexOf('data') + 1]!) as { device_id: string; backfill?: boolean });
    const mine = rows.filter((r) => r.device_id === id);
    expect(mine.filter((r) => r.backfill === true).length).toBe(40);
    expect(mine.filter((r) => r.backfill === undefined).length).toBe(30);
    // a batch mixing both, with the backfill budget spent: the live item is stored, the backfill one says why not
    const res = await post(key, [reading({ device_id: id }), reading({ device_id: id, timestamp: old(100) })], '/api/v1/sensor-data/batch');
    expect(res.status).toBe(202);
    const results = ((await res.json()) as { results: { status: string; error?: string; details?: string }[] }).results;
    expect(results[0]!.status).toBe('accepted');
    expect(results[1]).toMatchObject({ status: 'failed', error: 'Too many requests' });
    expect(results[1]!.details).toContain(`more than the backfill rate allowed for ${id}`);
    // only backfill, all over budget: 429 with Retry-After, each item's reason in results
    const all = await post(key, [reading({ device_id: id, timestamp: old(200) })], '/api/v1/sensor-data/batch');
    expect(all.status).toBe(429);
    expect(Number(all.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await all.json()) as { results: { status: string }[] }).results.map((r) => r.status)).toEqual(['failed']);
  });
});

describe('connection limits', () => {
  test('rate - MAX_CONNECTIONS_PER_IP: past it, MQTT sockets are closed and WebSocket upgrades get 503', async () => {
    const server = await stack.startServer({ MAX_CONNECTIONS_PER_IP: '2', AUTH_MODE: 'none' });
    const a = await RawMqtt.open(server.mqttPort, 4);
    const b = await LiveClient.open(server.wsUrl('/'));
    const refused = await RawMqtt.open(server.mqttPort, 4);
    expect(await refused.waitClosed()).toBe(true);
    await expect(LiveClient.open(server.wsUrl('/'))).rejects.toThrow();
    a.end();
    // a connection over the cap is closed before its CONNECT is answered; one within it gets its CONNACK
    await waitFor(async () => {
      const c = await RawMqtt.open(server.mqttPort, 4);
      c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `slot-${Date.now()}`, keepalive: 30 });
      await waitFor(() => c.closed || c.packets.some((p) => p.cmd === 'connack'), 3000, 'CONNACK or close');
      const ok = c.packets.some((p) => p.cmd === 'connack');
      c.end();
      return ok;
    }, 5000, 'a slot free again');
    b.close();
  });
});
