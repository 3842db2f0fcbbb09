// Child processes of the MQTT benchmark: tracking and killing them, free ports, the private
// redis-server, the three targets (neurobuild-ingest, aedes+redis, mosquitto) and the two
// client programs (load.mjs, subscriber.mjs). Everything binds to / targets 127.0.0.1 only.
// Children run under `sh -c 'ulimit -n …; exec …'` so they may hold 10,000+ sockets.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import Redis from 'ioredis';
import { DISCONNECT, mqttConnect, sleep } from './wire.mjs';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const DIST = path.join(ROOT, 'dist/neurobuild-ingest.cjs');
export const AEDES = path.join(ROOT, 'bench/baselines/aedes-redis.mjs');
export const NOFILE = 65536; // asked for; the hard limit wins when lower

export function fail(msg) {
  console.error(`bench:mqtt: ${msg}`);
  process.exit(1);
}

// ------------------------------------------------------------------------- child processes
const children = new Set();
export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
export function killAll(signal = 'SIGKILL') {
  for (const c of children) {
    try {
      c.kill(signal);
    } catch {
      /* already gone */
    }
  }
}
process.on('exit', () => killAll('SIGKILL'));
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    console.error(`\nbench:mqtt: ${sig} received, stopping child processes`);
    killAll('SIGKILL');
    process.exit(130);
  });
}

/** Spawns cmd with a raised open-files limit; `exec` keeps the pid, so /proc/<pid> is cmd's. */
export function spawnRaised(cmd, args, { env, logFile, stdio } = {}) {
  const script = `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"`;
  let fd;
  if (logFile) fd = fs.openSync(logFile, 'a');
  try {
    return track(spawn('sh', ['-c', script, 'sh', cmd, ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp', ...env }, stdio: stdio ?? ['ignore', fd, fd] }));
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

export function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', r));
}

export async function stop(child, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return { code: child.exitCode, signal: child.signalCode, forced: false };
  child.kill('SIGTERM');
  const forced = (await Promise.race([exited(child).then(() => 'ok'), sleep(graceMs).then(() => 'timeout')])) === 'timeout';
  if (forced) {
    child.kill('SIGKILL');
    await exited(child);
  }
  return { code: child.exitCode, signal: child.signalCode, forced };
}

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

export function tail(file, lines = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/** VmRSS of a live process in KiB, or NaN. */
export function rssKiB(pid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)\s+kB/m)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/** Soft "Max open files" of a live process, or NaN. */
export function nofileOf(pid) {
  try {
    return Number(fs.readFileSync(`/proc/${pid}/limits`, 'utf8').match(/^Max open files\s+(\d+)/m)?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

// ------------------------------------------------------------------------------ environment
export function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}
export function ensureTool(bin, pkg) {
  if (have(bin)) return;
  if (process.getuid?.() === 0 && have('apt-get')) {
    console.error(`bench:mqtt: ${bin} missing, installing Debian package ${pkg}`);
    let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'inherit', timeout: 300_000 });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'inherit', timeout: 300_000 });
      r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'inherit', timeout: 300_000 });
    }
    if (have(bin)) return;
  }
  fail(`${bin} not found: install the Debian package with \`sudo apt-get install -y ${pkg}\``);
}

/** The open-files limit children get (what `ulimit -n 65536 || ulimit -n <hard>` yields). */
export function childNofile() {
  const r = spawnSync('sh', ['-c', `ulimit -n ${NOFILE} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; ulimit -n`], { encoding: 'utf8' });
  const v = r.stdout.trim();
  return v === 'unlimited' ? Infinity : Number(v);
}

// ---------------------------------------------------------------------------------- redis
export async function startRedis(logFile) {
  const port = await freePort();
  const proc = spawnRaised('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--daemonize', 'no'], { logFile });
  const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 100 ? null : 100), lazyConnect: true });
  redis.on('error', () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited at start-up:\n${tail(logFile)}`);
    try {
      if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
      if ((await redis.ping()) === 'PONG') return { proc, redis, port };
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`redis-server not answering on 127.0.0.1:${port}:\n${tail(logFile)}`);
    await sleep(100);
  }
}

// -------------------------------------------------------------------------------- targets
function httpStatus(port, urlPath) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function mqttAnswers(port) {
  try {
    const { socket } = await mqttConnect(port, `bench-probe-${process.pid}`, { timeoutMs: 1000 });
    socket.end(DISCONNECT);
    return true;
  } catch {
    return false;
  }
}

export const TARGETS = [
  { id: 'ours', label: 'neurobuild-ingest', stores: true, log: 'json' },
  { id: 'aedes', label: 'aedes+redis', stores: true, log: 'text' },
  { id: 'mosquitto', label: 'mosquitto', stores: false, log: 'text' },
];

/** Starts a fresh target on free ports; resolves when it answers MQTT CONNECT (and /ready). */
export async function startTarget(target, { redisPort, logFile, tmp }) {
  const mqttPort = await freePort();
  let child;
  let httpPort = 0;
  if (target.id === 'ours') {
    httpPort = await freePort();
    child = spawnRaised(process.execPath, [DIST], {
      logFile,
      env: {
        NODE_ENV: 'production',
        HOST: '127.0.0.1',
        PORT: String(httpPort),
        WS_PORT: String(await freePort()),
        METRICS_PORT: '0',
        MQTT_PORT: String(mqttPort),
        MQTT_TLS_PORT: '0',
        QUEUE_BACKEND: 'redis',
        REDIS_URL: `redis://127.0.0.1:${redisPort}`,
        LOG_LEVEL: 'warn',
      },
    });
  } else if (target.id === 'aedes') {
    child = spawnRaised(process.execPath, [AEDES], { logFile, env: { NODE_ENV: 'production', AEDES_PORT: String(mqttPort), REDIS_URL: `redis://127.0.0.1:${redisPort}` } });
  } else {
    const conf = path.join(tmp, `mosquitto-${mqttPort}.conf`);
    fs.writeFileSync(conf, mosquittoConf(mqttPort));
    child = spawnRaised('mosquitto', ['-c', conf], { logFile });
  }
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${target.label} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}); log ${logFile}:\n${tail(logFile)}`);
    }
    if ((!httpPort || (await httpStatus(httpPort, '/ready')) === 200) && (await mqttAnswers(mqttPort))) return { child, mqttPort, httpPort };
    await sleep(100);
  }
  await stop(child, 2000);
  throw new Error(`${target.label} not ready within 30 s; log ${logFile}:\n${tail(logFile)}`);
}

/** A plain relay: one listener on 127.0.0.1, anonymous, nothing persisted, errors and warnings only. */
export function mosquittoConf(port) {
  return [
    '# generated by bench/mqtt/run.mjs',
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    'max_connections -1',
    'set_tcp_nodelay true',
    'log_dest stdout',
    'log_type error',
    'log_type warning',
    '',
  ].join('\n');
}

/** Lines of a target's log that deserve attention: warn and above (JSON logs) or any line (text logs). */
export function scanLog(file, kind) {
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    if (kind === 'text' && /^aedes-redis listening on /.test(line)) continue;
    let level;
    if (kind === 'json') {
      try {
        const o = JSON.parse(line);
        level = typeof o.level === 'number' ? o.level : { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }[o.level];
      } catch {
        level = undefined;
      }
    }
    if (level === undefined || level >= 40) out.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
  }
  return out;
}

// -------------------------------------------------------------------------------- clients
/**
 * Runs a client script (load.mjs / subscriber.mjs) with stdin piped; calls onEvent for every
 * JSON line with an `event` field and resolves with the last other JSON line.
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
