/**
 * The MQTT bounds of docs/mqtt.md ("Bounds"), each set small: sessions, subscriptions per
 * client, filter length, topic levels, one session's queue, the queue budget of all sessions;
 * and retained sensor readings kept only once the reading was accepted.
 */
import { describe, expect, test } from 'bun:test';
import type { IDisconnectPacket, IPubackPacket } from 'mqtt-packet';
import { reading } from '../fixtures/readings.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { connackCode, metricValue, publishQos1, publishes, rawConnect, rawSubscribe, roundTrip } from '../helpers/mqtt5.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

describe('mqtt bounds - sessions', () => {
  const stack = useStack({ MQTT_MAX_SESSIONS: '3' });

  test('mqtt bounds - MQTT_MAX_SESSIONS=3: a 4th new session is refused (v5 0x97, 3.1.1 3), a returning client id is not; counted', async () => {
    const port = stack.server.mqttPort;
    const held: RawMqtt[] = [];
    for (const id of ['s1', 's2', 's3']) {
      const { c, connack } = await rawConnect(port, { clientId: id, version: id === 's2' ? 4 : 5 });
      expect(connackCode(connack)).toBe(0);
      held.push(stack.track(c));
    }
    const v5 = await rawConnect(port, { clientId: 's4' });
    expect(connackCode(v5.connack)).toBe(0x97);
    await v5.c.waitClosed();
    const v3 = await rawConnect(port, { clientId: 's5', version: 4 });
    expect(connackCode(v3.connack)).toBe(3);
    await v3.c.waitClosed();
    // a client id that has a session takes it over: no new session needed
    const again = await rawConnect(port, { clientId: 's1' });
    stack.track(again.c);
    expect(connackCode(again.connack)).toBe(0);
    await waitFor(() => held[0]!.closed, 5000, 'the taken-over connection closed');
    expect(held[1]!.closed).toBe(false);
    expect(await metricValue(stack.server, 'mqtt_bounds_hit_total{bound="sessions"}')).toBe(2);
    // room again once a session ends
    held[1]!.send({ cmd: 'disconnect' });
    await held[1]!.waitClosed();
    await waitFor(async () => (await metricValue(stack.server, 'mqtt_sessions')) === 2, 5000, 'the session of s2 ended');
    const fresh = await rawConnect(port, { clientId: 's6' });
    stack.track(fresh.c);
    expect(connackCode(fresh.connack)).toBe(0);
  });
});

describe('mqtt bounds - subscriptions, filters, levels, queues', () => {
  const stack = useStack({
    MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT: '3',
    MQTT_MAX_FILTER_BYTES: '64',
    MQTT_MAX_TOPIC_LEVELS: '6',
    MQTT_MAX_OFFLINE_MESSAGES: '5',
    MQTT_OFFLINE_BYTES_BUDGET: '4096',
  });
  const port = () => stack.server.mqttPort;
  const dropped = (reason: string) => metricValue(stack.server, `mqtt_messages_dropped_total{reason="${reason}"}`);

  test('mqtt bounds - MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT=3: the 4th filter is refused (v5 0x97, 3.1.1 0x80); re-subscribing a held one is fine', async () => {
    const { c: v5 } = await rawConnect(port());
    stack.track(v5);
    const four = ['per/a', 'per/b', 'per/c', 'per/d'].map((topic) => ({ topic, qos: 1 as const }));
    expect((await rawSubscribe(v5, four)).granted).toEqual([1, 1, 1, 0x97]);
    expect((await rawSubscribe(v5, [{ topic: 'per/a', qos: 0 }])).granted).toEqual([0]);
    expect((await rawSubscribe(v5, [{ topic: 'per/e', qos: 0 }])).granted).toEqual([0x97]);
    const { c: v3 } = await rawConnect(port(), { version: 4 });
    stack.track(v3);
    expect((await rawSubscribe(v3, four)).granted).toEqual([1, 1, 1, 0x80]);
    expect(await metricValue(stack.server, 'mqtt_bounds_hit_total{bound="subscriptions"}')).toBe(3);
  });

  test('mqtt bounds - MQTT_MAX_FILTER_BYTES and MQTT_MAX_TOPIC_LEVELS: SUBACK 0x8F (3.1.1 0x80); a PUBLISH with too many levels: DISCONNECT 0x90', async () => {
    const { c } = await rawConnect(port());
    stack.track(c);
    const at = 'f/' + 'x'.repeat(62); // 64 bytes
    const over = 'f/' + 'x'.repeat(63); // 65 bytes
    expect((await rawSubscribe(c, [{ topic: at, qos: 0 }, { topic: over, qos: 0 }])).granted).toEqual([0, 0x8f]);
    const { c: v3 } = await rawConnect(port(), { version: 4 });
    stack.track(v3);
    expect((await rawSubscribe(v3, [{ topic: over, qos: 0 }, { topic: 'a/b/c/d/e/f/g', qos: 0 }])).granted).toEqual([0x80, 0x80]);
    const { c: levels } = await rawConnect(port());
    stack.track(levels);
    expect((await rawSubscribe(levels, [{ topic: 'a/b/c/d/e/f', qos: 0 }, { topic: 'a/b/c/d/e/f/g', qos: 0 }, { topic: 'a/b/c/d/e/+/#', qos: 0 }])).granted).toEqual([0, 0x8f, 0x8f]);
    expect(((await publishQos1(levels, 'a/b/c/d/e/f', 'six levels')) as IPubackPacket).reasonCode ?? 0).toBe(0);
    levels.send({ cmd: 'publish', topic: 'a/b/c/d/e/f/g', payload: Buffer.from('seven'), qos: 0, retain: false, dup: false });
    const d = (await levels.next('disconnect')) as IDisconnectPacket;
    expect(d.reasonCode).toBe(0x90);
    await levels.waitClosed();
    expect(await metricValue(stack.server, 'mqtt_bounds_hit_total{bound="filter_bytes"}')).toBe(2);
    expect(await metricValue(stack.server, 'mqtt_bounds_hit_total{bound="topic_levels"}')).toBe(4);
  });

  test('mqtt bounds - MQTT_MAX_OFFLINE_MESSAGES=5: a persistent session away for 12 QoS 1 messages resumes with exactly the first 5; 7 counted session_queue_full', async () => {
    const id = `queue-${Date.now()}`;
    const first = await rawConnect(port(), { clientId: id, properties: { sessionExpiryInterval: 60 } });
    expect((await rawSubscribe(first.c, [{ topic: 'queue/q', qos: 1 }])).granted).toEqual([1]);
    first.c.send({ cmd: 'disconnect' });
    await first.c.waitClosed();
    const before = await dropped('session_queue_full');
    const pub = stack.track(await RawMqtt.connected(port(), 4));
    for (let i = 1; i <= 12; i++) await publishQos1(pub, 'queue/q', `q${i}`);
    expect((await dropped('session_queue_full')) - before).toBe(7);

    const back = await rawConnect(port(), { clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    stack.track(back.c);
    expect(back.connack.sessionPresent).toBe(true);
    await waitFor(() => publishes(back.c).length >= 5, 5000, 'the queued messages');
    for (const p of publishes(back.c)) back.c.send({ cmd: 'puback', messageId: p.messageId! });
    // a later message shows nothing else was waiting
    await publishQos1(pub, 'queue/q', 'after');
    await waitFor(() => publishes(back.c).some((p) => p.payload.toString() === 'after'), 5000, 'the later message');
    expect(publishes(back.c).map((p) => p.payload.toString())).toEqual(['q1', 'q2', 'q3', 'q4', 'q5', 'after']);
    back.c.send({ cmd: 'puback', messageId: publishes(back.c)[5]!.messageId! });
    expect(await metricValue(stack.server, 'mqtt_bounds_hit_total{bound="session_queue"}')).toBeGreaterThanOrEqual(1);
  });

  test('mqtt bounds - MQTT_OFFLINE_BYTES_BUDGET=4096 spent: a new persistent session is refused (0x97 / 3), a clean one is not; after the queue drains, accepted again', async () => {
    const id = `budget-${Date.now()}`;
    const away = await rawConnect(port(), { clientId: id, properties: { sessionExpiryInterval: 60 } });
    expect((await rawSubscribe(away.c, [{ topic: 'budget/b', qos: 1 }])).granted).toEqual([1]);
    away.c.send({ cmd: 'disconnect' });
    await away.c.waitClosed();
    const before = await dropped('offline_budget');
    const pub = stack.track(await RawMqtt.connected(port(), 4));
    // 1 KiB messages until the budget refuses one (it holds three of them)
    for (let i = 1; i <= 5; i++) await publishQos1(pub, 'budget/b', `${i}`.padEnd(1024, '.'));
    expect((await dropped('offline_budget')) - before).toBeGreaterThanOrEqual(1);

    const v5 = await rawConnect(port(), { clientId: `${id}-new5`, properties: { sessionExpiryInterval: 60 } });
    stack.track(v5.c);
    const v3 = await rawConnect(port(), { clientId: `${id}-new3`, version: 4, clean: false });
    stack.track(v3.c);
    const clean = await rawConnect(port(), { clientId: `${id}-clean` });
    stack.track(clean.c);
    expect([connackCode(v5.connack), connackCode(v3.connack), connackCode(clean.connack)]).toEqual([0x97, 3, 0]);

    const back = await rawConnect(port(), { clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    stack.track(back.c);
    expect(back.connack.sessionPresent).toBe(true);
    await waitFor(() => publishes(back.c).length >= 1, 5000, 'the queued messages');
    await roundTrip(back.c);
    for (const p of publishes(back.c)) back.c.send({ cmd: 'puback', messageId: p.messageId! });
    await waitFor(async () => (await metricValue(stack.server, 'mqtt_queued_bytes')) === 0, 5000, 'the queues drained');
    const later = await rawConnect(port(), { clientId: `${id}-later`, properties: { sessionExpiryInterval: 60 } });
    stack.track(later.c);
    expect(connackCode(later.connack)).toBe(0);
  });

  test('mqtt bounds - a reading refused by validation and published with RETAIN is not the retained message; an accepted one is', async () => {
    const dev = `retain-${Date.now()}`;
    const topic = `neurobuild/sensors/${dev}/data`;
    const { c: pub } = await rawConnect(port());
    stack.track(pub);
    const bad = reading({ device_id: dev, sensors: { ld2410: { presence: true, distance: 9999, energy: 1 } } });
    expect(((await publishQos1(pub, topic, JSON.stringify(bad), { retain: true })) as IPubackPacket).reasonCode).toBe(0x99);

    const { c: late } = await rawConnect(port());
    stack.track(late);
    expect((await rawSubscribe(late, [{ topic: `neurobuild/sensors/${dev}/#`, qos: 1 }])).granted).toEqual([1]);
    // a retained message would follow the SUBACK at once; the status marker comes after it
    await publishQos1(pub, `neurobuild/sensors/${dev}/status`, 'marker');
    await waitFor(() => publishes(late).length >= 1, 5000, 'the marker');
    expect(publishes(late).map((p) => p.topic)).toEqual([`neurobuild/sensors/${dev}/status`]);

    const good = reading({ device_id: dev });
    expect(((await publishQos1(pub, topic, JSON.stringify(good), { retain: true })) as IPubackPacket).reasonCode ?? 0).toBe(0);
    const later = await RawMqtt.connected(port(), 5);
    stack.track(later);
    expect((await rawSubscribe(later, [{ topic, qos: 1 }])).granted).toEqual([1]);
    await waitFor(() => publishes(later).length >= 1, 5000, 'the retained reading');
    const kept = publishes(later)[0]!;
    expect(kept.retain).toBe(true);
    expect(JSON.parse(kept.payload.toString())).toMatchObject({ device_id: dev, timestamp: good.timestamp });
  });
});
