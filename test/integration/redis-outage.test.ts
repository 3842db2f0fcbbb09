/**
 * Redis going away and coming back: 503 + Retry-After while it is gone, nothing
 * acknowledged that was not stored, full service after it returns.
 */
import { expect, test } from 'bun:test';
import { reading } from '../fixtures/readings.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const stack = useStack({ REDIS_COMMAND_TIMEOUT_MS: '1000', RETRY_AFTER_SECONDS: '2' });

test('outage - Redis down: /health 503, /ready false, POST 503 with Retry-After; back up: 202 again', async () => {
  expect((await stack.server.post('/api/v1/sensor-data', reading())).status).toBe(202);
  await stack.redis.stop('SIGKILL');

  const health = await waitFor(async () => {
    const h = await fetch(stack.server.base + '/health');
    return h.status === 503 ? h : undefined;
  }, 5000, '/health 503');
  expect(await health!.json()).toMatchObject({ status: 'unhealthy', services: { redis: 'down' } });
  expect(await (await fetch(stack.server.base + '/ready')).json()).toMatchObject({ ready: false });

  const down = await stack.server.post('/api/v1/sensor-data', reading());
  expect(down.status).toBe(503);
  expect(down.headers.get('retry-after')).toBe('2');
  expect(await down.json()).toMatchObject({ code: 'INGEST_ERR_QUEUE_UNAVAILABLE' });

  const batch = await stack.server.post('/api/v1/sensor-data/batch', [reading(), reading()]);
  expect(batch.status).toBe(503);
  expect(batch.headers.get('retry-after')).toBe('2');
  expect(((await batch.json()) as { results: { status: string }[] }).results.every((x) => x.status === 'failed')).toBe(true);

  await stack.redis.restart();
  await waitFor(async () => (await fetch(stack.server.base + '/health')).status === 200, 10_000, '/health 200 after restart');
  const one = reading();
  const back = await stack.server.post('/api/v1/sensor-data', one);
  expect(back.status).toBe(202);
  const stored = await stack.client.xrange('sensor-data', '-', '+');
  // Redis ran without persistence: only what was accepted after the restart is there
  expect(stored.length).toBe(1);
  expect(stored[0]![1]).toContain(one.device_id as string);
});

test('outage - the server logs the loss and the recovery of the queue once each', () => {
  const msgs = stack.server.logs.map((l) => String(l.msg));
  expect(msgs.filter((m) => m.startsWith('queue backend connection lost')).length).toBe(1);
  expect(msgs.filter((m) => m === 'queue backend connected').length).toBe(2);
});
