/**
 * Queue unavailable: QoS 1 acknowledgements are held (never sent for what was not stored)
 * and sent once the reading is stored after Redis returns.
 */
import { expect, test } from 'bun:test';
import { reading } from '../fixtures/readings.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const stack = useStack({ REDIS_COMMAND_TIMEOUT_MS: '300', MQTT_RETRY_MAX_DELAY_MS: '200' });

const UNAVAILABLE = 'sensor_data_errors_total{error_type="queue_unavailable"}';
const unavailable = async () => (await stack.server.metric(UNAVAILABLE)) ?? 0;

/** A PINGREQ answered: the server wrote whatever it had for this connection before the PINGRESP. */
async function pinged(c: RawMqtt): Promise<void> {
  c.send({ cmd: 'pingreq' });
  await c.next('pingresp');
}

test('mqtt - Redis frozen: the PUBACK waits until the reading is stored, then comes once', async () => {
  const c = await RawMqtt.connected(stack.server.mqttPort, 4);
  const one = reading();
  const failedBefore = await unavailable();
  await stack.redis.stop('SIGSTOP');
  try {
    c.send({ cmd: 'publish', topic: `neurobuild/sensors/${one.device_id}/data`, payload: Buffer.from(JSON.stringify(one)), qos: 1, messageId: 5, retain: false, dup: false });
    // the append failed, and so did a retry: the acknowledgement is held, not given up or sent
    await waitFor(async () => (await unavailable()) >= failedBefore + 2, 10_000, 'two failed attempts to store the reading');
    await pinged(c);
    expect(c.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
  } finally {
    await stack.redis.stop('SIGCONT');
  }
  const ack = await c.next('puback', 10_000);
  expect((ack as { messageId?: number }).messageId).toBe(5);
  const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
  expect(rows.filter(([, f]) => f.includes(one.device_id as string)).length).toBe(1);
  // once: a later publish's PUBACK comes after anything the held one could still cause
  const two = reading();
  c.send({ cmd: 'publish', topic: `neurobuild/sensors/${two.device_id}/data`, payload: Buffer.from(JSON.stringify(two)), qos: 1, messageId: 6, retain: false, dup: false });
  expect(((await c.next('puback')) as { messageId?: number }).messageId).toBe(6);
  await pinged(c);
  expect(c.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
  c.end();
});

test('mqtt - Redis restarted: a held QoS 1 publish is stored and acknowledged after it returns', async () => {
  const c = await RawMqtt.connected(stack.server.mqttPort, 5);
  const one = reading();
  const failedBefore = await unavailable();
  await stack.redis.stop('SIGKILL');
  c.send({ cmd: 'publish', topic: `neurobuild/sensors/${one.device_id}/data`, payload: Buffer.from(JSON.stringify(one)), qos: 1, messageId: 9, retain: false, dup: false });
  await waitFor(async () => (await unavailable()) >= failedBefore + 2, 10_000, 'two failed attempts to store the reading');
  await pinged(c);
  expect(c.packets.some((p) => p.cmd === 'puback')).toBe(false);
  await stack.redis.restart();
  const ack = (await c.next('puback', 10_000)) as { messageId?: number; reasonCode?: number };
  expect(ack.messageId).toBe(9);
  expect(ack.reasonCode ?? 0).toBe(0);
  const fresh = stack.redis.client(); // a connection opened after the restart
  await waitFor(async () => (await fresh.xlen('sensor-data')) === 1, 3000, 'stored after restart');
  c.end();
});
