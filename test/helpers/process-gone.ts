/**
 * Resolves once a child process has exited: on its 'exit' event, or when /proc shows it gone or
 * a zombie (polled every 100 ms). The poll is the fallback for an 'exit' event the runtime did not
 * deliver: an afterAll once waited 60 s on a server that had exited (one run in several hundred).
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

function gone(pid: number | undefined): boolean {
  if (pid === undefined) return true;
  try {
    // the state is the field after the parenthesised command name
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

export function processGone(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearInterval(poll);
      resolve();
    };
    const poll = setInterval(() => gone(proc.pid) && done(), 100);
    proc.once('exit', done);
  });
}
