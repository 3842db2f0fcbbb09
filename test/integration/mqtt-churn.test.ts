/**
 * Hostile and heavy-handed clients: ill-formed UTF-8 topics, and 10,000 connect/disconnect
 * cycles after which connections, sessions and memory are back where they were.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { readFileSync } from 'node:fs';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { ServerProcess } from '../helpers/spawn-server.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

let server: ServerProcess;
beforeAll(async () => {
  server = await ServerProcess.start({});
});
afterAll(() => server?.stop());

const rssKb = () => Number(readFileSync(`/proc/${server.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)![1]);
const mqttConnections = async () =>
  Number((await (await fetch(`http://127.0.0.1:${server.metricsPort}/metrics`)).text()).match(/active_connections\{connection_type="mqtt"\} (\d+)/)?.[1] ?? -1);

test('mqtt - an ill-formed UTF-8 topic closes the connection (v5: DISCONNECT 0x81)', async () => {
  const c = await RawMqtt.connected(server.mqttPort, 5);
  // PUBLISH QoS 0, remaining length 6: topic length 3, bytes "a" C3 28 (a lead byte without continuation), payload "x"
  c.write(Buffer.from([0x30, 0x06, 0x00, 0x03, 0x61, 0xc3, 0x28, 0x78]));
  const d = (await c.next('disconnect')) as { reasonCode?: number };
  expect(d.reasonCode).toBe(0x81);
  expect(await c.waitClosed()).toBe(true);
});

async function churn(cycles: number, tag: string): Promise<void> {
  const parallel = 50;
  let done = 0;
  await Promise.all(
    Array.from({ length: parallel }, async (_, w) => {
      for (let i = w; i < cycles; i += parallel) {
        const c = await RawMqtt.connected(server.mqttPort, i % 2 ? 5 : 4, `${tag}-${i}`, 30);
        if (i % 3 === 0) c.end(); // vanish without DISCONNECT
        else c.send({ cmd: 'disconnect' });
        done++;
      }
    }),
  );
  expect(done).toBe(cycles);
  await waitFor(async () => (await mqttConnections()) === 0, 10_000, 'all MQTT connections closed');
  await sleep(1000);
}

test('mqtt - 10,000 connect/disconnect cycles leave no connection, session or memory behind', async () => {
  // a first round lets the heap grow to its working size; a leak keeps growing in the second
  await churn(5_000, 'warm');
  const before = rssKb();
  await churn(10_000, 'churn');
  const grownKb = rssKb() - before;
  console.log(`mqtt churn: 10000 cycles after 5000 warm-up ones, RSS ${before} kB → ${before + grownKb} kB`);
  // a leak of 1 kB per cycle would show as 10 MB
  expect(grownKb).toBeLessThan(10_000);
  const c = await RawMqtt.connected(server.mqttPort, 4);
  c.send({ cmd: 'pingreq' });
  await c.next('pingresp');
  c.end();
}, 120_000);
