/**
 * EVENTS_PUBLISH: with `subscribed` (the default) a stored reading is published on sensor-events
 * only while the channel has a subscriber (counted on Redis each second), so Redis' PUBLISH
 * count stays still while nobody listens and readings reach a subscriber from its first count
 * on; with `always` every reading is published, listened to or not. Redis' own command counts
 * (INFO commandstats) say what was published.
 */
import { expect, test } from 'bun:test';
import { reading } from '../fixtures/readings.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const stack = useStack();

async function publishCalls(): Promise<number> {
  const m = /^cmdstat_publish:calls=(\d+)/m.exec(await stack.client.info('commandstats'));
  return m ? Number(m[1]) : 0;
}

async function post(server = stack.server, n = 10): Promise<void> {
  for (let i = 0; i < n; i++) expect((await server.post('/api/v1/sensor-data', reading())).status).toBe(202);
}

test('events - nothing published while nobody subscribes; a subscriber gets readings within a check', async () => {
  // a server counts the channel's subscribers on connecting: wait until it publishes nothing
  await waitFor(async () => {
    const before = await publishCalls();
    await post(stack.server, 3);
    return (await publishCalls()) === before;
  }, 5000, 'the server to count no subscriber');
  const before = await publishCalls();
  await post();
  expect(await publishCalls()).toBe(before);

  const sub = stack.newClient();
  const got: string[] = [];
  sub.on('message', (_c: string, m: string) => got.push((JSON.parse(m) as { device_id: string }).device_id));
  await sub.subscribe('sensor-events');
  const probe = reading();
  const at = Date.now();
  await waitFor(async () => got.includes(probe.device_id as string) || ((await stack.server.post('/api/v1/sensor-data', reading({ device_id: probe.device_id }))), false), 5000, 'events once subscribed');
  // one check a second, the first one after it counted
  expect(Date.now() - at).toBeLessThan(2500);
  const one = reading();
  expect((await stack.server.post('/api/v1/sensor-data', one)).status).toBe(202);
  await waitFor(() => got.includes(one.device_id as string), 3000, 'a reading stored after the subscriber was counted');
  sub.disconnect();
});

test('events - EVENTS_PUBLISH=always publishes every reading with nobody subscribed', async () => {
  const always = await stack.startServer({ EVENTS_PUBLISH: 'always' });
  const before = await publishCalls();
  await post(always);
  expect(await publishCalls()).toBeGreaterThanOrEqual(before + 10);
});
