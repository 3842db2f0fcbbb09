// Open-files limits of the MQTT benchmark's children: they run under
// `sh -c 'ulimit -n 65536 || ulimit -n <hard limit>; exec …'` so that a broker and the load
// generator may hold 10,000+ sockets; what limit children get, and what a live process has.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { ROOT } from '../lib/paths.mjs';
import { spawnLogged, track } from '../lib/processes.mjs';

/** The open-files limit asked for; the hard limit wins when lower. */
export const NOFILE = 65536;
const RAISE = `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null`;

/**
 * Spawns a tracked `cmd` with the raised limit, in the repository root, with PATH and HOME plus
 * `env`; output appended to `logFile`, or `stdio` as given. `exec` keeps the pid, so
 * /proc/<pid> is cmd's.
 */
export function spawnRaised(cmd, args, { env, logFile, stdio } = {}) {
  const shArgs = ['-c', `${RAISE}; exec "$@"`, 'sh', cmd, ...args];
  const fullEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env };
  if (logFile) return spawnLogged('sh', shArgs, logFile, fullEnv);
  return track(spawn('sh', shArgs, { cwd: ROOT, env: fullEnv, stdio: stdio ?? 'ignore' }));
}

/** The open-files limit children get (Infinity when unlimited). */
export function childNofile() {
  const v = spawnSync('sh', ['-c', `${RAISE}; ulimit -n`], { encoding: 'utf8' }).stdout.trim();
  return v === 'unlimited' ? Infinity : Number(v);
}

/** Soft "Max open files" of a live process, or NaN. */
export function nofileOf(pid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/limits`, 'utf8').match(/^Max open files\s+(\d+)/m)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}
