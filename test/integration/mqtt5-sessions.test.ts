/**
 * Sessions and wills over time (docs/mqtt.md, "MQTT 5 features" and "Bounds"): the Will Delay
 * Interval [MQTT-3.1.3-9] (published after its delay, at the end of the session if that comes
 * first [MQTT-3.1.2-8], not at all when the client comes back in time), the Session Expiry
 * Interval changed on DISCONNECT (MQTT 5 §3.14.2.2.2), MQTT_MAX_SESSION_EXPIRY_S for v5 and
 * 3.1.1 sessions, and a persistent session's queue delivered whole and in order within the
 * client's Receive Maximum [MQTT-3.3.4-9].
 *
 * Timing assertions have wide bounds (2 noisy cores); where a test must wait for time to pass
 * (an expiry, a delay) the sleep says so.
 */
import { describe, expect, test } from 'bun:test';
import mqtt, { type IClientOptions, type IConnackPacket, type MqttClient } from 'mqtt';
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { useStack } from '../helpers/stack.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

/** The session expiry cap of this file's server (seconds). */
const MAX_EXPIRY_S = 4;
const stack = useStack({ MQTT_MAX_SESSION_EXPIRY_S: String(MAX_EXPIRY_S) });

const uid = () => Math.random().toString(36).slice(2, 10);
const port = () => stack.server.mqttPort;

/** An MQTT.js client and its CONNACK. */
function connect(opts: IClientOptions = {}): Promise<{ c: MqttClient; ack: IConnackPacket }> {
  return new Promise((resolve, reject) => {
    const c = stack.track(mqtt.connect(`mqtt://127.0.0.1:${port()}`, { protocolVersion: 5, reconnectPeriod: 0, ...opts }));
    c.on('error', () => {});
    c.once('connect', (ack) => resolve({ c, ack }));
    c.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

type Got = { payload: string; at: number };

async function watcher(topic: string): Promise<{ c: MqttClient; got: Got[] }> {
  const { c } = await connect();
  const got: Got[] = [];
  c.on('message', (_t, payload) => got.push({ payload: payload.toString(), at: Date.now() }));
  await c.subscribeAsync(topic, { qos: 1 });
  return { c, got };
}

/** A raw v5 or 3.1.1 CONNECT; returns the client and its CONNACK. */
async function rawConnect(version: 4 | 5, clientId: string, clean: boolean, properties?: Record<string, number>) {
  const c = await RawMqtt.open(port(), version);
  c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clean, clientId, keepalive: 60, ...(properties ? { properties } : {}) } as Packet);
  const ack = (await c.next('connack')) as { sessionPresent?: boolean; reasonCode?: number; returnCode?: number; properties?: { sessionExpiryInterval?: number } };
  return { c, ack };
}

describe('mqtt5 sessions - Will Delay Interval', () => {
  test('mqtt5 sessions - a will with a 2 s delay is published about 2 s after the connection drops, not at once [MQTT-3.1.3-9]', async () => {
    const topic = `will/${uid()}`;
    const w = await watcher(topic);
    const { c: device } = await connect({
      clientId: `delayed-${uid()}`,
      properties: { sessionExpiryInterval: MAX_EXPIRY_S },
      will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 2 } },
    });
    const droppedAt = Date.now();
    device.stream.destroy(); // no DISCONNECT
    await waitFor(() => w.got.length >= 1, 8000, 'the delayed will');
    const after = w.got[0]!.at - droppedAt;
    expect(w.got[0]!.payload).toBe('gone');
    // 2 s, and before the session's end (4 s), which would publish it too
    expect(after).toBeGreaterThanOrEqual(1700);
    expect(after).toBeLessThan(3700);
  });

  test('mqtt5 sessions - a client that reconnects within the will delay (clean start 0) cancels the will: never published [MQTT-3.1.3-9]', async () => {
    const topic = `will/${uid()}`;
    const id = `comeback-${uid()}`;
    const w = await watcher(topic);
    const { c: device } = await connect({
      clientId: id,
      properties: { sessionExpiryInterval: MAX_EXPIRY_S },
      will: { topic, payload: Buffer.from('gone'), qos: 1, retain: false, properties: { willDelayInterval: 2 } },
    });
    const droppedAt = Date.now();
    device.stream.destroy();
    const { c: back, ack } = await connect({ clientId: id, clean: false, properties: { sessionExpiryInterval: MAX_EXPIRY_S } });
    expect(Date.now() - droppedAt).toBeLessThan(1500); // within the delay
    expect(ack.sessionPresent).toBe(true);
    // "never" can only be checked up to a time: until 1 s past the delay, then a marker
    // published after it orders anything the will timer would have sent before it
    await sleep(Math.max(0, droppedAt + 3000 - Date.now()));
    await back.publishAsync(topic, 'marker', { qos: 1 });
    await waitFor(() => w.got.some((g) => g.payload === 'marker'), 5000, 'marker');
    expect(w.got.map((g) => g.payload)).toEqual(['marker']);
    await back.endAsync();
  });

  test('mqtt5 sessions - Session Expiry 1 s with Will Delay 5 s: the will comes when the session ends, at about 1 s [MQTT-3.1.2-8], [MQTT-3.1.3-9]', async () => {
    const topic = `will/${uid()}`;
    const w = await watcher(topic);
    const { c: device } = await connect({
      clientId: `short-${uid()}`,
      properties: { sessionExpiryInterval: 1 },
      will: { topic, payload: Buffer.from('session over'), qos: 1, retain: false, properties: { willDelayInterval: 5 } },
    });
    const droppedAt = Date.now();
    device.stream.destroy();
    await waitFor(() => w.got.length >= 1, 8000, 'the will at the end of the session');
    const after = w.got[0]!.at - droppedAt;
    expect(w.got[0]!.payload).toBe('session over');
    expect(after).toBeGreaterThanOrEqual(700);
    expect(after).toBeLessThan(3500); // far from the 5 s delay
  });
});

describe('mqtt5 sessions - Session Expiry Interval on DISCONNECT', () => {
  test('mqtt5 sessions - CONNECT with expiry 1, DISCONNECT with 30: the session is still there after 2 s (MQTT 5 §3.14.2.2.2)', async () => {
    const id = `disc-longer-${uid()}`;
    const { c, ack } = await rawConnect(5, id, true, { sessionExpiryInterval: 1 });
    expect(ack.reasonCode).toBe(0);
    c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    await c.waitClosed();
    // the point is the time: past the 1 s asked at CONNECT, within the 30 s (capped to 4) of DISCONNECT
    await sleep(2000);
    const again = await rawConnect(5, id, false, { sessionExpiryInterval: 0 });
    expect(again.ack.sessionPresent).toBe(true);
    again.c.end();
  });

  test('mqtt5 sessions - DISCONNECT with expiry 0 ends the session at once', async () => {
    const id = `disc-zero-${uid()}`;
    const { c } = await rawConnect(5, id, true, { sessionExpiryInterval: MAX_EXPIRY_S });
    c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `gone/${id}`, qos: 1 }] });
    await c.next('suback');
    c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await c.waitClosed();
    const again = await rawConnect(5, id, false, { sessionExpiryInterval: 0 });
    expect(again.ack.sessionPresent).toBe(false);
    again.c.end();
  });

  test('mqtt5 sessions - CONNECT with expiry 0 then DISCONNECT with a non-zero expiry: the server answers DISCONNECT 0x82 (MQTT 5 §3.14.2.2.2)', async () => {
    const { c } = await rawConnect(5, `disc-bad-${uid()}`, true, { sessionExpiryInterval: 0 });
    c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    const answer = (await c.next('disconnect')) as { reasonCode?: number };
    expect(answer.reasonCode).toBe(0x82);
    expect(await c.waitClosed()).toBe(true);
  });
});

describe('mqtt5 sessions - MQTT_MAX_SESSION_EXPIRY_S', () => {
  test(`mqtt5 sessions - a v5 client asking 3600 s is told ${MAX_EXPIRY_S} s in CONNACK (counted); one asking less gets what it asked, no property`, async () => {
    const before = (await stack.server.metric('mqtt_bounds_hit_total{bound="session_expiry"}')) ?? 0;
    const { c, ack } = await rawConnect(5, `cap-${uid()}`, true, { sessionExpiryInterval: 3600 });
    expect(ack.reasonCode).toBe(0);
    expect(ack.properties?.sessionExpiryInterval).toBe(MAX_EXPIRY_S);
    expect(await stack.server.metric('mqtt_bounds_hit_total{bound="session_expiry"}')).toBe(before + 1);
    c.end();
    const { c: under, ack: underAck } = await rawConnect(5, `cap-${uid()}`, true, { sessionExpiryInterval: 2 });
    expect(underAck.properties?.sessionExpiryInterval).toBeUndefined();
    under.end();
  });

  test(`mqtt5 sessions - a 3.1.1 clean session 0 (and a capped v5 one) is kept for ${MAX_EXPIRY_S} s: present before, gone after`, async () => {
    const v4 = `v311-${uid()}`;
    const v5 = `v5-${uid()}`;
    const first = await rawConnect(4, v4, false);
    expect(first.ack.sessionPresent).toBe(false);
    first.c.send({ cmd: 'disconnect' });
    await first.c.waitClosed();
    // half the cap later: still there
    await sleep((MAX_EXPIRY_S * 1000) / 2);
    const present = await rawConnect(4, v4, false);
    expect(present.ack.sessionPresent).toBe(true);
    present.c.send({ cmd: 'disconnect' });
    const capped = await rawConnect(5, v5, true, { sessionExpiryInterval: 3600 });
    capped.c.send({ cmd: 'disconnect', reasonCode: 0 });
    await present.c.waitClosed();
    await capped.c.waitClosed();
    // the cap plus a second: both sessions' time is up (each has its own timer)
    await sleep(MAX_EXPIRY_S * 1000 + 1000);
    const gone = await rawConnect(4, v4, false);
    expect(gone.ack.sessionPresent).toBe(false);
    gone.c.end();
    const goneV5 = await rawConnect(5, v5, false, { sessionExpiryInterval: 0 });
    expect(goneV5.ack.sessionPresent).toBe(false);
    goneV5.c.end();
  });
});

describe('mqtt5 sessions - queued messages of a persistent session', () => {
  const COUNT = 100;

  /** Publishes COUNT QoS 1 messages to `topic/{i}` (payload `m{i}`) and waits for every PUBACK. */
  async function publishAll(base: string): Promise<void> {
    const pub = await RawMqtt.connected(port(), 4);
    for (let i = 1; i <= COUNT; i++) pub.send({ cmd: 'publish', topic: `${base}/${i}`, payload: Buffer.from(`m${i}`), qos: 1, messageId: i, retain: false, dup: false });
    for (let i = 1; i <= COUNT; i++) await pub.next('puback');
    pub.end();
  }

  /**
   * Takes the session's messages, acknowledging each batch once it has as many as the window
   * allows; returns the payloads in arrival order and the most seen unacknowledged at once.
   */
  async function receiveAll(c: RawMqtt, window: number): Promise<{ payloads: string[]; maxUnacked: number; dups: number }> {
    const payloads: string[] = [];
    let maxUnacked = 0;
    let dups = 0;
    while (payloads.length < COUNT) {
      const want = Math.min(window, COUNT - payloads.length);
      await waitFor(() => c.packets.filter((p) => p.cmd === 'publish').length >= want, 5000, `${want} more messages (${payloads.length} of ${COUNT} so far)`);
      const batch = c.packets.filter((p) => p.cmd === 'publish') as IPublishPacket[];
      c.packets.splice(0, c.packets.length, ...c.packets.filter((p) => p.cmd !== 'publish'));
      maxUnacked = Math.max(maxUnacked, batch.length);
      for (const m of batch) {
        payloads.push(m.payload.toString());
        if (m.dup) dups++;
        c.send({ cmd: 'puback', messageId: m.messageId! });
      }
    }
    return { payloads, maxUnacked, dups };
  }

  const expected = Array.from({ length: COUNT }, (_, i) => `m${i + 1}`);

  test(`mqtt5 sessions - a v5 session (Receive Maximum 20) away while ${COUNT} QoS 1 messages are published gets all ${COUNT}, in order, never more than 20 unacknowledged [MQTT-3.3.4-9]`, async () => {
    const id = `rm20-${uid()}`;
    const base = `rm/${uid()}`;
    const droppedBefore = (await stack.server.metric('mqtt_messages_dropped_total{reason="session_queue_full"}')) ?? 0;
    const props = { sessionExpiryInterval: MAX_EXPIRY_S, receiveMaximum: 20 };
    const first = await rawConnect(5, id, true, props);
    first.c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/#`, qos: 1 }] });
    await first.c.next('suback');
    first.c.send({ cmd: 'disconnect', reasonCode: 0 });
    await first.c.waitClosed();
    await publishAll(base);
    const back = await rawConnect(5, id, false, props);
    expect(back.ack.sessionPresent).toBe(true);
    const { payloads, maxUnacked, dups } = await receiveAll(back.c, 20);
    expect(payloads).toEqual(expected);
    expect(maxUnacked).toBe(20); // the window was used, and never exceeded
    expect(dups).toBe(0);
    expect((await stack.server.metric('mqtt_messages_dropped_total{reason="session_queue_full"}')) ?? 0).toBe(droppedBefore);
    back.c.send({ cmd: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
  });

  test(`mqtt5 sessions - a 3.1.1 clean session 0 away while ${COUNT} QoS 1 messages are published gets all ${COUNT}, in order`, async () => {
    const id = `v311-q-${uid()}`;
    const base = `rm/${uid()}`;
    const first = await rawConnect(4, id, false);
    first.c.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `${base}/#`, qos: 1 }] });
    await first.c.next('suback');
    first.c.send({ cmd: 'disconnect' });
    await first.c.waitClosed();
    await publishAll(base);
    const back = await rawConnect(4, id, false);
    expect(back.ack.sessionPresent).toBe(true);
    const { payloads, dups } = await receiveAll(back.c, COUNT);
    expect(payloads).toEqual(expected);
    expect(dups).toBe(0);
    back.c.end();
  });
});
