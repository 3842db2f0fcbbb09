/**
 * Queue unavailable: QoS 1 acknowledgements are held (never sent for what was not stored)
 * and sent once the reading is stored after Redis returns.
 */
import { expect, test } from 'bun:test';
import { reading } from '../fixtures/readings.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { useStack } from '../helpers/stack.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const stack = useStack({ REDIS_COMMAND_TIMEOUT_MS: '300', MQTT_RETRY_MAX_DELAY_MS: '200' });

test('mqtt - Redis frozen: the PUBACK waits until the reading is stored, then comes once', async () => {
  const c = await RawMqtt.connected(stack.server.mqttPort, 4);
  const one = reading();
  await stack.redis.stop('SIGSTOP');
  try {
    c.send({ cmd: 'publish', topic: `neurobuild/sensors/${one.device_id}/data`, payload: Buffer.from(JSON.stringify(one)), qos: 1, messageId: 5, retain: false, dup: false });
    await sleep(1500);
    expect(c.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
  } finally {
    await stack.redis.stop('SIGCONT');
  }
  const ack = await c.next('puback', 10_000);
  expect((ack as { messageId?: number }).messageId).toBe(5);
  const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
  expect(rows.filter(([, f]) => f.includes(one.device_id as string)).length).toBe(1);
  await sleep(300);
  expect(c.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
  c.end();
});

test('mqtt - Redis restarted: a held QoS 1 publish is stored and acknowledged after it returns', async () => {
  const c = await RawMqtt.connected(stack.server.mqttPort, 5);
  const one = reading();
  await stack.redis.stop('SIGKILL');
  c.send({ cmd: 'publish', topic: `neurobuild/sensors/${one.device_id}/data`, payload: Buffer.from(JSON.stringify(one)), qos: 1, messageId: 9, retain: false, dup: false });
  await sleep(800);
  expect(c.packets.some((p) => p.cmd === 'puback')).toBe(false);
  await stack.redis.restart();
  const ack = (await c.next('puback', 10_000)) as { messageId?: number; reasonCode?: number };
  expect(ack.messageId).toBe(9);
  expect(ack.reasonCode ?? 0).toBe(0);
  const fresh = stack.redis.client(); // a connection opened after the restart
  await waitFor(async () => (await fresh.xlen('sensor-data')) === 1, 3000, 'stored after restart');
  c.end();
});
