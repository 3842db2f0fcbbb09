/**
 * A saturated queue slows MQTT senders down (the server stops reading their sockets) instead
 * of refusing or dropping their readings, QoS 0 included.
 */
import { expect, test } from 'bun:test';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

// a tiny in-flight bound and small batches: the queue is saturated all the time under this load
const stack = useStack({ MAX_IN_FLIGHT: '20', QUEUE_BATCH_SIZE: '10' });

test('mqtt - QoS 0 bursts far past MAX_IN_FLIGHT are all stored, none refused', async () => {
  const clients = await Promise.all(Array.from({ length: 5 }, (_, i) => RawMqtt.connected(stack.server.mqttPort, 4, `burst-${i}`)));
  const perClient = 1000;
  const base = Date.now() - 60_000;
  clients.forEach((c, i) => {
    for (let n = 0; n < perClient; n++) {
      const device = `burst-${i}`;
      const payload = JSON.stringify({ device_id: device, timestamp: new Date(base + n).toISOString(), sensors: { pir: { motion_detected: n % 2 === 0 } } });
      c.send({ cmd: 'publish', topic: `neurobuild/sensors/${device}/pir`, payload: Buffer.from(payload), qos: 0, retain: false, dup: false });
    }
  });
  await waitFor(async () => (await stack.client.xlen('sensor-data')) === clients.length * perClient, 20_000, 'every QoS 0 reading stored');
  const metrics = await (await fetch(`http://127.0.0.1:${stack.server.metricsPort}/metrics`)).text();
  expect(metrics).not.toMatch(/sensor_data_errors_total\{error_type="queue_saturated"\} [1-9]/);
  for (const c of clients) c.end();
}, 30_000);
