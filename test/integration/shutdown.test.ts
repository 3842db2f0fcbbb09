/**
 * SIGTERM under load: the server drains and exits 0, and every reading that got a 202 is
 * in the stream (the acknowledgement promise of DESIGN §2).
 */
import { expect, test } from 'bun:test';
import { reading } from '../fixtures/readings.ts';
import { useStack } from '../helpers/stack.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

// the test starts the server itself: it is the one stopped (by SIGTERM, under load)
const stack = useStack({}, { servers: 0 });

test('shutdown - SIGTERM under load: exit 0 and every acknowledged message_id is stored', async () => {
  const server = await stack.startServer();
  const acked = new Set<string>();
  const statuses = new Map<number | string, number>();
  let stop = false;
  const deadline = Date.now() + 20_000;

  const worker = async (batch: boolean) => {
    while (!stop && Date.now() < deadline) {
      try {
        const res = batch
          ? await server.post('/api/v1/sensor-data/batch', [reading(), reading(), reading(), reading(), reading()])
          : await server.post('/api/v1/sensor-data', reading());
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        const body = (await res.json()) as { message_id?: string; results?: { status: string; message_id?: string }[] };
        if (res.status === 202 && body.message_id) acked.add(body.message_id);
        for (const r of body.results ?? []) if (r.status === 'accepted' && r.message_id) acked.add(r.message_id);
      } catch {
        statuses.set('connection error', (statuses.get('connection error') ?? 0) + 1);
        await sleep(5); // load pacing: a refused connection is not retried in a tight loop
      }
    }
  };
  const workers = Array.from({ length: 24 }, (_, i) => worker(i % 4 === 0));
  // under load: readings acknowledged and more coming
  await waitFor(() => acked.size > 200, 15_000, 'readings acknowledged under load');
  server.proc.kill('SIGTERM');
  const code = await server.exited();
  stop = true;
  await Promise.all(workers);

  expect(code).toBe(0);
  const stored = new Set<string>();
  for (const [, fields] of (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][]) {
    stored.add(fields[fields.indexOf('message_id') + 1]!);
  }
  const lost = [...acked].filter((id) => !stored.has(id));
  expect(lost).toEqual([]);
  expect(server.logs.some((l) => l.msg === 'drained, exiting')).toBe(true);
  console.log(`shutdown: ${acked.size} acknowledged, all stored; answers: ${JSON.stringify(Object.fromEntries(statuses))}`);
}, 30_000);
