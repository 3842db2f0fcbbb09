/**
 * Two server processes on one redis-server: a reading accepted by either reaches WebSocket
 * subscribers on both, exactly once each (through Redis `sensor-events`).
 */
import { expect, test } from 'bun:test';
import { reading } from '../fixtures/readings.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { LiveClient } from '../helpers/ws-client.ts';

const stack = useStack({}, { servers: 2 });

test('ws - readings POSTed to either instance reach subscribers of both, exactly once each', async () => {
  const [a, b] = stack.servers as [typeof stack.server, typeof stack.server];
  const subs = await Promise.all([a, b, a, b].map(async (s) => stack.track(await LiveClient.open(s.wsUrl('/')))));
  await Promise.all(subs.map((c, i) => c.subscribe(i < 2 ? { device_id: 'cluster-dev' } : undefined)));
  const sent = Array.from({ length: 20 }, (_, i) => reading({ device_id: 'cluster-dev', timestamp: new Date(Date.now() - 10_000 + i).toISOString() }));
  for (const [i, one] of sent.entries()) {
    const res = await (i % 2 ? b : a).post('/api/v1/sensor-data', one);
    expect(res.status).toBe(202);
  }
  // a last reading through each instance marks the end of what could arrive: each subscriber gets
  // at least one of them through Redis, whose channel keeps the order, after every earlier copy
  const marks = [0, 1].map((i) => reading({ device_id: 'cluster-dev', timestamp: new Date(Date.now() + i).toISOString() }));
  await a.post('/api/v1/sensor-data', marks[0]);
  await b.post('/api/v1/sensor-data', marks[1]);
  const expected = sent.map((r) => r.timestamp as string).sort();
  const isMark = (ts: unknown) => marks.some((m) => m.timestamp === ts);
  for (const [i, c] of subs.entries()) {
    await waitFor(() => marks.every((m) => c.readings().some((r) => r.timestamp === m.timestamp)), 5000, `subscriber ${i} has the marks`);
    const got = c
      .readings()
      .filter((r) => r.device_id === 'cluster-dev' && !isMark(r.timestamp))
      .map((r) => r.timestamp as string)
      .sort();
    expect(got).toEqual(expected);
  }
});
