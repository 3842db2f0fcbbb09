/**
 * EVENTS_PUBLISH: with `subscribed` (the default) a stored reading is published on sensor-events
 * only while the channel has a subscriber (asked by the script, counted by the server each
 * second), so Redis' PUBLISH count stays still while nobody listens and a subscriber gets every
 * reading stored after its SUBSCRIBE; with `always` every reading is published, listened to or
 * not. Redis' own command counts (INFO commandstats) say what was published.
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

test('events - nothing published while nobody subscribes; a subscriber gets every reading stored after its SUBSCRIBE', async () => {
  // a server counts the channel's subscribers once connected (publishing until then)
  await waitFor(async () => {
    const at = await publishCalls();
    await post(stack.server, 3);
    return (await publishCalls()) === at;
  }, 5000, 'the server to count no subscriber');
  const before = await publishCalls();
  await post();
  expect(await publishCalls()).toBe(before);

  // the script asks Redis for the channel's subscribers when the server knows of none: the
  // reading right after the SUBSCRIBE is published, without waiting for the server's count
  const sub = stack.newClient();
  const got: string[] = [];
  sub.on('message', (_c: string, m: string) => got.push((JSON.parse(m) as { device_id: string }).device_id));
  await sub.subscribe('sensor-events');
  const first = reading();
  expect((await stack.server.post('/api/v1/sensor-data', first)).status).toBe(202);
  await waitFor(() => got.includes(first.device_id as string), 3000, 'the first reading after SUBSCRIBE');
  // and after the count has seen it (published unasked): still every one
  const counted = await publishCalls();
  await waitFor(async () => {
    await post(stack.server, 1);
    return (await publishCalls()) > counted + 2;
  }, 5000, 'readings published');
  const one = reading();
  expect((await stack.server.post('/api/v1/sensor-data', one)).status).toBe(202);
  await waitFor(() => got.includes(one.device_id as string), 3000, 'a reading stored after the subscriber was counted');
  sub.disconnect();
  // gone: within a count the server stops publishing again
  await waitFor(async () => {
    const at = await publishCalls();
    await post(stack.server, 2);
    return (await publishCalls()) === at;
  }, 5000, 'publishing to stop once the subscriber left');
});

test('events - EVENTS_PUBLISH=always publishes every reading with nobody subscribed', async () => {
  const always = await stack.startServer({ EVENTS_PUBLISH: 'always' });
  const before = await publishCalls();
  await post(always);
  expect(await publishCalls()).toBeGreaterThanOrEqual(before + 10);
});
