/**
 * Redis killed during a QoS 1 run: every PUBACKed message is in the stream once Redis is
 * back (Redis runs with appendfsync always, so what it confirmed survives the kill).
 */
import { expect, test } from 'bun:test';
import { reading } from '../fixtures/readings.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { useStack } from '../helpers/stack.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const stack = useStack({ REDIS_COMMAND_TIMEOUT_MS: '1000' }, { redis: ['--appendonly', 'yes', '--appendfsync', 'always'] });

test('mqtt - Redis SIGKILLed mid-run: every PUBACKed reading is in the stream after it returns', async () => {
  const acked = new Set<string>();
  let stop = false;
  const publisher = async (n: number) => {
    const c = await RawMqtt.connected(stack.server.mqttPort, 4, `killer-${n}`);
    const byId = new Map<number, string>();
    let id = 0;
    while (!stop && !c.closed) {
      // a window of 8 publishes in flight per connection
      while (byId.size < 8) {
        id = (id % 65_535) + 1;
        const one = reading();
        byId.set(id, one.device_id as string);
        c.send({ cmd: 'publish', topic: `neurobuild/sensors/${one.device_id}/data`, payload: Buffer.from(JSON.stringify(one)), qos: 1, messageId: id, retain: false, dup: false });
      }
      const ack = await c.next('puback', 300).catch(() => undefined);
      if (ack && 'messageId' in ack && ack.messageId !== undefined) {
        acked.add(byId.get(ack.messageId)!);
        byId.delete(ack.messageId);
      } else if (!ack) byId.clear(); // held acks: the device would resend these on reconnect
    }
    c.end();
  };
  const runs = Array.from({ length: 4 }, (_, i) => publisher(i));
  // mid-run: readings acknowledged on every connection's window
  await waitFor(() => acked.size > 100, 10_000, 'readings acknowledged before the kill');
  await stack.redis.stop('SIGKILL');
  const atKill = acked.size;
  await sleep(800); // the outage: Redis is gone this long
  const duringOutage = acked.size;
  await stack.redis.restart();
  await waitFor(async () => (await fetch(stack.server.base + '/health')).status === 200, 10_000, 'server sees Redis again');
  // the run goes on: new readings acknowledged after the restart
  await waitFor(() => acked.size > duringOutage + 50, 10_000, 'readings acknowledged after the restart');
  stop = true;
  await Promise.all(runs);

  // with Redis gone nothing new is acknowledged: at most the 4 × 8 publishes in flight at the kill
  expect(duringOutage - atKill).toBeLessThanOrEqual(32);
  const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
  const stored = new Set(rows.map(([, f]) => f[f.indexOf('device_id') + 1]!));
  expect([...acked].filter((d) => !stored.has(d))).toEqual([]);
}, 30_000);
