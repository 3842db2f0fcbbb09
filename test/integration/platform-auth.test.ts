/**
 * The platform's credentials: tokens made exactly as the device-management service makes them
 * (HS256, claims deviceId + type + iat + exp, no sub) admitted through JWT_DEVICE_CLAIM, and its
 * opaque API keys (bcrypt strings) verified by a DEVICE_AUTH_URL service, over HTTP, MQTT and
 * WebSocket; the verifier's calls counted (cache, shared checks), its failure (fail closed,
 * circuit breaker, stale), revocation at the verifier; keys imported through the admin route
 * and the `keys import` command.
 */
import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { reading } from '../fixtures/readings.ts';
import { ADMIN } from '../helpers/identities.ts';
import { connackCode, metricValue, publishQos1, rawConnect } from '../helpers/mqtt5.ts';
import { BUNDLE } from '../helpers/spawn-server.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { LiveClient } from '../helpers/ws-client.ts';

const SECRET = 'device-management-jwt-secret-0123';
const json = { 'content-type': 'application/json' };

/** A token as device-management's utils/jwt.ts signs it: jsonwebtoken's HS256 with {deviceId, type} and expiresIn. */
function platformToken(deviceId: string, secret = SECRET): Promise<string> {
  return new SignJWT({ deviceId, type: 'ESP32' }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt().setExpirationTime('7d').sign(new TextEncoder().encode(secret));
}

/** A key as device-management's generateApiKey makes it: the bcrypt hash of a UUID, handed to the device as is. */
function platformKey(n: number): string {
  return `$2a$10$${String(n).padStart(4, '0')}abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS`.slice(0, 60);
}

/** The DEVICE_AUTH_URL service of the tests: a table of keys, a call counter, and switches for failing. */
class Verifier {
  readonly keys = new Map<string, { deviceId: string; role?: string }>();
  calls = 0;
  mode: 'ok' | 'error' | 'hang' = 'ok';
  /** What the last call carried: the header and the JSON body. */
  last: { header: string | undefined; body: unknown } | undefined;
  #server: Server | undefined;
  port = 0;

  async start(): Promise<void> {
    this.#server = createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((r) => this.#server!.listen(0, '127.0.0.1', r));
    this.port = (this.#server.address() as { port: number }).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/verify`;
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    let raw = '';
    req.on('data', (d: Buffer) => (raw += d));
    req.on('end', () => {
      this.calls++;
      const header = (req.headers['x-api-key'] as string | undefined) ?? req.headers.authorization;
      let body: { api_key?: string; token?: string } = {};
      try {
        body = JSON.parse(raw) as typeof body;
      } catch {
        /* counted, answered 400 below */
      }
      this.last = { header, body };
      if (this.mode === 'hang') return; // never answers: the server's timeout must
      if (this.mode === 'error') return void res.writeHead(500).end('down');
      const entry = body.api_key !== undefined ? this.keys.get(body.api_key) : undefined;
      if (!entry) return void res.writeHead(401, json).end('{"error":"Invalid API key"}');
      res.writeHead(200, json).end(JSON.stringify({ success: true, device: { deviceId: entry.deviceId, type: 'ESP32' }, ...(entry.role ? { role: entry.role } : {}) }));
    });
  }

  close(): void {
    this.#server?.closeAllConnections();
    this.#server?.close();
  }
}

async function codeOf(res: Response): Promise<string> {
  return ((await res.json()) as { code: string }).code;
}

/** A stack whose server asks a fresh Verifier (started first: its URL is in the env); `post` sends a JSON body. */
function verifierStack(env: Record<string, string>) {
  const verifier = new Verifier();
  const stack = useStack(async () => {
    await verifier.start();
    return { ADMIN_TOKEN: ADMIN, DEVICE_AUTH_URL: verifier.url, DEVICE_AUTH_ID_FIELD: 'device.deviceId', ...env };
  });
  stack.cleanup(() => verifier.close());
  const post = (headers: Record<string, string>, body: unknown, path = '/api/v1/sensor-data') =>
    fetch(stack.server.base + path, { method: 'POST', headers: { ...json, ...headers }, body: JSON.stringify(body) });
  return { verifier, stack, post };
}

describe('platform credentials - device-management JWTs and keys verified by DEVICE_AUTH_URL', () => {
  const { verifier, stack, post } = verifierStack({ AUTH_MODE: 'any', JWT_SECRET: SECRET, JWT_DEVICE_CLAIM: 'deviceId,sub', DEVICE_AUTH_CACHE_S: '600', DEVICE_AUTH_NEGATIVE_CACHE_S: '600' });

  test('platform auth - a device-management JWT (deviceId claim, no sub) is admitted over HTTP, MQTT and WebSocket, as its device only', async () => {
    const id = 'ESP32-1A2B3C4D';
    const token = await platformToken(id);
    expect((await post({ authorization: `Bearer ${token}` }, reading({ device_id: id }))).status).toBe(202);
    const other = await post({ authorization: `Bearer ${token}` }, reading({ device_id: 'ESP32-FFFFFFFF' }));
    expect(other.status).toBe(403);
    // signed with another secret: refused
    expect((await post({ authorization: `Bearer ${await platformToken(id, 'another-secret-0123456789abcdef')}` }, reading({ device_id: id }))).status).toBe(401);
    const { c, connack } = await rawConnect(stack.server.mqttPort, { clientId: id, username: id, password: token });
    stack.track(c);
    expect(connackCode(connack)).toBe(0);
    const ack = (await publishQos1(c, `neurobuild/sensors/${id}/data`, JSON.stringify(reading({ device_id: id })))) as { reasonCode?: number };
    expect(ack.reasonCode ?? 0).toBe(0);
    const ws = stack.track(await LiveClient.open(stack.server.wsUrl(`/?token=${token}`)));
    await ws.subscribe({ device_id: id });
    // a tokens' verification is local: the verifier was never asked
    expect(verifier.calls).toBe(0);
    expect(await stack.client.xlen('sensor-data')).toBe(2);
  });

  test('platform auth - a device-management API key is verified by DEVICE_AUTH_URL over HTTP, MQTT and WebSocket; 1,000 requests make one call', async () => {
    const id = 'ESP32-0000AAAA';
    const key = platformKey(1);
    verifier.keys.set(key, { deviceId: id });
    const before = verifier.calls;
    // 50 at once: one call, the others share it
    const first = await Promise.all(Array.from({ length: 50 }, () => post({ 'x-api-key': key }, reading({ device_id: id }))));
    expect(first.map((r) => r.status)).toEqual(Array(50).fill(202));
    expect(verifier.calls - before).toBe(1);
    expect(verifier.last).toEqual({ header: key, body: { api_key: key } });
    for (let i = 0; i < 19; i++) {
      const statuses = await Promise.all(Array.from({ length: 50 }, () => post({ 'x-api-key': key }, reading({ device_id: id })).then((r) => r.status)));
      expect(statuses).toEqual(Array(50).fill(202));
    }
    // 1,000 requests, one call: the rest answered from the cache (HTTP reads it without a promise) or by the shared call
    expect(verifier.calls - before).toBe(1);
    expect(await stack.client.xlen('sensor-data')).toBeGreaterThanOrEqual(1000);
    const { c, connack } = await rawConnect(stack.server.mqttPort, { clientId: `${id}-mqtt`, username: id, password: key });
    stack.track(c);
    expect(connackCode(connack)).toBe(0);
    const ack = (await publishQos1(c, `neurobuild/sensors/${id}/data`, JSON.stringify(reading({ device_id: id })))) as { reasonCode?: number };
    expect(ack.reasonCode ?? 0).toBe(0);
    const ws = stack.track(await LiveClient.open(stack.server.wsUrl(`/?api_key=${encodeURIComponent(key)}`)));
    await ws.subscribe({ device_id: id });
    // the MQTT username must be the identity the key names
    const wrong = await rawConnect(stack.server.mqttPort, { username: 'ESP32-NOTTHIS', password: key });
    stack.track(wrong.c);
    expect(connackCode(wrong.connack)).toBe(0x86);
  });

  test('platform auth - an unknown key is refused (401) and the refusal cached; a key revoked at the verifier is refused once its admission expires', async () => {
    const unknown = platformKey(2);
    const before = verifier.calls;
    const r = await post({ 'x-api-key': unknown }, reading({ device_id: 'ESP32-0000BBBB' }));
    expect(r.status).toBe(401);
    expect(await codeOf(r)).toBe('INGEST_ERR_UNAUTHENTICATED');
    for (let i = 0; i < 20; i++) expect((await post({ 'x-api-key': unknown }, reading({ device_id: 'ESP32-0000BBBB' }))).status).toBe(401);
    expect(verifier.calls - before).toBe(1);
    const mqttRefused = await rawConnect(stack.server.mqttPort, { username: 'ESP32-0000BBBB', password: unknown });
    stack.track(mqttRefused.c);
    expect(connackCode(mqttRefused.connack)).toBe(0x86);
    expect(verifier.calls - before).toBe(1);
  });

  test('platform auth - an admin revocation here forgets the admission at once: the next request asks the verifier again', async () => {
    const id = 'ESP32-0000CCCC';
    const key = platformKey(3);
    verifier.keys.set(key, { deviceId: id });
    expect((await post({ 'x-api-key': key }, reading({ device_id: id }))).status).toBe(202);
    const before = verifier.calls;
    expect((await post({ 'x-api-key': key }, reading({ device_id: id }))).status).toBe(202);
    expect(verifier.calls).toBe(before);
    verifier.keys.delete(key);
    expect((await fetch(`${stack.server.base}/api/v1/admin/devices/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
    await waitFor(async () => (await post({ 'x-api-key': key }, reading({ device_id: id }))).status === 401, 10_000, 'the revoked key refused');
    expect(verifier.calls).toBe(before + 1);
  });

  test('platform auth - keys imported by the admin route are admitted without the verifier; a bad document stores nothing', async () => {
    const key = platformKey(4);
    const admin = { authorization: `Bearer ${ADMIN}` };
    const bad = await post(admin, { keys: [{ device_id: 'ESP32-IMPORT01', key }, { device_id: 'bad id', key: platformKey(5) }] }, '/api/v1/admin/keys/import');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { details: string }).details).toContain('keys[1].device_id');
    expect((await post({}, { keys: [{ device_id: 'ESP32-IMPORT01', key }] }, '/api/v1/admin/keys/import')).status).toBe(401);
    const before = verifier.calls;
    expect((await post({ 'x-api-key': key }, reading({ device_id: 'ESP32-IMPORT01' }))).status).toBe(401);
    expect(verifier.calls - before).toBe(1);
    const ok = await post(admin, { keys: [{ device_id: 'ESP32-IMPORT01', key }, { device_id: 'import-watcher', key: platformKey(6), role: 'subscriber' }] }, '/api/v1/admin/keys/import');
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ message: 'Imported', imported: 2 });
    // the refusal cached before the import is not what answers now: the key store is asked first
    expect((await post({ 'x-api-key': key }, reading({ device_id: 'ESP32-IMPORT01' }))).status).toBe(202);
    expect(verifier.calls - before).toBe(1);
    // stored hashed, never as presented
    const stored = await stack.client.hgetall('api-keys');
    expect(JSON.stringify(stored)).not.toContain(key);
    expect(Object.values(stored).map((v) => (JSON.parse(v) as { id: string }).id)).toContain('ESP32-IMPORT01');
  });

  test('platform auth - `keys import` stores a file of keys in Redis; a bad file exits 2 and stores nothing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keys-import-'));
    const good = join(dir, 'good.json');
    const bad = join(dir, 'bad.json');
    writeFileSync(good, JSON.stringify({ keys: [{ device_id: 'ESP32-CLI00001', key: platformKey(7) }] }));
    writeFileSync(bad, JSON.stringify({ keys: [{ device_id: 'ESP32-CLI00002', key: 'short' }] }));
    const env = { ...process.env, REDIS_URL: stack.redis.url, LOG_LEVEL: 'warn' };
    const refused = spawnSync('node', [BUNDLE, 'keys', 'import', bad], { env, encoding: 'utf8' });
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('keys[0].key');
    const done = spawnSync('node', [BUNDLE, 'keys', 'import', good], { env, encoding: 'utf8' });
    expect(done.stderr).toBe('');
    expect(done.status).toBe(0);
    expect(done.stdout).toContain('imported 1 key');
    return (async () => {
      expect((await post({ 'x-api-key': platformKey(7) }, reading({ device_id: 'ESP32-CLI00001' }))).status).toBe(202);
      expect(await stack.client.hget('api-keys:by-id', 'ESP32-CLI00002')).toBeNull();
    })();
  });

});

describe('platform credentials - short caches: revocation at the verifier, the verifier down (fail closed)', () => {
  const { verifier, stack, post } = verifierStack({
    AUTH_MODE: 'api-key',
    DEVICE_AUTH_CACHE_S: '3',
    DEVICE_AUTH_NEGATIVE_CACHE_S: '5',
    DEVICE_AUTH_TIMEOUT_MS: '300',
    DEVICE_AUTH_BREAKER_THRESHOLD: '3',
    DEVICE_AUTH_BREAKER_MS: '600000',
  });

  test('platform auth - a key revoked at the verifier is refused once its admission ends (DEVICE_AUTH_CACHE_S 3 s), and the refusal is cached (DEVICE_AUTH_NEGATIVE_CACHE_S 5 s)', async () => {
    const id = 'ESP32-0000RRRR';
    const key = platformKey(40);
    verifier.keys.set(key, { deviceId: id });
    expect((await post({ 'x-api-key': key }, reading({ device_id: id }))).status).toBe(202);
    verifier.keys.delete(key);
    const revokedAt = Date.now();
    await waitFor(async () => (await post({ 'x-api-key': key }, reading({ device_id: id }))).status === 401, 10_000, 'the revoked key refused');
    expect(Date.now() - revokedAt).toBeLessThan(3000 + 2000);
    const calls = verifier.calls;
    // within the negative TTL (10 local requests take milliseconds of its 5 s) no further call
    for (let i = 0; i < 10; i++) expect((await post({ 'x-api-key': key }, reading({ device_id: id }))).status).toBe(401);
    expect(verifier.calls).toBe(calls);
  });

  test('platform auth - the verifier down: new keys get 503 AUTH_UNAVAILABLE (MQTT 0x88), admitted ones stay until their cache ends, the breaker stops the calls', async () => {
    const id = 'ESP32-0000DDDD';
    const key = platformKey(8);
    verifier.keys.set(key, { deviceId: id });
    expect((await post({ 'x-api-key': key }, reading({ device_id: id }))).status).toBe(202);
    verifier.mode = 'hang';
    try {
      // still admitted: from the cache, the verifier is not asked
      expect((await post({ 'x-api-key': key }, reading({ device_id: id }))).status).toBe(202);
      const fresh = await post({ 'x-api-key': platformKey(9) }, reading({ device_id: 'ESP32-0000EEEE' }));
      expect(fresh.status).toBe(503);
      expect(fresh.headers.get('retry-after')).not.toBeNull();
      expect(await codeOf(fresh)).toBe('INGEST_ERR_AUTH_UNAVAILABLE');
      verifier.mode = 'error';
      const { c, connack } = await rawConnect(stack.server.mqttPort, { username: 'ESP32-0000EEEE', password: platformKey(10) });
      stack.track(c);
      expect(connackCode(connack)).toBe(0x88);
      expect((await post({ 'x-api-key': platformKey(11) }, reading({ device_id: 'ESP32-0000EEEE' }))).status).toBe(503);
      // the third failure in a row opened the breaker: checks fail at once, without a call
      await waitFor(async () => (await metricValue(stack.server, 'device_auth_breaker_open')) === 1, 10_000, 'breaker open');
      const calls = verifier.calls;
      for (let i = 0; i < 5; i++) expect((await post({ 'x-api-key': platformKey(20 + i) }, reading({ device_id: 'ESP32-0000EEEE' }))).status).toBe(503);
      expect(verifier.calls).toBe(calls);
      expect(await metricValue(stack.server, 'device_auth_calls_total{outcome="failed"}')).toBeGreaterThanOrEqual(3);
      // once the admission expires, fail closed (DEVICE_AUTH_ON_FAILURE=refuse)
      await waitFor(async () => (await post({ 'x-api-key': key }, reading({ device_id: id }))).status === 503, 10_000, 'the cached admission expired');
    } finally {
      verifier.mode = 'ok';
    }
  });
});

describe('platform credentials - DEVICE_AUTH_ON_FAILURE=stale', () => {
  const { verifier, stack, post } = verifierStack({ AUTH_MODE: 'api-key', DEVICE_AUTH_CACHE_S: '1', DEVICE_AUTH_ON_FAILURE: 'stale', DEVICE_AUTH_STALE_S: '600', DEVICE_AUTH_TIMEOUT_MS: '300' });

  test('platform auth - stale: while the verifier fails, a key admitted before stays admitted after its cache ends; an unknown one gets 503', async () => {
    const key = platformKey(30);
    verifier.keys.set(key, { deviceId: 'ESP32-STALE001' });
    expect((await post({ 'x-api-key': key }, reading({ device_id: 'ESP32-STALE001' }))).status).toBe(202);
    verifier.mode = 'error';
    // past DEVICE_AUTH_CACHE_S the verifier is asked again, fails, and the stale admission answers
    const statuses = new Set<number>();
    await waitFor(async () => {
      statuses.add((await post({ 'x-api-key': key }, reading({ device_id: 'ESP32-STALE001' }))).status);
      return (await metricValue(stack.server, 'device_auth_cache_total{result="stale"}')) >= 1;
    }, 10_000, 'a stale admission');
    expect([...statuses]).toEqual([202]);
    expect(await metricValue(stack.server, 'device_auth_calls_total{outcome="failed"}')).toBeGreaterThanOrEqual(1);
    const fresh = await post({ 'x-api-key': platformKey(31) }, reading({ device_id: 'ESP32-STALE002' }));
    expect(fresh.status).toBe(503);
    expect(await codeOf(fresh)).toBe('INGEST_ERR_AUTH_UNAVAILABLE');
  });
});
