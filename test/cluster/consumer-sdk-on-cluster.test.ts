/**
 * The consumer SDK on a real Redis Cluster (3 primaries, 3 replicas): RedisQueue reads every
 * shard (each device's readings in order), sends a message that keeps failing to its shard's DLQ
 * (a MULTI of XADD to the DLQ and XACK on the stream: both must share a slot), and
 * StreamConsumer, as `consume` runs it per shard, does the same for a poison entry; the live
 * events the server SPUBLISHes per shard reach RedisQueue.subscribeSharded; with STREAM_SHARDS 1 and 6.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { Redis, type Cluster } from 'ioredis';
import { listDeadLetters, RedisQueue, StreamConsumer } from '../../src/consumer/index.ts';
import { KeyLayout } from '../../src/queue/key-layout.ts';
import { RedisBackend } from '../../src/queue/redis/index.ts';
import { pino } from 'pino';
import { RedisCluster } from '../helpers/redis-cluster.ts';
import { waitFor } from '../helpers/wait.ts';

let cluster: RedisCluster;
let client: Cluster;
beforeAll(async () => {
  cluster = await RedisCluster.start();
  client = cluster.client();
});
afterAll(() => cluster.dispose());

for (const shards of [1, 6]) {
  describe(`consumer SDK on Redis Cluster, ${shards} shard${shards > 1 ? 's' : ''}`, () => {
    const layout = new KeyLayout({ stream: 'sensor-data', shards, cluster: true });
    const DLQ = 'sensor-data-dlq';
    beforeEach(async () => {
      await Promise.all((await cluster.primaries()).map(async (p) => {
        const r = new Redis({ port: p.port });
        await r.flushall();
        r.disconnect();
      }));
    });

    /** Appends readings of `devices` (in order) to their shards' streams, the way the server lays them out. */
    async function append(devices: string[]): Promise<void> {
      for (const [i, d] of devices.entries()) {
        const data = JSON.stringify({ device_id: d, timestamp: new Date(1_700_000_000_000 + i).toISOString(), sensors: { pir: { motion_detected: true } }, message_id: `m-${d}-${i}` });
        await client.xadd(layout.stream(layout.shardOf(d)), '*', 'data', data, 'device_id', d, 'message_id', `m-${d}-${i}`);
      }
    }

    test(`sdk on cluster, ${shards} shard(s) - RedisQueue reads every shard, each device in order; a failing message goes to its shard's DLQ`, async () => {
      const q = new RedisQueue(client, { stream: 'sensor-data', group: 'storage', consumer: 'q1', dlq: DLQ, retryBaseMs: 10, maxRetryAttempts: 1, shards });
      expect(await q.dequeue()).toBeNull(); // the groups, at the end of each stream
      const devices = Array.from({ length: 60 }, (_, i) => `dev-${i % 12}`);
      await append(devices);
      const seen = new Map<string, number[]>();
      let poison: Awaited<ReturnType<RedisQueue['dequeue']>> = null;
      await waitFor(async () => {
        // everything there is, then look again
        for (let m = await q.dequeue(); m; m = await q.dequeue()) {
          const d = m.data.device_id as string;
          seen.set(d, [...(seen.get(d) ?? []), Date.parse(m.data.timestamp as string)]);
          if (d === 'dev-5' && !poison) poison = m;
        }
        return [...seen.values()].reduce((n, t) => n + t.length, 0) === devices.length;
      }, 20_000, 'every reading dequeued');
      for (const ts of seen.values()) expect(ts).toEqual([...ts].sort((a, b) => a - b));
      expect(new Set([...seen.keys()]).size).toBe(12);

      // the first dev-5 reading fails for good: one retry, then its shard's DLQ
      const m = poison!;
      await q.requeueWithRetry(m, 'bad 1');
      const again = await waitFor(async () => (await q.dequeue()) ?? undefined, 5000, 'the retry');
      expect(again!.id).toBe(m.id);
      await q.requeueWithRetry(again!, 'bad 2');
      const dlq = layout.name(DLQ, layout.shardOf('dev-5'));
      expect(dlq === DLQ).toBe(false); // on Cluster the DLQ carries its stream's hash tag
      const dead = (await waitFor(async () => (await listDeadLetters(client, dlq))[0], 5000, 'the dead letter'))!;
      expect(dead).toMatchObject({ originalId: m.id, error: 'bad 2' });
      await q.close();
    }, 30_000);

    test(`sdk on cluster, ${shards} shard(s) - subscribeSharded gets the events the backend SPUBLISHes on every shard's channel, each device's in order`, async () => {
      const seeds = cluster.seeds.split(',').map((x) => ({ host: x.split(':')[0]!, port: Number(x.split(':')[1]) }));
      const backend = new RedisBackend({ port: 0, db: 0, commandTimeoutMs: 2000, clusterNodes: seeds, layout, dlq: DLQ, rejects: 'sensor-data-invalid', eventsChannel: 'sensor-events', eventsPubsub: 'sharded', metadataKey: 'device-metadata', dedupeWindowMs: 0, maxLen: 0, rejectsMaxLen: 1000 }, pino({ level: 'silent' }));
      await backend.start();
      const q = new RedisQueue(client, { stream: 'sensor-data', group: 'g', consumer: 'q', dlq: DLQ, shards });
      const got: { device_id: string; n: number }[] = [];
      await q.subscribeSharded('sensor-events', (m) => got.push(JSON.parse(m) as { device_id: string; n: number }));
      const entry = (device: string, n: number) => ({ deviceId: device, timestampMs: 1_700_000_000_000 + n, dedupeKey: '', messageId: `m-${device}-${n}`, json: JSON.stringify({ device_id: device, n }) });
      // SSUBSCRIBE is a round trip per shard: probe until an event of every shard came through
      const devices = Array.from({ length: 24 }, (_, i) => `ev-${i}`);
      expect(new Set(devices.map((d) => layout.shardOf(d))).size).toBe(shards);
      let n = 0;
      await waitFor(async () => {
        n++;
        await backend.appendBatch(devices.map((d) => entry(d, n)));
        return devices.every((d) => got.some((e) => e.device_id === d));
      }, 10_000, 'events of every shard');
      // every event of the last probe is in too: once it is, no earlier one is left to come (order per shard)
      await waitFor(() => devices.every((d) => got.some((e) => e.device_id === d && e.n === n)), 10_000, 'the last probe');
      got.length = 0;
      const last = n + 5;
      for (n = n + 1; n <= last; n++) await backend.appendBatch(devices.map((d) => entry(d, n)));
      await waitFor(() => got.length === devices.length * 5, 10_000, 'five events per device');
      for (const d of devices) expect(got.filter((e) => e.device_id === d).map((e) => e.n)).toEqual([last - 4, last - 3, last - 2, last - 1, last]);
      await q.close();
      await backend.close();
    }, 30_000);

    test(`sdk on cluster, ${shards} shard(s) - StreamConsumer per shard: a poison entry goes to the shard's DLQ, the rest is handled once`, async () => {
      const devices = ['a', 'poison', 'b', 'c', 'd'];
      const stored: string[] = [];
      const consumers = layout.all().map((shard) =>
        new StreamConsumer(client, { stream: layout.stream(shard), group: 'storage', consumer: `c${shard}`, dlq: layout.name(DLQ, shard), blockMs: 100, retryBaseMs: 10, maxRetryAttempts: 1, startId: '0' }, async (batch) => {
          if (batch.some((e) => e.reading!.device_id === 'poison')) throw new Error('value out of range');
          stored.push(...batch.map((e) => e.reading!.device_id));
        }),
      );
      await append(devices);
      await Promise.all(consumers.map((c) => c.start()));
      const dlq = layout.name(DLQ, layout.shardOf('poison'));
      await waitFor(async () => stored.length === 4 && (await client.xlen(dlq)) === 1, 10_000, 'four stored, one dead letter');
      await Promise.all(consumers.map((c) => c.stop()));
      expect(stored.sort()).toEqual(['a', 'b', 'c', 'd']);
      const [d] = await listDeadLetters(client, dlq);
      expect(JSON.parse(d!.fields.data!).device_id).toBe('poison');
    }, 30_000);
  });
}
