/**
 * The other AUTH_MODE settings, on the embedded queue (keys in a 0600 file): api-key refuses
 * JWTs, jwt refuses API keys and accepts RS256 (PEM key) and ES256 (JWKS file) tokens; none
 * warns at start; a JWT mode without a key is refused at start.
 */
import { afterAll, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, SignJWT } from 'jose';
import { reading } from '../fixtures/readings.ts';
import { BUNDLE, ServerProcess } from '../helpers/spawn-server.ts';

const dir = mkdtempSync(join(tmpdir(), 'nb-auth-'));
const servers: ServerProcess[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});
const ADMIN = 'admin-token-for-tests-0123456789';

async function start(env: Record<string, string>): Promise<ServerProcess> {
  const s = await ServerProcess.start({ MQTT_PORT: '0', API_KEYS_FILE: join(dir, `keys-${servers.length}.json`), ADMIN_TOKEN: ADMIN, ...env });
  servers.push(s);
  return s;
}
const post = (s: ServerProcess, headers: Record<string, string>, body: unknown) =>
  fetch(`${s.base}/api/v1/sensor-data`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

test('auth - AUTH_MODE=api-key on the embedded queue: keys in a 0600 file, JWTs refused', async () => {
  const s = await start({ AUTH_MODE: 'api-key' });
  const res = await fetch(`${s.base}/api/v1/admin/devices`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` }, body: '{"device_id":"file-dev"}' });
  const { api_key } = (await res.json()) as { api_key: string };
  expect((await post(s, { 'x-api-key': api_key }, reading({ device_id: 'file-dev' }))).status).toBe(202);
  expect(statSync(join(dir, 'keys-0.json')).mode & 0o777).toBe(0o600);
  const jwt = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('file-dev').setExpirationTime('5m').sign(new TextEncoder().encode('x'.repeat(32)));
  expect((await post(s, { authorization: `Bearer ${jwt}` }, reading({ device_id: 'file-dev' }))).status).toBe(401);
});

test('auth - AUTH_MODE=jwt with an RS256 PEM key and with an ES256 JWKS file; API keys refused', async () => {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'rsa.pem'), rsa.publicKey.export({ type: 'spki', format: 'pem' }));
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(ec.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }));
  const cases: { env: Record<string, string>; alg: string; key: import('node:crypto').KeyObject; kid: string | undefined }[] = [
    { env: { JWT_PUBLIC_KEY_FILE: join(dir, 'rsa.pem') }, alg: 'RS256', key: rsa.privateKey, kid: undefined },
    { env: { JWT_JWKS_FILE: join(dir, 'jwks.json') }, alg: 'ES256', key: ec.privateKey, kid: 'k1' },
  ];
  for (const c of cases) {
    const s = await start({ AUTH_MODE: 'jwt', ...c.env });
    const sign = (sub: string) => new SignJWT({}).setProtectedHeader({ alg: c.alg, ...(c.kid ? { kid: c.kid } : {}) }).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(c.key);
    expect((await post(s, { authorization: `Bearer ${await sign('rs-dev')}` }, reading({ device_id: 'rs-dev' }))).status).toBe(202);
    expect((await post(s, { authorization: `Bearer ${await sign('rs-dev')}` }, reading({ device_id: 'not-me' }))).status).toBe(403);
    // an HS256 token made with the public key as secret (algorithm confusion) is refused
    const confused = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('rs-dev').setExpirationTime('5m').sign(new TextEncoder().encode('k'.repeat(32)));
    expect((await post(s, { authorization: `Bearer ${confused}` }, reading({ device_id: 'rs-dev' }))).status).toBe(401);
    expect((await post(s, { 'x-api-key': 'nbk_' + 'z'.repeat(43) }, reading({ device_id: 'rs-dev' }))).status).toBe(401);
  }
});

test('auth - AUTH_MODE=none warns at start; jwt without a key, DEVICE_AUTH_URL without auth or not http(s) are refused at start (exit 2)', async () => {
  const s = await start({});
  expect(s.logs.some((l) => l.level === 40 && String(l.msg).startsWith('AUTH_MODE=none'))).toBe(true);
  const r = spawnSync('node', [BUNDLE], { env: { PATH: process.env.PATH ?? '', AUTH_MODE: 'jwt', PORT: '0' }, encoding: 'utf8', timeout: 10_000 });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('AUTH_MODE=jwt needs JWT_SECRET, JWT_PUBLIC_KEY_FILE, JWT_JWKS_FILE or DEVICE_AUTH_URL');
  // DEVICE_AUTH_URL with nothing to check, or not a URL: refused at start too
  const none = spawnSync('node', [BUNDLE], { env: { PATH: process.env.PATH ?? '', DEVICE_AUTH_URL: 'http://127.0.0.1:9/verify', PORT: '0' }, encoding: 'utf8', timeout: 10_000 });
  expect(none.status).toBe(2);
  expect(none.stderr).toContain('DEVICE_AUTH_URL needs AUTH_MODE api-key, jwt or any');
  const notUrl = spawnSync('node', [BUNDLE], { env: { PATH: process.env.PATH ?? '', AUTH_MODE: 'api-key', DEVICE_AUTH_URL: 'ftp://x', PORT: '0' }, encoding: 'utf8', timeout: 10_000 });
  expect(notUrl.status).toBe(2);
  expect(notUrl.stderr).toContain('DEVICE_AUTH_URL');
});
