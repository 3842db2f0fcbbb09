/**
 * A child process of the built binary whose stdout JSON log lines are collected (non-JSON lines
 * stay in `stdout` only), with stop-and-wait; the base of ServerProcess and ConsumeProcess.
 */
import type { ChildProcess } from 'node:child_process';
import { onLines } from './lines.ts';
import { processGone } from './process-gone.ts';

export class LoggedProcess {
  readonly logs: Record<string, unknown>[] = [];
  stdout = '';
  stderr = '';
  readonly #exit: Promise<number | null>;
  readonly #closed: Promise<void>;

  constructor(readonly proc: ChildProcess) {
    proc.stdout!.on('data', (d: Buffer) => (this.stdout += d));
    onLines(proc.stdout!, (line) => {
      try {
        this.logs.push(JSON.parse(line));
      } catch {
        // not JSON (pretty format): kept in stdout only
      }
    });
    proc.stderr!.on('data', (d: Buffer) => (this.stderr += d));
    this.#exit = new Promise((res) => proc.once('exit', (code) => res(code)));
    this.#closed = new Promise((res) => proc.once('close', () => res()));
    process.once('exit', () => proc.kill('SIGKILL'));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  /** Sends a signal and waits for the exit code (SIGKILL after timeoutMs). */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 15_000): Promise<number | null> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    await processGone(this.proc);
    clearTimeout(timer);
    // the exit code comes with the 'exit' event; should that never come, what the process object knows
    let fallback: ReturnType<typeof setTimeout> | undefined;
    const code = await Promise.race([this.#exit, new Promise<number | null>((r) => (fallback = setTimeout(() => r(this.proc.exitCode), 2000)))]);
    clearTimeout(fallback);
    return code;
  }

  exited(): Promise<number | null> {
    return this.#exit;
  }

  /** Resolves once the process exited and its stdout and stderr were read to the end. */
  outputClosed(): Promise<void> {
    return this.#closed;
  }
}
