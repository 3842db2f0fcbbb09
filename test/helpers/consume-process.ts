/**
 * `neurobuild-ingest consume <sink>` spawned from the bundle under Node, as an operator runs
 * it, with its JSON log lines collected; started once it logs "consuming …".
 */
import { spawn } from 'node:child_process';
import { LoggedProcess } from './logged-process.ts';
import { BUNDLE } from './spawn-server.ts';
import { waitFor } from './wait.ts';

export class ConsumeProcess extends LoggedProcess {
  /** Spawns `consume <sink>` with `env` (REDIS_URL, DATABASE_URL, …) and waits until it consumes. */
  static async start(sink: string, env: Record<string, string>, args: string[] = []): Promise<ConsumeProcess> {
    const proc = spawn(process.env.NODE_BINARY ?? 'node', [BUNDLE, 'consume', sink, ...args], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const c = new ConsumeProcess(proc);
    // an early exit fails at once (waitFor would keep polling a throwing probe until its timeout)
    const early = c.exited().then(async (code) => {
      await c.outputClosed(); // the last output
      throw new Error(`consume ${sink} exited with ${code}: ${c.stderr}${c.stdout}`);
    });
    await Promise.race([waitFor(() => c.logged((m) => m.startsWith('consuming ')), 15_000, `consume ${sink} to start`), early]);
    early.catch(() => {});
    return c;
  }

  /** The first log line whose msg matches. */
  logged(match: (msg: string) => boolean): Record<string, unknown> | undefined {
    return this.logs.find((l) => typeof l.msg === 'string' && match(l.msg));
  }
}
