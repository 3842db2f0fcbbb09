/**
 * The fault injector's TCP proxy does what the scenarios rely on, checked with a Redis client
 * through it: latency per direction, bandwidth, blackhole, cut and refuse.
 */
import { afterAll, beforeAll, expect, test } from 'bun:test';
import { Redis } from 'ioredis';
import { connect } from 'node:net';
import { RedisServer } from '../helpers/redis-server.ts';
import { TcpProxy } from './lib/proxy.ts';

let redis: RedisServer;
let proxy: TcpProxy;
let client: Redis;

beforeAll(async () => {
  redis = await RedisServer.start();
  proxy = await TcpProxy.start(redis.port);
  client = new Redis({ port: proxy.port, maxRetriesPerRequest: 0, commandTimeout: 1000, retryStrategy: () => 50 });
  client.on('error', () => {});
  await client.ping();
});

afterAll(async () => {
  client.disconnect();
  await proxy.close();
  await redis.dispose();
});

const timed = async (fn: () => Promise<unknown>) => {
  const t = performance.now();
  await fn();
  return performance.now() - t;
};

test('proxy - latency is added per direction and removed by heal()', async () => {
  expect(await timed(() => client.ping())).toBeLessThan(50);
  proxy.latency(150, 'up');
  expect(await timed(() => client.ping())).toBeGreaterThanOrEqual(145);
  proxy.latency(100, 'both');
  expect(await timed(() => client.ping())).toBeGreaterThanOrEqual(195);
  proxy.heal();
  expect(await timed(() => client.ping())).toBeLessThan(50);
});

test('proxy - bandwidth caps the bytes per second', async () => {
  const value = 'x'.repeat(100_000);
  proxy.bandwidth(400_000, 'up');
  // 300 kB at 400 kB/s: about 750 ms
  const ms = await timed(() => Promise.all([client.set('a', value), client.set('b', value), client.set('c', value)]));
  proxy.heal();
  expect(ms).toBeGreaterThan(600);
  expect(ms).toBeLessThan(1500);
  expect(await timed(() => client.set('d', value))).toBeLessThan(100);
});

test('proxy - blackhole drops traffic, cut() closes the connections, refuse() turns new ones away', async () => {
  const before = proxy.stats.dropped;
  proxy.blackhole(true);
  await expect(client.ping()).rejects.toThrow(/timed out/i);
  expect(proxy.stats.dropped).toBeGreaterThan(before);
  proxy.blackhole(false);
  // the byte stream is broken now: cut it
  const closed = new Promise((r) => client.once('close', r));
  expect(proxy.cut()).toBeGreaterThanOrEqual(1);
  await closed;
  proxy.refuse(true);
  const refused = proxy.stats.cut;
  await new Promise<void>((resolve) => {
    const c = connect(proxy.port, '127.0.0.1');
    c.on('error', () => {});
    c.on('close', () => resolve());
  });
  expect(proxy.stats.cut).toBe(refused + 1);
  proxy.refuse(false);
  const fresh = new Redis({ port: proxy.port, maxRetriesPerRequest: 0 });
  expect(await fresh.ping()).toBe('PONG');
  fresh.disconnect();
});
