/**
 * MQTT 5 flow control (docs/mqtt.md, "MQTT 5 features" and "Bounds"): the client's Receive
 * Maximum [MQTT-3.3.4-9] (a raw client, and mosquitto_sub's 20 under a burst of readings), the
 * server's Receive Maximum (0x93), the client's Maximum Packet Size [MQTT-3.1.2-25], and the
 * keep-alive of a connection the server stops reading while Redis is frozen.
 */
import { describe, expect, test } from 'bun:test';
import { spawn } from 'node:child_process';
import type { IDisconnectPacket, IPubackPacket } from 'mqtt-packet';
import { reading } from '../fixtures/readings.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { metricValue, publishQos1, publishes, rawConnect, rawSubscribe, roundTrip } from '../helpers/mqtt5.ts';
import { useStack } from '../helpers/stack.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

describe('mqtt5 flow - client limits', () => {
  // the session queue holds the whole burst below (the default MQTT_MAX_OFFLINE_MESSAGES, 1,000,
  // is a bound a 2,000-reading burst at ~10,000/s may legitimately exceed: see mqtt-bounds)
  const stack = useStack({ MQTT_MAX_OFFLINE_MESSAGES: '5000' });

  test('mqtt5 flow - Receive Maximum 2: two QoS 1 PUBLISHes of three, the third after a PUBACK [MQTT-3.3.4-9]', async () => {
    const { c: sub } = await rawConnect(stack.server.mqttPort, { properties: { receiveMaximum: 2 } });
    stack.track(sub);
    expect((await rawSubscribe(sub, [{ topic: 'flow/rm', qos: 1 }])).granted).toEqual([1]);
    const pub = stack.track(await RawMqtt.connected(stack.server.mqttPort, 4));
    for (const n of [1, 2, 3]) await publishQos1(pub, 'flow/rm', `m${n}`);
    // the third PUBACK to the publisher means all three were routed; whatever the subscriber
    // was sent for them has arrived once its own PINGREQ is answered
    await roundTrip(sub);
    const first = publishes(sub);
    expect(first.map((p) => p.payload.toString())).toEqual(['m1', 'm2']);
    expect(first.map((p) => p.qos)).toEqual([1, 1]);
    sub.send({ cmd: 'puback', messageId: first[0]!.messageId! });
    await waitFor(() => publishes(sub).length === 3, 5000, 'the third PUBLISH after a PUBACK');
    expect(publishes(sub)[2]!.payload.toString()).toBe('m3');
    await roundTrip(sub);
    expect(publishes(sub).length).toBe(3);
  });

  test('mqtt5 flow - mosquitto_sub -V mqttv5 -q 1 (Receive Maximum 20) gets every one of 2,000 readings ingested over HTTP', async () => {
    const total = 2000;
    const dropsBefore = await metricValue(stack.server, 'mqtt_messages_dropped_total{reason="session_queue_full"}');
    const subsBefore = await metricValue(stack.server, 'mqtt_subscriptions');
    const sub = spawn('mosquitto_sub', ['-V', 'mqttv5', '-q', '1', '-p', String(stack.server.mqttPort), '-t', 'neurobuild/sensors/#', '-C', String(total), '-W', '40'], { stdio: ['ignore', 'pipe', 'pipe'] });
    stack.cleanup(() => {
      if (sub.exitCode === null) sub.kill('SIGKILL');
    });
    let out = '';
    sub.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((res) => sub.on('exit', (code) => res(code)));
    // its subscription is in place before the first reading (its stdout is block-buffered: watch the server)
    await waitFor(async () => (await metricValue(stack.server, 'mqtt_subscriptions')) > subsBefore, 5000, 'mosquitto_sub subscribed');

    const readings = Array.from({ length: total }, () => reading());
    const batches = Array.from({ length: total / 100 }, (_, i) => readings.slice(i * 100, (i + 1) * 100));
    // 4 requests at a time: far faster than one subscriber acknowledging 20 at a time
    for (let i = 0; i < batches.length; i += 4) {
      const res = await Promise.all(batches.slice(i, i + 4).map((b) => stack.server.post('/api/v1/sensor-data/batch', b)));
      for (const r of res) expect(r.status).toBeLessThan(300);
    }
    const code = await exited;
    const ids = new Set<string>();
    const devices = new Set<string>();
    for (const line of out.split('\n')) {
      if (line === '') continue;
      const data = JSON.parse(line) as { message_id: string; device_id: string };
      ids.add(data.message_id);
      devices.add(data.device_id);
    }
    const dropped = (await metricValue(stack.server, 'mqtt_messages_dropped_total{reason="session_queue_full"}')) - dropsBefore;
    expect({ code, distinct: ids.size, devices: devices.size, dropped }).toEqual({ code: 0, distinct: total, devices: total, dropped: 0 });
    for (const r of readings) expect(devices.has(r.device_id as string)).toBe(true);
  }, 60_000);

  test('mqtt5 flow - Maximum Packet Size 200: the 400-byte message is not sent, the others are, in order; counted packet_too_large', async () => {
    const before = await metricValue(stack.server, 'mqtt_messages_dropped_total{reason="packet_too_large"}');
    const { c: sub } = await rawConnect(stack.server.mqttPort, { properties: { maximumPacketSize: 200 } });
    stack.track(sub);
    expect((await rawSubscribe(sub, [{ topic: 'flow/mps', qos: 1 }])).granted).toEqual([1]);
    const pub = stack.track(await RawMqtt.connected(stack.server.mqttPort, 4));
    const small = 's'.repeat(100);
    const large = 'L'.repeat(400);
    await publishQos1(pub, 'flow/mps', small);
    await publishQos1(pub, 'flow/mps', large);
    await publishQos1(pub, 'flow/mps', 'marker');
    await waitFor(() => publishes(sub).some((p) => p.payload.toString() === 'marker'), 5000, 'the marker');
    const got = publishes(sub);
    for (const p of got) sub.send({ cmd: 'puback', messageId: p.messageId! });
    expect(got.map((p) => p.payload.toString())).toEqual([small, 'marker']);
    expect(sub.closed).toBe(false);
    expect((await metricValue(stack.server, 'mqtt_messages_dropped_total{reason="packet_too_large"}')) - before).toBeGreaterThanOrEqual(1);
  });
});

describe('mqtt5 flow - server Receive Maximum', () => {
  // MQTT_RECEIVE_MAXIMUM=1: QoS 1/2 publishes per connection awaiting the queue (and a v5
  // client's unacknowledged publishes); Redis answers fail fast while frozen
  const stack = useStack({ MQTT_RECEIVE_MAXIMUM: '1', REDIS_COMMAND_TIMEOUT_MS: '300', MQTT_RETRY_MAX_DELAY_MS: '200' });

  test('mqtt5 flow - a v5 client keeping more QoS 2 publishes unreleased than MQTT_RECEIVE_MAXIMUM gets DISCONNECT 0x93', async () => {
    const { c, connack } = await rawConnect(stack.server.mqttPort);
    stack.track(c);
    expect(connack.properties?.receiveMaximum).toBe(1);
    const qos2 = (messageId: number) => c.send({ cmd: 'publish', topic: 'flow/qos2', payload: Buffer.from(`q${messageId}`), qos: 2, messageId, retain: false, dup: false });
    qos2(1);
    const rec = await c.next('pubrec');
    expect((rec as { messageId?: number }).messageId).toBe(1);
    expect(c.closed).toBe(false);
    // no PUBREL: the exchange of id 1 is still open, so a second QoS 2 publish is one too many
    qos2(2);
    const d = (await c.next('disconnect')) as IDisconnectPacket;
    expect(d.reasonCode).toBe(0x93);
    await c.waitClosed();
    expect(c.packets.filter((p) => p.cmd === 'pubrec')).toEqual([]);
  });

  test('mqtt5 flow - keep-alive 2 s while the server holds the connection (Redis frozen): PINGRESPs, still connected after 6 s, PUBACKs after Redis returns', async () => {
    const c = stack.track(await RawMqtt.connected(stack.server.mqttPort, 4, `ka-${Date.now()}`, 2));
    const one = reading();
    const two = reading();
    const publish = (r: Record<string, unknown>, messageId: number) =>
      c.send({ cmd: 'publish', topic: `neurobuild/sensors/${r.device_id}/data`, payload: Buffer.from(JSON.stringify(r)), qos: 1, messageId, retain: false, dup: false });
    await stack.redis.stop('SIGSTOP');
    try {
      // the first awaits the queue; the second waits for room (MQTT_RECEIVE_MAXIMUM=1), so the
      // server stops reading this socket: the PINGREQs behind it must still be answered
      publish(one, 1);
      publish(two, 2);
      const started = Date.now();
      let pings = 0;
      // a fixed span is the point here: 6 s is twice the 3 s (1.5 × keep-alive) after which the
      // server would drop a client it had not heard from; a PINGREQ every second as a device would
      while (Date.now() - started < 6000) {
        c.send({ cmd: 'pingreq' });
        await c.next('pingresp', 1500);
        pings++;
        await sleep(1000);
      }
      expect(pings).toBeGreaterThanOrEqual(5);
      expect(c.closed).toBe(false);
      expect(c.packets.filter((p) => p.cmd === 'puback' || p.cmd === 'disconnect')).toEqual([]);
    } finally {
      await stack.redis.stop('SIGCONT');
    }
    const acks = [(await c.next('puback', 15_000)) as IPubackPacket, (await c.next('puback', 15_000)) as IPubackPacket];
    expect(acks.map((a) => a.messageId).sort()).toEqual([1, 2]);
    expect(c.closed).toBe(false);
    const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
    const stored = rows.map(([, f]) => f[f.indexOf('device_id') + 1]);
    expect(stored).toContain(one.device_id as string);
    expect(stored).toContain(two.device_id as string);
  }, 40_000);
});
