/**
 * AUTH_MODE end to end on two instances sharing one redis-server: API keys and HS256 JWTs
 * (AUTH_MODE=any) over HTTP, MQTT (MQTT.js v3.1.1 and v5) and WebSocket; the admin API;
 * revocation reaching the other instance's live connections.
 */
import { describe, expect, test } from 'bun:test';
import { SignJWT } from 'jose';
import mqtt from 'mqtt';
import { reading } from '../fixtures/readings.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { LiveClient } from '../helpers/ws-client.ts';

const ADMIN = 'admin-token-for-tests-0123456789';
const SECRET = 'jwt-secret-for-tests-0123456789';
const stack = useStack({ AUTH_MODE: 'any', ADMIN_TOKEN: ADMIN, JWT_SECRET: SECRET }, { servers: 2 });
const json = { 'content-type': 'application/json' };
const admin = { ...json, authorization: `Bearer ${ADMIN}` };

async function register(id: string, role: 'device' | 'subscriber' = 'device'): Promise<string> {
  const res = await fetch(`${stack.server.base}/api/v1/admin/devices`, { method: 'POST', headers: admin, body: JSON.stringify({ device_id: id, role }) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { api_key: string }).api_key;
}

function token(sub: string, opts: { role?: string; expiresIn?: string | number; secret?: string } = {}): Promise<string> {
  const jwt = new SignJWT(opts.role ? { role: opts.role } : {}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt();
  jwt.setExpirationTime(opts.expiresIn ?? '5m');
  return jwt.sign(new TextEncoder().encode(opts.secret ?? SECRET));
}

function post(headers: Record<string, string>, body: unknown, path = '/api/v1/sensor-data', server = stack.server) {
  return fetch(server.base + path, { method: 'POST', headers: { ...json, ...headers }, body: JSON.stringify(body) });
}

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { code: string }).code;
}

describe('auth - HTTP', () => {
  test('auth - missing, wrong, valid, foreign-device and subscriber API keys', async () => {
    const key = await register('http-dev');
    const missing = await post({}, reading({ device_id: 'http-dev' }));
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toContain('Bearer');
    expect(await codeOf(missing)).toBe('INGEST_ERR_UNAUTHENTICATED');
    expect((await post({ 'x-api-key': 'nbk_' + 'x'.repeat(43) }, reading({ device_id: 'http-dev' }))).status).toBe(401);
    expect((await post({ 'x-api-key': 'not-a-key' }, reading({ device_id: 'http-dev' }))).status).toBe(401);
    expect((await post({ 'x-api-key': key }, reading({ device_id: 'http-dev' }))).status).toBe(202);
    const foreign = await post({ 'x-api-key': key }, reading({ device_id: 'someone-else' }));
    expect(foreign.status).toBe(403);
    expect(await codeOf(foreign)).toBe('INGEST_ERR_FORBIDDEN');
    // a batch: the foreign item fails, the own one is stored
    const batch = await post({ 'x-api-key': key }, [reading({ device_id: 'http-dev' }), reading({ device_id: 'someone-else' })], '/api/v1/sensor-data/batch');
    expect(((await batch.json()) as { results: { status: string; error?: string }[] }).results.map((r) => r.error ?? r.status)).toEqual(['accepted', 'Forbidden']);
    const sub = await register('http-watcher', 'subscriber');
    expect((await post({ 'x-api-key': sub }, reading({ device_id: 'http-watcher' }))).status).toBe(403);
    // the key works on the other instance too (one store in Redis)
    expect((await post({ 'x-api-key': key }, reading({ device_id: 'http-dev' }), '/api/v1/sensor-data', stack.servers[1])).status).toBe(202);
  });

  test('auth - JWT: valid, expired, bad signature, another subject; revocation refuses tokens issued before it', async () => {
    expect((await post({ authorization: `Bearer ${await token('jwt-dev')}` }, reading({ device_id: 'jwt-dev' }))).status).toBe(202);
    const expired = await post({ authorization: `Bearer ${await token('jwt-dev', { expiresIn: Math.floor(Date.now() / 1000) - 10 })}` }, reading({ device_id: 'jwt-dev' }));
    expect(expired.status).toBe(401);
    expect(((await expired.json()) as { details: string }).details).toBe('token expired');
    expect((await post({ authorization: `Bearer ${await token('jwt-dev', { secret: 'another-secret-0123456789abcdef' })}` }, reading({ device_id: 'jwt-dev' }))).status).toBe(401);
    expect((await post({ authorization: `Bearer ${await token('jwt-dev')}` }, reading({ device_id: 'other' }))).status).toBe(403);
    const old = await token('jwt-revoked');
    expect((await post({ authorization: `Bearer ${old}` }, reading({ device_id: 'jwt-revoked' }))).status).toBe(202);
    await Bun.sleep(1100); // iat has one-second resolution
    expect((await fetch(`${stack.server.base}/api/v1/admin/devices/jwt-revoked`, { method: 'DELETE', headers: admin })).status).toBe(200);
    await waitFor(async () => (await post({ authorization: `Bearer ${old}` }, reading({ device_id: 'jwt-revoked' }), '/api/v1/sensor-data', stack.servers[1])).status === 401, 2000, 'old token refused on the other instance');
    await Bun.sleep(1100);
    expect((await post({ authorization: `Bearer ${await token('jwt-revoked')}` }, reading({ device_id: 'jwt-revoked' }))).status).toBe(202);
  });

  test('auth - admin API: token required, rotate replaces the key, revoke works on every instance within a second', async () => {
    expect((await fetch(`${stack.server.base}/api/v1/admin/devices`, { method: 'POST', headers: json, body: '{"device_id":"x"}' })).status).toBe(401);
    expect((await fetch(`${stack.server.base}/api/v1/admin/devices`, { method: 'POST', headers: { ...json, authorization: 'Bearer wrong-token-0123456789' }, body: '{"device_id":"x"}' })).status).toBe(403);
    const key = await register('rot-dev');
    const dup = await fetch(`${stack.server.base}/api/v1/admin/devices`, { method: 'POST', headers: admin, body: '{"device_id":"rot-dev"}' });
    expect(dup.status).toBe(409);
    expect((await fetch(`${stack.server.base}/api/v1/admin/devices/rot-dev`, { headers: admin }).then((r) => r.json())) as object).toMatchObject({ device_id: 'rot-dev', role: 'device' });
    // warm the other instance's cache with the old key, then rotate
    expect((await post({ 'x-api-key': key }, reading({ device_id: 'rot-dev' }), '/api/v1/sensor-data', stack.servers[1])).status).toBe(202);
    const rotated = (await (await fetch(`${stack.server.base}/api/v1/admin/devices/rot-dev/rotate`, { method: 'POST', headers: admin })).json()) as { api_key: string };
    expect(rotated.api_key).not.toBe(key);
    await waitFor(async () => (await post({ 'x-api-key': key }, reading({ device_id: 'rot-dev' }), '/api/v1/sensor-data', stack.servers[1])).status === 401, 1000, 'old key refused everywhere');
    expect((await post({ 'x-api-key': rotated.api_key }, reading({ device_id: 'rot-dev' }), '/api/v1/sensor-data', stack.servers[1])).status).toBe(202);
    expect((await fetch(`${stack.server.base}/api/v1/admin/devices/rot-dev`, { method: 'DELETE', headers: admin })).status).toBe(200);
    await waitFor(async () => (await post({ 'x-api-key': rotated.api_key }, reading({ device_id: 'rot-dev' }), '/api/v1/sensor-data', stack.servers[1])).status === 401, 1000, 'revoked everywhere');
    expect((await fetch(`${stack.server.base}/api/v1/admin/devices/rot-dev`, { headers: admin })).status).toBe(404);
  });

  test('auth - device metadata is admin-only with auth on', async () => {
    const key = await register('meta-dev');
    const body = { device_id: 'meta-dev', metadata: { room: 'lab' } };
    expect((await post({ 'x-api-key': key }, body, '/api/v1/devices/metadata')).status).toBe(401);
    expect((await post({ authorization: `Bearer ${ADMIN}` }, body, '/api/v1/devices/metadata')).status).toBe(200);
  });
});

describe('auth - MQTT', () => {
  const url = () => `mqtt://127.0.0.1:${stack.server.mqttPort}`;
  const refusal = (opts: mqtt.IClientOptions) =>
    mqtt.connectAsync(url(), { reconnectPeriod: 0, ...opts }).then(
      (c) => (c.end(true), undefined),
      (e: { code?: number }) => e.code,
    );

  test('auth - CONNECT without, with wrong and with valid credentials (v5 0x86, v3.1.1 return code 4)', async () => {
    const key = await register('mqtt-dev');
    expect(await refusal({ protocolVersion: 5 })).toBe(0x86);
    expect(await refusal({ protocolVersion: 4 })).toBe(4);
    expect(await refusal({ protocolVersion: 5, username: 'mqtt-dev', password: 'nbk_' + 'y'.repeat(43) })).toBe(0x86);
    expect(await refusal({ protocolVersion: 5, username: 'someone-else', password: key })).toBe(0x86);
    expect(await refusal({ protocolVersion: 5, username: 'mqtt-dev', password: await token('mqtt-dev', { expiresIn: Math.floor(Date.now() / 1000) - 10 }) })).toBe(0x86);
    for (const password of [key, await token('mqtt-dev')]) {
      const c = stack.track(await mqtt.connectAsync(url(), { protocolVersion: 5, reconnectPeriod: 0, username: 'mqtt-dev', password }));
      const one = reading({ device_id: 'mqtt-dev' });
      await c.publishAsync('neurobuild/sensors/mqtt-dev/data', JSON.stringify(one), { qos: 1 });
      c.end(true);
    }
    const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
    expect(rows.filter(([, f]) => f[f.indexOf('device_id') + 1] === 'mqtt-dev').length).toBe(2);
  });

  test('auth - another device\'s topic: v5 PUBACK 0x87 and SUBACK 0x87; v3.1.1 disconnected', async () => {
    const key = await register('mqtt-own');
    const c = stack.track(await mqtt.connectAsync(url(), { protocolVersion: 5, reconnectPeriod: 0, username: 'mqtt-own', password: key }));
    const err = await c.publishAsync('neurobuild/sensors/mqtt-other/data', JSON.stringify(reading({ device_id: 'mqtt-other' })), { qos: 1 }).then(
      () => undefined,
      (e: { code?: number }) => e.code,
    );
    expect(err).toBe(0x87);
    expect((await c.subscribeAsync('neurobuild/sensors/mqtt-own/#', { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    // MQTT.js turns a SUBACK 0x87 into this error
    await expect(c.subscribeAsync('neurobuild/sensors/#', { qos: 1 })).rejects.toThrow('Not authorized');
    const v3 = stack.track(await mqtt.connectAsync(url(), { protocolVersion: 4, reconnectPeriod: 0, username: 'mqtt-own', password: key }));
    const closed = new Promise<void>((r) => v3.once('close', () => r()));
    v3.publish('neurobuild/sensors/mqtt-other/data', JSON.stringify(reading({ device_id: 'mqtt-other' })), { qos: 1 });
    await closed;
  });

  test('auth - a subscriber identity watches every device; revoking a device drops its session on the other instance within a second', async () => {
    const watcher = await register('mqtt-watcher', 'subscriber');
    const key = await register('mqtt-revoked');
    const w = stack.track(await mqtt.connectAsync(url(), { protocolVersion: 5, reconnectPeriod: 0, username: 'mqtt-watcher', password: watcher }));
    await w.subscribeAsync('neurobuild/sensors/#', { qos: 0 });
    const seen: string[] = [];
    w.on('message', (topic) => seen.push(topic));
    const other = stack.servers[1]!;
    const d = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${other.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0, username: 'mqtt-revoked', password: key }));
    await d.publishAsync('neurobuild/sensors/mqtt-revoked/data', JSON.stringify(reading({ device_id: 'mqtt-revoked' })), { qos: 1 });
    await waitFor(() => seen.includes('neurobuild/sensors/mqtt-revoked/data'), 3000, 'the subscriber sees the reading');
    const reason = new Promise<number | undefined>((r) => d.once('disconnect', (p) => r(p.reasonCode)));
    const started = Date.now();
    expect((await fetch(`${stack.server.base}/api/v1/admin/devices/mqtt-revoked`, { method: 'DELETE', headers: admin })).status).toBe(200);
    expect(await reason).toBe(0x98);
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

describe('auth - WebSocket', () => {
  test('auth - upgrade needs credentials; a device watches only itself, a subscriber anything; revocation closes', async () => {
    await expect(LiveClient.open(stack.server.wsUrl('/'))).rejects.toThrow();
    const key = await register('ws-dev');
    const dev = stack.track(await LiveClient.open(stack.server.wsUrl(`/?api_key=${key}`)));
    dev.send({ type: 'subscribe', filters: { device_id: 'someone-else' } });
    expect(String((await dev.next('error')).message)).toContain('forbidden');
    dev.send({ type: 'subscribe' });
    expect(String((await dev.next('error')).message)).toContain('forbidden');
    await dev.subscribe({ device_id: 'ws-dev' });
    const watcher = stack.track(await LiveClient.open(stack.server.wsUrl(`/?token=${await token('ws-watcher', { role: 'subscriber' })}`)));
    await watcher.subscribe();
    expect((await post({ 'x-api-key': key }, reading({ device_id: 'ws-dev' }))).status).toBe(202);
    await dev.next('sensor-data');
    await watcher.next('sensor-data', (f) => (f.data as { device_id: string }).device_id === 'ws-dev');
    expect((await fetch(`${stack.server.base}/api/v1/admin/devices/ws-dev`, { method: 'DELETE', headers: admin })).status).toBe(200);
    await waitFor(() => dev.closeCode !== undefined, 2000, 'revoked WebSocket closed');
    expect(dev.closeCode).toBe(1008);
  });
});

// last in the file: a WebSocket opened on the same instance just after this test's takeover was
// closed 1006 in 2 of 4 runs of mqtt-shared-subscriptions + mqtt-bridge + this file (not understood yet, see the issue 20 note)
describe('auth - MQTT client ids across instances', () => {
  test('auth - a client id held by one identity on A is refused to another identity on B (0x87), and taken over by the same identity on B (0x8E)', async () => {
    const ownerKey = await register('mqtt-cid-owner');
    const otherKey = await register('mqtt-cid-other');
    const clientId = `shared-id-${Date.now()}`;
    const a = `mqtt://127.0.0.1:${stack.servers[0]!.mqttPort}`;
    const b = `mqtt://127.0.0.1:${stack.servers[1]!.mqttPort}`;
    const held = stack.track(await mqtt.connectAsync(a, { protocolVersion: 5, reconnectPeriod: 0, clientId, username: 'mqtt-cid-owner', password: ownerKey }));
    // a client id is not a credential: another identity cannot take it over from another instance
    const refused = await mqtt.connectAsync(b, { protocolVersion: 5, reconnectPeriod: 0, clientId, username: 'mqtt-cid-other', password: otherKey }).then(
      (c) => (c.end(true), undefined),
      (e: { code?: number }) => e.code,
    );
    expect(refused).toBe(0x87);
    expect(held.connected).toBe(true);
    const reason = new Promise<number | undefined>((r) => held.once('disconnect', (p) => r(p.reasonCode)));
    stack.track(await mqtt.connectAsync(b, { protocolVersion: 5, reconnectPeriod: 0, clientId, username: 'mqtt-cid-owner', password: ownerKey }));
    expect(await reason).toBe(0x8e);
  });
});
