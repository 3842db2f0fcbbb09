/**
 * Shared subscriptions `$share/{name}/{filter}` (docs/mqtt.md "Shared subscriptions",
 * MQTT 5 §4.8.2): one member per message, for v5 and 3.1.1 members alike; a member's own
 * subscriptions keep their copy; what a member that left had not acknowledged goes to the
 * others; no retained messages; No Local is a protocol error [MQTT-3.8.3-4].
 */
import { expect, test } from 'bun:test';
import mqtt, { type MqttClient } from 'mqtt';
import type { IDisconnectPacket } from 'mqtt-packet';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { publishQos1, publishes, rawConnect, rawSubscribe, roundTrip } from '../helpers/mqtt5.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const stack = useStack();

interface Got {
  topic: string;
  payload: string;
  ids: number[];
}

async function member(version: 4 | 5, name: string): Promise<{ c: MqttClient; got: Got[] }> {
  const c = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.server.mqttPort}`, { protocolVersion: version, reconnectPeriod: 0, clientId: `${name}-${Date.now()}` }));
  const got: Got[] = [];
  c.on('message', (topic, payload, packet) => {
    const id = packet.properties?.subscriptionIdentifier;
    got.push({ topic, payload: payload.toString(), ids: id === undefined ? [] : Array.isArray(id) ? id : [id] });
  });
  return { c, got };
}

/** Publishes each (topic, payload) at QoS 1 from a fresh raw 3.1.1 client, each after the previous PUBACK. */
async function publishAll(items: [topic: string, payload: string][]): Promise<void> {
  const pub = await RawMqtt.connected(stack.server.mqttPort, 4);
  for (const [topic, payload] of items) await publishQos1(pub, topic, payload);
  pub.end();
}

test('mqtt shared - $share/g/jobs/# with two v5 and one 3.1.1 member: each message to exactly one member, each member a share; a plain jobs/# subscriber gets all', async () => {
  const members = [await member(5, 'v5-a'), await member(5, 'v5-b'), await member(4, 'v3-c')];
  for (const [i, m] of members.entries()) {
    expect((await m.c.subscribeAsync('$share/g/jobs/#', { qos: 1 })).map((g) => g.qos)).toEqual([1]);
    // a per-member marker topic on a plain subscription: once it arrived, so did everything routed to this member before it
    await m.c.subscribeAsync(`marker/shared/${i}`, { qos: 1 });
  }
  const plain = await member(5, 'plain');
  await plain.c.subscribeAsync('jobs/#', { qos: 1 });

  const sent = Array.from({ length: 30 }, (_, i) => `job-${i}`);
  await publishAll([...sent.map((p, i): [string, string] => [`jobs/${i % 3}`, p]), ...members.map((_, i): [string, string] => [`marker/shared/${i}`, 'end'])]);
  for (const m of members) await waitFor(() => m.got.some((g) => g.topic.startsWith('marker/')), 5000, 'marker');
  await waitFor(() => plain.got.length === 30, 5000, 'all 30 on the plain subscription');

  const shares = members.map((m) => m.got.filter((g) => g.topic.startsWith('jobs/')).map((g) => g.payload));
  const all = shares.flat();
  expect(all.length).toBe(30);
  expect([...all].sort()).toEqual([...sent].sort());
  // turns are taken in order, so the shares are about even (10 each when every member keeps up)
  for (const s of shares) expect(s.length).toBeGreaterThanOrEqual(5);
  expect(plain.got.map((g) => g.payload).sort()).toEqual([...sent].sort());
});

test('mqtt shared - a member\'s own non-shared subscription still gets its copy of every message', async () => {
  const a = await member(5, 'own-a');
  const b = await member(5, 'own-b');
  // Subscription Identifiers tell the two paths apart: 1 = the group, 2 = a's own subscription
  for (const m of [a, b]) await m.c.subscribeAsync('$share/h/tasks/#', { qos: 1, properties: { subscriptionIdentifier: 1 } });
  await a.c.subscribeAsync('tasks/#', { qos: 1, properties: { subscriptionIdentifier: 2 } });
  await b.c.subscribeAsync('marker/own', { qos: 1 });
  await a.c.subscribeAsync('marker/own', { qos: 1 });

  const sent = Array.from({ length: 6 }, (_, i) => `task-${i}`);
  await publishAll([...sent.map((p): [string, string] => ['tasks/t', p]), ['marker/own', 'end']]);
  for (const m of [a, b]) await waitFor(() => m.got.some((g) => g.topic === 'marker/own'), 5000, 'marker');

  const own = a.got.filter((g) => g.ids.includes(2)).map((g) => g.payload);
  expect(own).toEqual(sent);
  const viaGroup = [...a.got, ...b.got].filter((g) => g.topic === 'tasks/t' && g.ids.includes(1)).map((g) => g.payload);
  expect(viaGroup.sort()).toEqual([...sent].sort());
  expect(b.got.filter((g) => g.ids.includes(1)).length).toBeGreaterThanOrEqual(1);
  expect(b.got.some((g) => g.ids.includes(2))).toBe(false);
});

test('mqtt shared - a member that never acknowledges leaves: the messages it had not acknowledged go to the other member', async () => {
  // a raw v5 member with Receive Maximum 5 that never sends PUBACK
  const { c: lazy } = await rawConnect(stack.server.mqttPort, { clientId: `lazy-${Date.now()}`, properties: { receiveMaximum: 5 } });
  expect((await rawSubscribe(lazy, [{ topic: '$share/r/work/#', qos: 1 }])).granted).toEqual([1]);
  const busy = await member(5, 'busy');
  await busy.c.subscribeAsync('$share/r/work/#', { qos: 1 });
  await busy.c.subscribeAsync('marker/work', { qos: 1 });

  const sent = Array.from({ length: 20 }, (_, i) => `work-${i}`);
  await publishAll([...sent.map((p): [string, string] => ['work/item', p]), ['marker/work', 'end']]);
  await waitFor(() => busy.got.some((g) => g.topic === 'marker/work'), 5000, 'marker at the busy member');
  await roundTrip(lazy);
  const lazyGot = publishes(lazy).map((p) => p.payload.toString());
  expect(lazyGot.length).toBeGreaterThanOrEqual(1);
  expect(lazyGot.length).toBeLessThanOrEqual(5); // never more unacknowledged than its Receive Maximum

  lazy.end(); // socket destroyed: no DISCONNECT
  const done = () => new Set(busy.got.filter((g) => g.topic === 'work/item').map((g) => g.payload));
  await waitFor(() => done().size === 20, 5000, 'every message at the member that acknowledges');
  expect([...done()].sort()).toEqual([...sent].sort());
  for (const p of lazyGot) expect(done().has(p)).toBe(true);
});

test('mqtt shared - no retained messages are sent for a shared subscription (a plain one gets them)', async () => {
  const pub = stack.track(await RawMqtt.connected(stack.server.mqttPort, 4));
  await publishQos1(pub, 'keep/state', 'retained-value', { retain: true });
  const plain = await member(5, 'keep-plain');
  await plain.c.subscribeAsync('keep/#', { qos: 1 });
  await waitFor(() => plain.got.length === 1, 5000, 'the retained message on the plain subscription');
  expect(plain.got[0]!.payload).toBe('retained-value');

  const { c: shared } = await rawConnect(stack.server.mqttPort);
  stack.track(shared);
  expect((await rawSubscribe(shared, [{ topic: '$share/k/keep/#', qos: 1 }])).granted).toEqual([1]);
  // a retained message would follow the SUBACK at once; the marker is published after it
  await publishQos1(pub, 'keep/marker', 'marker');
  await waitFor(() => publishes(shared).length >= 1, 5000, 'the marker');
  await roundTrip(shared);
  expect(publishes(shared).map((p) => p.payload.toString())).toEqual(['marker']);
});

test('mqtt shared - No Local on a shared subscription: DISCONNECT 0x82 [MQTT-3.8.3-4]', async () => {
  const { c } = await rawConnect(stack.server.mqttPort);
  stack.track(c);
  c.send({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: '$share/g/jobs/#', qos: 1, nl: true }] });
  const d = (await c.next('disconnect')) as IDisconnectPacket;
  expect(d.reasonCode).toBe(0x82);
  await c.waitClosed();
  expect(c.packets.filter((p) => p.cmd === 'suback')).toEqual([]);
});
