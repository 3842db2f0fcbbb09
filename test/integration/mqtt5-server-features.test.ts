/**
 * What the server tells and sends MQTT clients of its own accord (docs/mqtt.md): Server Keep
 * Alive under MQTT_MAX_KEEP_ALIVE_S [MQTT-3.2.2-21], server → client topic aliases
 * [MQTT-3.3.2-11], and the `$SYS/broker/...` statistics (not matched by `#` [MQTT-4.7.2-1], not
 * publishable, and with AUTH_MODE on only for identities an MQTT_ACL_FILE rule grants them).
 */
import { describe, expect, test } from 'bun:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IPubackPacket } from 'mqtt-packet';
import { ADMIN, registerKey } from '../helpers/identities.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { connackCode, metricValue, publishQos1, publishes, rawConnect, rawSubscribe, roundTrip } from '../helpers/mqtt5.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

describe('mqtt5 server features', () => {
  const stack = useStack({ MQTT_MAX_KEEP_ALIVE_S: '60', MQTT_SYS_INTERVAL_S: '1' });
  const port = () => stack.server.mqttPort;

  test('mqtt5 server - Server Keep Alive: above MQTT_MAX_KEEP_ALIVE_S a v5 client is told 60, a 3.1.1 client refused (2); within it nothing changes', async () => {
    const ask = async (version: 4 | 5, keepalive: number) => {
      const { c, connack } = await rawConnect(port(), { version, keepalive });
      c.end();
      return connack;
    };
    const v5High = await ask(5, 120);
    expect(connackCode(v5High)).toBe(0);
    expect(v5High.properties?.serverKeepAlive).toBe(60);
    // no keep-alive at all is also above a maximum below 65535
    expect((await ask(5, 0)).properties?.serverKeepAlive).toBe(60);
    const v5Ok = await ask(5, 30);
    expect(connackCode(v5Ok)).toBe(0);
    expect(v5Ok.properties?.serverKeepAlive).toBeUndefined();
    expect(connackCode(await ask(4, 120))).toBe(2);
    expect(connackCode(await ask(4, 30))).toBe(0);
    expect(await metricValue(stack.server, 'mqtt_bounds_hit_total{bound="keep_alive"}')).toBe(3);
  });

  test('mqtt5 server - topic aliases to a client with Topic Alias Maximum 1: topic + alias, then alias only; a second topic in full; none without a maximum', async () => {
    const { c: aliased } = await rawConnect(port(), { properties: { topicAliasMaximum: 1 } });
    const { c: plain } = await rawConnect(port());
    for (const c of [aliased, plain]) {
      stack.track(c);
      expect((await rawSubscribe(c, [{ topic: 'alias/#', qos: 0 }])).granted).toEqual([0]);
    }
    const pub = stack.track(await RawMqtt.connected(port(), 4));
    for (const [topic, payload] of [['alias/one', 'a1'], ['alias/one', 'a2'], ['alias/one', 'a3'], ['alias/two', 'b1'], ['alias/two', 'b2']]) await publishQos1(pub, topic!, payload!);
    for (const c of [aliased, plain]) await waitFor(() => publishes(c).length === 5, 5000, 'five messages');

    const seen = publishes(aliased).map((p) => ({ topic: p.topic, alias: p.properties?.topicAlias, payload: p.payload.toString() }));
    expect(seen).toEqual([
      { topic: 'alias/one', alias: 1, payload: 'a1' },
      { topic: '', alias: 1, payload: 'a2' },
      { topic: '', alias: 1, payload: 'a3' },
      // the one alias is taken: later topics go out in full
      { topic: 'alias/two', alias: undefined, payload: 'b1' },
      { topic: 'alias/two', alias: undefined, payload: 'b2' },
    ]);
    expect(publishes(plain).map((p) => [p.topic, p.properties?.topicAlias])).toEqual([
      ['alias/one', undefined],
      ['alias/one', undefined],
      ['alias/one', undefined],
      ['alias/two', undefined],
      ['alias/two', undefined],
    ]);
  });

  test('mqtt5 server - $SYS/broker: uptime, clients/connected (as it is), subscriptions/count and messages/received move every MQTT_SYS_INTERVAL_S', async () => {
    const { c: watcher } = await rawConnect(port());
    stack.track(watcher);
    expect((await rawSubscribe(watcher, [{ topic: '$SYS/#', qos: 0 }])).granted).toEqual([0]);
    const latest = (name: string): string | undefined => publishes(watcher).findLast((p) => p.topic === `$SYS/broker/${name}`)?.payload.toString();
    const latestNumber = (name: string): number => Number(latest(name));
    // the retained values come at once
    await waitFor(() => latest('uptime') !== undefined && latest('version') !== undefined, 3000, 'retained $SYS values');
    expect(latest('uptime')).toMatch(/^\d+ seconds$/);
    expect(latest('version')).toContain('neurobuild-ingest');
    const uptime0 = Number.parseInt(latest('uptime')!, 10);
    await waitFor(() => Number.parseInt(latest('uptime')!, 10) > uptime0, 5000, 'uptime to move');

    // connected clients as they are: what the server counts, and after two more, two more
    const gauge = async () => metricValue(stack.server, 'active_connections{connection_type="mqtt"}');
    await waitFor(async () => latestNumber('clients/connected') === (await gauge()), 5000, 'clients/connected = the connections open');
    const before = latestNumber('clients/connected');
    const extra = [stack.track(await RawMqtt.connected(port(), 4)), stack.track(await RawMqtt.connected(port(), 5))];
    await waitFor(() => latestNumber('clients/connected') === before + 2, 5000, 'clients/connected + 2');
    extra[0]!.send({ cmd: 'disconnect' });
    await extra[0]!.waitClosed();
    await waitFor(() => latestNumber('clients/connected') === before + 1, 5000, 'clients/connected - 1');

    const subs = latestNumber('subscriptions/count');
    expect(subs).toBeGreaterThanOrEqual(1);
    expect((await rawSubscribe(extra[1]!, [{ topic: 'sys/a', qos: 0 }, { topic: 'sys/b/+', qos: 1 }])).granted).toEqual([0, 1]);
    await waitFor(() => latestNumber('subscriptions/count') === subs + 2, 5000, 'subscriptions/count + 2');

    const received = latestNumber('messages/received');
    for (let i = 0; i < 3; i++) await publishQos1(extra[1]!, 'sys/a', `m${i}`);
    await waitFor(() => latestNumber('messages/received') >= received + 3, 5000, 'messages/received + 3');
  });

  test('mqtt5 server - a # subscriber gets no $SYS topics [MQTT-4.7.2-1]', async () => {
    const { c: all } = await rawConnect(port());
    const { c: watcher } = await rawConnect(port());
    for (const c of [all, watcher]) stack.track(c);
    await rawSubscribe(all, [{ topic: '#', qos: 0 }]);
    await rawSubscribe(watcher, [{ topic: '$SYS/broker/uptime', qos: 0 }]);
    // the retained uptime, then the next periodic update: published while '#' was subscribed
    await waitFor(() => publishes(watcher).length >= 2, 5000, 'a $SYS update after the # subscription');
    const pub = stack.track(await RawMqtt.connected(port(), 4));
    await publishQos1(pub, 'after/sys', 'marker');
    await waitFor(() => publishes(all).some((p) => p.topic === 'after/sys'), 5000, 'the marker');
    expect(publishes(all).filter((p) => p.topic.startsWith('$'))).toEqual([]);
  });

  test('mqtt5 server - publishing to $SYS/x: v5 PUBACK 0x87, nothing delivered, still connected', async () => {
    const { c: watcher } = await rawConnect(port());
    stack.track(watcher);
    await rawSubscribe(watcher, [{ topic: '$SYS/x', qos: 1 }]);
    const { c } = await rawConnect(port());
    stack.track(c);
    const ack = (await publishQos1(c, '$SYS/x', 'forged')) as IPubackPacket;
    expect(ack.reasonCode).toBe(0x87);
    await roundTrip(watcher);
    expect(publishes(watcher)).toEqual([]);
    await roundTrip(c);
    expect(c.closed).toBe(false);
  });
});

const register = registerKey;

describe('mqtt5 server - $SYS with AUTH_MODE=api-key and no ACL rule for it', () => {
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN, MQTT_SYS_INTERVAL_S: '1' });

  test('mqtt5 server - a device and a subscriber identity are refused $SYS/# (0x87); their own topics are fine', async () => {
    for (const [id, role, own] of [['sys-dev', 'device', 'neurobuild/sensors/sys-dev/#'], ['sys-watcher', 'subscriber', 'neurobuild/sensors/#']] as const) {
      const key = await register(stack.server.base, id, role);
      const { c, connack } = await rawConnect(stack.server.mqttPort, { clientId: id, username: id, password: key });
      stack.track(c);
      expect(connackCode(connack)).toBe(0);
      expect((await rawSubscribe(c, [{ topic: '$SYS/#', qos: 0 }, { topic: '$SYS/broker/uptime', qos: 0 }, { topic: own, qos: 0 }])).granted).toEqual([0x87, 0x87, 0]);
      await roundTrip(c);
      expect(publishes(c).filter((p) => p.topic.startsWith('$SYS'))).toEqual([]);
    }
  });
});

describe('mqtt5 server - $SYS with AUTH_MODE=api-key and an MQTT_ACL_FILE grant', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-acl-'));
  const aclFile = join(dir, 'acl.json');
  // subscribers may watch $SYS; devices get nothing beyond their own topics
  writeFileSync(aclFile, JSON.stringify([{ role: 'subscriber', subscribe: ['$SYS/#'] }]));
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN, MQTT_SYS_INTERVAL_S: '1', MQTT_ACL_FILE: aclFile });
  stack.cleanup(() => rmSync(dir, { recursive: true, force: true }));

  test('mqtt5 server - the identity an ACL rule grants $SYS/# gets it (and the statistics); a device still gets 0x87', async () => {
    const watcherKey = await register(stack.server.base, 'ops', 'subscriber');
    const { c: ops } = await rawConnect(stack.server.mqttPort, { clientId: 'ops', username: 'ops', password: watcherKey });
    stack.track(ops);
    expect((await rawSubscribe(ops, [{ topic: '$SYS/#', qos: 0 }])).granted).toEqual([0]);
    await waitFor(() => publishes(ops).some((p) => p.topic === '$SYS/broker/clients/connected'), 3000, '$SYS statistics');

    const devKey = await register(stack.server.base, 'acl-dev', 'device');
    const { c: dev } = await rawConnect(stack.server.mqttPort, { clientId: 'acl-dev', username: 'acl-dev', password: devKey });
    stack.track(dev);
    expect((await rawSubscribe(dev, [{ topic: '$SYS/#', qos: 0 }])).granted).toEqual([0x87]);
    // nobody may publish there, granted or not
    expect(((await publishQos1(ops, '$SYS/broker/uptime', 'forged')) as IPubackPacket).reasonCode).toBe(0x87);
  });
});
