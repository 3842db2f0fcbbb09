#!/usr/bin/env node
// HTTP benchmark: neurobuild-ingest (dist/neurobuild-ingest.cjs) against the seed-style express
// baseline (bench/baselines/express-seed.mjs), both writing to a private redis-server.
//
//   npm run bundle && npm run bench:http         (or: node bench/http/run.mjs)
//
// Env knobs: BENCH_ROUNDS (3), BENCH_DURATION seconds (10), BENCH_WARMUP seconds (2),
// BENCH_QUICK=1 (1 round × 3 s, warm-up 1 s, RESULTS.md left alone), BENCH_SCENARIOS (comma list
// of scenario ids), BENCH_COUNT_STATUS=1 (wrk counts answers per status code; costs client CPU),
// BENCH_WRITE_RESULTS=0|1 (force skipping/writing bench/RESULTS.md). See bench/README.md.
//
// Everything listens on and targets 127.0.0.1 only. Every child process (redis-server, servers,
// wrk) is killed on exit, on errors and on SIGINT/SIGTERM; a watchdog bounds the whole run.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Redis from 'ioredis';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');
const DIST = path.join(ROOT, 'dist/neurobuild-ingest.cjs');
const BASELINE = path.join(ROOT, 'bench/baselines/express-seed.mjs');
const RESULTS = path.join(ROOT, 'bench/RESULTS.md');
const START = '<!-- bench:http:start -->';
const END = '<!-- bench:http:end -->';

// ------------------------------------------------------------------------------------ settings
function intEnv(name, def, min, max) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) fail(`${name} must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return v;
}
function fail(msg) {
  console.error(`bench:http: ${msg}`);
  process.exit(1);
}

const QUICK = process.env.BENCH_QUICK === '1';
const ROUNDS = QUICK ? 1 : intEnv('BENCH_ROUNDS', 3, 1, 20);
const DURATION = QUICK ? 3 : intEnv('BENCH_DURATION', 10, 1, 300);
const WARMUP = QUICK ? 1 : intEnv('BENCH_WARMUP', 2, 0, 60);
const COUNT_STATUS = process.env.BENCH_COUNT_STATUS === '1';
const WRITE_RESULTS = process.env.BENCH_WRITE_RESULTS ? process.env.BENCH_WRITE_RESULTS === '1' : !QUICK;
const WRK_THREADS = 1;
const WRK_TIMEOUT = '5s';

const ALL_SCENARIOS = [
  { id: 'single-c64', label: 'single POST, 64 conns', script: 'single.lua', connections: 64, readingsPerRequest: 1 },
  { id: 'single-c256', label: 'single POST, 256 conns', script: 'single.lua', connections: 256, readingsPerRequest: 1 },
  { id: 'batch100-c16', label: 'batch POST ×100, 16 conns', script: 'batch.lua', connections: 16, readingsPerRequest: 100 },
];
const wanted = (process.env.BENCH_SCENARIOS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
for (const w of wanted) if (!ALL_SCENARIOS.some((s) => s.id === w)) fail(`unknown scenario ${w} (known: ${ALL_SCENARIOS.map((s) => s.id).join(', ')})`);
const SCENARIOS = wanted.length ? ALL_SCENARIOS.filter((s) => wanted.includes(s.id)) : ALL_SCENARIOS;

const TARGETS = [
  {
    id: 'ours',
    label: 'neurobuild-ingest',
    script: DIST,
    store: { cmd: 'xlen', key: 'sensor-data' },
    env: (ports) => ({
      QUEUE_BACKEND: 'redis',
      QUEUE_NAME: 'sensor-data',
      METRICS_PORT: '0',
      LOG_LEVEL: 'warn',
      // reserved listeners: kept off the default ports in case a build starts them
      WS_PORT: String(ports.ws),
      MQTT_PORT: String(ports.mqtt),
    }),
  },
  {
    id: 'baseline',
    label: 'express-seed',
    script: BASELINE,
    store: { cmd: 'llen', key: 'sensor-data-baseline' },
    env: () => ({ BASELINE_QUEUE: 'sensor-data-baseline' }),
  },
];

// ------------------------------------------------------------------------- child processes
const children = new Set();
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}
function killAll(signal = 'SIGKILL') {
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
    console.error(`\nbench:http: ${sig} received, stopping child processes`);
    killAll('SIGKILL');
    process.exit(130);
  });
}

/** Spawns with stdout+stderr appended to logFile. */
function spawnLogged(cmd, args, logFile, env) {
  const fd = fs.openSync(logFile, 'a');
  try {
    return track(spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', fd, fd] }));
  } finally {
    fs.closeSync(fd);
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function exited(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => child.once('exit', r));
}

async function stop(child, graceMs) {
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

function freePort() {
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

function tail(file, lines = 15) {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

// ------------------------------------------------------------------------------ environment
function have(bin) {
  return spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
}
function ensureTool(bin, pkg) {
  if (have(bin)) return;
  if (process.getuid?.() === 0 && have('apt-get')) {
    console.error(`bench:http: ${bin} missing, installing Debian package ${pkg}`);
    let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'inherit', timeout: 300_000 });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update'], { stdio: 'inherit', timeout: 300_000 });
      r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', pkg], { stdio: 'inherit', timeout: 300_000 });
    }
    if (have(bin)) return;
  }
  fail(`${bin} not found: install the Debian package with \`sudo apt-get install -y ${pkg}\``);
}

function firstLine(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
  return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
}

function machineInfo() {
  let cpu = 'unknown';
  try {
    cpu = fs.readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)?.[1]?.trim() ?? cpu;
  } catch {
    /* not Linux */
  }
  const redisV = firstLine('redis-server', ['--version']).match(/v=(\S+)/)?.[1] ?? 'unknown';
  const wrkV = firstLine('wrk', ['-v']).match(/^wrk (\S+)/)?.[1] ?? 'unknown';
  return {
    nproc: os.availableParallelism?.() ?? os.cpus().length,
    cpu,
    memGiB: (os.totalmem() / 2 ** 30).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    redis: redisV,
    wrk: wrkV,
  };
}

function newestMtime(dir) {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

function bundleInfo() {
  if (!fs.existsSync(DIST)) fail(`${path.relative(ROOT, DIST)} is missing: run \`npm run bundle\` first`);
  const st = fs.statSync(DIST);
  const sha = createHash('sha256').update(fs.readFileSync(DIST)).digest('hex').slice(0, 12);
  let stale = false;
  try {
    stale = newestMtime(path.join(ROOT, 'src')) > st.mtimeMs;
  } catch {
    /* no src/ */
  }
  return { sha, built: st.mtime.toISOString(), stale };
}

function commandLine() {
  const knobs = Object.keys(process.env)
    .filter((k) => k.startsWith('BENCH_'))
    .sort()
    .map((k) => `${k}=${process.env[k]}`);
  const cmd = process.env.npm_lifecycle_event === 'bench:http' ? 'npm run bench:http' : 'node bench/http/run.mjs';
  return [...knobs, cmd].join(' ');
}

// -------------------------------------------------------------------------------- servers
async function startTarget(target, redisPort, logFile) {
  const port = await freePort();
  const ports = { ws: await freePort(), mqtt: await freePort() };
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    ...target.env(ports),
  };
  const child = spawnLogged(process.execPath, [target.script], logFile, env);
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${target.label} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}); log ${logFile}:\n${tail(logFile)}`);
    }
    if ((await httpStatus(port, '/ready')) === 200) return { child, port };
    await sleep(100);
  }
  await stop(child, 2000);
  throw new Error(`${target.label} not ready within 30 s; log ${logFile}:\n${tail(logFile)}`);
}

/** Lines of a server log that deserve attention: level warn and above, or anything not JSON. */
function scanLog(file) {
  const findings = [];
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return findings;
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let level;
    try {
      const o = JSON.parse(line);
      level = typeof o.level === 'number' ? o.level : { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 }[o.level];
    } catch {
      level = undefined;
    }
    if (level === undefined || level >= 40) findings.push(line.length > 400 ? `${line.slice(0, 400)}…` : line);
  }
  return findings;
}

// ------------------------------------------------------------------------------------- wrk
let runSeq = 0;
function runWrk({ scenario, port, duration }) {
  runSeq += 1;
  const env = {
    ...process.env,
    BENCH_RUN_ID: `b${Date.now().toString(36)}${runSeq}`,
    BENCH_BASE_MS: String(Date.now() - 2000),
    BENCH_LUA_DIR: HERE,
    BENCH_COUNT_STATUS: COUNT_STATUS ? '1' : '0',
  };
  const args = [
    `-t${WRK_THREADS}`,
    `-c${scenario.connections}`,
    `-d${duration}s`,
    '--timeout',
    WRK_TIMEOUT,
    '--latency',
    '-s',
    path.join(HERE, scenario.script),
    `http://127.0.0.1:${port}`,
  ];
  return new Promise((resolve, reject) => {
    const child = track(spawn('wrk', args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`wrk did not finish within ${duration + 30} s`));
    }, (duration + 30) * 1000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`wrk exited with ${code}:\n${err}${out}`));
      resolve({ out, err, args: ['wrk', ...args.map((a) => (a.startsWith('/') ? path.relative(ROOT, a) : a))].join(' ') });
    });
  });
}

const UNIT_MS = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Parses wrk's text output, and the BENCH_JSON line printed by the scripts' done(). */
function parseWrk(text, readingsPerRequest) {
  const pct = (p) => {
    const m = text.match(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s|m|h)\\s*$`, 'm'));
    return m ? Number(m[1]) * UNIT_MS[m[2]] : NaN;
  };
  const sock = text.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  const fromText = {
    rps: Number(text.match(/Requests\/sec:\s+([\d.]+)/)?.[1] ?? NaN),
    requests: Number(text.match(/(\d+) requests in /)?.[1] ?? NaN),
    p50: pct(50),
    p99: pct(99),
    non2xx: Number(text.match(/Non-2xx or 3xx responses:\s+(\d+)/)?.[1] ?? 0),
    socket: sock ? { connect: +sock[1], read: +sock[2], write: +sock[3], timeout: +sock[4] } : { connect: 0, read: 0, write: 0, timeout: 0 },
  };
  const line = text.match(/^BENCH_JSON (.*)$/m)?.[1];
  let j = null;
  if (line) {
    try {
      j = JSON.parse(line);
    } catch {
      j = null;
    }
  }
  const warnings = [];
  let r;
  if (j) {
    r = {
      requests: j.requests,
      rps: j.requests / (j.duration_us / 1e6),
      p50: j.latency_us.p50 / 1000,
      p99: j.latency_us.p99 / 1000,
      non2xx: j.errors.status,
      socket: { connect: j.errors.connect, read: j.errors.read, write: j.errors.write, timeout: j.errors.timeout },
      statuses: j.statuses,
      firstBad: j.first_bad,
    };
    if (Number.isFinite(fromText.rps) && Math.abs(fromText.rps - r.rps) > 0.01 * r.rps + 1) {
      warnings.push(`wrk text says ${fromText.rps} req/s, script summary ${r.rps.toFixed(2)}`);
    }
  } else {
    warnings.push('BENCH_JSON line missing, using wrk text output only');
    r = { ...fromText, statuses: {}, firstBad: null };
  }
  if (!Number.isFinite(r.rps) || !Number.isFinite(r.p50) || !Number.isFinite(r.p99)) {
    throw new Error(`could not parse wrk output:\n${text}`);
  }
  r.socketErrors = r.socket.connect + r.socket.read + r.socket.write + r.socket.timeout;
  r.okShare = r.requests > 0 ? (r.requests - r.non2xx) / r.requests : 0;
  r.readingsPerSec = r.rps * readingsPerRequest * r.okShare;
  r.acceptedReadings = (r.requests - r.non2xx) * readingsPerRequest;
  r.warnings = warnings;
  return r;
}

// --------------------------------------------------------------------------------- stats
function median(xs) {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!v.length) return NaN;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}
const int = (x) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '—');
const ms = (x) => (Number.isFinite(x) ? x.toFixed(x < 10 ? 2 : 1) : '—');
const ratio = (x) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '—');

function summarize(runs) {
  return SCENARIOS.map((s) => {
    const per = (t) => runs.filter((r) => r.scenario === s.id && r.target === t);
    const agg = (t) => {
      const rs = per(t);
      return {
        rps: median(rs.map((r) => r.rps)),
        readingsPerSec: median(rs.map((r) => r.readingsPerSec)),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        non2xx: rs.reduce((a, r) => a + r.non2xx, 0),
        socketErrors: rs.reduce((a, r) => a + r.socketErrors, 0),
        checksFailed: rs.filter((r) => !r.stored.ok).length,
        n: rs.length,
      };
    };
    const rounds = [...new Set(runs.filter((r) => r.scenario === s.id).map((r) => r.round))];
    const perRound = rounds
      .map((round) => {
        const o = runs.find((r) => r.scenario === s.id && r.target === 'ours' && r.round === round);
        const b = runs.find((r) => r.scenario === s.id && r.target === 'baseline' && r.round === round);
        if (!o || !b) return null;
        return { throughput: o.readingsPerSec / b.readingsPerSec, p50: o.p50 / b.p50, p99: o.p99 / b.p99 };
      })
      .filter(Boolean);
    return {
      scenario: s,
      ours: agg('ours'),
      baseline: agg('baseline'),
      ratio: {
        throughput: median(perRound.map((x) => x.throughput)),
        p50: median(perRound.map((x) => x.p50)),
        p99: median(perRound.map((x) => x.p99)),
      },
    };
  });
}

function pad(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => (i < 2 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ')).join('\n');
}

function mdTable(rows) {
  const [head, ...body] = rows;
  return [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`, ...body.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

function medianRows(summary) {
  const rows = [['scenario', 'target', 'req/s', 'readings/s', 'p50 ms', 'p99 ms', 'non-2xx', 'socket err', 'stored check']];
  for (const s of summary) {
    for (const t of TARGETS) {
      const a = s[t.id];
      rows.push([
        s.scenario.id,
        t.label,
        int(a.rps),
        int(a.readingsPerSec),
        ms(a.p50),
        ms(a.p99),
        int(a.non2xx),
        int(a.socketErrors),
        a.checksFailed ? `${a.checksFailed}/${a.n} FAILED` : `${a.n}/${a.n} ok`,
      ]);
    }
  }
  return rows;
}

function ratioRows(summary) {
  const rows = [['scenario', 'what', 'readings/s ours/baseline', 'p50 ours/baseline', 'p99 ours/baseline']];
  for (const s of summary) rows.push([s.scenario.id, s.scenario.label, ratio(s.ratio.throughput), ratio(s.ratio.p50), ratio(s.ratio.p99)]);
  return rows;
}

function rawRows(runs) {
  const rows = [['round', 'scenario', 'target', 'order', 'req/s', 'readings/s', 'p50 ms', 'p99 ms', 'non-2xx', 'socket err', 'stored Δ / accepted']];
  for (const r of runs) {
    rows.push([
      String(r.round),
      r.scenario,
      r.targetLabel,
      String(r.order),
      int(r.rps),
      int(r.readingsPerSec),
      ms(r.p50),
      ms(r.p99),
      int(r.non2xx),
      int(r.socketErrors),
      `${int(r.stored.delta)} / ${int(r.acceptedReadings)} ${r.stored.ok ? 'ok' : 'FAILED'}`,
    ]);
  }
  return rows;
}

function writeResults(section) {
  let text = '';
  try {
    text = fs.readFileSync(RESULTS, 'utf8');
  } catch {
    text = '# Benchmark results\n\nSections are written by the benchmark scripts under bench/; see bench/README.md.\n';
  }
  const block = `${START}\n${section.trim()}\n${END}`;
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  if (a !== -1 && b > a) text = text.slice(0, a) + block + text.slice(b + END.length);
  else text = `${text.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(RESULTS, text.endsWith('\n') ? text : `${text}\n`);
}

// ----------------------------------------------------------------------------------- main
async function main() {
  ensureTool('wrk', 'wrk');
  ensureTool('redis-server', 'redis-server');
  const bundle = bundleInfo();
  const machine = machineInfo();
  const command = commandLine();
  const startedAt = new Date();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-http-'));

  const perRunS = DURATION + WARMUP + 20; // start-up, settle, shutdown allowance
  const budgetS = ROUNDS * SCENARIOS.length * TARGETS.length * perRunS + 60;
  const watchdog = setTimeout(() => {
    console.error(`bench:http: watchdog: run exceeded ${budgetS} s, aborting`);
    killAll('SIGKILL');
    process.exit(2);
  }, budgetS * 1000);
  watchdog.unref();

  const expectS = ROUNDS * SCENARIOS.length * TARGETS.length * (DURATION + WARMUP + 2);
  console.log(`bench:http ${QUICK ? '(QUICK smoke run) ' : ''}— ${ROUNDS} round(s) × ${SCENARIOS.length} scenario(s) × ${TARGETS.length} targets, ${DURATION} s each (+${WARMUP} s warm-up), ≈${Math.ceil(expectS / 60)} min`);
  console.log(`machine: ${machine.nproc} cores (${machine.cpu}), node ${machine.node}, redis ${machine.redis}, wrk ${machine.wrk}`);
  console.log(`note: wrk runs with -t${WRK_THREADS}; the ${machine.nproc} cores are shared by wrk, redis-server and the server under test, so absolute figures are machine-bound — compare ratios from the same run only.`);
  console.log(`bundle: dist/neurobuild-ingest.cjs sha256:${bundle.sha} built ${bundle.built}${bundle.stale ? '  WARNING: src/ has newer files than the bundle (run npm run bundle)' : ''}`);
  console.log(`logs: ${tmp}`);

  const redisPort = await freePort();
  const redisLog = path.join(tmp, 'redis.log');
  const redisProc = spawnLogged('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--daemonize', 'no'], redisLog, { PATH: process.env.PATH });
  const redis = new Redis({ host: '127.0.0.1', port: redisPort, maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 100 ? null : 100), lazyConnect: true });
  redis.on('error', () => {});
  const redisUp = Date.now() + 10_000;
  for (;;) {
    if (redisProc.exitCode !== null) throw new Error(`redis-server exited at start-up:\n${tail(redisLog)}`);
    try {
      if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
      if ((await redis.ping()) === 'PONG') break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > redisUp) throw new Error(`redis-server not answering on 127.0.0.1:${redisPort}:\n${tail(redisLog)}`);
    await sleep(100);
  }
  console.log(`redis-server ${machine.redis} on 127.0.0.1:${redisPort} (--save '' --appendonly no)\n`);

  const runs = [];
  const logFindings = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [si, scenario] of SCENARIOS.entries()) {
      const order = (round + si) % 2 === 1 ? TARGETS : [...TARGETS].reverse();
      for (const [oi, target] of order.entries()) {
        await redis.flushall();
        const logFile = path.join(tmp, `r${round}-${scenario.id}-${target.id}.log`);
        const srv = await startTarget(target, redisPort, logFile);
        let parsed;
        let stored;
        let wrkCmd;
        let exit;
        try {
          if (WARMUP > 0) {
            const w = parseWrk((await runWrk({ scenario, port: srv.port, duration: WARMUP })).out, scenario.readingsPerRequest);
            if (w.non2xx || w.socketErrors) console.log(`  warm-up ${target.id}: ${w.non2xx} non-2xx, ${w.socketErrors} socket errors`);
            await sleep(300); // let the last warm-up requests settle before counting
          }
          const count = () => redis[target.store.cmd](target.store.key);
          const before = await count();
          const res = await runWrk({ scenario, port: srv.port, duration: DURATION });
          wrkCmd = res.args;
          fs.writeFileSync(path.join(tmp, `r${round}-${scenario.id}-${target.id}.wrk.txt`), res.out + res.err);
          parsed = parseWrk(res.out, scenario.readingsPerRequest);
          const after = await count();
          stored = { cmd: `${target.store.cmd.toUpperCase()} ${target.store.key}`, delta: after - before, ok: after - before >= parsed.acceptedReadings };
        } finally {
          exit = await stop(srv.child, 15_000);
        }
        const run = { round, scenario: scenario.id, target: target.id, targetLabel: target.label, order: oi + 1, ...parsed, stored, wrkCmd };
        runs.push(run);

        console.log(
          `[round ${round}/${ROUNDS}] ${scenario.id.padEnd(12)} ${target.label.padEnd(17)} ${int(run.rps).padStart(8)} req/s  ${int(run.readingsPerSec).padStart(9)} readings/s  ` +
            `p50 ${ms(run.p50)} ms  p99 ${ms(run.p99)} ms  non-2xx ${run.non2xx}  socket errors ${run.socketErrors}`,
        );
        console.log(
          `  check: ${stored.cmd} grew by ${int(stored.delta)} ${stored.ok ? '>=' : '<'} ${int(run.acceptedReadings)} readings answered 2xx — ${stored.ok ? 'OK' : 'FAILED: accepted readings missing from Redis'}`,
        );
        if (run.non2xx > 0) {
          console.log(`  WARNING: ${run.non2xx} non-2xx answers (${((100 * run.non2xx) / run.requests).toFixed(2)} %), readings/s counts 2xx only` + (run.firstBad ? `; first: ${run.firstBad}` : ''));
        }
        if (run.socketErrors > 0) console.log(`  WARNING: socket errors ${JSON.stringify(run.socket)}`);
        if (Object.keys(run.statuses ?? {}).length) console.log(`  statuses: ${JSON.stringify(run.statuses)}`);
        for (const w of run.warnings) console.log(`  WARNING: ${w}`);
        if (exit.forced || (exit.code !== 0 && exit.code !== null) || (exit.signal && exit.signal !== 'SIGTERM')) {
          const msg = `${target.label} did not stop cleanly (code ${exit.code}, signal ${exit.signal}${exit.forced ? ', killed after 15 s' : ''})`;
          console.log(`  WARNING: ${msg}`);
          logFindings.push({ run: `${round}/${scenario.id}/${target.id}`, lines: [msg] });
        }
        const findings = scanLog(logFile);
        if (findings.length) {
          console.log(`  server log: ${findings.length} line(s) at warn or above / not JSON (${logFile}); first: ${findings[0]}`);
          logFindings.push({ run: `${round}/${scenario.id}/${target.id}`, lines: findings });
        }
      }
    }
  }
  await redis.quit().catch(() => {});
  await stop(redisProc, 5000);

  const summary = summarize(runs);
  console.log('\nMedians over rounds (readings/s counts 2xx answers only):\n');
  console.log(pad(medianRows(summary)));
  console.log('\nRatios ours/baseline, computed per round then median (throughput: higher is better; latency: lower is better):\n');
  console.log(pad(ratioRows(summary)));
  const failedChecks = runs.filter((r) => !r.stored.ok);
  console.log(`\nstored checks: ${runs.length - failedChecks.length}/${runs.length} ok`);
  console.log(`server logs: ${logFindings.length ? `${logFindings.length} run(s) with warn/error/non-JSON lines, see ${tmp}` : 'clean (nothing at warn or above)'}`);

  const finishedAt = new Date();
  const section = [
    '## HTTP (bench/http)',
    '',
    `- date: ${startedAt.toISOString()} → ${finishedAt.toISOString()}${QUICK ? ' (QUICK smoke run, not representative)' : ''}`,
    `- machine: ${machine.nproc} cores, ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.kernel}`,
    `- software: node ${machine.node}, redis-server ${machine.redis} (\`--save '' --appendonly no\`), wrk ${machine.wrk}`,
    `- ours: dist/neurobuild-ingest.cjs sha256:${bundle.sha} (built ${bundle.built})${bundle.stale ? ' — WARNING: src/ was newer than the bundle' : ''}; baseline: bench/baselines/express-seed.mjs`,
    `- command: \`${command}\``,
    `- settings: ${ROUNDS} round(s) × ${DURATION} s per run, ${WARMUP} s warm-up per server start, wrk \`-t${WRK_THREADS} --timeout ${WRK_TIMEOUT} --latency\`, target order alternating per round and scenario, Redis FLUSHALL and fresh server per run`,
    `- caveat: wrk, redis-server and the server under test share the ${machine.nproc} cores; absolute figures are bound to this machine and load, only ratios from the same run are meaningful.`,
    '',
    '### Medians over rounds',
    '',
    'readings/s = req/s × readings per request × share of 2xx answers. "stored check": after each run the',
    'stream (XLEN sensor-data) or list (LLEN sensor-data-baseline) grew by at least the readings answered 2xx.',
    '',
    mdTable(medianRows(summary)),
    '',
    '### Ratios ours / baseline (per round, then median)',
    '',
    'Throughput: above 1× means ours is faster. Latency: below 1× means ours answers sooner.',
    '',
    mdTable(ratioRows(summary)),
    '',
    '### Per-round raw figures',
    '',
    mdTable(rawRows(runs)),
    '',
    `wrk command of the last run: \`${runs.at(-1)?.wrkCmd ?? ''}\``,
    '',
    '### Server logs',
    '',
    logFindings.length
      ? logFindings.map((f) => `- ${f.run}: ${f.lines.length} line(s), first: \`${f.lines[0].replaceAll('`', "'")}\``).join('\n')
      : '- nothing at warn level or above (LOG_LEVEL=warn), no non-JSON output, every server stopped cleanly.',
  ].join('\n');

  if (WRITE_RESULTS) {
    writeResults(section);
    console.log(`\nwrote ${path.relative(ROOT, RESULTS)} (section ${START} … ${END})`);
  } else {
    console.log(`\n${QUICK ? 'quick run: ' : ''}bench/RESULTS.md left unchanged (BENCH_WRITE_RESULTS=1 to write it)`);
  }
  if (failedChecks.length) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`bench:http: ${err?.stack ?? err}`);
  killAll('SIGKILL');
  process.exit(1);
});
