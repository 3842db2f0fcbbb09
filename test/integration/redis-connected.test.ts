/**
 * Waiting for a client to be ready (src/util/redis-connected.ts), against a real Redis, with the
 * server's own client options (lazy, no offline queue): a client whose first command already
 * started connecting is awaited, not refused as "already connecting" (the start that then sent
 * its first commands failed them: the shared MQTT state joined ~200 ms late).
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { Redis } from 'ioredis';
import { createRedis, type RedisClient } from '../../src/queue/redis/connection.ts';
import { connected } from '../../src/util/redis-connected.ts';
import { freePort } from '../helpers/free-port.ts';
import { RedisServer } from '../helpers/redis-server.ts';

let redis: RedisServer;
const clients: RedisClient[] = [];
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await redis.dispose();
});

function client(port: number): RedisClient {
  const c = createRedis({ port, db: 0, commandTimeoutMs: 2000 }, 'neurobuild-ingest-test');
  c.on('error', () => {});
  clients.push(c);
  return c;
}

test('redis connected - a client whose first command started connecting is awaited until ready', async () => {
  const c = client(redis.port);
  // a lazy client's first command starts connecting, and is refused (no offline queue)
  await expect(c.ping()).rejects.toThrow(/enableOfflineQueue/);
  expect(['connecting', 'connect']).toContain(c.status);
  // connect() itself now refuses at once, before the connection is ready
  await expect((c as Redis).connect()).rejects.toThrow(/already connecting/);
  await connected(c);
  expect(c.status).toBe('ready');
  expect(await c.ping()).toBe('PONG');
});

test('redis connected - an untouched client is connected; a ready one resolves at once', async () => {
  const c = client(redis.port);
  expect(c.status).toBe('wait');
  await connected(c);
  expect(c.status).toBe('ready');
  await connected(c);
  expect(await c.ping()).toBe('PONG');
});

test('redis connected - nobody listening: the attempt under way fails, and so does the wait', async () => {
  const c = client(await freePort());
  await expect(c.ping()).rejects.toThrow();
  await expect(connected(c)).rejects.toThrow(/closed/i);
});
