/**
 * A real redis-server per suite on a free port, no persistence (unless extraArgs turn it on:
 * restart() reuses the port, the arguments and the directory, so an AOF is replayed), killed at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.ts';
import { processGone } from './process-gone.ts';
import { waitFor } from './wait.ts';

export class RedisServer {
  #proc: ChildProcess | undefined;
  #clients: Redis[] = [];
  readonly #dir = mkdtempSync(join(tmpdir(), 'nb-redis-'));

  private constructor(
    readonly port: number,
    readonly extraArgs: string[],
  ) {}

  static async start(extraArgs: string[] = []): Promise<RedisServer> {
    const r = new RedisServer(await freePort(), extraArgs);
    await r.restart();
    return r;
  }

  /** The running redis-server's process id (after restart(), the new one's). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }

  /** The working directory (AOF and RDB files), kept across restart() until dispose(). */
  get dir(): string {
    return this.#dir;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** A client for assertions, closed by dispose(). */
  client(): Redis {
    const c = new Redis({ port: this.port, maxRetriesPerRequest: 1 });
    c.on('error', () => {});
    this.#clients.push(c);
    return c;
  }

  /** (Re)starts redis-server on the same port and waits until it answers PING. */
  async restart(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.#dir, ...this.extraArgs];
    this.#proc = spawn('redis-server', args, { stdio: 'ignore' });
    const probe = new Redis({ port: this.port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => {});
    await waitFor(async () => {
      try {
        if (probe.status !== 'ready') await probe.connect();
        return (await probe.ping()) === 'PONG';
      } catch {
        probe.disconnect();
        return false;
      }
    }, 10_000, `redis-server on ${this.port}`);
    probe.disconnect();
  }

  /** Sends `signal` (SIGKILL by default) and waits until the server exited; SIGSTOP/SIGCONT only freeze and thaw it. */
  async stop(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.#proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    if (signal === 'SIGSTOP' || signal === 'SIGCONT') {
      p.kill(signal);
      return;
    }
    const exited = processGone(p);
    p.kill(signal);
    await exited;
  }

  async dispose(): Promise<void> {
    for (const c of this.#clients) c.disconnect();
    this.#proc?.kill('SIGCONT');
    await this.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
