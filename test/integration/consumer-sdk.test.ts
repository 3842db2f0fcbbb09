/**
 * The consumer SDK against a real redis-server: acknowledgement after the handler, retries
 * with backoff, poison entries to the DLQ with their error, entries of a dead consumer
 * claimed by another, the platform's dequeue / requeueWithRetry names, and DLQ replay.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import type { Redis } from 'ioredis';
import { type ConsumedEntry, FailedEntriesError, listDeadLetters, RedisQueue, replayDeadLetters, StreamConsumer } from '../../src/consumer/index.ts';
import { KeyLayout } from '../../src/queue/key-layout.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { BUNDLE } from '../helpers/spawn-server.ts';
import { waitFor } from '../helpers/wait.ts';

const STREAM = 'sensor-data';
const DLQ = 'sensor-data-dlq';
let redis: RedisServer;
let client: Redis;

beforeAll(async () => {
  redis = await RedisServer.start();
  client = redis.client();
});
afterAll(() => redis.dispose());
beforeEach(() => client.flushall());

/** Appends readings the way the server does (fields data, device_id, message_id). */
async function append(devices: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const [i, d] of devices.entries()) {
    const data = JSON.stringify({ device_id: d, timestamp: new Date(1_700_000_000_000 + i).toISOString(), sensors: { pir: { motion_detected: true } }, message_id: `m-${d}-${i}` });
    ids.push((await client.xadd(STREAM, '*', 'data', data, 'device_id', d, 'message_id', `m-${d}-${i}`))!);
  }
  return ids;
}
const pendingCount = async (group: string) => Number(((await client.xpending(STREAM, group)) as [number])[0]);
const opts = (consumer: string) => ({ stream: STREAM, group: 'storage', consumer, dlq: DLQ, blockMs: 100, retryBaseMs: 10, maxRetryAttempts: 2, startId: '0' });

describe('StreamConsumer', () => {
  test('consumer - every entry is handed over once and acknowledged after the handler', async () => {
    await append(['a', 'b', 'c', 'd']);
    const seen: string[] = [];
    const c = new StreamConsumer(redis.client(), { ...opts('c1'), batchSize: 3 }, async (batch) => {
      seen.push(...batch.map((e) => e.reading!.device_id));
    });
    await c.start();
    await waitFor(() => seen.length === 4, 5000, 'four entries');
    await c.stop();
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
    expect(await pendingCount('storage')).toBe(0);
  });

  test('consumer - a handler failing twice then succeeding stores the batch once', async () => {
    await append(['a', 'b']);
    let calls = 0;
    const stored: string[] = [];
    const retries: number[] = [];
    const c = new StreamConsumer(redis.client(), opts('c1'), async (batch) => {
      if (++calls <= 2) throw new Error(`db down ${calls}`);
      stored.push(...batch.map((e) => e.reading!.device_id));
    }, { onRetry: (_e, attempt) => retries.push(attempt) });
    await c.start();
    await waitFor(() => stored.length === 2, 5000, 'stored');
    await c.stop();
    expect(calls).toBe(3);
    expect(retries).toEqual([1, 2]);
    expect(stored).toEqual(['a', 'b']);
    expect(await pendingCount('storage')).toBe(0);
    expect(await client.xlen(DLQ)).toBe(0);
  });

  test('consumer - an entry that always fails goes to the DLQ with its error after the attempts; the others are stored', async () => {
    await append(['a', 'poison', 'b']);
    const stored: string[] = [];
    const dead: string[] = [];
    const c = new StreamConsumer(redis.client(), opts('c1'), async (batch) => {
      if (batch.some((e) => e.reading!.device_id === 'poison')) throw new Error('value out of range for column');
      stored.push(...batch.map((e) => e.reading!.device_id));
    }, { onDeadLetter: (e) => dead.push(e.reading!.device_id) });
    await c.start();
    await waitFor(() => dead.length === 1 && stored.length === 2, 5000, 'dead letter');
    await c.stop();
    expect(stored.sort()).toEqual(['a', 'b']);
    const [d] = await listDeadLetters(client, DLQ);
    expect(d).toMatchObject({ stream: STREAM, group: 'storage', error: 'value out of range for column', attempts: 3 });
    expect(JSON.parse(d!.fields.data!).device_id).toBe('poison');
    expect(await pendingCount('storage')).toBe(0);

    // replayed: back in the stream (a new id), out of the DLQ, seen again by the group
    expect(await replayDeadLetters(client, DLQ, 'all', STREAM)).toBe(1);
    expect(await client.xlen(DLQ)).toBe(0);
    const again: string[] = [];
    const c2 = new StreamConsumer(redis.client(), opts('c2'), async (batch) => void again.push(...batch.map((e) => e.reading!.device_id)));
    await c2.start();
    await waitFor(() => again.length === 1, 5000, 'replayed entry');
    await c2.stop();
    expect(again).toEqual(['poison']);
  });

  test('consumer - entries read by a consumer that died are claimed by another after claimIdleMs, each handled once', async () => {
    await append(['a', 'b', 'c']);
    await new StreamConsumer(client, opts('x'), async () => {}).ensureGroup();
    // "dead" reads two entries and never acknowledges them
    await client.xreadgroup('GROUP', 'storage', 'dead', 'COUNT', 2, 'STREAMS', STREAM, '>');
    const seen: ConsumedEntry[] = [];
    const c = new StreamConsumer(redis.client(), { ...opts('alive'), claimIdleMs: 300 }, async (batch) => void seen.push(...batch));
    await c.start();
    await waitFor(() => seen.length === 3, 5000, 'all three');
    await c.stop();
    expect(seen.map((e) => e.reading!.device_id).sort()).toEqual(['a', 'b', 'c']);
    expect(seen.filter((e) => e.deliveries >= 2).map((e) => e.reading!.device_id).sort()).toEqual(['a', 'b']);
    expect(await pendingCount('storage')).toBe(0);
  });

  test('consumer - an entry whose data is not JSON goes to the DLQ at once', async () => {
    await client.xadd(STREAM, '*', 'data', '{nope', 'device_id', 'x', 'message_id', 'm');
    let calls = 0;
    const c = new StreamConsumer(redis.client(), opts('c1'), async () => void calls++);
    await c.start();
    await waitFor(async () => (await client.xlen(DLQ)) === 1, 5000, 'dlq');
    await c.stop();
    expect(calls).toBe(0);
    expect((await listDeadLetters(client, DLQ))[0]!.error).toBe('entry data is not JSON');
  });
  test('consumer - a handler naming failed entries (FailedEntriesError): those go to the DLQ at once with their reasons, the rest is acknowledged, no retries', async () => {
    const ids = await append(['a', 'bad1', 'b', 'bad2']);
    let calls = 0;
    const retries: number[] = [];
    const c = new StreamConsumer(redis.client(), opts('c1'), async (batch) => {
      calls++;
      const failed = new Map(batch.filter((e) => e.reading!.device_id.startsWith('bad')).map((e) => [e.id, `refused ${e.reading!.device_id}`]));
      if (failed.size > 0) throw new FailedEntriesError(failed);
    }, { onRetry: (_e, attempt) => retries.push(attempt) });
    await c.start();
    await waitFor(async () => (await client.xlen(DLQ)) === 2 && (await pendingCount('storage')) === 0, 5000, 'two dead letters, nothing pending');
    await c.stop();
    expect(calls).toBe(1);
    expect(retries).toEqual([]);
    const dead = await listDeadLetters(client, DLQ);
    expect(dead.map((d) => [d.originalId, d.error, d.attempts])).toEqual([
      [ids[1]!, 'refused bad1', 1],
      [ids[3]!, 'refused bad2', 1],
    ]);
  });

  test('consumer - a FailedEntriesError naming no entry of the batch is an ordinary failure (retried, then entry by entry)', async () => {
    await append(['a']);
    let calls = 0;
    const c = new StreamConsumer(redis.client(), opts('c1'), async () => {
      calls++;
      throw new FailedEntriesError(new Map([['0-1', 'not in this batch']]));
    });
    await c.start();
    await waitFor(async () => (await client.xlen(DLQ)) === 1, 5000, 'dead letter');
    await c.stop();
    expect(calls).toBe(3); // 1 + maxRetryAttempts
    expect((await listDeadLetters(client, DLQ))[0]!.error).toBe('entry 0-1: not in this batch');
  });

  test('consumer - lingerMs: entries arriving one by one within the interval are handed over as one batch', async () => {
    const batches: string[][] = [];
    const c = new StreamConsumer(redis.client(), { ...opts('c1'), batchSize: 10, lingerMs: 1500 }, async (batch) => void batches.push(batch.map((e) => e.reading!.device_id)));
    await c.start();
    for (const d of ['a', 'b', 'c', 'd']) await append([d]);
    await waitFor(() => batches.length > 0, 10_000, 'a batch');
    await c.stop();
    expect(batches).toEqual([['a', 'b', 'c', 'd']]);
    expect(await pendingCount('storage')).toBe(0);
  });

  test('consumer - lingerMs: a full batch is handed over without waiting for the interval', async () => {
    await append(['a', 'b', 'c', 'd', 'e']);
    const batches: string[][] = [];
    const c = new StreamConsumer(redis.client(), { ...opts('c1'), batchSize: 2, lingerMs: 600_000 }, async (batch) => void batches.push(batch.map((e) => e.reading!.device_id)));
    await c.start();
    await waitFor(() => batches.flat().length >= 4, 10_000, 'two full batches');
    await c.stop();
    expect(batches.slice(0, 2)).toEqual([['a', 'b'], ['c', 'd']]);
  });
});

describe('RedisQueue (the platform names)', () => {
  test('queue - dequeue acknowledges the previous message; requeueWithRetry hands it out again, then to the DLQ', async () => {
    const q = new RedisQueue(redis.client(), { stream: STREAM, group: 'storage', consumer: 'q1', dlq: DLQ, retryBaseMs: 10, maxRetryAttempts: 2 });
    expect(await q.dequeue()).toBeNull(); // creates the group at the end of the stream
    await append(['a', 'b']);
    const a = (await q.dequeue())!;
    expect(a.data.device_id).toBe('a');
    const b = (await q.dequeue())!; // a acknowledged
    expect(b.data.device_id).toBe('b');
    expect(await pendingCount('storage')).toBe(1);
    for (let i = 0; i < 3; i++) {
      await q.requeueWithRetry(b, `save failed ${i}`);
      if (i < 2) {
        const again = await waitFor(async () => (await q.dequeue()) ?? undefined, 2000, 'retry');
        expect(again!.id).toBe(b.id);
        expect(again!.attempts).toBe(i + 1);
        Object.assign(b, again);
      }
    }
    expect(await q.dequeue()).toBeNull();
    expect(await pendingCount('storage')).toBe(0);
    const [d] = await listDeadLetters(client, DLQ);
    expect(d).toMatchObject({ originalId: b.id, error: 'save failed 2', attempts: 3 });
    await q.close();
  });

  test('queue - subscribe gets the live channel', async () => {
    const q = new RedisQueue(redis.client(), { stream: STREAM, group: 'g', consumer: 'q', dlq: DLQ });
    const got: string[] = [];
    await q.subscribe('sensor-events', (m) => got.push(m));
    await client.publish('sensor-events', '{"device_id":"a"}');
    await waitFor(() => got.length === 1, 2000, 'event');
    expect(got).toEqual(['{"device_id":"a"}']);
    await q.close();
  });

  test('queue - subscribeSharded gets each shard\'s channel (SPUBLISH, EVENTS_PUBSUB=sharded)', async () => {
    const q = new RedisQueue(redis.client(), { stream: STREAM, group: 'g', consumer: 'q', dlq: DLQ, shards: 3 });
    const got: string[] = [];
    await q.subscribeSharded('sensor-events', (m) => got.push(m));
    const layout = new KeyLayout({ stream: STREAM, shards: 3 });
    const channels = layout.all().map((i) => layout.name('sensor-events', i));
    expect(channels).toEqual(['sensor-events:{0-0}', 'sensor-events:{1-1}', 'sensor-events:{2-0}']);
    for (const [i, c] of channels.entries()) await client.spublish(c, `{"shard":${i}}`);
    await waitFor(() => got.length === 3, 2000, 'three events');
    expect(got.sort()).toEqual(['{"shard":0}', '{"shard":1}', '{"shard":2}']);
    await q.close();
  });
});

describe('dlq subcommand', () => {
  const cli = (...args: string[]) => spawnSync('node', [BUNDLE, ...args], { env: { PATH: process.env.PATH ?? '', REDIS_URL: redis.url, LOG_LEVEL: 'warn' }, encoding: 'utf8', timeout: 15_000 });
  test('dlq - list prints each dead letter as JSON; replay appends them to the stream again; bad usage exits 2', async () => {
    const [id] = await append(['poison']);
    await client.xgroup('CREATE', STREAM, 'storage', '0');
    await client.xreadgroup('GROUP', 'storage', 'c', 'STREAMS', STREAM, '>');
    const { deadLetter } = await import('../../src/consumer/dead-letter.ts');
    const [raw] = (await client.xrange(STREAM, '-', '+')) as [string, string[]][];
    const { toEntry } = await import('../../src/consumer/entry.ts');
    await deadLetter(client, { stream: STREAM, group: 'storage', dlq: DLQ }, toEntry(raw!), 'column "x" does not exist', 4);

    const list = cli('dlq', 'list');
    expect(list.status).toBe(0);
    const lines = list.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual([expect.objectContaining({ original_id: id, error: 'column "x" does not exist', attempts: 4, device_id: 'poison', group: 'storage' })]);

    const replay = cli('dlq', 'replay');
    expect(replay.status).toBe(0);
    expect(JSON.parse(replay.stdout)).toEqual({ replayed: 1, dlq: DLQ });
    expect(await client.xlen(DLQ)).toBe(0);
    expect(await client.xlen(STREAM)).toBe(2);

    const bad = cli('dlq', 'purge');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('dlq needs an action: list or replay');
    const noSink = cli('consume', 'nowhere');
    expect(noSink.status).toBe(2);
    expect(noSink.stderr).toContain('consume needs a sink');
  });
});
