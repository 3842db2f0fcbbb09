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
}

export interface Stack {
  readonly redis: RedisServer;
  /** The first server. */
  readonly server: ServerProcess;
  readonly servers: readonly ServerProcess[];
  /** One ioredis client for assertions, opened on first use. */
  readonly client: Redis;
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
  let client: Redis | undefined;
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
      return (client ??= stack.redis.client());
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
    if (opts.redis !== false) redis = await RedisServer.start(opts.redis ?? []);
    baseEnv = { ...(redis ? { REDIS_URL: redis.url } : {}), ...(typeof env === 'function' ? await env() : env) };
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
    }
  });

  return stack;
}
