// Child processes of a benchmark run: tracking and killing them (on exit, errors, signals and a
// watchdog), spawning with output to a log file, graceful stop, free ports and small probes
// (HTTP status, resident memory, log tail).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { benchName } from './cli.mjs';
import { ROOT } from './paths.mjs';

const children = new Set();

/** Registers a child so that killAll() reaches it; returns the child. */
export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Sends `signal` to every tracked child still running. */
export function killAll(signal = 'SIGKILL') {
  for (const c of children) {
    try {
      c.kill(signal);
    } catch {
      /* already gone */
    }
  }
}

/** Kills all tracked children on process exit and on SIGINT/SIGTERM/SIGHUP (then exits 130). */
export function installCleanup() {
  process.on('exit', () => killAll('SIGKILL'));
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`\n${benchName()}: ${sig} received, stopping child processes`);
      killAll('SIGKILL');
      process.exit(130);
    });
  }
}

/** Aborts the whole run (children killed, exit code 2) when it lasts longer than budgetS seconds. */
export function startWatchdog(budgetS) {
  const watchdog = setTimeout(() => {
    console.error(`${benchName()}: watchdog: run exceeded ${budgetS} s, aborting`);
    killAll('SIGKILL');
    process.exit(2);
  }, budgetS * 1000);
  watchdog.unref();
  return watchdog;
}

/** Spawns a tracked child in the repository root with stdout+stderr appended to logFile. */
export function spawnLogged(cmd, args, logFile, env) {
  const fd = fs.openSync(logFile, 'a');
  try {
    return track(spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', fd, fd] }));
  } finally {
    fs.closeSync(fd);
  }
}

/** Resolves after ms milliseconds. */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves once the child has exited (at once if it already has). */
export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', r));
}

/**
 * SIGTERM, then SIGKILL after graceMs.
 * @returns {Promise<{code: number|null, signal: string|null, forced: boolean}>}
 */
export async function stop(child, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode, forced: false };
  child.kill('SIGTERM');
  const t = sleep(graceMs).then(() => 'timeout');
  const forced = (await Promise.race([exited(child).then(() => 'ok'), t])) === 'timeout';
  if (forced) {
    child.kill('SIGKILL');
    await exited(child);
  }
  return { code: child.exitCode, signal: child.signalCode, forced };
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** HTTP status of GET http://127.0.0.1:port/urlPath, or 0 on error or after 1 s. */
export function httpStatus(port, urlPath) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** VmRSS of a live process in KiB (from /proc/<pid>/status), or NaN. */
export function rssKiB(pid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** The last lines of a log file, for error messages. */
export function tail(file, lines = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
