/**
 * `neurobuild-ingest consume <sink>` spawned from the bundle under Node, as an operator runs
 * it, with its JSON log lines collected; started once it logs "consuming …".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BUNDLE } from './spawn-server.ts';
import { waitFor } from './wait.ts';

export class ConsumeProcess {
  readonly logs: Record<string, unknown>[] = [];
  stdout = '';
  stderr = '';
  readonly #exit: Promise<number | null>;

  private constructor(readonly proc: ChildProcess) {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      this.stdout += d;
      buf += d;
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        try {
          this.logs.push(JSON.parse(line));
        } catch {
          // not JSON
        }
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d));
    this.#exit = new Promise((res) => proc.once('exit', (code) => res(code)));
    process.once('exit', () => proc.kill('SIGKILL'));
  }

  /** Spawns `consume <sink>` with `env` (REDIS_URL, DATABASE_URL, …) and waits until it consumes. */
  static async start(sink: string, env: Record<string, string>, args: string[] = []): Promise<ConsumeProcess> {
    const proc = spawn(process.env.NODE_BINARY ?? 'node', [BUNDLE, 'consume', sink, ...args], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const c = new ConsumeProcess(proc);
    // an early exit fails at once (waitFor would keep polling a throwing probe until its timeout)
    const early = c.#exit.then(async (code) => {
      await new Promise((r) => setTimeout(r, 50)); // the last output
      throw new Error(`consume ${sink} exited with ${code}: ${c.stderr}${c.stdout}`);
    });
    await Promise.race([waitFor(() => c.logged((m) => m.startsWith('consuming ')), 15_000, `consume ${sink} to start`), early]);
    early.catch(() => {});
    return c;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** The first log line whose msg matches. */
  logged(match: (msg: string) => boolean): Record<string, unknown> | undefined {
    return this.logs.find((l) => typeof l.msg === 'string' && match(l.msg));
  }

  /** Sends a signal and waits for the exit code (SIGKILL after timeoutMs). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const code = await this.#exit;
    clearTimeout(timer);
    return code;
  }

  exited(): Promise<number | null> {
    return this.#exit;
  }
}
