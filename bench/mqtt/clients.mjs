// The MQTT benchmark's client programs (load.mjs, subscriber.mjs) as tracked children with a
// raised open-files limit, speaking JSON lines on stdout: `{"event": …}` progress lines, then
// one result line.
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { spawnRaised } from './open-files.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));

/**
 * Runs `node bench/mqtt/<script> ...args` with stdin piped (closed at once unless stdinOpen);
 * calls onEvent(event, child) for every JSON line with an `event` field. `done` resolves with the
 * last other JSON line plus exit_code and stderr, and rejects when there is none or after
 * timeoutMs (the child is then killed).
 * @returns {{child: import('node:child_process').ChildProcess, done: Promise<object>}}
 */
export function runClient(script, args, { onEvent, timeoutMs, stdinOpen = false } = {}) {
  const child = spawnRaised(process.execPath, [path.join(HERE, script), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let last = null;
  child.stderr.on('data', (d) => (stderr += d));
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    let o;
    try {
      o = JSON.parse(line);
    } catch {
      stderr += `${line}\n`;
      return;
    }
    if (o.event) onEvent?.(o, child);
    else last = o;
  });
  if (!stdinOpen) child.stdin.end();
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${script} did not finish within ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (!last) return reject(new Error(`${script} exited with ${code} without a result:\n${stderr.slice(-2000)}`));
      resolve({ ...last, exit_code: code, stderr: stderr.trim() });
    });
  });
  return { child, done };
}
