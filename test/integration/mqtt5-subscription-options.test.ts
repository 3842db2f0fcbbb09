/**
 * MQTT 5 subscription options and identifiers (docs/mqtt.md, "MQTT 5 features"): No Local
 * [MQTT-3.8.3-3], Retain As Published [MQTT-3.3.1-12], [MQTT-3.3.1-13], Retain Handling 0/1/2
 * [MQTT-3.3.1-9..11], Subscription Identifiers [MQTT-3.3.4-3], [MQTT-3.3.4-4] with overlapping
 * subscriptions delivered once [MQTT-3.3.4-2]; and 3.1.1 clients, for which none of this applies.
 *
 * That something did not arrive is shown by a marker published after it: the server sends a
 * client's messages in order, so once the marker is in, anything sent before it would be too.
 */
import { describe, expect, test } from 'bun:test';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const stack = useStack();

const uid = () => Math.random().toString(36).slice(2, 10);

async function client(version: 4 | 5 = 5, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.server.mqttPort}`, { protocolVersion: version, reconnectPeriod: 0, ...opts }));
  c.on('error', () => {});
  return c;
}

type Got = { topic: string; payload: string; retain: boolean; qos: number; ids: number[] | undefined; packet: IPublishPacket };

function collect(c: MqttClient): Got[] {
  const got: Got[] = [];
  c.on('message', (topic, payload, packet) => {
    const sid = packet.properties?.subscriptionIdentifier as number | number[] | undefined;
    got.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos, ids: sid === undefined ? undefined : ([] as number[]).concat(sid), packet });
  });
  return got;
}

const until = (got: Got[], payload: string) => waitFor(() => got.some((g) => g.payload === payload), 5000, `message "${payload}"`);
const payloads = (got: Got[]) => got.map((g) => g.payload);

describe('mqtt5 subscription options - No Local', () => {
  test('mqtt5 subscription options - No Local: a client does not get its own publishes back; another subscriber does [MQTT-3.8.3-3]', async () => {
    const topic = `nl/${uid()}`;
    const self = await client();
    const selfGot = collect(self);
    await self.subscribeAsync(topic, { qos: 1, nl: true });
    const other = await client();
    const otherGot = collect(other);
    await other.subscribeAsync(topic, { qos: 1 });

    await self.publishAsync(topic, 'own', { qos: 1 });
    await other.publishAsync(topic, 'marker', { qos: 1 });
    await until(selfGot, 'marker');
    await until(otherGot, 'own');
    expect(payloads(selfGot)).toEqual(['marker']);
    // (other subscribed without No Local: it gets its own marker too)
    await until(otherGot, 'marker');
    expect(payloads(otherGot)).toEqual(['own', 'marker']);
  });
});

describe('mqtt5 subscription options - Retain As Published', () => {
  test('mqtt5 subscription options - Retain As Published keeps RETAIN on forwarded messages, without it RETAIN is cleared; retained messages sent on SUBSCRIBE always have RETAIN=1 [MQTT-3.3.1-12], [MQTT-3.3.1-13], [MQTT-3.3.1-9]', async () => {
    const topic = `rap/${uid()}/state`;
    const withRap = await client();
    const rapGot = collect(withRap);
    await withRap.subscribeAsync(topic, { qos: 1, rap: true });
    const without = await client();
    const plainGot = collect(without);
    await without.subscribeAsync(topic, { qos: 1 });

    const pub = await client();
    await pub.publishAsync(topic, 'retained-live', { qos: 1, retain: true });
    await pub.publishAsync(topic, 'not-retained', { qos: 1, retain: false });
    for (const got of [rapGot, plainGot]) await until(got, 'not-retained');
    expect(rapGot.map((g) => [g.payload, g.retain])).toEqual([
      ['retained-live', true],
      ['not-retained', false],
    ]);
    expect(plainGot.map((g) => [g.payload, g.retain])).toEqual([
      ['retained-live', false],
      ['not-retained', false],
    ]);

    // late subscribers get the retained message with RETAIN=1, with or without Retain As Published
    for (const rap of [false, true]) {
      const late = await client();
      const lateGot = collect(late);
      await late.subscribeAsync(topic, { qos: 1, rap });
      await until(lateGot, 'retained-live');
      expect(lateGot.map((g) => [g.payload, g.retain])).toEqual([['retained-live', true]]);
    }
  });
});

describe('mqtt5 subscription options - Retain Handling', () => {
  /** A topic with a retained message, and a publisher for markers. */
  async function retainedTopic() {
    const topic = `rh/${uid()}/state`;
    const pub = await client();
    await pub.publishAsync(topic, 'kept', { qos: 1, retain: true });
    let n = 0;
    // a non-retained message on the same topic: arrives after anything SUBSCRIBE caused
    const marker = async () => {
      const payload = `marker-${++n}`;
      await pub.publishAsync(topic, payload, { qos: 1 });
      return payload;
    };
    return { topic, marker };
  }

  test('mqtt5 subscription options - Retain Handling 0: the retained message at every SUBSCRIBE, a repeated one included [MQTT-3.3.1-9]', async () => {
    const { topic, marker } = await retainedTopic();
    const c = await client();
    const got = collect(c);
    await c.subscribeAsync(topic, { qos: 1, rh: 0 });
    await until(got, await marker());
    await c.subscribeAsync(topic, { qos: 1, rh: 0 });
    await until(got, await marker());
    expect(got.map((g) => [g.payload, g.retain])).toEqual([
      ['kept', true],
      ['marker-1', false],
      ['kept', true],
      ['marker-2', false],
    ]);
  });

  test('mqtt5 subscription options - Retain Handling 1: the retained message only when the subscription is new [MQTT-3.3.1-10]', async () => {
    const { topic, marker } = await retainedTopic();
    const c = await client();
    const got = collect(c);
    await c.subscribeAsync(topic, { qos: 1, rh: 1 });
    await until(got, await marker());
    await c.subscribeAsync(topic, { qos: 1, rh: 1 }); // the same filter again: not new
    await until(got, await marker());
    await c.unsubscribeAsync(topic);
    await c.subscribeAsync(topic, { qos: 1, rh: 1 }); // new again
    await until(got, await marker());
    expect(got.map((g) => [g.payload, g.retain])).toEqual([
      ['kept', true],
      ['marker-1', false],
      ['marker-2', false],
      ['kept', true],
      ['marker-3', false],
    ]);
  });

  test('mqtt5 subscription options - Retain Handling 2: no retained message, new subscription or not [MQTT-3.3.1-11]', async () => {
    const { topic, marker } = await retainedTopic();
    const c = await client();
    const got = collect(c);
    await c.subscribeAsync(topic, { qos: 1, rh: 2 });
    await until(got, await marker());
    await c.subscribeAsync(topic, { qos: 1, rh: 2 });
    await until(got, await marker());
    expect(payloads(got)).toEqual(['marker-1', 'marker-2']);
  });
});

describe('mqtt5 subscription options - Subscription Identifiers', () => {
  test('mqtt5 subscription options - one subscription: its identifier on each message it matched; none without one [MQTT-3.3.4-3]', async () => {
    const base = `sid/${uid()}`;
    const c = await client();
    const got = collect(c);
    await c.subscribeAsync(`${base}/+`, { qos: 1, properties: { subscriptionIdentifier: 7 } });
    const noId = await client();
    const noIdGot = collect(noId);
    await noId.subscribeAsync(`${base}/+`, { qos: 1 });
    const pub = await client();
    for (const t of ['a', 'b', 'c']) await pub.publishAsync(`${base}/${t}`, t, { qos: 1 });
    await until(got, 'c');
    expect(got.map((g) => [g.topic, g.ids])).toEqual([
      [`${base}/a`, [7]],
      [`${base}/b`, [7]],
      [`${base}/c`, [7]],
    ]);
    await until(noIdGot, 'c');
    expect(noIdGot.map((g) => g.ids)).toEqual([undefined, undefined, undefined]);
  });

  test('mqtt5 subscription options - two overlapping subscriptions (ids 2 and 3): ONE message with both identifiers, at the higher QoS [MQTT-3.3.4-2], [MQTT-3.3.4-4]', async () => {
    const base = `sid/${uid()}`;
    const c = await client();
    const got = collect(c);
    await c.subscribeAsync(`${base}/+`, { qos: 1, properties: { subscriptionIdentifier: 2 } });
    await c.subscribeAsync(`${base}/#`, { qos: 2, properties: { subscriptionIdentifier: 3 } });
    const pub = await client();
    await pub.publishAsync(`${base}/x`, 'both', { qos: 2 });
    await pub.publishAsync(`${base}/x/deeper`, 'only-hash', { qos: 2 });
    await pub.publishAsync(`${base}/y`, 'marker', { qos: 1 });
    // MQTT.js hands a QoS 2 message over only after PUBREL, so the QoS 1 marker may overtake
    // them (order is kept per QoS [MQTT-4.6.0-6]): wait for all three
    for (const p of ['both', 'only-hash', 'marker']) await until(got, p);
    const both = got.filter((g) => g.payload === 'both');
    expect(both.length).toBe(1);
    expect(both[0]!.qos).toBe(2);
    expect([...both[0]!.ids!].sort()).toEqual([2, 3]);
    expect(got.find((g) => g.payload === 'only-hash')?.ids).toEqual([3]);
    // the marker was published at QoS 1: the higher subscription QoS does not raise it
    const marker = got.filter((g) => g.payload === 'marker');
    expect(marker.map((g) => [g.qos, [...g.ids!].sort()])).toEqual([[1, [2, 3]]]);
    expect(payloads(got).sort()).toEqual(['both', 'marker', 'only-hash']);
  });
});

describe('mqtt5 subscription options - exact and wildcard filters together', () => {
  // found with paho (test/integration/mqtt-paho.test.ts): a topic filter without wildcards and one with
  test('mqtt5 subscription options - an exact (id 5) and a wildcard (id 6) subscription: a message matching both has both ids, one matching only the wildcard only 6, before and after [MQTT-3.3.4-3]', async () => {
    const base = `sid/${uid()}`;
    const c = await client();
    const got = collect(c);
    await c.subscribeAsync(`${base}/a`, { qos: 1, properties: { subscriptionIdentifier: 5 } });
    await c.subscribeAsync(`${base}/#`, { qos: 1, properties: { subscriptionIdentifier: 6 } });
    const pub = await client();
    for (const [t, payload] of [['b', 'b-first'], ['a', 'a'], ['b', 'b-after'], ['a', 'a-again']] as const) await pub.publishAsync(`${base}/${t}`, payload, { qos: 1 });
    await until(got, 'a-again');
    expect(got.map((g) => [g.payload, [...(g.ids ?? [])].sort()])).toEqual([
      ['b-first', [6]],
      ['a', [5, 6]],
      ['b-after', [6]],
      ['a-again', [5, 6]],
    ]);
  });

  /** Client `exact` on `{base}/a`, client `wide` on `{base}/#`, and a publisher that already sent one message to `{base}/a` (both got it). */
  async function overlap() {
    const base = `overlap/${uid()}`;
    const exact = await client();
    const exactGot = collect(exact);
    await exact.subscribeAsync(`${base}/a`, { qos: 1 });
    const wide = await client();
    const wideGot = collect(wide);
    await wide.subscribeAsync(`${base}/#`, { qos: 1 });
    const pub = await client();
    await pub.publishAsync(`${base}/a`, 'a1', { qos: 1 });
    await until(exactGot, 'a1');
    await until(wideGot, 'a1');
    return { base, exact, exactGot, wideGot, pub };
  }

  test('mqtt5 subscription options - an exact filter of one client and a wildcard of another: after a message matched both, the exact subscriber still gets only its own topic [MQTT-4.7]', async () => {
    const { base, exactGot, wideGot, pub } = await overlap();
    await pub.publishAsync(`${base}/b`, 'b1', { qos: 1 });
    await pub.publishAsync(`${base}/a`, 'a-marker', { qos: 1 });
    await until(exactGot, 'a-marker');
    await until(wideGot, 'a-marker');
    expect(payloads(wideGot)).toEqual(['a1', 'b1', 'a-marker']);
    expect(payloads(exactGot)).toEqual(['a1', 'a-marker']);
  });

  test('mqtt5 subscription options - an exact filter that matched together with a wildcard, once unsubscribed, gets nothing more [MQTT-3.10.4-1]', async () => {
    const { base, exact, exactGot, pub } = await overlap();
    await exact.unsubscribeAsync(`${base}/a`);
    await exact.subscribeAsync(`marker/${base}`, { qos: 1 });
    await pub.publishAsync(`${base}/a`, 'a2', { qos: 1 });
    await pub.publishAsync(`${base}/b`, 'b2', { qos: 1 });
    // the publisher's messages reach `exact` in order: the marker comes after anything a2 or b2 caused
    await pub.publishAsync(`marker/${base}`, 'marker', { qos: 1 });
    await until(exactGot, 'marker');
    expect(payloads(exactGot)).toEqual(['a1', 'marker']);
  });
});

describe('mqtt5 subscription options - MQTT 3.1.1 clients', () => {
  test('mqtt5 subscription options - 3.1.1 clients keep working: own publishes come back, RETAIN is cleared on live messages and set on SUBSCRIBE, retained at every SUBSCRIBE (options asked for are ignored)', async () => {
    const topic = `v311/${uid()}/state`;
    const pub = await client(5);
    await pub.publishAsync(topic, 'kept', { qos: 1, retain: true });
    const c = await client(4);
    const got = collect(c);
    // MQTT.js does not put v5 options on a 3.1.1 SUBSCRIBE; the server would not apply them either
    await c.subscribeAsync(topic, { qos: 1, nl: true, rap: true, rh: 2 });
    await until(got, 'kept');
    await c.publishAsync(topic, 'own', { qos: 1 });
    await until(got, 'own');
    await pub.publishAsync(topic, 'live-retained', { qos: 1, retain: true });
    await until(got, 'live-retained');
    await c.subscribeAsync(topic, { qos: 1, rh: 1 });
    await pub.publishAsync(topic, 'marker', { qos: 0 });
    await until(got, 'marker');
    expect(got.map((g) => [g.payload, g.retain, g.qos])).toEqual([
      ['kept', true, 1],
      ['own', false, 1],
      // [MQTT-3.3.1-9] (3.1.1): RETAIN 0 for a message sent to an established subscription
      ['live-retained', false, 1],
      ['live-retained', true, 1],
      ['marker', false, 0],
    ]);
    expect(got.every((g) => g.packet.properties === undefined)).toBe(true);
  });
});
