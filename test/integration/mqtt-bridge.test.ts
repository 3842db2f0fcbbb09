/**
 * Bridge mode against a real Mosquitto broker: readings published upstream are ingested,
 * acknowledged upstream only once stored; /health follows the upstream connection.
 */
import { beforeAll, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { reading } from '../fixtures/readings.ts';
import { Mosquitto } from '../helpers/mosquitto.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

let broker: Mosquitto;
// the broker starts after Redis and before the server, and is disposed after the server stopped
const stack = useStack(async () => {
  broker = await Mosquitto.start();
  return { MQTT_BROKER_URL: broker.url, MQTT_BRIDGE_CLIENT_ID: 'bridge-test' };
});
stack.cleanup(() => broker?.dispose());
beforeAll(() => waitFor(() => stack.server.logs.some((l) => l.msg === 'bridge connected to the upstream broker'), 10_000, 'bridge connected'));

async function stored(deviceId: unknown): Promise<boolean> {
  const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
  return rows.some(([, f]) => f.includes(deviceId as string));
}

test('bridge - readings published to the upstream broker at QoS 0 and 1 are ingested; others are not', async () => {
  const q1 = reading();
  const q0 = reading({ sensors: { pir: { motion_detected: true } } });
  const bad = reading({ sensors: {} });
  const pub = (topic: string, body: unknown, qos: string) =>
    spawnSync('mosquitto_pub', ['-p', String(broker.port), '-q', qos, '-t', topic, '-m', JSON.stringify(body)], { encoding: 'utf8', timeout: 10_000 }).status;
  expect(pub(`neurobuild/sensors/${q1.device_id}/data`, q1, '1')).toBe(0);
  expect(pub(`neurobuild/sensors/${q0.device_id}/pir`, q0, '0')).toBe(0);
  expect(pub(`neurobuild/sensors/${bad.device_id}/data`, bad, '1')).toBe(0);
  await waitFor(async () => (await stored(q1.device_id)) && (await stored(q0.device_id)), 5000, 'bridged readings stored');
  await waitFor(async () => {
    const rejects = (await stack.client.xrange('sensor-data-invalid', '-', '+')) as [string, string[]][];
    return rejects.some(([, f]) => f.includes('bridge') && f.join(' ').includes(bad.device_id as string));
  }, 5000, 'bridged reject');
  const metrics = await (await fetch(`http://127.0.0.1:${stack.server.metricsPort}/metrics`)).text();
  expect(metrics).toMatch(/sensor_data_ingested_total\{sensor_type="pir",transport="bridge"\} [1-9]/);
});

test('bridge - /health follows the upstream broker, and the bridge reconnects and ingests again', async () => {
  expect(((await (await fetch(stack.server.base + '/health')).json()) as { services: Record<string, string> }).services).toMatchObject({ mqtt: 'up', mqtt_bridge: 'up' });
  await broker.stop();
  await waitFor(async () => (await fetch(stack.server.base + '/health')).status === 503, 5000, '/health 503 without the upstream');
  await broker.restart();
  await waitFor(async () => (await fetch(stack.server.base + '/health')).status === 200, 15_000, '/health 200 again');
  const one = reading();
  await waitFor(() => spawnSync('mosquitto_pub', ['-p', String(broker.port), '-q', '1', '-t', `neurobuild/sensors/${one.device_id}/data`, '-m', JSON.stringify(one)]).status === 0, 5000, 'publish upstream');
  await waitFor(() => stored(one.device_id), 5000, 'reading after reconnect');
}, 40_000);
