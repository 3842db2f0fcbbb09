#!/usr/bin/env node
// Our server against itself: two settings of neurobuild-ingest (dist/neurobuild-ingest.cjs) side by
// side in the same run, under bench/http's wrk loads and bench/mqtt's QoS 1 load.
//
//   npm run bench:workers   (= node scripts/bundle.mjs && node bench/variants/run.mjs workers)
//       WORKERS=1 against WORKERS=2 (issue 5)
//   npm run bench:auth      (= node scripts/bundle.mjs && node bench/variants/run.mjs auth)
//       AUTH_MODE=none against AUTH_MODE=api-key, the load authenticating as registered devices (issue 6)
//   BENCH_BASELINE_DIST=<an older bundle> npm run bench:hardening
//       (= node scripts/bundle.mjs && node bench/variants/run.mjs hardening)
//       that bundle against this one, both AUTH_MODE=api-key and WORKERS=1: what the identity
//       checks and budgets of issue 16 cost per reading (goal: within 5 %)
//   npm run bench:device-auth (= node scripts/bundle.mjs && node bench/variants/run.mjs device-auth)
//       AUTH_MODE=api-key with keys registered here, against keys this server never issued, verified
//       by a DEVICE_AUTH_URL service (in this process) once per key and then cached: the cost of
//       DEVICE_AUTH_URL with a warm cache (goal: within 10 %); WORKERS=1 for both
//   npm run bench:fleet     (= node scripts/bundle.mjs && node bench/variants/run.mjs fleet)
//       DEVICE_STATE=off and QUALITY_CHECKS=off, readings without seq, against both on with every
//       reading carrying seq (issue 9); WORKERS=1 for both
//
// Env knobs: BENCH_ROUNDS (3), BENCH_DURATION s (10), BENCH_WARMUP s (2), BENCH_QUICK=1 (1 round ×
// 3 s, warm-up 1 s, RESULTS.md left alone), BENCH_SCENARIOS (single-c64,batch100-c16,qos1-c100),
// BENCH_WRITE_RESULTS (0|1), BENCH_COUNT_STATUS=1, BENCH_MQTT_INFLIGHT (16), BENCH_AUTH_DEVICES
// (1000), BENCH_AUTH_WORKERS (unset: the server's default). See bench/README.md.
//
// Everything listens on and targets 127.0.0.1 only. Every child process (redis-server, servers,
// wrk, the MQTT load generator) is killed on exit, on errors and on SIGINT/SIGTERM; a watchdog
// bounds the whole run.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { commandLine, intEnv, pickScenarios, readSettings, setBenchName } from '../lib/cli.mjs';
import { bundleInfo, ensureTool, machineInfo, packageVersion } from '../lib/machine.mjs';
import { DIST, RESULTS, ROOT } from '../lib/paths.mjs';
import { installCleanup, killAll, sleep, startWatchdog, stop } from '../lib/processes.mjs';
import { startRedis } from '../lib/redis-server.mjs';
import { reportServerHealth } from '../lib/report.mjs';
import { writeSection } from '../lib/results-md.mjs';
import { oursEnv, startNodeServer } from '../lib/servers.mjs';
import { parseWrk, runWrk } from '../lib/wrk.mjs';
import { runClient } from '../mqtt/clients.mjs';
import { issues as mqttIssues } from '../mqtt/report.mjs';
import { DISCONNECT, mqttConnect } from '../mqtt/wire.mjs';
import { CpuWindow, listeners, processTree } from '../ws/procstat.mjs';
import { foreignDevices, registerDevices, startVerifier } from './devices.mjs';
import { printRun, printSummary, resultsSection } from './report.mjs';

const HTTP_DIR = path.join(ROOT, 'bench/http');

// ------------------------------------------------------------------------------------ settings
const WHICH = process.argv[2];
if (!['workers', 'auth', 'device-auth', 'fleet', 'hardening'].includes(WHICH)) {
  console.error('usage: node bench/variants/run.mjs workers|auth|device-auth|fleet|hardening   (npm run bench:workers, bench:auth, bench:device-auth, bench:fleet, bench:hardening)');
  process.exit(2);
}
const BASELINE_DIST = process.env.BENCH_BASELINE_DIST;
if (WHICH === 'hardening' && (!BASELINE_DIST || !fs.existsSync(BASELINE_DIST))) {
  console.error('bench:hardening needs BENCH_BASELINE_DIST=<path of the bundle to compare with>, e.g. git worktree add /tmp/base <commit> && (cd /tmp/base && npm ci && node scripts/bundle.mjs)');
  process.exit(2);
}
setBenchName(`bench:${WHICH}`);
const { quick: QUICK, rounds: ROUNDS, duration: DURATION, warmup: WARMUP, writeResults: WRITE_RESULTS } = readSettings();
const COUNT_STATUS = process.env.BENCH_COUNT_STATUS === '1';
const INFLIGHT = intEnv('BENCH_MQTT_INFLIGHT', 16, 1, 65535);
const AUTH_DEVICES = intEnv('BENCH_AUTH_DEVICES', 1000, 1, 100_000);
const AUTH_WORKERS = process.env.BENCH_AUTH_WORKERS ? intEnv('BENCH_AUTH_WORKERS', 0, 0, 256) : undefined;
const WRK_THREADS = 1;
const WRK_TIMEOUT = '5s';
const STOP_GRACE_S = 15;
// the warm-up of a keyed HTTP run sends as the same devices as the measured run: its timestamps
// start this much earlier, so no (device_id, timestamp) of the two runs can meet
const KEYED_WARMUP_SHIFT_MS = 3_600_000;
// AUTH_MODE=none is the default and warned about at every start: expected here, not a finding
const EXPECTED_LOG = [/AUTH_MODE=none: anyone who reaches the ports/];

/** Server processes for a WORKERS value (undefined/0: one per CPU, as in production with Redis). */
const procsOf = (workers) => (workers === undefined || workers === 0 ? os.availableParallelism() : workers);
const workersEnv = (workers) => (workers === undefined ? {} : { WORKERS: String(workers) });

/**
 * The two comparisons. `a` is the reference, `b` the variant: ratios are b / a. `keyed`: the load
 * sends as devices registered through the admin API, with their keys (both variants alike).
 */
const COMPARISONS = {
  workers: {
    npm: 'bench:workers',
    title: '## Workers: 1 against 2 server processes (bench/variants, issue 5)',
    a: { id: 'w1', label: 'WORKERS=1', env: { WORKERS: '1' }, procs: 1 },
    b: { id: 'w2', label: 'WORKERS=2', env: { WORKERS: '2' }, procs: 2 },
    ratio: '2 workers / 1',
    keyed: false,
    mqttDevicesPerConn: 10,
  },
  auth: {
    npm: 'bench:auth',
    title: '## API-key authentication against none (bench/variants, issue 6)',
    a: { id: 'none', label: 'AUTH_MODE=none', env: { AUTH_MODE: 'none', ...workersEnv(AUTH_WORKERS) }, procs: procsOf(AUTH_WORKERS) },
    b: { id: 'api-key', label: 'AUTH_MODE=api-key', env: { AUTH_MODE: 'api-key', ...workersEnv(AUTH_WORKERS) }, procs: procsOf(AUTH_WORKERS) },
    ratio: 'api-key / none',
    keyed: true,
    mqttDevicesPerConn: 1,
    target: 0.85, // issue 6: within 15 % of no auth
  },
  'device-auth': {
    npm: 'bench:device-auth',
    title: '## Keys verified by DEVICE_AUTH_URL (warm cache) against keys held here (bench/variants)',
    a: { id: 'local', label: 'keys held here', env: { AUTH_MODE: 'api-key', WORKERS: '1' }, procs: 1 },
    // DEVICE_AUTH_URL is filled in by main() once the verifier listens
    b: { id: 'verified', label: 'DEVICE_AUTH_URL', env: { AUTH_MODE: 'api-key', WORKERS: '1' }, procs: 1, foreignKeys: true },
    ratio: 'DEVICE_AUTH_URL / held here',
    keyed: true,
    mqttDevicesPerConn: 1,
    target: 0.9, // within 10 % of keys held here
  },
  hardening: {
    npm: 'bench:hardening',
    title: '## Hardening against the build before it, both AUTH_MODE=api-key (bench/variants, issue 16)',
    a: { id: 'before', label: 'previous build', env: { AUTH_MODE: 'api-key', WORKERS: '1' }, procs: 1, script: BASELINE_DIST },
    b: { id: 'after', label: 'this build', env: { AUTH_MODE: 'api-key', WORKERS: '1' }, procs: 1 },
    ratio: 'this / previous',
    keyed: true,
    mqttDevicesPerConn: 1,
    target: 0.95, // issue 16: the identity checks and pre-validation budgets cost at most 5 %
  },
  fleet: {
    npm: 'bench:fleet',
    title: '## Fleet state, sequence numbers and quality flags against none (bench/variants, issue 9)',
    a: { id: 'off', label: 'fleet off', env: { WORKERS: '1', DEVICE_STATE: 'off', QUALITY_CHECKS: 'off' }, procs: 1 },
    // seq: the load puts a per-device sequence number in every reading
    b: { id: 'on', label: 'fleet on + seq', env: { WORKERS: '1', DEVICE_STATE: 'on', QUALITY_CHECKS: 'on' }, procs: 1, seq: true },
    ratio: 'on / off',
    keyed: false,
    mqttDevicesPerConn: 10,
    target: 0.9, // issue 9: within 10 % of the figure without them
  },
};
const CMP = { ...COMPARISONS[WHICH], which: WHICH, start: `<!-- bench:${WHICH}:start -->`, end: `<!-- bench:${WHICH}:end -->` };
const VARIANTS = [CMP.a, CMP.b];

const ALL_SCENARIOS = [
  { id: 'single-c64', label: 'HTTP single POST, 64 conns', kind: 'http', script: 'single.lua', connections: 64, readingsPerRequest: 1 },
  { id: 'batch100-c16', label: 'HTTP batch POST ×100, 16 conns', kind: 'http', script: 'batch.lua', connections: 16, readingsPerRequest: 100 },
  { id: 'qos1-c100', label: `MQTT QoS 1, 100 conns × ${INFLIGHT} in flight`, kind: 'mqtt', connections: 100 },
];
const SCENARIOS = pickScenarios(ALL_SCENARIOS);

installCleanup();

/** The DEVICE_AUTH_URL service of bench:device-auth (started in main). */
let verifier;

// ------------------------------------------------------------------------------------ server
/** Base environment of the server under test; the variant's settings go on top. */
function serverEnv(ports, variant, adminToken) {
  return oursEnv(ports, { ...(adminToken ? { ADMIN_TOKEN: adminToken } : {}), ...variant.env });
}

/** True when an MQTT CONNECT gets a CONNACK, whatever its return code (4 = no credentials, with auth on). */
async function mqttAnswers(port) {
  try {
    const { socket } = await mqttConnect(port, `bench-probe-${process.pid}`, { timeoutMs: 1000 });
    socket.end(DISCONNECT);
    return true;
  } catch (e) {
    return /CONNACK return code/.test(e.message);
  }
}

/**
 * A fresh server with the variant's settings (NODE_ENV=production, HOST=127.0.0.1, free ports:
 * bench/lib/servers.mjs), ready once GET /ready answers 200, every worker listens on PORT and
 * WS_PORT (SO_REUSEPORT: one socket per worker), the process tree has them all and MQTT answers.
 */
async function startServer(variant, redisPort, logFile, adminToken) {
  const srv = await startNodeServer({ label: `${variant.label}`, script: variant.script ?? DIST, env: (ports) => serverEnv(ports, variant, adminToken), redisPort, logFile });
  const want = variant.procs;
  const tree = want === 1 ? 1 : want + 1; // the primary and its workers
  const deadline = Date.now() + 15_000;
  for (;;) {
    const state = { http: listeners(srv.port), ws: listeners(srv.ports.ws), procs: processTree(srv.child.pid).length, mqtt: await mqttAnswers(srv.ports.mqtt) };
    if (state.http >= want && state.ws >= want && state.procs >= tree && state.mqtt) return { ...srv, procs: state.procs };
    if (Date.now() > deadline || srv.child.exitCode !== null) {
      await stop(srv.child, 5000);
      throw new Error(`${variant.label}: not every worker ready within 15 s (${JSON.stringify(state)}, want ${want} listeners and ${tree} processes)`);
    }
    await sleep(100);
  }
}

/** Polls XLEN until it stops moving (3 equal reads 250 ms apart) or maxMs passed (bench/mqtt's rule). */
async function settledXlen(redis, maxMs = 20_000) {
  let last = -1;
  let same = 0;
  const deadline = Date.now() + maxMs;
  for (;;) {
    const n = await redis.xlen('sensor-data');
    same = n === last ? same + 1 : 0;
    last = n;
    if (same >= 2 || Date.now() > deadline) return { n, settled: same >= 2 };
    await sleep(250);
  }
}

/** CPU % over a window of the server's processes, redis-server, and this process (the runner). */
const cpuWindow = (srv, rd) => new CpuWindow({ server: processTree(srv.child.pid), redis: rd.proc.pid, runner: process.pid });

/** CpuWindow figures → {server, redis, loadgen, machine, others}; loadgen = our process tree minus server, redis and runner. */
function cpuFigures(c) {
  if (!c) return { server: NaN, redis: NaN, loadgen: NaN, machine: NaN, others: NaN };
  return { server: c.server, redis: c.redis, loadgen: Math.max(0, c.ours - c.server - c.redis - c.runner), machine: c.machine, others: c.others };
}

// ------------------------------------------------------------------------------------ loads
async function httpRun({ scenario, variant, srv, rd, keysFile }) {
  const wrkOpts = (duration, env) => ({
    script: path.join(HTTP_DIR, scenario.script),
    connections: scenario.connections,
    port: srv.port,
    duration,
    threads: WRK_THREADS,
    timeout: WRK_TIMEOUT,
    luaDir: HTTP_DIR,
    countStatus: COUNT_STATUS,
    env,
  });
  const keyEnv = { ...(keysFile ? { BENCH_KEYS_FILE: keysFile, BENCH_THREADS: String(WRK_THREADS) } : {}), ...(variant.seq ? { BENCH_SEQ: '1' } : {}) };
  const notes = [];
  if (WARMUP > 0) {
    const warmEnv = keysFile ? { ...keyEnv, BENCH_BASE_MS: String(Date.now() - 2000 - KEYED_WARMUP_SHIFT_MS) } : keyEnv;
    const w = parseWrk((await runWrk(wrkOpts(WARMUP, warmEnv))).out, scenario.readingsPerRequest);
    if (w.non2xx || w.socketErrors) notes.push(`warm-up: ${w.non2xx} non-2xx, ${w.socketErrors} socket errors`);
    await sleep(300); // let the last warm-up requests settle before counting
  }
  const before = await rd.redis.xlen('sensor-data');
  // CPU is sampled inside wrk's run (from 10 % to 90 % of it, at most 0.5 s in from either end):
  // /proc has nothing left of wrk once it has exited
  const edge = Math.min(500, DURATION * 100);
  let c;
  const cpu = cpuWindow(srv, rd);
  const t1 = setTimeout(() => cpu.start(), edge);
  const t2 = setTimeout(() => (c = cpu.stop()), DURATION * 1000 - edge);
  let res;
  try {
    res = await runWrk(wrkOpts(DURATION, keyEnv));
  } finally {
    clearTimeout(t1);
    clearTimeout(t2);
  }
  const p = parseWrk(res.out, scenario.readingsPerRequest);
  const after = await rd.redis.xlen('sensor-data');
  return {
    raw: res.out + res.err,
    cmd: res.args,
    rps: p.rps,
    readingsPerSec: p.readingsPerSec,
    p50: p.p50,
    p99: p.p99,
    accepted: p.acceptedReadings,
    errors: p.non2xx + p.socketErrors,
    errorText: p.non2xx || p.socketErrors ? `${p.non2xx} non-2xx${p.firstBad ? ` (first: ${p.firstBad})` : ''}, socket errors ${JSON.stringify(p.socket)}` : '',
    stored: { delta: after - before, ok: after - before >= p.acceptedReadings },
    cpu: cpuFigures(c),
    notes: [...notes, ...p.warnings],
  };
}

async function mqttRun({ scenario, variant, srv, rd, keysFile }) {
  const args = ['--port', String(srv.ports.mqtt), '--connections', String(scenario.connections), '--qos', '1', '--inflight', String(INFLIGHT), '--duration', String(DURATION), '--warmup', String(WARMUP), '--devices-per-conn', String(CMP.mqttDevicesPerConn)];
  if (keysFile) args.push('--credentials', keysFile);
  if (variant.seq) args.push('--seq');
  const before = await rd.redis.xlen('sensor-data');
  let cpu;
  let c;
  const { done } = runClient('load.mjs', args, {
    timeoutMs: (WARMUP + DURATION + 90 + scenario.connections / 50) * 1000,
    onEvent: (e) => {
      if (e.event === 'measure-start') {
        cpu = cpuWindow(srv, rd);
        cpu.start();
      } else if (e.event === 'measure-end' && cpu) c = cpu.stop();
    },
  });
  const load = await done;
  if (load.error) throw new Error(`load.mjs: ${load.error}${load.first_error ? ` (first socket error: ${load.first_error})` : ''}`);
  const after = await settledXlen(rd.redis);
  const n = mqttIssues({ load });
  return {
    raw: JSON.stringify(load),
    cmd: `node bench/mqtt/load.mjs ${args.map((a) => (a === keysFile ? '<keys file>' : a)).join(' ')}`,
    rps: load.msg_per_s,
    readingsPerSec: load.msg_per_s,
    p50: load.p50_ms,
    p99: load.p99_ms,
    accepted: load.acked_total,
    errors: n,
    errorText: n ? `lost ${load.lost}, socket errors ${load.socket_errors}, unexpected closes ${load.unexpected_closes}, unknown acks ${load.unknown_acks}, unexpected packets ${load.unexpected_packets}${load.first_error ? `; first error: ${load.first_error}` : ''}` : '',
    stored: { delta: after.n - before, ok: after.n - before >= load.acked_total },
    cpu: cpuFigures(c),
    loadgenSelfCpu: load.loadgen_cpu_pct,
    notes: after.settled ? [] : ['XLEN still moving 20 s after the run'],
  };
}

/** One run: FLUSHALL, fresh server, (keyed: devices registered), load with warm-up, checks, stop. */
async function runOnce({ round, scenario, variant, order, rd, tmp }) {
  const tag = `r${round}-${scenario.id}-${variant.id}`;
  const head = `[round ${round}/${ROUNDS}] ${scenario.id.padEnd(12)} ${variant.label.padEnd(17)}`;
  await rd.redis.flushall();
  const logFile = path.join(tmp, `${tag}.log`);
  const adminToken = CMP.keyed ? randomBytes(24).toString('hex') : undefined;
  const base = { round, scenario: scenario.id, target: variant.id, targetLabel: variant.label, order };
  let srv;
  let exit;
  let run;
  const problems = [];
  try {
    srv = await startServer(variant, rd.port, logFile, adminToken);
    let keysFile;
    let reg;
    if (CMP.keyed) {
      // the keys live in Redis (API_KEYS_KEY): FLUSHALL wiped the last run's, so every run registers its own
      const prefix = `bv${Date.now().toString(36)}`;
      const n = scenario.kind === 'http' ? AUTH_DEVICES : scenario.connections;
      const ids = Array.from({ length: n }, (_, i) => (scenario.kind === 'http' ? `${prefix}-d${i}` : `${prefix}-c${i}`));
      keysFile = path.join(tmp, `${tag}.keys`);
      reg = variant.foreignKeys ? foreignDevices({ ids, file: keysFile, verifier }) : await registerDevices({ port: srv.port, token: adminToken, ids, file: keysFile });
    }
    const t0 = performance.now();
    const r = scenario.kind === 'http' ? await httpRun({ scenario, variant, srv, rd, keysFile }) : await mqttRun({ scenario, variant, srv, rd, keysFile });
    fs.writeFileSync(path.join(tmp, `${tag}.load.txt`), `${r.cmd}\n${r.raw}\n`);
    run = { ...base, ...r, procs: srv.procs, registered: reg, loadSeconds: (performance.now() - t0) / 1000 };
    delete run.raw;
    if (!r.stored.ok) problems.push(`${tag}: stored check failed (XLEN grew by ${r.stored.delta} < ${r.accepted} accepted)`);
    if (r.errors) problems.push(`${tag}: ${r.errorText}`);
    printRun(head, run);
  } catch (e) {
    console.log(`${head} FAILED: ${e.message}`);
    problems.push(`${tag}: ${e.message.split('\n')[0]}`);
  } finally {
    if (srv) exit = await stop(srv.child, STOP_GRACE_S * 1000);
  }
  const findings = reportServerHealth({ key: tag, label: variant.label, exit, graceS: STOP_GRACE_S, logFile, log: { kind: 'json', ignore: EXPECTED_LOG } });
  return { run, problems, findings };
}

// ----------------------------------------------------------------------------------- main
async function main() {
  ensureTool('wrk', 'wrk');
  ensureTool('redis-server', 'redis-server');
  const bundle = bundleInfo(DIST);
  const machine = { ...machineInfo(), mqttPacket: packageVersion('mqtt-packet') };
  if (VARIANTS.some((v) => v.procs > 1) && machine.nproc < 2) console.log(`note: ${machine.nproc} core(s): several workers share them`);
  const command = commandLine(CMP.npm, `bench/variants/run.mjs ${WHICH}`);
  const startedAt = new Date();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `nb-bench-${WHICH}-`));

  // per run: start-up (workers, /ready), registration, warm-up, window, checks, stop
  const perRunS = WARMUP + DURATION + (CMP.keyed ? 90 : 60);
  startWatchdog(ROUNDS * SCENARIOS.length * VARIANTS.length * perRunS + 120);
  const expectS = ROUNDS * SCENARIOS.length * VARIANTS.length * (WARMUP + DURATION + (CMP.keyed ? 6 : 4));
  console.log(`${CMP.npm} ${QUICK ? '(QUICK smoke run) ' : ''}— ${CMP.a.label} against ${CMP.b.label}: ${ROUNDS} round(s) × ${SCENARIOS.length} scenario(s) × 2 variants, ${DURATION} s each (+${WARMUP} s warm-up), ≈${Math.ceil(expectS / 60)} min`);
  console.log(`machine: ${machine.nproc} cores (${machine.cpu}), node ${machine.node}, redis ${machine.redis}, wrk ${machine.wrk}`);
  console.log(`note: the load generator, redis-server and the server under test share the ${machine.nproc} cores — compare ratios from the same run only.`);
  console.log(`bundle: dist/neurobuild-ingest.cjs sha256:${bundle.sha} built ${bundle.built}${bundle.stale ? '  WARNING: src/ has newer files than the bundle (run npm run bundle)' : ''}`);
  if (CMP.keyed) console.log(`devices: ${AUTH_DEVICES} registered per HTTP run, one per connection per MQTT run, through POST /api/v1/admin/devices after the server started`);
  console.log(`logs: ${tmp}`);

  const rd = await startRedis(tmp);
  if (VARIANTS.some((v) => v.foreignKeys)) {
    verifier = await startVerifier();
    for (const v of VARIANTS) if (v.foreignKeys) v.env = { ...v.env, DEVICE_AUTH_URL: verifier.url };
  }
  console.log(`redis-server ${machine.redis} on 127.0.0.1:${rd.port} (--save '' --appendonly no)\n`);

  const runs = [];
  const problems = [];
  const findings = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [si, scenario] of SCENARIOS.entries()) {
      // alternate which variant goes first, so neither always runs on a "warmer" machine
      const order = (round + si) % 2 === 1 ? VARIANTS : [...VARIANTS].reverse();
      for (const [oi, variant] of order.entries()) {
        const r = await runOnce({ round, scenario, variant, order: oi + 1, rd, tmp });
        if (r.run) runs.push(r.run);
        problems.push(...r.problems);
        findings.push(...r.findings);
      }
    }
  }
  await rd.close();

  const settings = settingsText();
  printSummary({ runs, scenarios: SCENARIOS, cmp: CMP, problems, findings, logDir: tmp });
  fs.writeFileSync(path.join(tmp, 'results.json'), JSON.stringify({ machine, bundle, command, settings, runs, problems, findings }, null, 1));
  console.log(`raw figures: ${path.join(tmp, 'results.json')}`);
  const section = resultsSection({ startedAt, finishedAt: new Date(), quick: QUICK, machine, bundle, command, settings, runs, scenarios: SCENARIOS, cmp: CMP, problems, findings });
  if (WRITE_RESULTS) {
    writeSection(RESULTS, CMP.start, CMP.end, section);
    console.log(`\nwrote ${path.relative(ROOT, RESULTS)} (section ${CMP.start} … ${CMP.end})`);
  } else console.log(`\n${QUICK ? 'quick run: ' : ''}bench/RESULTS.md left unchanged (BENCH_WRITE_RESULTS=1 to write it)`);
  if (verifier) console.log(`DEVICE_AUTH_URL service: ${verifier.calls} calls for ${ROUNDS * SCENARIOS.length} runs (one per device per run while cached)`);
  verifier?.close();
  if (problems.length) process.exitCode = 1;
}

/** The settings line of the RESULTS.md section. */
function settingsText() {
  const both = 'NODE_ENV=production, QUEUE_BACKEND=redis, RATE_LIMIT=off, LOG_LEVEL=warn, METRICS_PORT=0';
  if (CMP.which === 'hardening') {
    const sha = createHash('sha256').update(fs.readFileSync(BASELINE_DIST)).digest('hex').slice(0, 12);
    const hardening = `${both}, WORKERS=1, AUTH_MODE=api-key and ADMIN_TOKEN set for both; previous build: ${BASELINE_DIST} sha256:${sha}`;
    return `${hardening}; ${runsText()}`;
  }
  if (CMP.which === 'device-auth') {
    return `${both}, WORKERS=1, AUTH_MODE=api-key and ADMIN_TOKEN set for both; "held here": keys registered through the admin API; "DEVICE_AUTH_URL": random keys this server never issued, verified by a DEVICE_AUTH_URL service in the bench process (defaults: DEVICE_AUTH_CACHE_S 60, so each key is asked about once, in the warm-up); ${runsText()}`;
  }
  const variants = CMP.which === 'workers' ? `${both}; WORKERS=1 (one process) and WORKERS=2 (a primary and 2 workers)` : `${both}, ${AUTH_WORKERS === undefined ? `WORKERS unset (the default: one per CPU, here ${CMP.a.procs} workers + the primary)` : `WORKERS=${AUTH_WORKERS}`} and ADMIN_TOKEN set for both; AUTH_MODE=none and AUTH_MODE=api-key`;
  return `${variants}; ${runsText()}`;
}

function runsText() {
  return (
    `${ROUNDS} round(s) × ${DURATION} s measured after ${WARMUP} s warm-up, variant order alternating per round and scenario, Redis FLUSHALL and a fresh server per run; ` +
    `HTTP: wrk \`-t${WRK_THREADS} --timeout ${WRK_TIMEOUT} --latency\` with bench/http's single.lua / batch.lua; ` +
    `MQTT: bench/mqtt/load.mjs, MQTT 3.1.1, QoS 1, ${INFLIGHT} in flight per connection, ${CMP.mqttDevicesPerConn} device(s) per connection`
  );
}

main().catch((err) => {
  console.error(`${CMP.npm}: ${err?.stack ?? err}`);
  killAll('SIGKILL');
  process.exit(1);
});
