/**
 * The usual integration fixture: a real redis-server and the built server(s) on it, started in
 * beforeAll and torn down in afterAll, together with whatever a test registered with it.
 *
 *   const stack = useStack({ MAX_IN_FLIGHT: '20' });
 *   test('…', async () => { await stack.server.post(…); await stack.client.xlen('sensor-data'); });
 *
 * Teardown order: tracked clients are ended, the servers stopped, cleanups run (last registered
 * first), then redis-server is killed (which also closes every `redis.client()`).
 */
import { afterAll, beforeAll } from 'bun:test';
import type { Redis } from 'ioredis';
import { KeyLayout } from '../../src/queue/key-layout.ts';
import { RedisCluster } from './redis-cluster.ts';
import { RedisServer } from './redis-server.ts';
import { ServerProcess } from './spawn-server.ts';

type Env = Record<string, string>;

/** What `track` accepts: MQTT.js clients (ended with force), RawMqtt, and anything with close(). */
export type Closable = { end(force?: boolean): unknown } | { close(): unknown };

export interface StackOptions {
  /** Arguments for redis-server (e.g. persistence); `false`: no Redis, the server runs embedded. */
  redis?: string[] | false;
  /** How many server processes to start on the same Redis and env (default 1; 0: the test starts its own). */
  servers?: number;
  /**
   * A Redis Cluster (3 primaries, 3 replicas) instead of one redis-server, with STREAM_SHARDS
   * `shards` (the servers get REDIS_CLUSTER_NODES and STREAM_SHARDS; `redis` is then unused).
   */
  cluster?: { shards: number };
}

export interface Stack {
  readonly redis: RedisServer;
  /** The first server. */
  readonly server: ServerProcess;
  readonly servers: readonly ServerProcess[];
  /**
   * One ioredis client for assertions, opened on first use: on a cluster stack a Cluster client
   * (typed as Redis: the commands the tests use are the same on both).
   */
  readonly client: Redis;
  /** A new client of the stack's Redis (or cluster), closed at the end. */
  newClient(): Redis;
  /** The cluster, on a cluster stack. */
  readonly cluster: RedisCluster;
  /** Where the servers' keys are (QUEUE_NAME sensor-data, the stack's shards, Cluster or not). */
  readonly layout: KeyLayout;
  /** The entries of a stream, [id, flat fields]; for sensor-data every shard's, shard after shard. */
  xrange(stream: string): Promise<[string, string[]][]>;
  /** Starts one more server on this Redis (env on top of the stack's), stopped in afterAll. */
  startServer(env?: Env, args?: string[]): Promise<ServerProcess>;
  /** Ends `c` in afterAll, before the servers stop; returns it. */
  track<T extends Closable>(c: T): T;
  /** Runs `fn` in afterAll, after the servers stopped and before Redis is killed. */
  cleanup(fn: () => unknown): void;
}

/**
 * Registers beforeAll/afterAll for the current scope (file or describe). `env` is added to the
 * servers' environment after REDIS_URL; as a function it is called in beforeAll, once Redis is up.
 */
export function useStack(env: Env | (() => Env | Promise<Env>) = {}, opts: StackOptions = {}): Stack {
  let redis: RedisServer | undefined;
  let cluster: RedisCluster | undefined;
  let client: Redis | undefined;
  const layout = new KeyLayout({ stream: 'sensor-data', shards: opts.cluster?.shards ?? 1, cluster: opts.cluster !== undefined });
  let baseEnv: Env = {};
  const servers: ServerProcess[] = [];
  const tracked: Closable[] = [];
  const cleanups: (() => unknown)[] = [];

  const started = <T>(what: string, v: T | undefined): T => {
    if (v === undefined) throw new Error(`useStack: no ${what} (not started yet, or not part of this stack)`);
    return v;
  };

  const stack: Stack = {
    get redis() {
      return started('redis', redis);
    },
    get server() {
      return started('server', servers[0]);
    },
    get servers() {
      return servers;
    },
    get client() {
      return (client ??= stack.newClient());
    },
    newClient() {
      return cluster ? (cluster.client() as unknown as Redis) : stack.redis.client();
    },
    get cluster() {
      return started('cluster', cluster);
    },
    layout,
    async xrange(stream) {
      const names = stream === 'sensor-data' ? layout.streams() : [stream];
      return (await Promise.all(names.map((n) => stack.client.xrange(n, '-', '+')))).flat() as [string, string[]][];
    },
    async startServer(extra = {}, args = []) {
      const s = await ServerProcess.start({ ...baseEnv, ...extra }, args);
      servers.push(s);
      return s;
    },
    track(c) {
      tracked.push(c);
      return c;
    },
    cleanup(fn) {
      cleanups.push(fn);
    },
  };

  beforeAll(async () => {
    if (opts.cluster) cluster = await RedisCluster.start();
    else if (opts.redis !== false) redis = await RedisServer.start(opts.redis ?? []);
    const where: Env = cluster ? { REDIS_CLUSTER_NODES: cluster.seeds, STREAM_SHARDS: String(layout.shards) } : redis ? { REDIS_URL: redis.url } : {};
    baseEnv = { ...where, ...(typeof env === 'function' ? await env() : env) };
    // in parallel, kept in start order; one that did start is stopped in afterAll even if another failed
    const results = await Promise.allSettled(Array.from({ length: opts.servers ?? 1 }, () => ServerProcess.start(baseEnv)));
    for (const r of results) if (r.status === 'fulfilled') servers.push(r.value);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  });

  afterAll(async () => {
    for (const c of tracked.splice(0)) {
      if ('end' in c) c.end(true);
      else c.close();
    }
    try {
      await Promise.all(servers.splice(0).map((s) => s.stop()));
      for (const fn of cleanups.splice(0).reverse()) await fn();
    } finally {
      await redis?.dispose();
      await cluster?.dispose();
    }
  });

  return stack;
}
