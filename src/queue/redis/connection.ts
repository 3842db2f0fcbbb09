/**
 * ioredis clients from the Config. Commands fail fast while disconnected (no offline
 * queue, no silent resend): an unconfirmed append must surface as 503 / held ack, never be
 * replayed behind the caller's back.
 * @module
 */
import { Redis, type RedisOptions } from 'ioredis';
import { backoffDelay } from '../../util/backoff.ts';

/** Reconnecting to Redis: 100 ms doubling to 2 s, half jitter (instances that lost Redis together do not return in step). */
const RECONNECT = { firstMs: 100, maxMs: 2000, jitter: 0.5 };

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
    retryStrategy: (times) => backoffDelay(RECONNECT, times),
    enableReadyCheck: true,
  };
}

export function createRedis(o: RedisConnectionOptions, connectionName: string): Redis {
  const opts = { ...redisOptions(o), connectionName };
  return o.url ? new Redis(o.url, opts) : new Redis(opts);
}

/**
 * Drops `redis` so that it connects again when it stops answering while it looks connected. A
 * peer gone without FIN or RST (its host lost, a failover to another address, NAT state dropped)
 * leaves the socket "ready" until TCP's retransmissions give up, ~15 minutes with Linux
 * defaults, and every command meanwhile waits for its timeout: found by the scenario
 * test/scenario/redis-partition.test.ts, where the server never got through again. One PING at
 * a time every `everyMs` while ready; `misses` timed out in a row (REDIS_COMMAND_TIMEOUT_MS each)
 * and the connection is dropped: commands fail at once until ioredis has connected again.
 * Not for a connection that blocks (XREADGROUP BLOCK): its PING would wait behind the command.
 * Returns the function that stops watching.
 */
export function reconnectWhenUnresponsive(redis: Redis, onDrop: () => void, everyMs = 1000, misses = 2): () => void {
  let missed = 0;
  let pinging = false;
  const timer = setInterval(() => {
    if (redis.status !== 'ready' || pinging) return;
    pinging = true;
    redis.ping().then(
      () => {
        missed = 0;
        pinging = false;
      },
      (err: unknown) => {
        pinging = false;
        if (redis.status !== 'ready' || !/timed out/i.test(String((err as Error)?.message))) return;
        if (++missed < misses) return;
        missed = 0;
        onDrop();
        redis.disconnect(true);
      },
    );
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
