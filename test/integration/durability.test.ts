/**
 * ACK_DURABILITY and the circuit breaker against real redis-servers: fsync checked against the
 * Redis configuration, replicas confirmed with WAIT (503 until a replica is there), and the
 * breaker answering at once while Redis is frozen, then closing after a probe.
 */
import { describe, expect, test } from 'bun:test';
import { reading } from '../fixtures/readings.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const fsyncWarning = (logs: Record<string, unknown>[]) => logs.filter((l) => String(l.msg).startsWith('ACK_DURABILITY=fsync but Redis does not fsync'));

describe('durability fsync, Redis without appendfsync always', () => {
  const stack = useStack({ ACK_DURABILITY: 'fsync' });
  test('durability - fsync on a Redis that does not fsync every write: warned at start, readings still accepted', async () => {
    expect(fsyncWarning(stack.server.logs)).toHaveLength(1);
    expect(fsyncWarning(stack.server.logs)[0]).toMatchObject({ appendonly: 'no', appendfsync: 'everysec' });
    expect((await stack.server.post('/api/v1/sensor-data', reading())).status).toBe(202);
  });
});

describe('durability fsync, Redis with appendfsync always', () => {
  const stack = useStack({ ACK_DURABILITY: 'fsync' }, { redis: ['--appendonly', 'yes', '--appendfsync', 'always'] });
  test('durability - fsync on appendonly yes + appendfsync always: no warning, 202 after the fsynced append', async () => {
    expect(fsyncWarning(stack.server.logs)).toHaveLength(0);
    const r = reading();
    expect((await stack.server.post('/api/v1/sensor-data', r)).status).toBe(202);
    expect(await stack.client.xlen('sensor-data')).toBe(1);
  });
});

describe('durability replicas', () => {
  const stack = useStack({ ACK_DURABILITY: 'replicas', ACK_REPLICAS: '1', ACK_WAIT_TIMEOUT_MS: '300', CIRCUIT_BREAKER_THRESHOLD: '1000' });
  test('durability - replicas: 503 while no replica confirms (warned at start), 202 once a replica is attached', async () => {
    expect(stack.server.logs.some((l) => String(l.msg).startsWith('ACK_DURABILITY=replicas: fewer replicas connected'))).toBe(true);
    const lonely = await stack.server.post('/api/v1/sensor-data', reading());
    expect(lonely.status).toBe(503);
    expect(((await lonely.json()) as { details: string }).details).toContain('0 of 1 replicas confirmed');

    const replica = await RedisServer.start(['--replicaof', '127.0.0.1', String(stack.redis.port)]);
    stack.cleanup(() => replica.dispose());
    await waitFor(async () => /slave0:.*state=online/.test(await stack.client.info('replication')), 10_000, 'replica online');
    const ok = (await waitFor(async () => {
      const res = await stack.server.post('/api/v1/sensor-data', reading());
      return res.status === 202 ? res : undefined;
    }, 5000, '202 with a replica'))!;
    const { message_id } = (await ok.json()) as { message_id: string };
    // acknowledged only once it is on the replica too
    const onReplica = await replica.client().xrange('sensor-data', '-', '+');
    expect(onReplica.some(([, fields]) => fields.includes(message_id))).toBe(true);
  });
});

describe('circuit breaker', () => {
  const stack = useStack({ REDIS_COMMAND_TIMEOUT_MS: '300', CIRCUIT_BREAKER_THRESHOLD: '2', CIRCUIT_BREAKER_TIMEOUT_MS: '1000' });
  test('breaker - Redis frozen: after 2 timed-out batches 503 at once; thawed: a probe closes it and 202 again', async () => {
    const s = stack.server;
    expect((await s.post('/api/v1/sensor-data', reading())).status).toBe(202);
    await stack.redis.stop('SIGSTOP');
    try {
      for (let i = 0; i < 2; i++) expect((await s.post('/api/v1/sensor-data', reading())).status).toBe(503);
      const t0 = performance.now();
      const fast = await s.post('/api/v1/sensor-data', reading());
      const ms = performance.now() - t0;
      expect(fast.status).toBe(503);
      expect(((await fast.json()) as { details: string }).details).toContain('circuit breaker open');
      expect(ms).toBeLessThan(250); // no Redis timeout (300 ms) waited for
      expect(await s.metric('ingest_circuit_breaker_open')).toBe(1);
    } finally {
      await stack.redis.stop('SIGCONT');
    }
    const back = await waitFor(async () => ((await s.post('/api/v1/sensor-data', reading())).status === 202 ? true : undefined), 5000, '202 after thaw');
    expect(back).toBe(true);
    expect(await s.metric('ingest_circuit_breaker_open')).toBe(0);
    const msgs = s.logs.map((l) => String(l.msg));
    expect(msgs.filter((m) => m.startsWith('circuit breaker open')).length).toBeGreaterThanOrEqual(1);
    expect(msgs.some((m) => m.startsWith('circuit breaker closed'))).toBe(true);
  });
});
