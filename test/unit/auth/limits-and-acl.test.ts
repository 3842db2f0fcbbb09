import { expect, test } from 'bun:test';
import { MemoryRateLimiter } from '../../../src/auth/rate/memory-limiter.ts';
import { covers, MqttAcl } from '../../../src/transports/mqtt/acl.ts';
import { generateApiKey, hashApiKey, looksLikeApiKey } from '../../../src/auth/api-key.ts';

test('rate limiter: a burst of perMinute, then one token per 60/perMinute seconds, per key', () => {
  let now = 1_000_000;
  const l = new MemoryRateLimiter({ single: { perMinute: 6 } }, () => now);
  for (let i = 0; i < 6; i++) expect(l.takeNow('single', 'a')).toEqual({ ok: true });
  expect(l.takeNow('single', 'a')).toEqual({ ok: false, retryAfterSeconds: 10 });
  expect(l.takeNow('single', 'b')).toEqual({ ok: true });
  now += 9_000;
  expect(l.takeNow('single', 'a').ok).toBe(false);
  now += 1_000;
  expect(l.takeNow('single', 'a')).toEqual({ ok: true });
  now += 3_600_000; // refills to the burst, not beyond
  for (let i = 0; i < 6; i++) expect(l.takeNow('single', 'a').ok).toBe(true);
  expect(l.takeNow('single', 'a').ok).toBe(false);
  void l.close();
});

test('acl: coverage of filters, device and subscriber defaults, file rules with %u', () => {
  expect(covers('p/d1/#', 'p/d1/data')).toBe(true);
  expect(covers('p/d1/#', 'p/d1')).toBe(true);
  expect(covers('p/d1/#', 'p/+/data')).toBe(false);
  expect(covers('p/+/data', 'p/d1/data')).toBe(true);
  expect(covers('p/+/data', 'p/#')).toBe(false);
  const acl = new MqttAcl('neurobuild/sensors', [{ role: 'device', publish: ['chat/%u/#'], subscribe: ['chat/#'] }]);
  const dev = { id: 'd1', role: 'device' as const, via: 'api-key' as const };
  const sub = { id: 's1', role: 'subscriber' as const, via: 'jwt' as const };
  expect(acl.mayPublish(dev, 'neurobuild/sensors/d1/data')).toBe(true);
  expect(acl.mayPublish(dev, 'neurobuild/sensors/d2/data')).toBe(false);
  expect(acl.mayPublish(dev, 'chat/d1/hello')).toBe(true);
  expect(acl.mayPublish(dev, 'chat/d2/hello')).toBe(false);
  expect(acl.maySubscribe(dev, 'chat/+/hello')).toBe(true);
  expect(acl.maySubscribe(dev, 'neurobuild/sensors/#')).toBe(false);
  expect(acl.maySubscribe(sub, 'neurobuild/sensors/#')).toBe(true);
  expect(acl.maySubscribe(sub, '#')).toBe(false);
  expect(acl.mayPublish(sub, 'neurobuild/sensors/s1/data')).toBe(false);
});

test('api keys: 256 random bits with a prefix, stored as SHA-256', () => {
  const k = generateApiKey();
  expect(looksLikeApiKey(k)).toBe(true);
  expect(generateApiKey()).not.toBe(k);
  expect(hashApiKey(k)).toMatch(/^[0-9a-f]{64}$/);
  expect(looksLikeApiKey('nbk_short')).toBe(false);
});
