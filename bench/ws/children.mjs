// The benchmark's own client programs (subscribers.mjs, sender.mjs) as tracked child processes
// speaking JSON lines: commands on their stdin, one JSON object per line on their stdout
// (`{"event": ...}`), stderr and every stdout line appended to a log file.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import readline from 'node:readline';
import { ROOT } from '../lib/paths.mjs';
import { stop, tail, track } from '../lib/processes.mjs';

/**
 * Starts `node <script> ...args`. `expect(event, timeoutMs)` resolves with the next message of
 * that event (messages are queued until asked for) and rejects on an `error` message, on exit or
 * timeout; `send(line)` writes a command; `finish(event)` closes stdin and waits for that last
 * message and the exit; `kill()` ends it for good.
 */
export function spawnJsonChild(script, args, logFile) {
  const fd = fs.openSync(logFile, 'a');
  let child;
  try {
    child = track(spawn(process.execPath, [script, ...args.map(String)], { cwd: ROOT, stdio: ['pipe', 'pipe', fd] }));
  } finally {
    fs.closeSync(fd);
  }
  child.stdin.on('error', () => {}); // EPIPE when it already exited: seen through 'exit'
  const queue = [];
  const waiters = [];
  let exitInfo = null;
  const settle = () => {
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      const k = queue.findIndex((m) => m.event === w.event || m.event === 'error');
      if (k !== -1) {
        const [m] = queue.splice(k, 1);
        waiters.splice(i--, 1);
        clearTimeout(w.timer);
        if (m.event === 'error' && w.event !== 'error') w.reject(new Error(`${script}: ${m.message}`));
        else w.resolve(m);
      } else if (exitInfo) {
        waiters.splice(i--, 1);
        clearTimeout(w.timer);
        w.reject(new Error(`${script} exited (${exitInfo}) before "${w.event}"; log ${logFile}:\n${tail(logFile)}`));
      }
    }
  };
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    fs.appendFileSync(logFile, `${line}\n`);
    try {
      queue.push(JSON.parse(line));
    } catch {
      return;
    }
    settle();
  });
  child.once('exit', (code, signal) => {
    exitInfo = `code ${code}, signal ${signal}`;
    setImmediate(settle); // after the last stdout lines
  });
  const expect = (event, timeoutMs) =>
    new Promise((resolve, reject) => {
      const w = { event, resolve, reject };
      w.timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`${script}: no "${event}" within ${timeoutMs} ms; log ${logFile}:\n${tail(logFile)}`));
      }, timeoutMs);
      waiters.push(w);
      settle();
    });
  return {
    child,
    pid: child.pid,
    expect,
    send: (line) => child.stdin.write(`${line}\n`),
    async finish(event, timeoutMs) {
      const last = expect(event, timeoutMs);
      child.stdin.end();
      const m = await last;
      await stop(child, 5000);
      return m;
    },
    kill: () => stop(child, 2000),
  };
}
