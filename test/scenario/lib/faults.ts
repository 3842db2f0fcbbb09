/**
 * The fault injector: redis-server and the server process killed (SIGKILL), frozen
 * (SIGSTOP / SIGCONT), stopped (SIGTERM) and restarted on the same port (Redis: same
 * arguments and directory, so an AOF is replayed; server: same environment and ports), plus the
 * TCP proxy between them when the scenario put one there. Every injection is logged with its time.
 * @module
 */
import type { RedisServer } from '../../helpers/redis-server.ts';
import type { ServerProcess } from '../../helpers/spawn-server.ts';
import type { TcpProxy } from './proxy.ts';

export class Faults {
  /** What was injected when (Date.now()). */
  readonly timeline: { t: number; what: string }[] = [];

  constructor(
    readonly redis: RedisServer,
    /** The server now running (replaced by restartServer()). */
    public server: ServerProcess,
    readonly proxy?: TcpProxy,
  ) {}

  #mark(what: string): number {
    const t = Date.now();
    this.timeline.push({ t, what });
    return t;
  }

  /** SIGKILL to redis-server; resolves once it exited. */
  async killRedis(): Promise<number> {
    const t = this.#mark('redis SIGKILL');
    await this.redis.stop('SIGKILL');
    return t;
  }

  /** Starts redis-server again on its port and directory; resolves (with the time) once it answers PING. */
  async restartRedis(): Promise<number> {
    this.#mark('redis restarting');
    await this.redis.restart();
    return this.#mark('redis answers PING');
  }

  /** SIGSTOP: Redis keeps its connections but answers nothing until thawed. */
  freezeRedis(): number {
    const t = this.#mark('redis SIGSTOP');
    void this.redis.stop('SIGSTOP');
    return t;
  }

  thawRedis(): number {
    const t = this.#mark('redis SIGCONT');
    void this.redis.stop('SIGCONT');
    return t;
  }

  /** SIGKILL to the server; resolves once it exited. */
  async killServer(): Promise<number> {
    const t = this.#mark('server SIGKILL');
    await this.server.stop('SIGKILL');
    return t;
  }

  /** SIGTERM to the server; resolves with its exit code and how long the drain took. */
  async termServer(): Promise<{ code: number | null; drainMs: number; at: number }> {
    const at = this.#mark('server SIGTERM');
    this.server.proc.kill('SIGTERM');
    const code = await this.server.exited();
    this.#mark(`server exited ${code}`);
    return { code, drainMs: Date.now() - at, at };
  }

  /** Starts the server again with the same environment and ports; resolves (with the time) once it listens. */
  async restartServer(extra: Record<string, string> = {}): Promise<number> {
    this.#mark('server restarting');
    this.server = await this.server.restart(extra);
    return this.#mark('server listening');
  }

  /** The proxy, or an error naming the scenario's mistake. */
  get link(): TcpProxy {
    if (!this.proxy) throw new Error('this scenario has no proxy between the server and Redis');
    return this.proxy;
  }

  /** The timeline relative to `t0`, in seconds, for the summary. */
  relative(t0: number): string[] {
    return this.timeline.map((e) => `${((e.t - t0) / 1000).toFixed(2)}s ${e.what}`);
  }
}
