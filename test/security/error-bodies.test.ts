/**
 * Attacks (issue 16, finding 11): hostile bodies on every route that reads one. On main `null`
 * and `[null]` bodies surfaced internal exception text (`Cannot read properties of null`), and a
 * reading with a duplicated key was stored under the last one while a first-key parser
 * downstream would read the first. Each body gets a 4xx with a plain reason now, the server stays
 * up, and nothing is stored.
 */
import { describe, expect, test } from 'bun:test';
import { ADMIN, registerKey } from '../helpers/identities.ts';
import { useStack } from '../helpers/stack.ts';

const BODIES = ['null', '[null]', '[[]]', '"x"', '1', 'true', '{}', '[{}]', '{"device_id":null}', '{"__proto__":{"x":1}}', '{"device_id":"dev-h","timestamp":null,"sensors":null}', '{"device_id":"dev-h","timestamp":"2026-01-01T00:00:00Z","sensors":{"pir":null}}', '[1,"a",null,{}]', '{"device_id":"dev-x","device_id":"dev-h","timestamp":"2026-01-01T00:00:00Z","sensors":{"pir":{"motion_detected":true}}}'];
const ROUTES = ['/api/v1/sensor-data', '/api/v1/sensor-data/batch', '/api/v1/devices/metadata', '/api/v1/admin/devices', '/api/v1/admin/rejects/replay'];
/** Bodies that are valid requests on a route (unknown fields ignored; {} replays every entry). */
const VALID = new Set(['/api/v1/admin/devices {"device_id":"dev-h","timestamp":null,"sensors":null}', '/api/v1/admin/rejects/replay {}']);
const INTERNAL = /Cannot read|TypeError|undefined is not|is not a function|properties of|\bat [\w.<>]+ \(/;

for (const auth of [false, true]) {
  describe(`security - hostile bodies answered plainly (auth ${auth ? 'on' : 'off'})`, () => {
    const stack = useStack(auth ? { AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN } : { ADMIN_TOKEN: ADMIN });

    test(`security http - ${BODIES.length} hostile bodies × ${ROUTES.length} routes: a 4xx without internal exception text, the server up, nothing stored`, async () => {
      const key = auth ? await registerKey(stack.server.base, 'dev-h') : undefined;
      const bad: string[] = [];
      for (const route of ROUTES) {
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (route.startsWith('/api/v1/admin') || route.endsWith('metadata')) headers.authorization = `Bearer ${ADMIN}`;
        else if (key) headers['x-api-key'] = key;
        for (const body of BODIES) {
          const res = await fetch(stack.server.base + route, { method: 'POST', headers, body });
          const text = await res.text();
          // a batch answers 202 with a result per element: each must be a plain failure
          const ok = VALID.has(`${route} ${body}`) ? res.status < 500 : res.status >= 400 && res.status < 500 ? true : res.status === 202 && route.endsWith('batch') && (JSON.parse(text) as { results: { status: string }[] }).results.every((r) => r.status === 'failed');
          if (!ok || INTERNAL.test(text)) bad.push(`${route} ${body} → ${res.status} ${text.slice(0, 160)}`);
        }
      }
      expect(bad).toEqual([]);
      expect((await fetch(stack.server.base + '/live')).status).toBe(200);
      expect(await stack.client.xlen('sensor-data')).toBe(0);
    });

    test('security http - a reading with a duplicated key is refused (400, naming the key), not stored under either', async () => {
      const key = auth ? await registerKey(stack.server.base, 'dev-dup') : undefined;
      const body = `{"device_id":"dev-dup","timestamp":"${new Date().toISOString()}","sensors":{"pir":{"motion_detected":true}},"device_id":"dev-dup"}`;
      const res = await fetch(stack.server.base + '/api/v1/sensor-data', { method: 'POST', headers: { 'content-type': 'application/json', ...(key ? { 'x-api-key': key } : {}) }, body });
      expect(res.status).toBe(400);
      expect(await res.text()).toContain('device_id');
      expect(await stack.client.xlen('sensor-data')).toBe(0);
    });
  });
}
