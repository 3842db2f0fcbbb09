/**
 * The queue-backend and fleet-store contracts on Redis: one Redis or a Redis Cluster, one
 * stream or several (STREAM_SHARDS). Used by redis-backend.test.ts and redis-cluster-backend.test.ts.
 */
import type { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import { KeyLayout } from '../../src/queue/key-layout.ts';
import { RedisFleetStore } from '../../src/queue/redis/fleet-store.ts';
import { RedisBackend } from '../../src/queue/redis/index.ts';
import type { RedisConnectionOptions } from '../../src/queue/redis/connection.ts';
import { runFleetStoreContract } from './fleet-store.contract.ts';
import { runQueueBackendContract, type StoredEntry } from './queue-backend.contract.ts';

const log = pino({ level: 'silent' });
let suite = 0;

function toEntries(rows: [string, string[]][]): StoredEntry[] {
  return rows.map(([id, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return { id, fields };
  });
}

/**
 * @param connection how the backend connects (a port, or cluster seed nodes), read when a test starts
 * @param client a client for assertions
 */
export function runRedisContracts(label: string, o: { connection: () => RedisConnectionOptions; client: () => Redis | Cluster; shards: number; cluster: boolean; eventsPubsub?: 'classic' | 'sharded' }): void {
  runQueueBackendContract(label, async (dedupeWindowMs) => {
    suite++;
    const layout = new KeyLayout({ stream: `s${suite}`, shards: o.shards, cluster: o.cluster });
    const names = { dlq: `s${suite}-dlq`, rejects: `s${suite}-invalid`, eventsChannel: `ev${suite}`, metadataKey: `md${suite}` };
    const make = async () => {
      const b = new RedisBackend({ ...o.connection(), layout, ...names, dedupeWindowMs, maxLen: 0, rejectsMaxLen: 1000, eventsPubsub: o.eventsPubsub ?? 'classic' }, log);
      await b.start();
      return b;
    };
    const backend = await make();
    const client = o.client();
    return {
      backend,
      // every shard's stream, shard after shard (order is kept per device, within its shard)
      readStream: async () => (await Promise.all(layout.streams().map(async (s) => toEntries((await client.xrange(s, '-', '+')) as [string, string[]][])))).flat(),
      readRejects: async () => toEntries((await client.xrange(names.rejects, '-', '+')) as [string, string[]][]),
      peer: make,
      dispose: () => backend.close(),
    };
  }, true);

  runFleetStoreContract(label, async (keepMs = 30 * 86_400_000) => ({
    store: new RedisFleetStore(o.client(), new KeyLayout({ stream: 'fleet-stream', shards: o.shards, cluster: o.cluster }), `fleet${++suite}`, 600, keepMs),
    instanceTtlMs: 600,
  }));
}
