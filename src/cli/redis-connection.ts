/**
 * The Redis connection settings of the configuration, for every part that opens a connection.
 * @module
 */
import type { Config } from '../config/schema.ts';
import type { RedisConnectionOptions } from '../queue/redis/connection.ts';

export function redisConnection(config: Config): RedisConnectionOptions {
  return { url: config.REDIS_URL, host: config.REDIS_HOST, port: config.REDIS_PORT, password: config.REDIS_PASSWORD, db: config.REDIS_DB, commandTimeoutMs: config.REDIS_COMMAND_TIMEOUT_MS };
}
