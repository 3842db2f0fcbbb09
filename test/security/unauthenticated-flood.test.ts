/**
 * Attacks (issue 16, findings 7, 8 and 9): what a stranger without credentials can make the
 * server hold or write. On main, HTTP read a whole body (up to MAX_BODY_BYTES) before looking at
 * the credentials, an MQTT connection could hold an unfinished CONNECT of up to
 * MQTT_MAX_PACKET_BYTES until the CONNECT timeout, connections without an accepted CONNECT were
 * not counted, and every refused CONNECT wrote a log line. Now the headers decide before the body
 * is read, a CONNECT is capped (MQTT_MAX_CONNECT_BYTES), connections waiting for theirs are
 * capped (MAX_UNAUTHENTICATED_CONNECTIONS, TCP and WebSocket together), and refusals are logged
 * once a minute with a count.
 */
import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { reading } from '../fixtures/readings.ts';
import { ADMIN, registerKey } from '../helpers/identities.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { connackCode, metricValue, rawConnect } from '../helpers/mqtt5.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { LiveClient, upgrade } from '../helpers/ws-client.ts';

/** Sends a request's head (declaring `length` body bytes) and no body; resolves with what came back once the server closed. */
function headOnly(port: number, head: string, length: number): Promise<{ status: number; text: string; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(`${head}content-type: application/json\r\ncontent-length: ${length}\r\nhost: x\r\n\r\n`));
    let text = '';
    s.on('data', (d) => (text += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve({ status: Number(text.slice(9, 12)), text, socket: s }));
    setTimeout(() => reject(new Error(`no answer before the body: ${JSON.stringify(text)}`)), 8000).unref();
  });
}


describe('security - HTTP credentials are judged before the body is read', () => {
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN });

  test('security http - no credentials, a wrong key or a subscriber key: answered 401/403 from the headers with a 1 MiB body declared and never sent, connection closed', async () => {
    const port = stack.server.port;
    const sub = await registerKey(stack.server.base, 'flood-watcher', 'subscriber');
    const none = await headOnly(port, 'POST /api/v1/sensor-data HTTP/1.1\r\n', 1 << 20);
    expect(none.status).toBe(401);
    const wrong = await headOnly(port, `POST /api/v1/sensor-data/batch HTTP/1.1\r\nx-api-key: nbk_${'0'.repeat(43)}\r\n`, 1 << 20);
    expect(wrong.status).toBe(401);
    const watcher = await headOnly(port, `POST /api/v1/sensor-data HTTP/1.1\r\nx-api-key: ${sub}\r\n`, 1 << 20);
    expect(watcher.status).toBe(403);
    // (a correct key still gets its body read and stored)
    const key = await registerKey(stack.server.base, 'flood-dev');
    const ok = await fetch(`${stack.server.base}/api/v1/sensor-data`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-api-key': key }, body: JSON.stringify(reading({ device_id: 'flood-dev' })) });
    expect(ok.status).toBe(202);
  });

  test('security http - 300 connections each sending a 1 MiB body with a wrong key: all refused, the server holds none of it (RSS within 64 MiB)', async () => {
    const before = stack.server.rssMiB();
    // the clients run under Node (see the helper); each connection either reads its 401 or is
    // reset by the server's close while still sending (nothing of the body is wanted)
    const run = spawnSync('node', [resolve(import.meta.dir, '../helpers/http-flood.mjs'), String(stack.server.port), '300', String(1 << 20), JSON.stringify({ 'x-api-key': 'nbk_wrong' })], { encoding: 'utf8', timeout: 30_000 });
    expect(run.status).toBe(0);
    const ends = JSON.parse(run.stdout) as Record<string, number>;
    expect(Object.keys(ends).filter((k) => k !== '401' && k !== 'reset')).toEqual([]);
    expect(ends['401']).toBeGreaterThan(0);
    expect(stack.server.rssMiB() - before).toBeLessThan(64);
  });
});

describe('security - MQTT connections without an accepted CONNECT are few and small', () => {
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN, MAX_UNAUTHENTICATED_CONNECTIONS: '40', WS_MAX_CONNECTIONS: '60', MAX_CONNECTIONS_PER_IP: '0' });

  test('security mqtt - a CONNECT declaring more than MQTT_MAX_CONNECT_BYTES closes its connection before the rest is sent', async () => {
    const c = stack.track(await RawMqtt.open(stack.server.mqttPort));
    // CONNECT fixed header: type 1, remaining length 262,000 (varint), then nothing more
    c.write(Buffer.from([0x10, 0xf0, 0xfe, 0x0f]));
    expect(await c.waitClosed()).toBe(true);
  });

  test('security mqtt - MAX_UNAUTHENTICATED_CONNECTIONS: the 41st silent connection is closed at once (TCP and WebSocket /mqtt: 503) while live subscribers still connect, an accepted CONNECT frees its slot', async () => {
    const port = stack.server.mqttPort;
    const silent: RawMqtt[] = [];
    for (let i = 0; i < 40; i++) silent.push(stack.track(await RawMqtt.open(port)));
    const extra = stack.track(await RawMqtt.open(port));
    expect(await extra.waitClosed()).toBe(true);
    expect(await metricValue(stack.server, 'mqtt_bounds_hit_total{bound="unauthenticated_connections"}')).toBeGreaterThanOrEqual(1);

    expect((await upgrade(stack.server.wsPort, '/mqtt', 'mqtt')).status).toBe(503);
    // the live WebSocket endpoint's slots are not theirs: an authenticated subscriber still gets in
    const watcherKey = await registerKey(stack.server.base, 'slot-watcher', 'subscriber');
    const live = stack.track(await LiveClient.open(stack.server.wsUrl(`/?api_key=${watcherKey}`)));
    expect(live.ws.readyState).toBe(1);

    // one of the silent ones authenticates: its slot is free for a new connection
    const key = await registerKey(stack.server.base, 'slot-dev');
    silent[0]!.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'slot-dev', keepalive: 60, username: 'slot-dev', password: Buffer.from(key) });
    expect(connackCode((await silent[0]!.next('connack')) as never)).toBe(0);
    const next = await rawConnect(port, { clientId: 'slot-dev-2', username: 'slot-dev', password: key });
    stack.track(next.c);
    expect(connackCode(next.connack)).toBe(0);
    // closing the silent ones frees theirs too
    for (const s of silent.slice(1)) s.end();
    await waitFor(async () => {
      const c = await RawMqtt.open(port).catch(() => undefined);
      if (c === undefined) return false;
      stack.track(c);
      c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `late-${Math.random()}`, keepalive: 60, username: 'slot-dev', password: Buffer.from(key) });
      return c.next('connack', 2000).then(() => true, () => false);
    }, 10_000, 'a slot freed by the closed connections');
  });
});

describe('security - refusals do not flood the log', () => {
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN, MAX_CONNECTIONS_PER_IP: '0' });

  test('security log - 300 CONNECTs with wrong credentials (10 KB client ids): all refused, at most 2 log lines about them, no field longer than 200 characters', async () => {
    const port = stack.server.mqttPort;
    const from = stack.server.logs.length;
    for (let round = 0; round < 10; round++) {
      await Promise.all(
        Array.from({ length: 30 }, async (_, i) => {
          const { c, connack } = await rawConnect(port, { clientId: `x${round}-${i}-${'a'.repeat(10_000)}`, username: 'nobody', password: 'nbk_wrong' });
          c.end();
          expect(connackCode(connack)).toBe(0x86);
        }),
      );
    }
    const lines = stack.server.logs.slice(from);
    const refusals = lines.filter((l) => String(l.msg).startsWith('mqtt connect refused'));
    expect(refusals.length).toBeGreaterThanOrEqual(1);
    expect(refusals.length).toBeLessThanOrEqual(2);
    // and nothing else logged per connection either
    expect(lines.length).toBeLessThan(20);
    for (const l of lines) for (const v of Object.values(l)) if (typeof v === 'string') expect(v.length).toBeLessThan(200);
  });
});
