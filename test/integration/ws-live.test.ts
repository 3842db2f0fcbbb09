/**
 * Live readings over WebSocket end to end: the built server under Node on a real
 * redis-server, clients with the `ws` package (a stalled subscriber runs under Node with the
 * real package and stops reading its socket).
 */
import { afterAll, describe, expect, test } from 'bun:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { reading } from '../fixtures/readings.ts';
import { ServerProcess } from '../helpers/spawn-server.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { LiveClient, upgrade } from '../helpers/ws-client.ts';

const stack = useStack({ WS_MAX_BACKPRESSURE_BYTES: '262144', WS_SLOW_TIMEOUT_MS: '1000' });
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

async function open(path = '/', protocols?: string | string[]): Promise<LiveClient> {
  return stack.track(await LiveClient.open(stack.server.wsUrl(path), protocols));
}

async function post(one: Record<string, unknown>): Promise<void> {
  const res = await stack.server.post('/api/v1/sensor-data', one);
  expect(res.status).toBe(202);
}

/** POSTs readings in batches of 100, four requests at a time; returns how many were accepted. */
async function postMany(readings: Record<string, unknown>[]): Promise<number> {
  let accepted = 0;
  let next = 0;
  const worker = async () => {
    while (next < readings.length) {
      const chunk = readings.slice(next, (next += 100));
      const res = await stack.server.post('/api/v1/sensor-data/batch', chunk);
      const body = (await res.json()) as { results: { status: string }[] };
      accepted += body.results.filter((r) => r.status === 'accepted').length;
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return accepted;
}

async function metric(line: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${stack.server.metricsPort}/metrics`)).text();
  const row = text.split('\n').find((l) => l.startsWith(line));
  return row ? Number(row.slice(line.length).trim()) : 0;
}

/** The stalled subscriber: a Node process that subscribes and stops reading (see the helper). */
async function stalled(subscribe: unknown): Promise<{ proc: ChildProcess; out: () => string }> {
  const proc = spawn('node', [resolve(import.meta.dir, '../helpers/ws-stalled-client.mjs'), stack.server.wsUrl('/'), JSON.stringify(subscribe)], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(proc);
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d));
  await waitFor(() => out.includes('subscribed'), 5000, 'stalled client subscribed');
  return { proc, out: () => out };
}

const ld = { presence: true, distance: 120, energy: 60 };
const pir = { motion_detected: true };
const gas = { gas_concentration: 300, unit: 'ppm' };

describe('ws - the platform protocol', () => {
  test('ws - connected on open; subscribe without filters gets every reading, with the enriched reading in data', async () => {
    const c = await open();
    const sub = await c.subscribe();
    expect(sub).toMatchObject({ type: 'subscribed', filters: {} });
    const one = reading();
    await post(one);
    const f = await c.next('sensor-data', (x) => (x.data as { device_id: string }).device_id === one.device_id);
    expect(f.data).toMatchObject({ device_id: one.device_id, sensors: one.sensors });
    expect(typeof (f.data as { message_id: unknown }).message_id).toBe('string');
    expect(typeof (f.data as { received_at: unknown }).received_at).toBe('string');
    expect(typeof f.timestamp).toBe('string');
  });

  test('ws - filters by device, by sensor type, and arrays of each; each reading once per subscriber', async () => {
    const byDevice = await open();
    await byDevice.subscribe({ device_id: 'flt-a' });
    const bySensor = await open();
    await bySensor.subscribe({ sensor_type: 'mq134' });
    const both = await open();
    await both.subscribe({ device_id: ['flt-a', 'flt-b'], sensor_type: ['pir'] });
    const sameFilter = await open();
    await sameFilter.subscribe({ device_id: ['flt-b', 'flt-a'], sensor_type: 'pir' });

    const r1 = reading({ device_id: 'flt-a', sensors: { pir } });
    const r2 = reading({ device_id: 'flt-b', sensors: { mq134: gas } });
    const r3 = reading({ device_id: 'flt-c', sensors: { pir, mq134: gas } });
    const r4 = reading({ device_id: 'flt-b', sensors: { pir, ld2410: ld } });
    const last = reading({ device_id: 'flt-a', sensors: { pir, mq134: gas } });
    for (const r of [r1, r2, r3, r4, last]) await post(r);
    const isLast = (f: { [k: string]: unknown }) => (f.data as { timestamp: string }).timestamp === last.timestamp;
    for (const c of [byDevice, bySensor, both, sameFilter]) await c.next('sensor-data', isLast);

    const got = (c: LiveClient) => c.readings().map((r) => `${r.device_id}@${r.timestamp}`);
    const key = (r: Record<string, unknown>) => `${r.device_id}@${r.timestamp}`;
    expect(got(byDevice).filter((k) => k.startsWith('flt-'))).toEqual([key(r1)]);
    expect(got(bySensor).filter((k) => k.startsWith('flt-'))).toEqual([key(r2), key(r3)]);
    expect(got(both)).toEqual([key(r1), key(r4)]);
    expect(got(sameFilter)).toEqual([key(r1), key(r4)]);
  });

  test('ws - unsubscribe stops delivery; ping gets pong', async () => {
    const watcher = await open();
    await watcher.subscribe({ device_id: 'unsub-dev' });
    const c = await open();
    await c.subscribe({ device_id: 'unsub-dev' });
    c.send({ type: 'unsubscribe' });
    await c.next('unsubscribed');
    const one = reading({ device_id: 'unsub-dev' });
    await post(one);
    await watcher.next('sensor-data');
    // one flush writes a reading to every subscriber at once, so a frame for c would be on its
    // socket before a pong asked for now
    c.send({ type: 'ping' });
    expect(await c.next('pong')).toMatchObject({ type: 'pong' });
    expect(c.readings()).toEqual([]);
  });

  test('ws - malformed frames get error frames and the connection stays open', async () => {
    const c = await open();
    const cases: [unknown, string][] = [
      ['{not json', 'malformed JSON'],
      ['[1,2]', 'must be an object'],
      [{ type: 'hello' }, 'unknown message type "hello"'],
      [{ type: 'subscribe', filters: { sensor_type: 'thermometer' } }, 'not a known sensor type'],
      [{ type: 'subscribe', filters: { device_id: [] } }, 'must not be an empty array'],
      [{ type: 'subscribe', filters: { device_id: 42 } }, 'non-empty string'],
      [{ type: 'subscribe', filters: { room: 'x' } }, 'unknown filter "room"'],
      [{ type: 'subscribe', filters: 'all' }, 'filters must be an object'],
      [{ type: 'subscribe', mode: 'fast' }, 'mode must be'],
    ];
    for (const [msg, expected] of cases) {
      c.send(msg);
      const e = await c.next('error');
      expect(String(e.message)).toContain(expected);
    }
    c.send({ type: 'ping' });
    await c.next('pong');
    expect(await metric('sensor_data_errors_total{error_type="ws_invalid_message"}')).toBeGreaterThanOrEqual(cases.length);
  });

  test('ws - an oversized client message closes that connection only', async () => {
    const big = await open();
    big.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(100_000) }));
    await waitFor(() => big.closeCode !== undefined, 5000, 'oversized message closes');
    const c = await open();
    c.send({ type: 'ping' });
    await c.next('pong');
  });

  test('ws - MessagePack frames with ?format=msgpack or the msgpack subprotocol', async () => {
    for (const c of [await open('/?format=msgpack'), await open('/', 'msgpack')]) {
      await c.subscribe({ device_id: 'mp-dev' });
      const one = reading({ device_id: 'mp-dev' });
      await post(one);
      const f = await c.next('sensor-data');
      expect(f.data).toMatchObject({ device_id: 'mp-dev', timestamp: one.timestamp, sensors: one.sensors });
    }
  });

  test('ws - plain HTTP on the WebSocket port gets 426; active_connections counts WebSocket connections', async () => {
    const res = await fetch(`http://127.0.0.1:${stack.server.wsPort}/`);
    expect(res.status).toBe(426);
    const before = await metric('active_connections{connection_type="websocket"}');
    const c = await open();
    expect(await metric('active_connections{connection_type="websocket"}')).toBe(before + 1);
    c.close();
    await waitFor(async () => (await metric('active_connections{connection_type="websocket"}')) === before, 3000, 'gauge back');
  });
});

describe('ws - slow subscribers', () => {
  test('ws - a subscriber that never reads slows nothing down and is closed (ws_subscriber_slow)', async () => {
    const slowBefore = await metric('sensor_data_errors_total{error_type="ws_subscriber_slow"}');
    const slow = await stalled({ type: 'subscribe', filters: { device_id: 'slow-dev' } });
    const fast = await open();
    await fast.subscribe({ device_id: 'slow-dev' });
    const readings = Array.from({ length: 30_000 }, () => reading({ device_id: 'slow-dev', sensors: { pir } }));
    expect(await postMany(readings)).toBe(readings.length);
    await waitFor(() => fast.readings().length === readings.length, 20_000, 'every reading at the reading subscriber');
    await waitFor(async () => (await metric('sensor_data_errors_total{error_type="ws_subscriber_slow"}')) === slowBefore + 1, 10_000, 'slow subscriber closed');
    slow.proc.kill('SIGUSR2');
    await waitFor(() => /close \d+/.test(slow.out()), 10_000, 'stalled client sees the close');
    expect(slow.out().split('\n').filter((l) => l.includes('"sensor-data"')).length).toBeLessThan(readings.length);
    fast.frames.length = 0;
  }, 60_000);

  test('ws - latest mode: a subscriber that falls behind gets the newest reading per device and sensor, not the backlog', async () => {
    const slow = await stalled({ type: 'subscribe', filters: { device_id: ['lat-1', 'lat-2'] }, mode: 'latest' });
    const fast = await open();
    await fast.subscribe({ device_id: ['lat-1', 'lat-2'] });
    const readings = Array.from({ length: 30_000 }, (_, i) => reading({ device_id: i % 2 ? 'lat-1' : 'lat-2', sensors: { pir } }));
    expect(await postMany(readings)).toBe(readings.length);
    const newest = [readings.at(-1)!, readings.at(-2)!].map((r) => `${r.device_id}@${r.timestamp}`);
    // every reading fanned out: the flushes that wrote them to a reading subscriber of the same
    // devices kept the newest ones for the stalled subscriber too; only now may it read again
    await waitFor(() => fast.readings().length === readings.length, 20_000, 'every reading at the reading subscriber');
    fast.close();
    slow.proc.kill('SIGUSR2');
    const seen = () =>
      slow
        .out()
        .split('\n')
        .filter((l) => l.includes('"sensor-data"'))
        .map((l) => JSON.parse(l).data as Record<string, unknown>)
        .map((r) => `${r.device_id}@${r.timestamp}`);
    await waitFor(() => newest.every((k) => seen().includes(k)), 10_000, 'the newest reading of each device');
    expect(seen().length).toBeLessThan(readings.length);
    expect(slow.out()).not.toContain('close');
    slow.proc.kill('SIGKILL');
  }, 60_000);
});

describe('ws - limits', () => {
  test('ws - beyond WS_MAX_CONNECTIONS the upgrade is refused with 503', async () => {
    const small = await ServerProcess.start({ WS_MAX_CONNECTIONS: '2', MQTT_PORT: '0' });
    try {
      const a = await LiveClient.open(small.wsUrl('/'));
      const b = await LiveClient.open(small.wsUrl('/'));
      const refused = await upgrade(small.wsPort);
      expect(refused.status).toBe(503);
      expect(refused.headers['retry-after']).toBe('1');
      expect(JSON.parse(refused.body)).toMatchObject({ code: 'INGEST_ERR_TOO_MANY_CONNECTIONS' });
      a.close();
      await waitFor(async () => (await small.metric('active_connections{connection_type="websocket"}')) === 1, 5000, 'the closed connection gone');
      const c = await LiveClient.open(small.wsUrl('/'));
      b.close();
      c.close();
    } finally {
      await small.stop();
    }
  });
});

