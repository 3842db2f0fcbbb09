/**
 * Attacks (issue 16, findings 2 and 5) by one authenticated identity against everyone else's
 * server: many persistent sessions and subscriptions that outlive its revocation, and retained
 * messages bounded only by count. Each identity now has budgets (sessions, subscriptions and
 * their filter bytes, retained messages and bytes), and revocation ends what it holds. Failed on
 * main before the change: the 4th session and 6th subscription were accepted, the 20 retained
 * 250 KB publishes all kept (5 MB for one device), and revocation left the kept sessions and the
 * retained message in place.
 */
import { describe, expect, test } from 'bun:test';
import type { IPubackPacket } from 'mqtt-packet';
import { ADMIN, registerKey } from '../helpers/identities.ts';
import { connackCode, metricValue, publishQos1, publishes, rawConnect, rawSubscribe, roundTrip } from '../helpers/mqtt5.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const persistent = { clean: false, properties: { sessionExpiryInterval: 3600 } };

describe('security - per-identity MQTT budgets', () => {
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN, MQTT_MAX_SESSIONS_PER_IDENTITY: '3', MQTT_MAX_SUBSCRIPTIONS_PER_IDENTITY: '5', MQTT_MAX_FILTER_BYTES_PER_IDENTITY: '400' });
  const port = () => stack.server.mqttPort;

  test('security mqtt - MQTT_MAX_SESSIONS_PER_IDENTITY: a 4th session of one identity is refused (0x97), kept ones count, another identity is not affected', async () => {
    const key = await registerKey(stack.server.base, 'many-sessions');
    for (let i = 0; i < 3; i++) {
      const { c, connack } = await rawConnect(port(), { clientId: `ms-${i}`, username: 'many-sessions', password: key, ...persistent });
      expect(connackCode(connack)).toBe(0);
      // kept after the connection ends: still counts
      c.end();
      await c.waitClosed();
    }
    const { c: fourth, connack } = await rawConnect(port(), { clientId: 'ms-3', username: 'many-sessions', password: key, ...persistent });
    stack.track(fourth);
    expect(connackCode(connack)).toBe(0x97);
    // resuming one it holds is no new session
    const { c: back, connack: resumed } = await rawConnect(port(), { clientId: 'ms-0', username: 'many-sessions', password: key, ...persistent });
    stack.track(back);
    expect(connackCode(resumed)).toBe(0);
    expect(resumed.sessionPresent).toBe(true);
    const otherKey = await registerKey(stack.server.base, 'other-identity');
    const { c: other, connack: fine } = await rawConnect(port(), { clientId: 'other-0', username: 'other-identity', password: otherKey });
    stack.track(other);
    expect(connackCode(fine)).toBe(0);
    expect(await metricValue(stack.server, 'mqtt_bounds_hit_total{bound="identity_sessions"}')).toBe(1);
  });

  test('security mqtt - MQTT_MAX_SUBSCRIPTIONS_PER_IDENTITY and _FILTER_BYTES_: counted over all sessions of the identity, refused in SUBACK (0x97)', async () => {
    const key = await registerKey(stack.server.base, 'many-subs', 'subscriber');
    const a = stack.track((await rawConnect(port(), { clientId: 'subs-a', username: 'many-subs', password: key })).c);
    const b = stack.track((await rawConnect(port(), { clientId: 'subs-b', username: 'many-subs', password: key })).c);
    const f = (i: number) => ({ topic: `neurobuild/sensors/dev-${i}/data`, qos: 0 as const });
    expect((await rawSubscribe(a, [f(1), f(2), f(3)])).granted).toEqual([0, 0, 0]);
    // a's three and b's two make five; the sixth is over
    expect((await rawSubscribe(b, [f(4), f(5), f(6)])).granted).toEqual([0, 0, 0x97]);
    // replacing one it holds is no new subscription
    expect((await rawSubscribe(a, [f(1)])).granted).toEqual([0]);
    // unsubscribing frees room
    a.send({ cmd: 'unsubscribe', messageId: 77, unsubscriptions: [f(1).topic] });
    await a.next('unsuback');
    expect((await rawSubscribe(b, [f(6)])).granted).toEqual([0]);

    // filter bytes: 400 in all for this identity
    const bytesKey = await registerKey(stack.server.base, 'long-filters', 'subscriber');
    const c = stack.track((await rawConnect(port(), { clientId: 'long-filters', username: 'long-filters', password: bytesKey })).c);
    const long = (n: number) => ({ topic: `neurobuild/sensors/${String(n).padStart(150, 'x')}/#`, qos: 0 as const });
    expect((await rawSubscribe(c, [long(1), long(2), long(3)])).granted).toEqual([0, 0, 0x97]);
    expect(await metricValue(stack.server, 'mqtt_bounds_hit_total{bound="identity_subscriptions"}')).toBe(2);
  });
});

describe('security - retained messages bounded per identity (defaults)', () => {
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN });
  const port = () => stack.server.mqttPort;

  test('security mqtt - 20 retained 250 KB publishes from one device: 4 kept (MQTT_MAX_RETAINED_BYTES_PER_IDENTITY 1 MiB), the rest refused with 0x97 and not delivered', async () => {
    const key = await registerKey(stack.server.base, 'retainer');
    const dev = stack.track((await rawConnect(port(), { clientId: 'retainer', username: 'retainer', password: key })).c);
    const watcherKey = await registerKey(stack.server.base, 'ret-watch', 'subscriber');
    const watcher = stack.track((await rawConnect(port(), { clientId: 'ret-watch', username: 'ret-watch', password: watcherKey })).c);
    expect((await rawSubscribe(watcher, [{ topic: 'neurobuild/sensors/retainer/cfg/#', qos: 0 }])).granted).toEqual([0]);
    const payload = Buffer.alloc(250_000, 0x61);
    // the server's own $SYS topics are retained messages too
    const before = await metricValue(stack.server, 'mqtt_retained_messages');
    const codes: number[] = [];
    for (let i = 0; i < 20; i++) codes.push(((await publishQos1(dev, `neurobuild/sensors/retainer/cfg/${i}`, payload, { retain: true })) as IPubackPacket).reasonCode ?? 0);
    expect(codes.filter((c) => c === 0).length).toBe(4);
    expect(codes.slice(4).every((c) => c === 0x97)).toBe(true);
    await roundTrip(watcher);
    expect(publishes(watcher).length).toBe(4);
    expect(await metricValue(stack.server, 'mqtt_retained_messages')).toBe(before + 4);
    expect(await metricValue(stack.server, 'mqtt_bounds_hit_total{bound="identity_retained"}')).toBe(16);
    // a retained message that fits still goes after deleting one (empty payload)
    expect(((await publishQos1(dev, 'neurobuild/sensors/retainer/cfg/0', Buffer.alloc(0), { retain: true })) as IPubackPacket).reasonCode ?? 0).toBe(0);
    expect(((await publishQos1(dev, 'neurobuild/sensors/retainer/cfg/19', payload, { retain: true })) as IPubackPacket).reasonCode ?? 0).toBe(0);
  });
});

describe('security - revocation ends what an identity holds', () => {
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN });
  const port = () => stack.server.mqttPort;

  test('security mqtt - revoking a device ends its kept sessions and subscriptions, disconnects the live one (0x98) and removes the retained messages it set', async () => {
    const key = await registerKey(stack.server.base, 'doomed');
    const sessionsBefore = await metricValue(stack.server, 'mqtt_sessions');
    for (let i = 0; i < 3; i++) {
      const { c } = await rawConnect(port(), { clientId: `doomed-${i}`, username: 'doomed', password: key, ...persistent });
      expect((await rawSubscribe(c, [{ topic: 'neurobuild/sensors/doomed/cmd/#', qos: 1 }])).granted).toEqual([1]);
      c.end();
      await c.waitClosed();
    }
    const live = stack.track((await rawConnect(port(), { clientId: 'doomed-live', username: 'doomed', password: key, ...persistent })).c);
    expect(((await publishQos1(live, 'neurobuild/sensors/doomed/status', 'online', { retain: true })) as IPubackPacket).reasonCode ?? 0).toBe(0);
    await waitFor(async () => (await metricValue(stack.server, 'mqtt_sessions')) === sessionsBefore + 4, 3000, 'four sessions');
    expect(await metricValue(stack.server, 'mqtt_retained_messages')).toBeGreaterThanOrEqual(1);

    const res = await fetch(`${stack.server.base}/api/v1/admin/devices/doomed`, { method: 'DELETE', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    expect(((await live.next('disconnect')) as { reasonCode?: number }).reasonCode).toBe(0x98);
    await waitFor(async () => (await metricValue(stack.server, 'mqtt_sessions')) === sessionsBefore, 3000, 'the kept sessions ended');
    // nothing of it is served to a newcomer
    const watcherKey = await registerKey(stack.server.base, 'after-watch', 'subscriber');
    const watcher = stack.track((await rawConnect(port(), { clientId: 'after-watch', username: 'after-watch', password: watcherKey })).c);
    expect((await rawSubscribe(watcher, [{ topic: 'neurobuild/sensors/doomed/#', qos: 0 }])).granted).toEqual([0]);
    await roundTrip(watcher);
    expect(publishes(watcher)).toEqual([]);
  });

  test('security mqtt - rotating a key only closes the live connection (0x98): the device resumes its session with the new key (sessionPresent), its retained message stays', async () => {
    const key = await registerKey(stack.server.base, 'rotated');
    const first = stack.track((await rawConnect(port(), { clientId: 'rotated', username: 'rotated', password: key, ...persistent })).c);
    expect((await rawSubscribe(first, [{ topic: 'neurobuild/sensors/rotated/cmd/#', qos: 1 }])).granted).toEqual([1]);
    expect(((await publishQos1(first, 'neurobuild/sensors/rotated/status', 'online', { retain: true })) as IPubackPacket).reasonCode ?? 0).toBe(0);
    const res = await fetch(`${stack.server.base}/api/v1/admin/devices/rotated/rotate`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.status).toBe(200);
    const fresh = ((await res.json()) as { api_key: string }).api_key;
    expect(((await first.next('disconnect')) as { reasonCode?: number }).reasonCode).toBe(0x98);
    expect(connackCode((await rawConnect(port(), { clientId: 'rotated-old', username: 'rotated', password: key })).connack)).toBe(0x86);
    const { c: again, connack } = await rawConnect(port(), { clientId: 'rotated', username: 'rotated', password: fresh, clean: false, properties: { sessionExpiryInterval: 3600 } });
    stack.track(again);
    expect(connackCode(connack)).toBe(0);
    expect(connack.sessionPresent).toBe(true);
    expect((await rawSubscribe(again, [{ topic: 'neurobuild/sensors/rotated/status', qos: 0 }])).granted).toEqual([0]);
    await roundTrip(again);
    expect(publishes(again).map((p) => String(p.payload))).toEqual(['online']);
  });
});

