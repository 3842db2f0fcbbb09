/**
 * MQTT 5 message properties through the relay (docs/mqtt.md, "MQTT 5 features"): User
 * Properties, Response Topic, Correlation Data, Content Type and Payload Format Indicator are
 * forwarded unaltered [MQTT-3.3.2-15..20]; request/response with Debian's mosquitto_rr; Message
 * Expiry while queued for a persistent session [MQTT-3.3.2-5], [MQTT-3.3.2-6]; the will's
 * properties. Clients: MQTT.js v5, mosquitto_rr, and a raw socket where mqtt-packet cannot show
 * the wire order of User Properties.
 */
import { describe, expect, test } from 'bun:test';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { decodePublish5, encodePublish5, RawFrames, type WireProperty } from '../helpers/mqtt5-wire.ts';
import { useStack } from '../helpers/stack.ts';
import { sleep, waitFor } from '../helpers/wait.ts';
import { runCommand } from '../helpers/run-command.ts';

const stack = useStack();

const uid = () => Math.random().toString(36).slice(2, 10);
const url = () => `mqtt://127.0.0.1:${stack.server.mqttPort}`;

async function client(opts: IClientOptions = {}): Promise<MqttClient> {
  const c = stack.track(await mqtt.connectAsync(url(), { protocolVersion: 5, reconnectPeriod: 0, ...opts }));
  c.on('error', () => {});
  return c;
}

type Got = { topic: string; payload: string; packet: IPublishPacket };

function collect(c: MqttClient): Got[] {
  const got: Got[] = [];
  c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), packet }));
  return got;
}

describe('mqtt5 properties - forwarded unaltered', () => {
  test('mqtt5 properties - user properties (a repeated name too), response topic, correlation data, content type and payload format indicator reach subscribers unaltered at QoS 0, 1 and 2 [MQTT-3.3.2-15..20]', async () => {
    const base = `props/${uid()}`;
    const sub = await client();
    const got = collect(sub);
    await sub.subscribeAsync(`${base}/#`, { qos: 2 });
    const pub = await client();
    const properties = {
      payloadFormatIndicator: true,
      contentType: 'application/json; charset=utf-8',
      responseTopic: `${base}/reply/ünï`,
      // binary, not UTF-8: forwarded byte for byte
      correlationData: Buffer.from([0x00, 0xff, 0x10, 0x80, 0x7f, 0xc3]),
      userProperties: { site: 'plant-7', tag: ['a', 'b', 'c'], 'ünï-cödé': 'välüe €', empty: '' },
    };
    for (const qos of [0, 1, 2] as const) await pub.publishAsync(`${base}/q${qos}`, JSON.stringify({ qos }), { qos, properties });
    await waitFor(() => got.length >= 3, 5000, 'three relayed messages');
    for (const qos of [0, 1, 2] as const) {
      const m = got.find((g) => g.topic === `${base}/q${qos}`);
      expect(m).toBeDefined();
      expect(m!.packet.qos).toBe(qos);
      expect(m!.payload).toBe(JSON.stringify({ qos }));
      // exactly what was published: nothing lost, changed or added
      expect(m!.packet.properties).toEqual(properties);
    }
    expect(got.length).toBe(3);
  });

  test('mqtt5 properties - user properties keep their wire order, a name repeated between others included [MQTT-3.3.2-18]', async () => {
    // mqtt-packet (MQTT.js) folds a repeated name into an array, losing the interleaving: raw sockets on both sides
    const topic = `props/${uid()}/order`;
    const sub = await RawFrames.connected(stack.server.mqttPort, `order-sub-${uid()}`);
    sub.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 1 }] });
    await sub.next(9); // SUBACK
    const pub = await RawFrames.connected(stack.server.mqttPort, `order-pub-${uid()}`);
    const userProperties: Extract<WireProperty, { id: 'userProperty' }>[] = [
      { id: 'userProperty', name: 'a', value: '1' },
      { id: 'userProperty', name: 'b', value: '2' },
      { id: 'userProperty', name: 'a', value: '3' },
      { id: 'userProperty', name: 'c', value: '4' },
      { id: 'userProperty', name: 'b', value: '5' },
    ];
    pub.write(encodePublish5({ topic, payload: 'ordered', qos: 1, packetId: 1, properties: [{ id: 'contentType', value: 'text/plain' }, ...userProperties] }));
    await pub.next(4); // PUBACK
    const received = decodePublish5(await sub.next(3));
    expect(received.payload.toString()).toBe('ordered');
    expect(received.properties.filter((p) => p.id === 'userProperty')).toEqual(userProperties);
    sub.close();
    pub.close();
  });
});

describe('mqtt5 properties - request / response', () => {
  test('mqtt5 properties - mosquitto_rr gets the answer of an MQTT.js responder that replies on the Response Topic with the Correlation Data', async () => {
    const base = `rr/${uid()}`;
    const responder = await client();
    const requests: IPublishPacket[] = [];
    responder.on('message', (_topic, payload, packet) => {
      requests.push(packet);
      const responseTopic = packet.properties?.responseTopic;
      if (responseTopic === undefined) return;
      const correlationData = packet.properties?.correlationData;
      responder.publish(responseTopic, `echo:${payload}`, { qos: 1, properties: correlationData === undefined ? {} : { correlationData } });
    });
    await responder.subscribeAsync(`${base}/request`, { qos: 1 });

    // as in the README: the response topic is all mosquitto_rr sets
    const plain = await runCommand('mosquitto_rr', ['-V', 'mqttv5', '-p', String(stack.server.mqttPort), '-t', `${base}/request`, '-e', `${base}/response`, '-m', 'hello', '-W', '5']);
    expect({ code: plain.code, stdout: plain.stdout, stderr: plain.stderr }).toEqual({ code: 0, stdout: 'echo:hello\n', stderr: '' });
    expect(requests[0]?.properties?.responseTopic).toBe(`${base}/response`);

    // with Correlation Data: the responder saw it and handed it back (%D prints the response's)
    const correlated = await runCommand('mosquitto_rr', ['-V', 'mqttv5', '-p', String(stack.server.mqttPort), '-t', `${base}/request`, '-e', `${base}/response2`, '-m', 'again', '-W', '5', '-D', 'publish', 'correlation-data', 'req-42', '-F', '%p|%D']);
    expect({ code: correlated.code, stdout: correlated.stdout, stderr: correlated.stderr }).toEqual({ code: 0, stdout: 'echo:again|req-42\n', stderr: '' });
    expect(requests[1]?.properties?.responseTopic).toBe(`${base}/response2`);
    expect(requests[1]?.properties?.correlationData?.toString()).toBe('req-42');
  });
});

describe('mqtt5 properties - message expiry', () => {
  test('mqtt5 properties - a message that expires while queued for a persistent session is not delivered; one that does not comes with a smaller remaining interval [MQTT-3.3.2-5], [MQTT-3.3.2-6]', async () => {
    const id = `expiry-${uid()}`;
    const base = `expiry/${uid()}`;
    const first = await client({ clientId: id, clean: false, properties: { sessionExpiryInterval: 60 } });
    await first.subscribeAsync(`${base}/#`, { qos: 1 });
    await first.endAsync();

    const expiredBefore = (await stack.server.metric('mqtt_messages_dropped_total{reason="expired"}')) ?? 0;
    const pub = await client();
    await pub.publishAsync(`${base}/short`, 'short-lived', { qos: 1, properties: { messageExpiryInterval: 1 } });
    const shortAckedAt = Date.now(); // the server stamped it before this PUBACK
    await pub.publishAsync(`${base}/long`, 'long-lived', { qos: 1, properties: { messageExpiryInterval: 60 } });
    // expiry is a matter of time, not of an event: wait until the short message's 1 s has
    // certainly run out (1.5 s after its PUBACK) while it sits in the queue
    await sleep(Math.max(0, shortAckedAt + 1500 - Date.now()));
    await pub.publishAsync(`${base}/marker`, 'marker', { qos: 1 });

    const back = stack.track(mqtt.connect(url(), { clientId: id, clean: false, protocolVersion: 5, reconnectPeriod: 0, properties: { sessionExpiryInterval: 0 } }));
    back.on('error', () => {});
    let sessionPresent: boolean | undefined;
    back.on('connect', (ack) => (sessionPresent = ack.sessionPresent));
    const got = collect(back);
    await waitFor(() => got.some((g) => g.payload === 'marker'), 5000, 'the marker published last');
    expect(sessionPresent).toBe(true);
    expect(got.map((g) => g.payload)).toEqual(['long-lived', 'marker']);
    const remaining = got[0]!.packet.properties?.messageExpiryInterval;
    expect(remaining).toBeDefined();
    expect(remaining!).toBeLessThan(60);
    expect(remaining!).toBeGreaterThanOrEqual(45);
    expect(got[1]!.packet.properties?.messageExpiryInterval).toBeUndefined();
    expect(await stack.server.metric('mqtt_messages_dropped_total{reason="expired"}')).toBe(expiredBefore + 1);
  });
});

describe('mqtt5 properties - will', () => {
  test("mqtt5 properties - a will's properties (user properties, content type, payload format, response topic, correlation data, expiry) are forwarded with it", async () => {
    const base = `will/${uid()}`;
    const watcher = await client();
    const got = collect(watcher);
    await watcher.subscribeAsync(`${base}/status`, { qos: 1 });
    const willProperties = {
      contentType: 'text/plain',
      payloadFormatIndicator: true,
      responseTopic: `${base}/ask`,
      correlationData: Buffer.from([1, 2, 3, 0xfe]),
      userProperties: { reason: 'lost', zone: ['north', 'east'] },
    };
    const device = await client({
      clientId: `will-dev-${uid()}`,
      will: { topic: `${base}/status`, payload: Buffer.from('offline'), qos: 1, retain: false, properties: { ...willProperties, messageExpiryInterval: 30 } },
    });
    device.stream.destroy(); // vanished: no DISCONNECT
    await waitFor(() => got.length >= 1, 5000, 'the will');
    expect(got[0]!.payload).toBe('offline');
    const { messageExpiryInterval, ...forwarded } = got[0]!.packet.properties ?? {};
    expect(forwarded).toEqual(willProperties);
    // the will's expiry runs from when it is published: what is left of 30 s
    expect(messageExpiryInterval).toBeDefined();
    expect(messageExpiryInterval!).toBeLessThanOrEqual(30);
    expect(messageExpiryInterval!).toBeGreaterThanOrEqual(27);
  });
});
