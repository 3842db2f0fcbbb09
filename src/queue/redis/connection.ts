/**
 * ioredis clients from the Config: one Redis, or Redis Cluster (ioredis' Cluster client, from
 * seed nodes). Commands fail fast while disconnected (no offline queue, no silent resend): an
 * unconfirmed append must surface as 503 / held ack, never be replayed behind the caller's back.
 * On Cluster the same holds: a redirection (MOVED, ASK) or a refusal the command was never run
 * for (CLUSTERDOWN, TRYAGAIN) is followed, a command lost with its connection is not resent.
 * @module
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
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
  /** Redis Cluster seed nodes (REDIS_CLUSTER_NODES, parsed); when given, url/host/port/db are not used. */
  clusterNodes?: readonly { host: string; port: number }[] | undefined;
}

/** A connection to one Redis or to a Redis Cluster: the commands the service uses are the same on both. */
export type RedisClient = Redis | Cluster;

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

export function clusterOptions(o: RedisConnectionOptions, connectionName: string): ClusterOptions {
  const { host: _h, port: _p, db: _d, retryStrategy: _r, enableOfflineQueue: _e, ...node } = redisOptions(o);
  return {
    lazyConnect: true,
    // true, unlike one Redis: with false, ioredis refuses a command for a node whose connection
    // is still being made (at start, after a failover) as "Connection is closed." — measured: 2
    // commands in 3 right after connect. Held commands are bounded by the caller's timeout
    // (RedisBackend: REDIS_COMMAND_TIMEOUT_MS, as a sent command's).
    enableOfflineQueue: true,
    enableReadyCheck: true,
    scaleReads: 'master',
    redisOptions: { ...node, connectionName, ...(o.password !== undefined ? { password: o.password } : {}) },
    // the cluster's own reconnect: after losing every node, back off like one Redis
    clusterRetryStrategy: (times) => backoffDelay(RECONNECT, times),
    // a command whose connection closed under it is not resent (it may have run): it fails and
    // the batch is answered 503 / its acks held, and a retry is caught by dedupe
    retryDelayOnFailover: 0,
    // refusals of commands that did not run are safe to retry: the cluster is electing, a slot is moving
    retryDelayOnClusterDown: 200,
    retryDelayOnTryAgain: 100,
    maxRedirections: 16,
    // a failover or a reshard is learned from MOVED at once; the refresh catches what nothing asked for
    slotsRefreshInterval: 2000,
    slotsRefreshTimeout: 2000,
  };
}

/** @param clusterExtra Cluster options beyond the common ones (e.g. shardedSubscribers) */
export function createRedis(o: RedisConnectionOptions, connectionName: string, clusterExtra: Partial<ClusterOptions> = {}): RedisClient {
  if (o.clusterNodes && o.clusterNodes.length > 0) return new Cluster([...o.clusterNodes], { ...clusterOptions(o, connectionName), ...clusterExtra });
  const opts = { ...redisOptions(o), connectionName };
  return o.url ? new Redis(o.url, opts) : new Redis(opts);
}

/**
 * `p`, or a rejection after `ms`: for a command a Cluster client may hold in its offline queue
 * (where ioredis' commandTimeout has not started). Like a command timeout, the command may still
 * run later; the caller answers as for any unconfirmed append (503 / ack held, retry deduped).
 */
export function bounded<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no reply within ${ms} ms (Redis Cluster not ready)`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Whether a client is a Redis Cluster client. */
export function isCluster(r: RedisClient): r is Cluster {
  return (r as Cluster).isCluster === true;
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
export function reconnectWhenUnresponsive(redis: RedisClient, onDrop: () => void, everyMs = 1000, misses = 2): () => void {
  // a Cluster client watches its nodes itself (a node that stops answering is failed over by the
  // cluster and the client follows the slots); a PING would reach one node at random
  if (isCluster(redis)) return () => {};
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
