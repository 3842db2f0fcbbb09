/**
 * The Redis connection settings and the key layout of the configuration, for every part that
 * opens a connection or names a key.
 * @module
 */
import { clusterNodesOf } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { KeyLayout } from '../queue/key-layout.ts';
import type { RedisConnectionOptions } from '../queue/redis/connection.ts';

export function redisConnection(config: Config): RedisConnectionOptions {
  const clusterNodes = clusterNodesOf(config);
  return {
    url: config.REDIS_URL,
    host: config.REDIS_HOST,
    port: config.REDIS_PORT,
    password: config.REDIS_PASSWORD,
    db: config.REDIS_DB,
    commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS,
    ...(clusterNodes.length > 0 ? { clusterNodes } : {}),
  };
}

/** Where the keys of this configuration live (shards, Cluster hash tags). */
export function keyLayout(config: Config): KeyLayout {
  return new KeyLayout({ stream: config.QUEUE_NAME, shards: config.STREAM_SHARDS, cluster: clusterNodesOf(config).length > 0 });
}
