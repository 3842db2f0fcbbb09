/**
 * The queue-backend and fleet-store contracts on a real Redis Cluster (3 primaries, 3 replicas),
 * with one stream and with six (live events by PUBLISH, and by SPUBLISH).
 */
import { afterAll, beforeAll } from 'bun:test';
import { runRedisContracts } from '../contract/redis-contract-setup.ts';
import { RedisCluster } from '../helpers/redis-cluster.ts';

let cluster: RedisCluster;
beforeAll(async () => {
  cluster = await RedisCluster.start();
});
afterAll(() => cluster.dispose());

const connection = () => ({ port: 0, db: 0, commandTimeoutMs: 2000, clusterNodes: cluster.seeds.split(',').map((s) => ({ host: s.split(':')[0]!, port: Number(s.split(':')[1]) })) });
for (const shards of [1, 6]) runRedisContracts(`redis cluster, ${shards} shard${shards > 1 ? 's' : ''}`, { connection, client: () => cluster.client(), shards, cluster: true });
// the live events by SPUBLISH on one channel per shard (EVENTS_PUBSUB=sharded)
runRedisContracts('redis cluster, 6 shards, SPUBLISH', { connection, client: () => cluster.client(), shards: 6, cluster: true, eventsPubsub: 'sharded' });
