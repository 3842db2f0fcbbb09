/**
 * Queue unavailable: QoS 1 acknowledgements are held (never sent for what was not stored)
 * and sent once the reading is stored after Redis returns.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { reading } from '../fixtures/readings.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { ServerProcess } from '../helpers/spawn-server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

let redis: RedisServer;
let server: ServerProcess;
beforeAll(async () => {
  redis = await RedisServer.start();
  server = await ServerProcess.start({ REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '300', MQTT_RETRY_MAX_DELAY_MS: '200' });
});
afterAll(async () => {
  await server?.stop();
  await redis?.dispose();
});

test('mqtt - Redis frozen: the PUBACK waits until the reading is stored, then comes once', async () => {
  const c = await RawMqtt.connected(server.mqttPort, 4);
  const one = reading();
  await redis.stop('SIGSTOP');
  try {
    c.send({ cmd: 'publish', topic: `neurobuild/sensors/${one.device_id}/data`, payload: Buffer.from(JSON.stringify(one)), qos: 1, messageId: 5, retain: false, dup: false });
    await sleep(1500);
    expect(c.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
  } finally {
    await redis.stop('SIGCONT');
  }
  const ack = await c.next('puback', 10_000);
  expect((ack as { messageId?: number }).messageId).toBe(5);
  const rows = (await redis.client().xrange('sensor-data', '-', '+')) as [string, string[]][];
  expect(rows.filter(([, f]) => f.includes(one.device_id as string)).length).toBe(1);
  await sleep(300);
  expect(c.packets.filter((p) => p.cmd === 'puback')).toEqual([]);
  c.end();
});

test('mqtt - Redis restarted: a held QoS 1 publish is stored and acknowledged after it returns', async () => {
  const c = await RawMqtt.connected(server.mqttPort, 5);
  const one = reading();
  await redis.stop('SIGKILL');
  c.send({ cmd: 'publish', topic: `neurobuild/sensors/${one.device_id}/data`, payload: Buffer.from(JSON.stringify(one)), qos: 1, messageId: 9, retain: false, dup: false });
  await sleep(800);
  expect(c.packets.some((p) => p.cmd === 'puback')).toBe(false);
  await redis.restart();
  const ack = (await c.next('puback', 10_000)) as { messageId?: number; reasonCode?: number };
  expect(ack.messageId).toBe(9);
  expect(ack.reasonCode ?? 0).toBe(0);
  await waitFor(async () => (await redis.client().xlen('sensor-data')) === 1, 3000, 'stored after restart');
  c.end();
});
