import { afterAll, beforeAll } from 'bun:test';
import { RedisServer } from '../helpers/redis-server.ts';
import { runRedisContracts } from './redis-contract-setup.ts';

let redis: RedisServer;
beforeAll(async () => {
  redis = await RedisServer.start();
});
afterAll(() => redis.dispose());

const connection = () => ({ port: redis.port, db: 0, commandTimeoutMs: 2000 });
runRedisContracts('redis', { connection, client: () => redis.client(), shards: 1, cluster: false });
// several streams on one Redis: the split by device, each device in its own shard
runRedisContracts('redis, 4 shards', { connection, client: () => redis.client(), shards: 4, cluster: false });
runRedisContracts('redis, 4 shards, SPUBLISH', { connection, client: () => redis.client(), shards: 4, cluster: false, eventsPubsub: 'sharded' });
