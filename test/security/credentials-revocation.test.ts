/**
 * Attacks (issue 16, finding 3 and the identity part of 11): credentials that outlive their
 * identity's revocation. A client certificate issued before its device was revoked, and a JWT
 * whose `iat` is far in the future, were accepted on main; so was a JWT whose `sub` carries MQTT
 * wildcards (which then matched every device's topics in the ACL). Each is refused now, and a
 * credential issued after the revocation still works.
 */
import { describe, expect, test } from 'bun:test';
import { readFileSync, rmSync } from 'node:fs';
import { SignJWT } from 'jose';
import mqtt from 'mqtt';
import { reading } from '../fixtures/readings.ts';
import { freePort } from '../helpers/free-port.ts';
import { ADMIN } from '../helpers/identities.ts';
import { connackCode, rawConnect } from '../helpers/mqtt5.ts';
import { useStack } from '../helpers/stack.ts';
import { testCa } from '../helpers/tls-cert.ts';
import { waitFor } from '../helpers/wait.ts';

const SECRET = 'jwt-secret-for-tests-0123456789';
const revoke = (base: string, id: string) => fetch(`${base}/api/v1/admin/devices/${id}`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });

describe('security - a revoked identity stays revoked whatever the credential', () => {
  const ca = testCa();
  const server = ca.issue('localhost', 'server', 'server');
  let tlsPort = 0;
  const stack = useStack(async () => {
    tlsPort = await freePort();
    return { AUTH_MODE: 'any', ADMIN_TOKEN: ADMIN, JWT_SECRET: SECRET, MQTT_TLS_PORT: String(tlsPort), MQTT_TLS_CERT_FILE: server.cert, MQTT_TLS_KEY_FILE: server.key, MQTT_TLS_CA_FILE: ca.ca, MQTT_TLS_CLIENT_CERT: 'optional' };
  });
  stack.cleanup(() => rmSync(ca.dir, { recursive: true, force: true }));

  const mtls = (cert: { cert: string; key: string }) =>
    mqtt
      .connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { protocolVersion: 5, clientId: `c-${Math.random()}`, ca: [readFileSync(ca.ca)], servername: 'localhost', rejectUnauthorized: true, reconnectPeriod: 0, connectTimeout: 3000, cert: readFileSync(cert.cert), key: readFileSync(cert.key) })
      .then(
        (c) => {
          stack.track(c);
          return 0;
        },
        (e: { code?: number }) => e.code ?? -1,
      );

  test('security mtls - a certificate issued before its device was revoked is refused (0x86); one issued after is accepted', async () => {
    const old = ca.issue('cert-dev', 'client', 'cert-dev-old');
    expect(await mtls(old)).toBe(0);
    expect((await revoke(stack.server.base, 'cert-dev')).status).toBe(200);
    expect(await mtls(old)).toBe(0x86);
    // a certificate's notBefore has whole seconds: issue the new one in a later second
    const after = Math.ceil(Date.now() / 1000) * 1000 + 1000;
    await waitFor(() => Date.now() >= after, 3000, 'the next second');
    const fresh = ca.issue('cert-dev', 'client', 'cert-dev-new');
    expect(await mtls(fresh)).toBe(0);
  });

  test('security jwt - a token with iat in the future is refused (401 on HTTP, 0x86 on MQTT), even for an identity never revoked; a current one works', async () => {
    const sign = (sub: string, iatS: number) =>
      new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt(iatS).setExpirationTime(iatS + 3600).sign(new TextEncoder().encode(SECRET));
    const now = Math.floor(Date.now() / 1000);
    expect((await revoke(stack.server.base, 'jwt-dev')).status).toBe(200);
    const future = await sign('jwt-dev', now + 365 * 86_400);
    const res = await fetch(`${stack.server.base}/api/v1/sensor-data`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${future}` }, body: '{}' });
    expect(res.status).toBe(401);
    expect(JSON.stringify(await res.json())).toContain('issued in the future');
    const { c, connack } = await rawConnect(stack.server.mqttPort, { clientId: 'jwt-dev', username: 'jwt-dev', password: future });
    stack.track(c);
    expect(connackCode(connack)).toBe(0x86);
    // issued after the revocation (whole seconds, so the next one), within the allowed clock skew
    const fresh = await sign('jwt-dev', Math.floor(Date.now() / 1000) + 1);
    const { c: ok, connack: accepted } = await rawConnect(stack.server.mqttPort, { clientId: 'jwt-dev', username: 'jwt-dev', password: fresh });
    stack.track(ok);
    expect(connackCode(accepted)).toBe(0);
  });

  test('security jwt - a subject with MQTT wildcards or a slash is refused (401), never an identity', async () => {
    for (const sub of ['#', '+', 'dev/#', 'a b']) {
      const token = await new SignJWT({ role: 'subscriber' }).setProtectedHeader({ alg: 'HS256' }).setSubject(sub).setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
      const { c, connack } = await rawConnect(stack.server.mqttPort, { username: sub, password: token });
      stack.track(c);
      expect([sub, connackCode(connack)]).toEqual([sub, 0x86]);
    }
  });

  test('security ids - one device-id rule for every credential: a device id that no reading could carry is refused at registration (400) and as a JWT subject (401); a subscriber keeps the looser identity rule', async () => {
    const register = (device_id: string, role?: string) =>
      fetch(`${stack.server.base}/api/v1/admin/devices`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body: JSON.stringify({ device_id, ...(role ? { role } : {}) }) });
    for (const id of ['lobby.sensor', 'site:1', 'x'.repeat(65)]) {
      const res = await register(id);
      expect([id, res.status]).toEqual([id, 400]);
      expect(await res.text()).toContain('^[a-zA-Z0-9_-]{1,64}$');
    }
    expect((await register('svc.dashboard:1', 'subscriber')).status).toBe(201);
    expect((await register('ok_device-1')).status).toBe(201);
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('lobby.sensor').setIssuedAt().setExpirationTime('5m').sign(new TextEncoder().encode(SECRET));
    const res = await fetch(`${stack.server.base}/api/v1/sensor-data`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(reading({ device_id: 'lobby-sensor' })) });
    expect(res.status).toBe(401);
    expect(await res.text()).toContain('token subject of a device');
  });

  test('security jwt - without JWT_AUDIENCE, a token minted for another service (aud without neurobuild-ingest) is refused; one naming it, or without aud, is accepted', async () => {
    const sign = (aud: string | string[] | undefined) => {
      const t = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('aud-dev').setIssuedAt().setExpirationTime('5m');
      return (aud === undefined ? t : t.setAudience(aud)).sign(new TextEncoder().encode(SECRET));
    };
    const post = async (token: string) => {
      const res = await fetch(`${stack.server.base}/api/v1/sensor-data`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` }, body: JSON.stringify(reading({ device_id: 'aud-dev' })) });
      return [res.status, await res.text()] as const;
    };
    const [other, why] = await post(await sign('analytics'));
    expect(other).toBe(401);
    expect(why).toContain('audience');
    expect((await post(await sign(['analytics', 'neurobuild-ingest'])))[0]).toBe(202);
    expect((await post(await sign(undefined)))[0]).toBe(202);
  });
});
