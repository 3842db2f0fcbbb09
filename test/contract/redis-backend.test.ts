import { afterAll, beforeAll } from 'bun:test';
import { pino } from 'pino';
import { RedisBackend } from '../../src/queue/redis/index.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { runQueueBackendContract, type StoredEntry } from './queue-backend.contract.ts';
import { runFleetStoreContract } from './fleet-store.contract.ts';
import { RedisFleetStore } from '../../src/queue/redis/fleet-store.ts';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.dispose());

const log = pino({ level: 'silent' });
let suite = 0;

function toEntries(rows: [string, string[]][]): StoredEntry[] {
  return rows.map(([id, flat]) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
    return { id, fields };
  });
}

runQueueBackendContract('redis', async (dedupeWindowMs) => {
  suite++;
  const names = { stream: `s${suite}`, dlq: `s${suite}-dlq`, rejects: `s${suite}-invalid`, eventsChannel: `ev${suite}`, metadataKey: `md${suite}` };
  const make = async () => {
    const b = new RedisBackend({ port: redis.port, db: 0, commandTimeoutMs: 2000, ...names, dedupeWindowMs, maxLen: 0, rejectsMaxLen: 1000 }, log);
    await b.start();
    return b;
  };
  const backend = await make();
  const client = redis.client();
  return {
    backend,
    readStream: async () => toEntries((await client.xrange(names.stream, '-', '+')) as [string, string[]][]),
    readRejects: async () => toEntries((await client.xrange(names.rejects, '-', '+')) as [string, string[]][]),
    peer: make,
    dispose: () => backend.close(),
  };
}, true);

runFleetStoreContract('redis', async (keepMs = 30 * 86_400_000) => ({ store: new RedisFleetStore(redis.client(), `fleet${++suite}`, 600, keepMs), instanceTtlMs: 600 }));
