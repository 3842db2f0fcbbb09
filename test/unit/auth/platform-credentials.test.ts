/**
 * The rules behind the platform's credentials, in process: which JWT claim names the identity
 * (JWT_DEVICE_CLAIM), how an MQTT password is read, what a key import may contain.
 */
import { describe, expect, test } from 'bun:test';
import { SignJWT } from 'jose';
import { kindOf } from '../../../src/auth/authenticator.ts';
import { JwtVerifier } from '../../../src/auth/jwt.ts';
import { MAX_IMPORT_ENTRIES, parseKeyImport } from '../../../src/auth/key-import.ts';

const SECRET = 'unit-secret-0123456789abcdef';
const sign = (claims: Record<string, unknown>, sub?: string) => {
  const j = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime('5m');
  if (sub !== undefined) j.setSubject(sub);
  return j.sign(new TextEncoder().encode(SECRET));
};

describe('platform credentials (unit)', () => {
  test('jwt claim - default sub: a device-management token (deviceId, no sub) is refused, naming the claim', async () => {
    const v = new JwtVerifier({ secret: SECRET });
    expect(await v.verify(await sign({ deviceId: 'ESP32-1A2B3C4D', type: 'ESP32' }))).toBe('token has no sub claim naming its identity');
    const ok = await v.verify(await sign({}, 'esp32-1'));
    expect(typeof ok === 'object' && ok.identity).toEqual({ id: 'esp32-1', role: 'device', via: 'jwt' });
  });

  test('jwt claim - deviceId,sub: the first present wins; an id no reading could carry is refused', async () => {
    const v = new JwtVerifier({ secret: SECRET, identityClaims: ['deviceId', 'sub'] });
    const dm = await v.verify(await sign({ deviceId: 'ESP32-1A2B3C4D', type: 'ESP32' }));
    expect(typeof dm === 'object' && dm.identity.id).toBe('ESP32-1A2B3C4D');
    const both = await v.verify(await sign({ deviceId: 'ESP32-AAAA' }, 'other'));
    expect(typeof both === 'object' && both.identity.id).toBe('ESP32-AAAA');
    const own = await v.verify(await sign({}, 'esp32-2'));
    expect(typeof own === 'object' && own.identity.id).toBe('esp32-2');
    expect(await v.verify(await sign({ deviceId: 'a/b' }))).toContain('token claim deviceId of a device must match');
    expect(await v.verify(await sign({ deviceId: 42 }))).toContain('token claim deviceId');
    expect(await v.verify(await sign({ type: 'ESP32' }))).toBe('token has no deviceId or sub claim naming its identity');
  });

  test('mqtt password - a compact JWS is a token; our keys, bcrypt strings and anything else are API keys', () => {
    expect(kindOf('eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln')).toBe('token');
    expect(kindOf('nbk_' + 'a'.repeat(43))).toBe('api-key');
    expect(kindOf('$2a$10$abcdefghijklmnopqrstuv.wxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0')).toBe('api-key');
    expect(kindOf('a.b')).toBe('api-key');
    expect(kindOf('plain-secret-key-123')).toBe('api-key');
  });

  test('key import - every entry checked before anything is stored; the refusal names the entry', () => {
    const key = '$2a$10$abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRS';
    expect(parseKeyImport({ keys: [{ device_id: 'ESP32-1', key }, { device_id: 'watcher', key: key + 'x', role: 'subscriber' }] })).toEqual([
      { id: 'ESP32-1', role: 'device', key },
      { id: 'watcher', role: 'subscriber', key: key + 'x' },
    ]);
    expect(parseKeyImport([{ device_id: 'ESP32-1', key }])).toEqual([{ id: 'ESP32-1', role: 'device', key }]);
    const refusals: [unknown, string][] = [
      [null, 'expected {"keys"'],
      [{ keys: 'x' }, 'expected {"keys"'],
      [{ keys: [] }, 'no keys'],
      [{ keys: [1] }, 'keys[0] must be an object'],
      [{ keys: [{ device_id: 'a b', key }] }, 'keys[0].device_id'],
      [{ keys: [{ device_id: 'ESP32-1', key: 'short' }] }, 'keys[0].key'],
      [{ keys: [{ device_id: 'ESP32-1', key: 'with space in the middle' }] }, 'keys[0].key'],
      [{ keys: [{ device_id: 'ESP32-1', key: 'x'.repeat(1025) }] }, 'keys[0].key'],
      [{ keys: [{ device_id: 'ESP32-1', key, role: 'admin' }] }, 'keys[0].role'],
      [{ keys: [{ device_id: 'ESP32-1', key }, { device_id: 'ESP32-1', key: key + 'y' }] }, 'appears twice'],
      [{ keys: Array.from({ length: MAX_IMPORT_ENTRIES + 1 }, (_, i) => ({ device_id: `d${i}`, key })) }, `more than ${MAX_IMPORT_ENTRIES}`],
      [{ keys: [{ device_id: '__proto__', key }] }, ''],
    ];
    for (const [doc, msg] of refusals.slice(0, -1)) {
      const r = parseKeyImport(doc);
      expect(typeof r).toBe('string');
      expect(r as string).toContain(msg);
    }
    // a name that is a valid device id is just a name: no prototype is touched
    const proto = parseKeyImport(refusals.at(-1)![0]);
    expect(proto).toEqual([{ id: '__proto__', role: 'device', key }]);
    expect(({} as Record<string, unknown>).id).toBeUndefined();
  });
});
