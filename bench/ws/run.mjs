#!/usr/bin/env node
// WebSocket benchmark of neurobuild-ingest (dist/neurobuild-ingest.cjs), two measurements:
//   fan-out   100, 1,000 and 10,000 subscribers without filters (raw node:net clients in 2–4
//             processes, counting frames from their headers), readings POSTed at fixed rates
//             derived from offered frames/s (rate = frames/s ÷ subscribers): delivered frames/s
//             and completeness; at 1,000 subscribers readings grouped every WS_FLUSH_MS=5
//             against WS_FLUSH_MS=0, the other counts with the default WS_FLUSH_MS=5 only
//   ingest    HTTP batch ingest (wrk, bench/http/batch.lua) with no subscribers against 10 slow
//             subscribers that never read their sockets
//
//   npm run bench:ws        (= node scripts/bundle.mjs && node bench/ws/run.mjs)
//
// Env knobs: BENCH_ROUNDS (3), BENCH_DURATION s (10), BENCH_WARMUP s (2), BENCH_QUICK=1 (1 round ×
// 3 s, warm-up 1 s, RESULTS.md left alone), BENCH_SCENARIOS (fanout-c<N>, ingest-slow<N>),
// BENCH_WRITE_RESULTS (0|1), BENCH_WS_SUBSCRIBERS (100,1000,10000), BENCH_WS_FRAMES
// (500000,1000000,1500000,2000000), BENCH_WS_RATES (unset: from the frames), BENCH_WS_COMPARE_AT
// (1000), BENCH_WS_SUB_PROCS (max(2, subscribers ÷ 2,500)), BENCH_WS_FLUSH_MS (5),
// BENCH_WS_TICK_MS (1), BENCH_WS_SLOW (10), BENCH_WS_SLOW_TIMEOUT_MS, BENCH_WS_WRK_CONNECTIONS (16).
// See bench/README.md.
//
// Everything listens on and targets 127.0.0.1 only. Every child process is killed on exit, on
// errors and on SIGINT/SIGTERM; a watchdog bounds the whole run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandLine, fail, intEnv, pickScenarios, readSettings, setBenchName } from '../lib/cli.mjs';
import { bundleInfo, ensureTool, machineInfo } from '../lib/machine.mjs';
import { DIST, RESULTS, ROOT } from '../lib/paths.mjs';
import { installCleanup, killAll, sleep, startWatchdog, stop } from '../lib/processes.mjs';
import { startRedis } from '../lib/redis-server.mjs';
import { reportServerHealth } from '../lib/report.mjs';
import { saveReport } from '../lib/report-json.mjs';
import { writeSection } from '../lib/results-md.mjs';
import { oursEnv, startNodeServer } from '../lib/servers.mjs';
import { int } from '../lib/tables.mjs';
import { parseWrk, runWrk } from '../lib/wrk.mjs';
import { spawnJsonChild } from './children.mjs';
import { CpuWindow, connectionsPerProcess, ephemeralPorts, listeners, openFilesLimit, processTree, treeRssMiB } from './procstat.mjs';
import * as rep from './report.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const SUBSCRIBERS_JS = path.join(HERE, 'subscribers.mjs');
const SENDER_JS = path.join(HERE, 'sender.mjs');
const HTTP_DIR = path.join(ROOT, 'bench/http');
const START = '<!-- bench:ws:start -->';
const END = '<!-- bench:ws:end -->';

// ------------------------------------------------------------------------------------ settings
setBenchName('bench:ws');
const { quick: QUICK, rounds: ROUNDS, duration: DURATION, warmup: WARMUP, writeResults: WRITE_RESULTS } = readSettings();
/** Comma list of integers in [min, max] from the environment (`def` when unset or empty). */
function listEnv(envName, def, min, max) {
  const raw = process.env[envName] || def;
  const xs = raw.split(',').map((x) => Number(x.trim()));
  if (xs.some((x) => !Number.isInteger(x) || x < min || x > max)) fail(`${envName} must be a comma list of integers in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return xs;
}
// fan-out: subscriber counts, and the offered frames/s (readings/s × subscribers) each count is driven at
const COUNTS = [...new Set(listEnv('BENCH_WS_SUBSCRIBERS', '100,1000,10000', 1, 50_000))];
const FRAMES = [...new Set(listEnv('BENCH_WS_FRAMES', '500000,1000000,1500000,2000000', 1, 1_000_000_000))];
// fixed readings/s for every count instead (the frames then differ per count)
const FIXED_RATES = process.env.BENCH_WS_RATES ? [...new Set(listEnv('BENCH_WS_RATES', '', 1, 1_000_000))] : null;
const ratesFor = (count) => FIXED_RATES ?? [...new Set(FRAMES.map((f) => Math.max(1, Math.round(f / count))))];
for (const c of COUNTS) if (ratesFor(c).some((r) => r > 1_000_000)) fail(`BENCH_WS_FRAMES ÷ ${c} subscribers gives more than 1,000,000 readings/s`);
// subscriber counts at which WS_FLUSH_MS=<BENCH_WS_FLUSH_MS> and WS_FLUSH_MS=0 both run (others: the first only)
const COMPARE_AT = process.env.BENCH_WS_COMPARE_AT === 'none' ? [] : listEnv('BENCH_WS_COMPARE_AT', '1000', 1, 50_000);
// subscriber processes per count: one number for all, one per count, or unset: max(2, ⌈count ÷ 2,500⌉)
const PROCS_ENV = process.env.BENCH_WS_SUB_PROCS ? listEnv('BENCH_WS_SUB_PROCS', '', 1, 16) : null;
if (PROCS_ENV && PROCS_ENV.length > 1 && PROCS_ENV.length !== COUNTS.length) fail(`BENCH_WS_SUB_PROCS must be one number or one per BENCH_WS_SUBSCRIBERS entry, got ${JSON.stringify(process.env.BENCH_WS_SUB_PROCS)}`);
const procsFor = (count) => Math.min(count, PROCS_ENV ? (PROCS_ENV[COUNTS.indexOf(count)] ?? PROCS_ENV[0]) : Math.min(8, Math.max(2, Math.ceil(count / 2500))));
const FLUSH_MS = intEnv('BENCH_WS_FLUSH_MS', 5, 1, 1000);
const TICK_MS = intEnv('BENCH_WS_TICK_MS', 1, 1, 1000);
const SLOW = intEnv('BENCH_WS_SLOW', 10, 1, 1000);
const WRK_CONNECTIONS = intEnv('BENCH_WS_WRK_CONNECTIONS', 16, 1, 1000);
// slow subscribers are to be skipped for the whole run, not closed half-way through it
const SLOW_TIMEOUT_MS = intEnv('BENCH_WS_SLOW_TIMEOUT_MS', Math.max(60_000, (WARMUP + DURATION + 30) * 1000), 1, 600_000);
// the server's WORKERS: unset = its default (one worker per CPU in production with Redis)
const WORKERS = process.env.BENCH_WS_WORKERS ? String(intEnv('BENCH_WS_WORKERS', 0, 0, 256)) : undefined;
const STOP_GRACE_S = 15;

const TARGETS = [
  { id: 'grouped', label: `WS_FLUSH_MS=${FLUSH_MS}`, what: `readings gathered and published every ${FLUSH_MS} ms`, flushMs: FLUSH_MS },
  { id: 'per-turn', label: 'WS_FLUSH_MS=0', what: 'published every event-loop turn', flushMs: 0 },
];

const ALL_SCENARIOS = [
  ...COUNTS.map((count) => ({ id: `fanout-c${count}`, kind: 'fanout', count, procs: procsFor(count), rates: ratesFor(count), targets: COMPARE_AT.includes(count) ? TARGETS : [TARGETS[0]] })),
  { id: `ingest-slow${SLOW}`, kind: 'ingest' },
];
const SCENARIOS = pickScenarios(ALL_SCENARIOS);
/** The fan-out scenarios to run, one per subscriber count: {count, procs, rates, targets}. */
const PLAN = SCENARIOS.filter((s) => s.kind === 'fanout');
const DO_FANOUT = PLAN.length > 0;
const DO_INGEST = SCENARIOS.some((s) => s.kind === 'ingest');
const COMPARED = PLAN.filter((p) => p.targets.length > 1).map((p) => p.count);
const MAX_COUNT = Math.max(0, ...PLAN.map((p) => p.count));
// server processes expected to listen on WS_PORT (SO_REUSEPORT): WORKERS, or its default of one per CPU
const SERVER_WORKERS = WORKERS === undefined || WORKERS === '0' ? os.availableParallelism() : Number(WORKERS);

// time limits of a fan-out run that grow with the connections: per subscriber process (n of them
// in it) to connect and subscribe, to answer a command; per run for the counts to stop moving
const readyMs = (n) => 30_000 + 20 * n;
const replyMs = (n) => 10_000 + 2 * n;
const settleMs = (count) => 30_000 + 3 * count;
// the sender goes on this long after the measured window, so that the window never outlasts it
const SENDER_TAIL_S = 1;
/**
 * Seconds a fan-out run takes, for the banner: warm-up, window and the sender's tail, plus ≈2.5 s
 * (server start, subscriber processes, settle, stop) and what grows with the subscribers
 * (connecting ≈2.5 s, backlog and slow answers after the window ≈4 s per 10,000).
 */
const fanoutRunS = (count) => WARMUP + DURATION + SENDER_TAIL_S + 2.5 + count / 1500;
/** Seconds an ingest run takes (server start, wrk warm-up and window, drain of the slow subscribers, stop). */
const ingestRunS = () => WARMUP + DURATION + 2;
/** A fan-out run's share of the watchdog's budget: twice its expected time plus a minute. */
const fanoutBudgetS = (count) => 2 * fanoutRunS(count) + 60;
const VARIANTS = [
  { id: 'none', label: 'no subscribers', what: 'no WebSocket connection' },
  { id: 'slow', label: `${SLOW} slow subscribers`, what: `${SLOW} subscribers to every reading that never read their sockets` },
];

installCleanup();

function serverEnv(ports, extra) {
  // MQTT off: this benchmark measures HTTP ingest and the WebSocket fan-out only
  return oursEnv(ports, { MQTT_PORT: '0', ...(WORKERS === undefined ? {} : { WORKERS }), ...extra });
}

/** Asks every subscriber process for its counts at once. */
const counts = (subs, timeoutMs) =>
  Promise.all(
    subs.map((s) => {
      const reply = s.expect('count', timeoutMs);
      s.send('count');
      return reply;
    }),
  );

/** Polls the subscribers until their frame counts stop moving (true), or maxMs pass (false). */
async function settle(subs, replyTimeoutMs, maxMs) {
  const t0 = Date.now();
  let last = -1;
  let still = 0;
  while (Date.now() - t0 < maxMs) {
    const total = (await counts(subs, replyTimeoutMs)).reduce((a, c) => a + c.frames, 0);
    still = total === last ? still + 1 : 0;
    if (still >= 3) return true;
    last = total;
    await sleep(250);
  }
  return false;
}

// ------------------------------------------------------------------------------ fan-out run
/** Waits until every server worker listens on the WebSocket port (SO_REUSEPORT: one socket each); the count seen. */
async function workersListening(port) {
  const t0 = Date.now();
  let n = listeners(port);
  while (n < SERVER_WORKERS && Date.now() - t0 < 10_000) {
    await sleep(50);
    n = listeners(port);
  }
  return n;
}

async function fanoutRun({ round, plan, rate, target, order, redis, redisProc, redisPort, tmp }) {
  const { count, procs } = plan;
  await redis.flushall();
  const key = `r${round}-fanout-c${count}-${rate}-${target.id}`;
  const logFile = path.join(tmp, `${key}.server.log`);
  // WS_MAX_CONNECTIONS counts per server process, and all subscribers may land on one of them
  const wsEnv = { WS_FLUSH_MS: String(target.flushMs), WS_MAX_CONNECTIONS: String(Math.max(10_000, count + 1_000)), MAX_CONNECTIONS_PER_IP: '0' };
  const srv = await startNodeServer({ label: target.label, script: DIST, env: (p) => serverEnv(p, wsEnv), redisPort, logFile });
  const perProc = Math.ceil(count / procs);
  const reply = replyMs(perProc);
  const subs = [];
  let sender;
  let run;
  let exit;
  try {
    const listening = await workersListening(srv.ports.ws);
    const lifetimeS = Math.ceil((readyMs(perProc) + settleMs(count) + 4 * reply) / 1000) + WARMUP + DURATION + 120;
    for (let i = 0; i < procs; i++) {
      const n = Math.floor(count / procs) + (i < count % procs ? 1 : 0);
      subs.push(spawnJsonChild(SUBSCRIBERS_JS, ['--port', srv.ports.ws, '--connections', n, '--mode', 'count', '--timeout', lifetimeS], path.join(tmp, `${key}.subscribers${i}.log`)));
    }
    const ready = await Promise.all(subs.map((s) => s.expect('ready', readyMs(perProc))));
    const subscribers = ready.reduce((a, r) => a + r.connections, 0);
    const connectMs = Math.max(...ready.map((r) => r.ms));
    const retried = ready.reduce((a, r) => a + r.retried, 0);
    const serverPids = processTree(srv.child.pid);
    const spread = connectionsPerProcess(serverPids, srv.ports.ws).filter((n) => n > 0);
    const xlen0 = await redis.xlen('sensor-data');
    sender = spawnJsonChild(SENDER_JS, ['--port', srv.port, '--rate', rate, '--duration', WARMUP + DURATION + SENDER_TAIL_S, '--tick', TICK_MS, '--run', `w${Date.now().toString(36)}`], path.join(tmp, `${key}.sender.log`));
    await sender.expect('started', 10_000);
    await sleep(WARMUP * 1000);
    const cpu = new CpuWindow({ server: serverPids, redis: redisProc.pid, sender: sender.pid, ...Object.fromEntries(subs.map((s, i) => [`sub${i}`, s.pid])) });
    cpu.start();
    const c0 = await counts(subs, reply);
    await sleep(DURATION * 1000);
    const c1 = await counts(subs, reply);
    const cpuPct = cpu.stop();
    const rss = treeRssMiB(srv.child.pid);
    const sent = await sender.expect('done', (DURATION + 60) * 1000);
    const settled = await settle(subs, reply, settleMs(count));
    const finals = await Promise.all(subs.map((s) => s.finish('final', reply)));
    const stored = (await redis.xlen('sensor-data')) - xlen0;

    const framesPerSec = c1.reduce((a, c, i) => a + (c.frames - c0[i].frames) / ((c.at - c0[i].at) / 1000), 0);
    const delivered = finals.reduce((a, f) => a + f.frames, 0);
    const expected = sent.accepted * subscribers;
    const issues = [];
    if (subscribers !== count) issues.push(`${subscribers} of ${count} subscribers connected`);
    if (listening < SERVER_WORKERS) issues.push(`${listening} of ${SERVER_WORKERS} server workers listening on WS_PORT when the subscribers connected`);
    if (!settled) issues.push(`frame counts still moving ${settleMs(count) / 1000} s after the sender finished (completeness counted then)`);
    if (stored < sent.accepted) issues.push(`XLEN sensor-data grew by ${stored} < ${sent.accepted} accepted`);
    if (sent.non202 || sent.errors || sent.failed || sent.duplicates) issues.push(`sender: ${sent.non202} non-202, ${sent.errors} errors, ${sent.failed} failed, ${sent.duplicates} duplicates (first: ${sent.first_bad})`);
    const sum = (f) => finals.reduce((a, x) => a + f(x), 0);
    if (sum((f) => f.bad_frames)) issues.push(`${sum((f) => f.bad_frames)} of ${sum((f) => f.sampled)} sampled frames not sensor-data (first: ${finals.find((f) => f.first_bad)?.first_bad})`);
    if (sum((f) => f.unexpected_frames + f.protocol_errors)) issues.push(`${sum((f) => f.unexpected_frames)} unexpected frames, ${sum((f) => f.protocol_errors)} protocol errors`);
    if (sum((f) => f.socket_errors)) issues.push(`${sum((f) => f.socket_errors)} subscriber socket errors`);
    const closes = finals.flatMap((f) => Object.entries(f.closes));
    if (closes.length || sum((f) => f.open) < subscribers) issues.push(`subscribers closed by the server: ${closes.map(([code, n]) => `${n}× ${code}`).join(', ') || `${subscribers - sum((f) => f.open)} without a close frame`}`);
    if (delivered > expected) issues.push(`${delivered - expected} frames more than readings × subscribers (duplicated deliveries)`);
    run = {
      round,
      count,
      procs,
      rate,
      target: target.id,
      targetLabel: target.label,
      order,
      subscribers,
      connectMs,
      retried,
      spread,
      accepted: sent.accepted,
      acceptedPerSec: sent.accepted_per_s,
      senderBehind: sent.max_behind,
      senderP99: sent.request_p99_ms,
      framesPerSec,
      delivered,
      expected,
      completeness: expected ? delivered / expected : NaN,
      minShare: sent.accepted ? Math.min(...finals.map((f) => f.min_per_connection)) / sent.accepted : NaN,
      cpu: { server: cpuPct.server, redis: cpuPct.redis, sender: cpuPct.sender, subs: subs.map((_, i) => cpuPct[`sub${i}`]), machine: cpuPct.machine, others: cpuPct.others, cores: cpuPct.cores },
      rssMiB: rss,
      processes: serverPids.length,
      stored,
      sampled: sum((f) => f.sampled),
      issues,
    };
  } finally {
    await Promise.all([...subs, sender].filter(Boolean).map((c) => c.kill()));
    exit = await stop(srv.child, STOP_GRACE_S * 1000);
  }
  rep.printFanoutRun(run, ROUNDS);
  const findings = reportServerHealth({ key, label: target.label, exit, graceS: STOP_GRACE_S, logFile });
  return { run, findings };
}

// ------------------------------------------------------------------------------- ingest run
async function ingestRun({ round, variant, order, redis, redisProc, redisPort, tmp }) {
  await redis.flushall();
  const key = `r${round}-ingest-${variant.id}`;
  const logFile = path.join(tmp, `${key}.server.log`);
  const srv = await startNodeServer({ label: variant.label, script: DIST, env: (p) => serverEnv(p, { WS_SLOW_TIMEOUT_MS: String(SLOW_TIMEOUT_MS) }), redisPort, logFile });
  let subs;
  let run;
  let exit;
  const wrk = (duration) =>
    runWrk({ script: path.join(HTTP_DIR, 'batch.lua'), connections: WRK_CONNECTIONS, port: srv.port, duration, threads: 1, timeout: '5s', luaDir: HTTP_DIR, countStatus: false });
  try {
    if (variant.id === 'slow') {
      subs = spawnJsonChild(SUBSCRIBERS_JS, ['--port', srv.ports.ws, '--connections', SLOW, '--mode', 'slow'], path.join(tmp, `${key}.subscribers.log`));
      await subs.expect('ready', 30_000);
    }
    if (WARMUP > 0) {
      await wrk(WARMUP);
      await sleep(300);
    }
    const before = await redis.xlen('sensor-data');
    const serverPids = processTree(srv.child.pid);
    const cpu = new CpuWindow({ server: serverPids, redis: redisProc.pid });
    cpu.start();
    const res = await wrk(DURATION);
    const cpuPct = cpu.stop();
    const rss = treeRssMiB(srv.child.pid);
    fs.writeFileSync(path.join(tmp, `${key}.wrk.txt`), res.out + res.err);
    const parsed = parseWrk(res.out, 100);
    const delta = (await redis.xlen('sensor-data')) - before;
    const issues = [];
    let slow;
    if (subs) {
      subs.send('drain');
      const d = await subs.expect('drained', 60_000);
      await subs.finish('final', 10_000);
      const per = d.per_connection;
      slow = { connections: per.length, open: per.filter((c) => c.open).length, closes: d.closes, minFrames: Math.min(...per.map((c) => c.frames)), maxFrames: Math.max(...per.map((c) => c.frames)) };
      if (slow.open < SLOW) issues.push(`${SLOW - slow.open} of ${SLOW} slow subscribers closed by the server during the run (closes ${JSON.stringify(d.closes)}; WS_SLOW_TIMEOUT_MS=${SLOW_TIMEOUT_MS})`);
      if (d.bad_frames) issues.push(`${d.bad_frames} sampled frames of slow subscribers not sensor-data (${d.first_bad})`);
    }
    const stored = { delta, ok: delta >= parsed.acceptedReadings };
    if (!stored.ok) issues.push(`XLEN sensor-data grew by ${delta} < ${parsed.acceptedReadings} answered 2xx`);
    if (parsed.non2xx || parsed.socketErrors) issues.push(`wrk: ${parsed.non2xx} non-2xx, ${parsed.socketErrors} socket errors`);
    run = { round, variant: variant.id, label: variant.label, order, ...parsed, stored, cpu: cpuPct, rssMiB: rss, processes: serverPids.length, slow, issues, wrkCmd: res.args };
  } finally {
    if (subs) await subs.kill();
    exit = await stop(srv.child, STOP_GRACE_S * 1000);
  }
  rep.printIngestRun(run, ROUNDS);
  const findings = reportServerHealth({ key, label: variant.label, exit, graceS: STOP_GRACE_S, logFile });
  return { run, findings };
}

// ----------------------------------------------------------------------------------- main
async function main() {
  ensureTool('redis-server', 'redis-server');
  if (DO_INGEST) ensureTool('wrk', 'wrk');
  const bundle = bundleInfo(DIST);
  const machine = machineInfo();
  const uws = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/uWebSockets.js/package.json'), 'utf8'));
  const command = commandLine('bench:ws', 'bench/ws/run.mjs');
  const startedAt = new Date();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-ws-'));

  // every subscriber may land on one server process (WORKERS=1, or an uneven SO_REUSEPORT spread)
  const nofile = openFilesLimit();
  if (MAX_COUNT + 500 > nofile) fail(`fan-out to ${MAX_COUNT} subscribers needs ${MAX_COUNT + 500} open files per process, ulimit -n is ${nofile}: raise it (ulimit -n; as root ulimit -Hn, docker --ulimit nofile=65536:65536) or lower BENCH_WS_SUBSCRIBERS`);
  if (MAX_COUNT + 1000 > ephemeralPorts()) fail(`fan-out to ${MAX_COUNT} subscribers from 127.0.0.1 needs ${MAX_COUNT + 1000} local ports, net.ipv4.ip_local_port_range has ${ephemeralPorts()}`);
  const fanoutPerRound = PLAN.reduce((a, p) => a + p.rates.length * p.targets.length, 0);
  const fanoutRuns = DO_FANOUT ? ROUNDS * fanoutPerRound : 0;
  const ingestRuns = DO_INGEST ? ROUNDS * VARIANTS.length : 0;
  const perRound = (f) => PLAN.reduce((a, p) => a + p.rates.length * p.targets.length * f(p), 0);
  startWatchdog(Math.ceil(ROUNDS * perRound((p) => fanoutBudgetS(p.count)) + ingestRuns * (WARMUP + DURATION + 60) + 120));
  const expectS = ROUNDS * perRound((p) => fanoutRunS(p.count)) + ingestRuns * ingestRunS();
  const planText = PLAN.map((p) => `${int(p.count)} subscribers (${p.procs} procs) at ${p.rates.map(int).join(', ')} readings/s × ${p.targets.map((t) => t.label).join(' / ')}`).join('; ');
  console.log(
    `bench:ws ${QUICK ? '(QUICK smoke run) ' : ''}— ${ROUNDS} round(s)${DO_FANOUT ? `, fan-out: ${planText}` : ''}${DO_INGEST ? `; ingest with 0 / ${SLOW} slow subscribers` : ''}; ${DURATION} s each (+${WARMUP} s warm-up), ${fanoutRuns + ingestRuns} runs, ≈${expectS < 90 ? `${Math.round(expectS)} s` : `${Math.round(expectS / 60)} min`}`,
  );
  console.log(`machine: ${machine.nproc} cores (${machine.cpu}), node ${machine.node}, redis ${machine.redis}, wrk ${machine.wrk}, uWebSockets.js ${uws.version}`);
  console.log(`bundle: dist/neurobuild-ingest.cjs sha256:${bundle.sha} built ${bundle.built}${bundle.stale ? '  WARNING: src/ has newer files than the bundle (run npm run bundle)' : ''}`);
  console.log(`logs: ${tmp}`);
  const { port: redisPort, redis, proc: redisProc, close: closeRedis } = await startRedis(tmp);
  console.log(`redis-server ${machine.redis} on 127.0.0.1:${redisPort} (--save '' --appendonly no)\n`);

  const fanout = [];
  const ingest = [];
  const logFindings = [];
  const ctx = { redis, redisProc, redisPort, tmp };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const plan of PLAN) {
      for (const [ri, rate] of plan.rates.entries()) {
        const order = (round + ri) % 2 === 1 ? plan.targets : [...plan.targets].reverse();
        for (const [oi, target] of order.entries()) {
          const { run, findings } = await fanoutRun({ round, plan, rate, target, order: oi + 1, ...ctx });
          fanout.push(run);
          logFindings.push(...findings);
        }
      }
    }
    if (DO_INGEST) {
      const order = round % 2 === 1 ? VARIANTS : [...VARIANTS].reverse();
      for (const [oi, variant] of order.entries()) {
        const { run, findings } = await ingestRun({ round, variant, order: oi + 1, ...ctx });
        ingest.push(run);
        logFindings.push(...findings);
      }
    }
  }
  await closeRedis();

  const fSum = rep.fanoutSummary(fanout, PLAN);
  const heads = rep.headline(fSum, PLAN);
  const fRatios = rep.fanoutRatios(fanout, PLAN);
  const ingestSum = rep.ingestSummary(ingest, VARIANTS);
  const problems = [...fanout, ...ingest].filter((r) => r.issues.length).length;
  rep.printSummary({ fanout: fSum, ingest, heads, fRatios, ingestSum, problems, logFindings, logDir: tmp });

  const finishedAt = new Date();
  const procs = [...new Set([...fanout, ...ingest].map((r) => r.processes))].join(' or ');
  const facts = [
    `date: ${startedAt.toISOString()} → ${finishedAt.toISOString()}${QUICK ? ' (QUICK smoke run, not representative)' : ''}`,
    `machine: ${machine.nproc} cores, ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.kernel}`,
    `software: node ${machine.node}, redis-server ${machine.redis} (\`--save '' --appendonly no\`), wrk ${machine.wrk}, uWebSockets.js ${uws.version} (in the server)`,
    `ours: dist/neurobuild-ingest.cjs sha256:${bundle.sha} (built ${bundle.built})${bundle.stale ? ' — WARNING: src/ was newer than the bundle' : ''}, NODE_ENV=production, QUEUE_BACKEND=redis, LOG_LEVEL=warn, RATE_LIMIT=off, ${WORKERS === undefined ? 'WORKERS unset (auto)' : `WORKERS=${WORKERS}`}: ${procs} server process(es) per run (CPU % and RSS below are their sum), fan-out runs with WS_MAX_CONNECTIONS=max(10,000, subscribers + 1,000) (the limit is per server process, and every subscriber could land on one) and MAX_CONNECTIONS_PER_IP=0, other WS_* settings at their defaults`,
    `command: \`${command}\``,
    `settings: ${ROUNDS} round(s) × ${DURATION} s measured after ${WARMUP} s warm-up, Redis FLUSHALL and a fresh server per run; fan-out: ${PLAN.map((p) => `${int(p.count)} subscribers in ${p.procs} processes at ${p.rates.map(int).join(', ')} readings/s`).join('; ')}${FIXED_RATES ? ' (BENCH_WS_RATES)' : ` (${FRAMES.map(int).join(', ')} frames/s offered ÷ subscribers)`}, ${COMPARED.length ? `WS_FLUSH_MS=${FLUSH_MS} and 0 at ${COMPARED.map(int).join(', ')} subscribers (order alternating per round and rate), WS_FLUSH_MS=${FLUSH_MS} only at the others` : `WS_FLUSH_MS=${FLUSH_MS} only`}, sender tick ${TICK_MS} ms; ingest: wrk \`-t1 -c${WRK_CONNECTIONS}\` with bench/http/batch.lua (100 readings per request), WS_SLOW_TIMEOUT_MS=${SLOW_TIMEOUT_MS} for both variants, variant order alternating per round`,
    `caveat: the server, redis-server and the clients (subscriber processes, sender or wrk) share the ${machine.nproc} cores; absolute figures are bound to this machine and load, compare figures of the same run only.`,
  ];
  if (WRITE_RESULTS) {
    const notes = {
      fanout: [
        `${rep.listText(PLAN.map((p) => int(p.count)))} WebSocket subscribers without filters: raw node:net clients that count frames from their headers (the first frame of`,
        `every connection and every 1,000th frame are parsed and must be sensor-data), in ${new Set(PLAN.map((p) => p.procs)).size === 1 ? `${PLAN[0].procs} processes${PLAN.length > 1 ? ' each' : ''}` : `${rep.listText(PLAN.map((p) => String(p.procs)))} processes respectively`} (by default max(2, ⌈subscribers ÷ 2,500⌉), so that`,
        'no single client process limits the run). Every count is offered the same frames/s' +
          (FIXED_RATES ? ' — here not: fixed readings/s from BENCH_WS_RATES.' : ` (${FRAMES.map((f) => int(f)).join(', ')}): readings/s = frames/s ÷ subscribers.`),
        `A paced sender POSTs batches every tick to reach the rate. ${COMPARED.length ? `${TARGETS[0].label} (${TARGETS[0].what}) and ${TARGETS[1].label} (${TARGETS[1].what})` : `Every count runs with ${TARGETS[0].label}.`}`,
        ...(COMPARED.length ? [`both run at ${rep.listText(COMPARED.map((c) => int(c)))} subscribers, the other counts with ${TARGETS[0].label} only.`] : []),
        'delivered frames/s = data frames counted at the subscribers over the measured window ÷ its length; offered = accepted readings/s × subscribers;',
        `accepted readings/s below ${100 * rep.BEHIND} % of the rate is marked "behind": the server answered the sender's POSTs too slowly (ingest slowed down by the fan-out).`,
        'completeness = every frame the subscribers received during the whole run (warm-up included, counted until they stopped moving) ÷ (readings accepted × subscribers);',
        "least-served subscriber = the lowest one subscriber's count ÷ readings accepted (worst round). CPU % from /proc/<pid>/stat over the window (100 = one core;",
        `several subscriber processes: each, then their sum). "client-bound": a subscriber process at ≥ ${rep.CLIENT_BOUND} %, the client side was the limit; "machine full": the machine was`,
        `≥ ${100 * rep.MACHINE_FULL} % busy, server and clients competed for the same 2 cores, so the figure is what this machine does with its clients on it, not the server alone.`,
        "machine busy % = the whole machine from /proc/stat (200 = both cores); in brackets the part not used by this benchmark's processes (other work: more than a few % = disturbed run).",
        'Headline: per count and flush setting, the highest median delivered frames/s among the rates whose median completeness is ≥ 99.9 % with no problems; "next rate up"',
        'is the lowest higher rate that failed, and why, then any lower rate that failed; "not reached": no rate above it failed, so the figure is not the limit (raise BENCH_WS_FRAMES).',
      ],
      ingest: [
        `HTTP batch ingest with wrk (\`-t1 -c${WRK_CONNECTIONS}\`, bench/http/batch.lua, 100 readings per request) for ${DURATION} s, without any WebSocket connection and with ${SLOW}`,
        'subscribers to every reading that pause their sockets right after "subscribed" and never read again. WS_SLOW_TIMEOUT_MS is raised above the run length',
        'so the slow subscribers stay connected (frames to them skipped by uWS past WS_MAX_BACKPRESSURE_BYTES) for the whole window; after the run they',
        'read what they were sent and report whether they were still open. readings/s counts 2xx answers; stored check: XLEN sensor-data grew by at least those.',
        'CPU % and machine busy % as above (the server: primary + workers; wrk is among "ours").',
      ],
    };
    const md = rep.section({ facts, fanout: fSum, fanoutRuns: fanout, heads, fRatios, ingestSum, ingestRuns: ingest, notes, logFindings });
    writeSection(RESULTS, START, END, md);
    console.log(`\nwrote ${path.relative(ROOT, RESULTS)} (section ${START} … ${END})`);
  } else {
    console.log(`\n${QUICK ? 'quick run: ' : ''}bench/RESULTS.md left unchanged (BENCH_WRITE_RESULTS=1 to write it)`);
  }
  if (fanout.length || ingest.length) {
    const doc = rep.reportJsonDoc({ startedAt, finishedAt, quick: QUICK, command, facts, machine, plan: PLAN, targets: TARGETS, variants: VARIANTS, ingestId: SCENARIOS.find((s) => s.kind === 'ingest')?.id, fanout, ingest, heads });
    await saveReport(doc, { tmp, commit: WRITE_RESULTS });
  }
  if (problems) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`bench:ws: ${err?.stack ?? err}`);
  killAll('SIGKILL');
  process.exit(1);
});
