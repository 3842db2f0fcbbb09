/**
 * Live delivery to MQTT subscribers: readings from HTTP and MQTT on every instance, relay
 * topics, retained messages, wills.
 */
import { beforeAll, describe, expect, test } from 'bun:test';
import { spawn } from 'node:child_process';
import mqtt from 'mqtt';
import { reading } from '../fixtures/readings.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import type { ServerProcess } from '../helpers/spawn-server.ts';
import { useStack } from '../helpers/stack.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

// two instances on one Redis
const stack = useStack({}, { servers: 2 });
let a: ServerProcess;
let b: ServerProcess;
beforeAll(() => {
  [a, b] = stack.servers as [ServerProcess, ServerProcess];
});

/**
 * Waits until readings flow to `subs`, whose filters match readings: an instance listens to
 * sensor-events once its first client subscribes to readings, so a probe reading is posted on
 * `via` (every 200 ms until one arrives everywhere) and the subscribers' lists are cleared.
 */
async function live(subs: { got: { topic: string }[] }[], via: ServerProcess): Promise<void> {
  const probe = reading();
  await waitFor(async () => {
    if (subs.every((s) => s.got.some((g) => g.topic.includes(probe.device_id as string)))) return true;
    // the same reading each time: dedupe stores it once, and a 409 means it is already in
    await via.post('/api/v1/sensor-data', probe);
    return false;
  }, 5000, 'readings flowing to the subscribers');
  for (const s of subs) s.got.length = 0;
}

async function subscriber(server: ServerProcess, filter: string, version: 4 | 5 = 4) {
  const c = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { protocolVersion: version, reconnectPeriod: 0 }));
  const got: { topic: string; payload: string; retain: boolean }[] = [];
  c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
  await c.subscribeAsync(filter, { qos: 1 });
  return { c, got };
}

describe('mqtt - live delivery', () => {
  test('mqtt - readings accepted over HTTP and MQTT on either instance reach subscribers on both, once each', async () => {
    const onA = await subscriber(a, 'neurobuild/sensors/#');
    const onB = await subscriber(b, 'neurobuild/sensors/+/data', 5);
    await live([onA, onB], b);
    const viaHttp = reading();
    const viaMqtt = reading();
    expect((await b.post('/api/v1/sensor-data', viaHttp)).status).toBe(202);
    const pub = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${a.mqttPort}`, { reconnectPeriod: 0 }));
    await pub.publishAsync(`neurobuild/sensors/${viaMqtt.device_id}/data`, JSON.stringify(viaMqtt), { qos: 1 });
    // a marker after both: pub/sub keeps order, so a copy of either would arrive before it
    const marker = reading();
    expect((await a.post('/api/v1/sensor-data', marker)).status).toBe(202);
    for (const s of [onA, onB]) {
      await waitFor(() => s.got.some((g) => g.topic.includes(marker.device_id as string)), 5000, 'the marker');
      expect(s.got.map((g) => g.topic).filter((t) => !t.includes(marker.device_id as string)).sort()).toEqual([`neurobuild/sensors/${viaHttp.device_id}/data`, `neurobuild/sensors/${viaMqtt.device_id}/data`].sort());
      const data = JSON.parse(s.got.find((g) => g.topic.includes(viaHttp.device_id as string))!.payload);
      expect(typeof data.message_id).toBe('string');
    }
  });

  test('mqtt - mosquitto_sub receives readings ingested over HTTP', async () => {
    const sub = spawn('mosquitto_sub', ['-p', String(a.mqttPort), '-t', 'neurobuild/sensors/#', '-C', '1', '-W', '5'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    sub.stdout.on('data', (d) => (out += d));
    let done = false;
    const exited = new Promise((res) => sub.on('exit', res)).then(() => (done = true));
    // mosquitto_sub says nothing when its SUBACK arrives: readings are posted until it has one (-C 1)
    const posted = new Set<string>();
    await waitFor(async () => {
      if (done) return true;
      const one = reading();
      posted.add(one.device_id as string);
      expect((await a.post('/api/v1/sensor-data', one)).status).toBe(202);
      return false;
    }, 5000, 'mosquitto_sub to receive a reading');
    await exited;
    expect(posted.has(JSON.parse(out).device_id)).toBe(true);
  });

  test('mqtt - any other topic is relayed between clients', async () => {
    const s = await subscriber(a, 'lab/#');
    const pub = await RawMqtt.connected(a.mqttPort, 4);
    pub.send({ cmd: 'publish', topic: 'lab/temperature', payload: Buffer.from('21.5'), qos: 1, messageId: 1, retain: false, dup: false });
    await pub.next('puback');
    await waitFor(() => s.got.length === 1, 3000, 'relayed message');
    expect(s.got[0]).toMatchObject({ topic: 'lab/temperature', payload: '21.5' });
    pub.end();
  });
});

test('mqtt - a refused reading is not delivered, an accepted one is', async () => {
  const s = await subscriber(a, 'neurobuild/sensors/#');
  await live([s], a);
  const bad = reading({ sensors: { ld2410: { presence: true, distance: 9999, energy: 1 } } });
  const good = reading();
  const pub = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${a.mqttPort}`, { reconnectPeriod: 0 }));
  await pub.publishAsync(`neurobuild/sensors/${bad.device_id}/data`, JSON.stringify(bad), { qos: 1 });
  await pub.publishAsync(`neurobuild/sensors/${good.device_id}/data`, JSON.stringify(good), { qos: 1 });
  // the bad one was refused (PUBACK) before the good one was sent: had it been relayed, it would be first
  await waitFor(() => s.got.some((g) => g.topic.includes(good.device_id as string)), 3000, 'accepted reading');
  expect(s.got.some((g) => g.topic.includes(bad.device_id as string))).toBe(false);
});

describe('mqtt - retained and will', () => {
  test('mqtt - a retained status reaches later subscribers; an empty retained payload clears it', async () => {
    const dev = `retain-${Date.now()}`;
    const pub = await RawMqtt.connected(a.mqttPort, 4);
    pub.send({ cmd: 'publish', topic: `neurobuild/sensors/${dev}/status`, payload: Buffer.from('online'), qos: 1, messageId: 1, retain: true, dup: false });
    await pub.next('puback');
    const late = await subscriber(a, 'neurobuild/sensors/+/status');
    await waitFor(() => late.got.some((g) => g.topic.includes(dev)), 3000, 'retained status');
    expect(late.got.find((g) => g.topic.includes(dev))).toMatchObject({ payload: 'online', retain: true });
    pub.send({ cmd: 'publish', topic: `neurobuild/sensors/${dev}/status`, payload: Buffer.alloc(0), qos: 1, messageId: 2, retain: true, dup: false });
    await pub.next('puback');
    const later = await subscriber(a, `neurobuild/sensors/${dev}/status`);
    // retained messages are sent with the SUBACK, so anything retained would come before a message published now
    pub.send({ cmd: 'publish', topic: `neurobuild/sensors/${dev}/status`, payload: Buffer.from('marker'), qos: 1, messageId: 3, retain: false, dup: false });
    await pub.next('puback');
    await waitFor(() => later.got.length > 0, 3000, 'the marker');
    expect(later.got.map((g) => g.payload)).toEqual(['marker']);
    pub.end();
  });

  test('mqtt - the will sets the status offline when a device vanishes, not when it disconnects', async () => {
    const dev = `will-${Date.now()}`;
    const statusTopic = `neurobuild/sensors/${dev}/status`;
    const watcher = await subscriber(a, statusTopic);
    const device = await RawMqtt.open(a.mqttPort, 4);
    device.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: dev, keepalive: 30, will: { topic: statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true } });
    await device.next('connack');
    device.end(); // vanished: no DISCONNECT
    await waitFor(() => watcher.got.length === 1, 3000, 'will message');
    expect(watcher.got[0]).toMatchObject({ payload: 'offline' });
    const late = await subscriber(a, statusTopic);
    await waitFor(() => late.got.length === 1, 3000, 'retained will');

    const polite = await RawMqtt.open(a.mqttPort, 4);
    polite.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `${dev}-p`, keepalive: 30, will: { topic: statusTopic, payload: Buffer.from('gone'), qos: 1, retain: false } });
    await polite.next('connack');
    polite.send({ cmd: 'disconnect' });
    await polite.waitClosed();
    // a will would be published when the connection closed, before a message published after it
    const after = await RawMqtt.connected(a.mqttPort, 4);
    after.send({ cmd: 'publish', topic: statusTopic, payload: Buffer.from('marker'), qos: 1, messageId: 1, retain: false, dup: false });
    await after.next('puback');
    await waitFor(() => watcher.got.length === 2, 3000, 'the marker');
    expect(watcher.got.map((g) => g.payload)).toEqual(['offline', 'marker']);
    after.end();
  });
});

describe('mqtt - persistent sessions', () => {
  test('mqtt - a persistent session (v3.1.1 clean session 0) gets the QoS 1 messages published while it was away', async () => {
    const id = `persistent-${Date.now()}`;
    const first = await mqtt.connectAsync(`mqtt://127.0.0.1:${a.mqttPort}`, { clientId: id, clean: false, reconnectPeriod: 0 });
    await first.subscribeAsync('alerts/#', { qos: 1 });
    await first.endAsync();
    const pub = await RawMqtt.connected(a.mqttPort, 4);
    for (let i = 1; i <= 3; i++) {
      pub.send({ cmd: 'publish', topic: `alerts/gas/${i}`, payload: Buffer.from(`m${i}`), qos: 1, messageId: i, retain: false, dup: false });
      await pub.next('puback');
    }
    pub.end();
    const back = await RawMqtt.open(a.mqttPort, 4);
    back.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, clientId: id, keepalive: 30 });
    const ack = (await back.next('connack')) as { sessionPresent?: boolean };
    expect(ack.sessionPresent).toBe(true);
    const got: string[] = [];
    for (let i = 0; i < 3; i++) {
      const m = (await back.next('publish')) as { payload: Buffer; qos: number; messageId: number };
      got.push(m.payload.toString());
      expect(m.qos).toBe(1);
      back.send({ cmd: 'puback', messageId: m.messageId });
    }
    expect(got).toEqual(['m1', 'm2', 'm3']);
    back.end();
  });

  test('mqtt - v5 session expiry: kept within the interval, gone after it; clean start discards it', async () => {
    const id = `v5-expiry-${Date.now()}`;
    const connect = async (cleanStart: boolean, expiry: number) => {
      const c = await RawMqtt.open(a.mqttPort, 5);
      c.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: cleanStart, clientId: id, keepalive: 30, properties: { sessionExpiryInterval: expiry } });
      return { c, ack: (await c.next('connack')) as { sessionPresent?: boolean } };
    };
    // in turn: clean start, session expiry, whether the session is there, time to let pass after the connection closed
    const steps: [boolean, number, boolean, number][] = [
      [true, 1, false, 0],
      [false, 1, true, 2600], // the expiry under test: 1 s + the once-a-second sweep
      [false, 1, false, 0],
      [true, 0, false, 0],
    ];
    for (const [cleanStart, expiry, present, afterMs] of steps) {
      const { c, ack } = await connect(cleanStart, expiry);
      expect(ack.sessionPresent).toBe(present);
      // DISCONNECT (the session stays for its expiry): the server closing the socket says it has let go of the connection
      c.send({ cmd: 'disconnect', reasonCode: 0 });
      await c.waitClosed();
      if (afterMs > 0) await sleep(afterMs);
    }
  });
});

describe('mqtt - v5 message properties', () => {
  test('mqtt - message expiry: the remaining interval is forwarded, an expired retained message is gone', async () => {
    const topicName = `expiring/${Date.now()}`;
    const pub = await RawMqtt.connected(a.mqttPort, 5);
    pub.send({ cmd: 'publish', topic: topicName, payload: Buffer.from('soon gone'), qos: 1, messageId: 1, retain: true, dup: false, properties: { messageExpiryInterval: 1, contentType: 'text/plain' } });
    await pub.next('puback');
    const storedAt = Date.now();
    const early = await RawMqtt.connected(a.mqttPort, 5);
    early.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: topicName, qos: 1 }] });
    const m = (await early.next('publish')) as { properties?: { messageExpiryInterval?: number; contentType?: string } };
    expect(m.properties?.messageExpiryInterval).toBe(1);
    expect(m.properties?.contentType).toBe('text/plain');
    // the expiry under test: 1 s after the server took it (before its PUBACK), and a little
    await sleep(Math.max(0, storedAt + 1200 - Date.now()));
    const late = await RawMqtt.connected(a.mqttPort, 5);
    late.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: topicName, qos: 1 }] });
    await late.next('suback');
    // a retained message would come with the SUBACK, before a message published now
    pub.send({ cmd: 'publish', topic: topicName, payload: Buffer.from('marker'), qos: 1, messageId: 2, retain: false, dup: false });
    await pub.next('puback');
    const next = (await late.next('publish')) as { payload: Buffer };
    expect(next.payload.toString()).toBe('marker');
    for (const c of [pub, early, late]) c.end();
  });
});
