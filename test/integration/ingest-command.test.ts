/**
 * The ingest script's call written as one RESP buffer (src/queue/redis/ingest-command.ts),
 * against a real Redis: arguments and packed entries arrive intact whatever their size and
 * text, concurrent calls sharing the pooled buffers do not see each other's bytes, the first
 * call on a connection loads the script (EVAL), a Redis that forgot it (SCRIPT FLUSH) or a new
 * connection gets it again.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import type { Redis } from 'ioredis';
import { IngestScript } from '../../src/queue/redis/ingest-command.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait.ts';

// echoes its keys, its other arguments and the unpacked entries
const ECHO = "local out = {KEYS[1], KEYS[2]} for i = 1, #ARGV - 1 do out[#out + 1] = ARGV[i] end for _, s in ipairs(cmsgpack.unpack(ARGV[#ARGV])) do out[#out + 1] = s end return out";

let redis: RedisServer;
let conn: Redis;
beforeAll(async () => {
  redis = await RedisServer.start();
  conn = redis.client();
});
afterAll(async () => {
  conn.disconnect();
  await redis.dispose();
});

const calls = async (name: string): Promise<number> => Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(await conn.info('commandstats'))?.[1] ?? 0);

test('ingest command - arguments and entries of any size and text arrive as sent, concurrent calls apart', async () => {
  const script = new IngestScript(ECHO, 2);
  const args = ['stream{a}', 'dedupe{a}', 60_000, 0, '1', 'sensor-events'] as const;
  const texts = ['', 'a', 'é€😀', 'x'.repeat(31), 'y'.repeat(300), '{"device_id":"d","note":"\\r\\n*3\\r\\n$4"}'];
  const batches = Array.from({ length: 40 }, (_, i) => Array.from({ length: 1 + ((i * 37) % 700) }, (_, j) => `${i}:${j}:${texts[(i + j) % texts.length]}`));
  // one of more than the pool's first buffer (64 KiB)
  batches.push(Array.from({ length: 500 }, (_, j) => `${j}${'z'.repeat(400)}`));
  const replies = await Promise.all(batches.map((b) => script.call(conn, args, b)));
  replies.forEach((r, i) => expect(r).toEqual([...args.map(String), ...batches[i]!]));
  // and again, now on pooled buffers
  const again = await Promise.all(batches.slice(0, 10).map((b) => script.call(conn, args, b)));
  again.forEach((r, i) => expect(r).toEqual([...args.map(String), ...batches[i]!]));
});

test('ingest command - EVAL once per connection, then EVALSHA; after SCRIPT FLUSH and on a new connection it loads again', async () => {
  const script = new IngestScript(`${ECHO} -- ${Date.now()}`, 2);
  const evals = await calls('eval');
  const shas = await calls('evalsha');
  const one = async (n: number) => expect(await script.call(conn, ['k', 'k2'], [`e${n}`])).toEqual(['k', 'k2', `e${n}`]);
  await one(1);
  await one(2);
  await one(3);
  expect(await calls('eval')).toBe(evals + 1);
  expect(await calls('evalsha')).toBe(shas + 2);
  await conn.script('FLUSH');
  await one(4);
  expect(await calls('eval')).toBe(evals + 2);
  // the connection cut: ioredis reconnects, and the new socket has not run the script
  const id = await conn.client('ID');
  const killer = redis.client();
  await killer.client('KILL', 'ID', String(id));
  killer.disconnect();
  await waitFor(async () => (await conn.client('ID').catch(() => id)) !== id, 10_000, 'a new connection');
  await one(5);
  expect(await calls('eval')).toBe(evals + 3);
});
