/**
 * ioredis clients from the Config. Commands fail fast while disconnected (no offline
 * queue, no silent resend): an unconfirmed append must surface as 503 / held ack, never be
 * replayed behind the caller's back.
 * @module
 */
import { Redis, type RedisOptions } from 'ioredis';

export interface RedisConnectionOptions {
  url?: string | undefined;
  host?: string | undefined;
  port: number;
  password?: string | undefined;
  db: number;
  commandTimeoutMs: number;
}

export function redisOptions(o: RedisConnectionOptions): RedisOptions {
  // with a URL, host/port/password/db come from it (ioredis lets explicit options win)
  const target: RedisOptions = o.url
    ? {}
    : { host: o.host ?? '127.0.0.1', port: o.port, db: o.db, ...(o.password !== undefined ? { password: o.password } : {}) };
  return {
    ...target,
    lazyConnect: true,
    enableOfflineQueue: false,
    autoResendUnfulfilledCommands: false,
    maxRetriesPerRequest: 0,
    commandTimeout: o.commandTimeoutMs,
    connectTimeout: 5000,
    // reconnect forever, backing off to 2 s: the server keeps answering 503 meanwhile
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
    enableReadyCheck: true,
  };
}

export function createRedis(o: RedisConnectionOptions, connectionName: string): Redis {
  const opts = { ...redisOptions(o), connectionName };
  return o.url ? new Redis(o.url, opts) : new Redis(opts);
}
