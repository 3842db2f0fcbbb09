/**
 * MQTT over WebSocket (`/mqtt`, subprotocol `mqtt`): MQTT.js as a browser would use it,
 * served by the same MQTT connection code as TCP, on a real redis-stack.server. MQTT.js runs under
 * Node (its WebSocket transport needs the real `ws` package) through test/helpers/mqtt-node.ts.
 */
import { afterAll, expect, test } from 'bun:test';
import mqtt from 'mqtt';
import { reading } from '../fixtures/readings.ts';
import { useStack } from '../helpers/stack.ts';
import { NodeMqttClient } from '../helpers/mqtt-node.ts';
import { waitFor } from '../helpers/wait.ts';

const stack = useStack();
const nodeClients: NodeMqttClient[] = [];
afterAll(() => {
  for (const c of nodeClients) c.kill();
});

async function client(version: 4 | 5): Promise<NodeMqttClient> {
  const c = await NodeMqttClient.connect(stack.server.wsUrl('/mqtt'), version);
  nodeClients.push(c);
  return c;
}

async function stored(deviceId: string): Promise<number> {
  const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
  return rows.filter(([, f]) => f[f.indexOf('device_id') + 1] === deviceId).length;
}

for (const version of [4, 5] as const) {
  test(`ws - MQTT.js v${version === 4 ? '3.1.1' : '5'} over ws://…/mqtt: QoS 1 and 2 publishes are in the stream when acknowledged`, async () => {
    const c = await client(version);
    const device = `mqtt-ws-${version}`;
    expect(await c.publish(`neurobuild/sensors/${device}/data`, JSON.stringify(reading({ device_id: device })), 1)).toMatchObject({ ok: true });
    expect(await stored(device)).toBe(1);
    expect(await c.publish(`neurobuild/sensors/${device}/data`, JSON.stringify(reading({ device_id: device })), 2)).toMatchObject({ ok: true });
    expect(await stored(device)).toBe(2);
  });
}

test('ws - MQTT over WebSocket: v5 refusal 0x99, subscriptions receive readings POSTed over HTTP, relay between clients', async () => {
  const c = await client(5);
  const bad = reading({ device_id: 'mqtt-ws-bad', sensors: {} });
  expect(await c.publish('neurobuild/sensors/mqtt-ws-bad/data', JSON.stringify(bad), 1)).toMatchObject({ ok: false, code: 0x99 });

  expect(await c.subscribe(['neurobuild/sensors/+/data', 'chat/#'])).toMatchObject({ ok: true });
  const got = () => c.messages();
  const one = reading({ device_id: 'mqtt-ws-http' });
  expect((await stack.server.post('/api/v1/sensor-data', one)).status).toBe(202);
  await waitFor(() => got().some((m) => m.topic === 'neurobuild/sensors/mqtt-ws-http/data' && JSON.parse(m.payload).timestamp === one.timestamp), 5000, 'reading over MQTT/WS');

  const tcp = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.server.mqttPort}`, { reconnectPeriod: 0 }));
  await tcp.publishAsync('chat/room', 'hello from TCP', { qos: 1 });
  await waitFor(() => got().some((m) => m.topic === 'chat/room' && m.payload === 'hello from TCP'), 5000, 'relay TCP → WebSocket');
});

test('ws - garbage on /mqtt closes that connection only', async () => {
  const ws = new WebSocket(stack.server.wsUrl('/mqtt'), 'mqtt');
  ws.binaryType = 'arraybuffer';
  await new Promise((res, rej) => {
    ws.onopen = res;
    ws.onerror = rej;
  });
  expect(ws.protocol).toBe('mqtt');
  const closed = new Promise<number>((res) => (ws.onclose = (e) => res(e.code)));
  ws.send(new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0x01]));
  expect(typeof (await closed)).toBe('number');
  const c = await client(4);
  expect(await c.publish('chat/after-garbage', 'still serving', 1)).toMatchObject({ ok: true });
});
