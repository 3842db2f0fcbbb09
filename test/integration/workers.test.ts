/**
 * --workers: N server processes behind one set of ports, on a real redis-server; metrics
 * aggregated over the workers, a crashed worker replaced, SIGTERM drains them all.
 */
import { expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import mqtt from 'mqtt';
import { reading } from '../fixtures/readings.ts';
import { BUNDLE } from '../helpers/spawn-server.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const stack = useStack({ WORKERS: '2' }, { servers: 0 });

/** Worker pids of the primary `pid` (its child processes). */
function workersOf(pid: number): number[] {
  const out = spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout;
  return out.split('\n').filter(Boolean).map(Number);
}

async function metric(url: string, line: string): Promise<number> {
  const text = await (await fetch(url)).text();
  const row = text.split('\n').find((l) => l.startsWith(line));
  return row ? Number(row.slice(line.length).trim()) : 0;
}

test('workers - two workers share the ports; metrics sum over both; a killed worker is replaced; SIGTERM drains all', async () => {
  const server = await stack.startServer();
  const pid = server.proc.pid!;
  await waitFor(() => server.logs.some((l) => l.msg === 'all 2 workers listening'), 10_000, 'both workers listening');
  expect(workersOf(pid).length).toBe(2);

  // new connections spread over the workers (SO_REUSEPORT); each reading counted once in the sum
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${server.base}/api/v1/sensor-data`, { method: 'POST', body: JSON.stringify(reading()), headers: { 'content-type': 'application/json', connection: 'close' } });
    expect(res.status).toBe(202);
  }
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${server.mqttPort}`, { reconnectPeriod: 0 });
  const one = reading();
  await c.publishAsync(`neurobuild/sensors/${one.device_id}/data`, JSON.stringify(one), { qos: 1 });
  await c.endAsync();
  expect(await stack.client.xlen('sensor-data')).toBe(21);
  const line = 'sensor_data_ingested_total{sensor_type="pir",transport="http"}';
  expect(await metric(`http://127.0.0.1:${server.metricsPort}/metrics`, line)).toBe(20);
  expect(await metric(`${server.base}/metrics`, line)).toBe(20);
  expect(await metric(`http://127.0.0.1:${server.metricsPort}/metrics`, 'sensor_data_ingested_total{sensor_type="pir",transport="mqtt"}')).toBe(1);
  // gauges that every worker reads from Redis are not summed
  expect(await metric(`http://127.0.0.1:${server.metricsPort}/metrics`, 'queue_size{queue_name="sensor-data"}')).toBe(21);

  const [victim] = workersOf(pid);
  process.kill(victim!, 'SIGKILL');
  await waitFor(() => server.logs.some((l) => l.msg === 'worker died; starting a new one'), 5000, 'restart logged');
  await waitFor(() => workersOf(pid).length === 2 && !workersOf(pid).includes(victim!), 10_000, 'a new worker');
  // the replacement listens too (its own 'listening' line, the third)
  await waitFor(() => server.logs.filter((l) => String(l.msg).startsWith('listening')).length === 3, 10_000, 'the new worker listening');
  expect((await fetch(`${server.base}/ready`, { headers: { connection: 'close' } })).status).toBe(200);

  expect(await server.stop('SIGTERM')).toBe(0);
  expect(server.logs.filter((l) => l.msg === 'drained, exiting').length).toBe(2);
  expect(server.logs.some((l) => l.msg === 'every worker stopped, exiting')).toBe(true);
}, 60_000);

test('workers - more than one worker with the embedded queue is refused at start (exit 2)', () => {
  const r = spawnSync('node', [BUNDLE], { env: { PATH: process.env.PATH ?? '', WORKERS: '2', PORT: '0', METRICS_PORT: '0', MQTT_PORT: '0', WS_PORT: '0' }, encoding: 'utf8', timeout: 10_000 });
  expect(r.status).toBe(2);
  expect(r.stderr).toContain('WORKERS > 1 needs Redis');
});

test('workers - MQTT clients on different workers are one broker: a relay publish reaches the subscribers of both workers once each', async () => {
  const server = await stack.startServer();
  await waitFor(() => server.logs.some((l) => l.msg === 'all 2 workers listening'), 10_000, 'both workers listening');
  const url = `mqtt://127.0.0.1:${server.mqttPort}`;
  // connections alternate between the workers: of six subscribers, some are on each
  const subs = await Promise.all(Array.from({ length: 6 }, () => mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 })));
  const got = subs.map(() => [] as string[]);
  for (const [i, s] of subs.entries()) {
    s.on('message', (_t, p) => got[i]!.push(p.toString()));
    await s.subscribeAsync('workers/relay', { qos: 1 });
  }
  const pub = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 0 });
  // every subscriber has its copy once the routes are known on the publisher's worker
  await waitFor(
    async () => {
      await pub.publishAsync('workers/relay', 'probe', { qos: 1 });
      return got.every((g) => g.includes('probe'));
    },
    10_000,
    'a probe on every worker',
  );
  await pub.publishAsync('workers/relay', 'one', { qos: 1 });
  await waitFor(() => got.every((g) => g.includes('one')), 5000, 'the message on every worker');
  expect(got.map((g) => g.filter((p) => p === 'one').length)).toEqual([1, 1, 1, 1, 1, 1]);
  expect(server.logs.filter((l) => l.msg === 'MQTT state shared with the other instances through Redis').length).toBe(2);
  for (const c of [...subs, pub]) await c.endAsync(true);
  expect(await server.stop('SIGTERM')).toBe(0);
}, 60_000);
