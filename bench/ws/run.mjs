#!/usr/bin/env node
// WebSocket benchmark of neurobuild-ingest (dist/neurobuild-ingest.cjs), two measurements:
//   fan-out   1,000 subscribers without filters (raw node:net clients in two processes, counting
//             frames from their headers), readings POSTed at fixed rates: delivered frames/s and
//             completeness, with readings grouped every WS_FLUSH_MS=5 against WS_FLUSH_MS=0
//   ingest    HTTP batch ingest (wrk, bench/http/batch.lua) with no subscribers against 10 slow
//             subscribers that never read their sockets
//
//   npm run bench:ws        (= node scripts/bundle.mjs && node bench/ws/run.mjs)
//
// Env knobs: BENCH_ROUNDS (3), BENCH_DURATION s (10), BENCH_WARMUP s (2), BENCH_QUICK=1 (1 round ×
// 3 s, warm-up 1 s, RESULTS.md left alone), BENCH_SCENARIOS (fanout-c<N>, ingest-slow<N>),
// BENCH_WRITE_RESULTS (0|1), BENCH_WS_RATES (500,1000,1500,2000), BENCH_WS_SUBSCRIBERS (1000),
// BENCH_WS_SUB_PROCS (2), BENCH_WS_FLUSH_MS (5), BENCH_WS_TICK_MS (1), BENCH_WS_SLOW (10),
// BENCH_WS_SLOW_TIMEOUT_MS, BENCH_WS_WRK_CONNECTIONS (16). See bench/README.md.
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
import { writeSection } from '../lib/results-md.mjs';
import { startNodeServer } from '../lib/servers.mjs';
import { parseWrk, runWrk } from '../lib/wrk.mjs';
import { spawnJsonChild } from './children.mjs';
import { CpuWindow, processTree, treeRssMiB } from './procstat.mjs';
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
const RATES = (process.env.BENCH_WS_RATES || '500,1000,1500,2000').split(',').map((s) => Number(s.trim()));
if (RATES.some((r) => !Number.isInteger(r) || r < 1 || r > 1_000_000)) fail(`BENCH_WS_RATES must be a comma list of integers in [1, 1000000], got ${process.env.BENCH_WS_RATES}`);
const SUBSCRIBERS = intEnv('BENCH_WS_SUBSCRIBERS', 1000, 1, 9000);
const SUB_PROCS = intEnv('BENCH_WS_SUB_PROCS', 2, 1, 8);
const FLUSH_MS = intEnv('BENCH_WS_FLUSH_MS', 5, 1, 1000);
const TICK_MS = intEnv('BENCH_WS_TICK_MS', 1, 1, 1000);
const SLOW = intEnv('BENCH_WS_SLOW', 10, 1, 1000);
const WRK_CONNECTIONS = intEnv('BENCH_WS_WRK_CONNECTIONS', 16, 1, 1000);
// slow subscribers are to be skipped for the whole run, not closed half-way through it
const SLOW_TIMEOUT_MS = intEnv('BENCH_WS_SLOW_TIMEOUT_MS', Math.max(60_000, (WARMUP + DURATION + 30) * 1000), 1, 600_000);
// the server's WORKERS: unset = its default (one worker per CPU in production with Redis)
const WORKERS = process.env.BENCH_WS_WORKERS ? String(intEnv('BENCH_WS_WORKERS', 0, 0, 256)) : undefined;
const STOP_GRACE_S = 15;

const ALL_SCENARIOS = [
  { id: `fanout-c${SUBSCRIBERS}`, kind: 'fanout' },
  { id: `ingest-slow${SLOW}`, kind: 'ingest' },
];
const SCENARIOS = pickScenarios(ALL_SCENARIOS);
const DO_FANOUT = SCENARIOS.some((s) => s.kind === 'fanout');
const DO_INGEST = SCENARIOS.some((s) => s.kind === 'ingest');

const TARGETS = [
  { id: 'grouped', label: `WS_FLUSH_MS=${FLUSH_MS}`, what: `readings gathered and published every ${FLUSH_MS} ms`, flushMs: FLUSH_MS },
  { id: 'per-turn', label: 'WS_FLUSH_MS=0', what: 'published every event-loop turn', flushMs: 0 },
];
const VARIANTS = [
  { id: 'none', label: 'no subscribers', what: 'no WebSocket connection' },
  { id: 'slow', label: `${SLOW} slow subscribers`, what: `${SLOW} subscribers to every reading that never read their sockets` },
];

installCleanup();

function serverEnv(ports, extra) {
  return {
    QUEUE_BACKEND: 'redis',
    QUEUE_NAME: 'sensor-data',
    METRICS_PORT: '0',
    MQTT_PORT: '0',
    LOG_LEVEL: 'warn',
    WS_PORT: String(ports.ws),
    // per-device/per-address rate limits (on by default in production) would refuse the load
    RATE_LIMIT: 'off',
    ...(WORKERS === undefined ? {} : { WORKERS }),
    ...extra,
  };
}

/** Asks every subscriber process for its counts at once. */
const counts = (subs) =>
  Promise.all(
    subs.map((s) => {
      const reply = s.expect('count', 10_000);
      s.send('count');
      return reply;
    }),
  );

/** Polls the subscribers until their frame counts stop moving (or 30 s pass). */
async function settle(subs) {
  const t0 = Date.now();
  let last = -1;
  let still = 0;
  while (Date.now() - t0 < 30_000) {
    const total = (await counts(subs)).reduce((a, c) => a + c.frames, 0);
    still = total === last ? still + 1 : 0;
    if (still >= 3) return;
    last = total;
    await sleep(250);
  }
}

// ------------------------------------------------------------------------------ fan-out run
async function fanoutRun({ round, rate, target, order, redis, redisProc, redisPort, tmp }) {
  await redis.flushall();
  const key = `r${round}-fanout-${rate}-${target.id}`;
  const logFile = path.join(tmp, `${key}.server.log`);
  const srv = await startNodeServer({ label: target.label, script: DIST, env: (p) => serverEnv(p, { WS_FLUSH_MS: String(target.flushMs) }), redisPort, logFile });
  const subs = [];
  let sender;
  let run;
  let exit;
  try {
    for (let i = 0; i < SUB_PROCS; i++) {
      const n = Math.floor(SUBSCRIBERS / SUB_PROCS) + (i < SUBSCRIBERS % SUB_PROCS ? 1 : 0);
      subs.push(spawnJsonChild(SUBSCRIBERS_JS, ['--port', srv.ports.ws, '--connections', n, '--mode', 'count'], path.join(tmp, `${key}.subscribers${i}.log`)));
    }
    const ready = await Promise.all(subs.map((s) => s.expect('ready', 60_000)));
    const subscribers = ready.reduce((a, r) => a + r.connections, 0);
    const xlen0 = await redis.xlen('sensor-data');
    sender = spawnJsonChild(SENDER_JS, ['--port', srv.port, '--rate', rate, '--duration', WARMUP + DURATION + 3, '--tick', TICK_MS, '--run', `w${Date.now().toString(36)}`], path.join(tmp, `${key}.sender.log`));
    await sender.expect('started', 10_000);
    await sleep(WARMUP * 1000);
    const serverPids = processTree(srv.child.pid);
    const cpu = new CpuWindow({ server: serverPids, redis: redisProc.pid, sender: sender.pid, ...Object.fromEntries(subs.map((s, i) => [`sub${i}`, s.pid])) });
    cpu.start();
    const c0 = await counts(subs);
    await sleep(DURATION * 1000);
    const c1 = await counts(subs);
    const cpuPct = cpu.stop();
    const rss = treeRssMiB(srv.child.pid);
    const sent = await sender.expect('done', (DURATION + 60) * 1000);
    await settle(subs);
    const finals = await Promise.all(subs.map((s) => s.finish('final', 10_000)));
    const stored = (await redis.xlen('sensor-data')) - xlen0;

    const framesPerSec = c1.reduce((a, c, i) => a + (c.frames - c0[i].frames) / ((c.at - c0[i].at) / 1000), 0);
    const delivered = finals.reduce((a, f) => a + f.frames, 0);
    const expected = sent.accepted * subscribers;
    const issues = [];
    if (subscribers !== SUBSCRIBERS) issues.push(`${subscribers} of ${SUBSCRIBERS} subscribers connected`);
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
      rate,
      target: target.id,
      targetLabel: target.label,
      order,
      subscribers,
      accepted: sent.accepted,
      acceptedPerSec: sent.accepted_per_s,
      senderBehind: sent.max_behind,
      senderP99: sent.request_p99_ms,
      framesPerSec,
      delivered,
      expected,
      completeness: expected ? delivered / expected : NaN,
      minShare: sent.accepted ? Math.min(...finals.map((f) => f.min_per_connection)) / sent.accepted : NaN,
      cpu: { server: cpuPct.server, redis: cpuPct.redis, sender: cpuPct.sender, subs: subs.map((_, i) => cpuPct[`sub${i}`]), machine: cpuPct.machine, others: cpuPct.others },
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

  const fanoutRuns = DO_FANOUT ? ROUNDS * RATES.length * TARGETS.length : 0;
  const ingestRuns = DO_INGEST ? ROUNDS * VARIANTS.length : 0;
  startWatchdog((fanoutRuns + ingestRuns) * (WARMUP + DURATION + 60) + 120);
  const expectS = fanoutRuns * (WARMUP + DURATION + 6) + ingestRuns * (WARMUP + DURATION + 4);
  console.log(`bench:ws ${QUICK ? '(QUICK smoke run) ' : ''}— ${ROUNDS} round(s): fan-out to ${SUBSCRIBERS} subscribers at ${RATES.join(', ')} readings/s × ${TARGETS.map((t) => t.label).join(' / ')}; ingest with 0 / ${SLOW} slow subscribers; ${DURATION} s each (+${WARMUP} s warm-up), ≈${Math.ceil(expectS / 60)} min`);
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
    if (DO_FANOUT) {
      for (const [ri, rate] of RATES.entries()) {
        const order = (round + ri) % 2 === 1 ? TARGETS : [...TARGETS].reverse();
        for (const [oi, target] of order.entries()) {
          const { run, findings } = await fanoutRun({ round, rate, target, order: oi + 1, ...ctx });
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

  const fSum = rep.fanoutSummary(fanout, RATES, TARGETS);
  const heads = rep.headline(fSum, TARGETS);
  const fRatios = rep.fanoutRatios(fanout, RATES, TARGETS);
  const ingestSum = rep.ingestSummary(ingest, VARIANTS);
  const problems = [...fanout, ...ingest].filter((r) => r.issues.length).length;
  rep.printSummary({ fanout: fSum, ingest, heads, fRatios, targets: TARGETS, ingestSum, problems, logFindings, logDir: tmp });

  const finishedAt = new Date();
  const procs = [...new Set([...fanout, ...ingest].map((r) => r.processes))].join(' or ');
  if (WRITE_RESULTS) {
    const facts = [
      `date: ${startedAt.toISOString()} → ${finishedAt.toISOString()}${QUICK ? ' (QUICK smoke run, not representative)' : ''}`,
      `machine: ${machine.nproc} cores, ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.kernel}`,
      `software: node ${machine.node}, redis-server ${machine.redis} (\`--save '' --appendonly no\`), wrk ${machine.wrk}, uWebSockets.js ${uws.version} (in the server)`,
      `ours: dist/neurobuild-ingest.cjs sha256:${bundle.sha} (built ${bundle.built})${bundle.stale ? ' — WARNING: src/ was newer than the bundle' : ''}, NODE_ENV=production, QUEUE_BACKEND=redis, LOG_LEVEL=warn, RATE_LIMIT=off, ${WORKERS === undefined ? 'WORKERS unset (auto)' : `WORKERS=${WORKERS}`}: ${procs} server process(es) per run (CPU % and RSS below are their sum), other WS_* settings at their defaults`,
      `command: \`${command}\``,
      `settings: ${ROUNDS} round(s) × ${DURATION} s measured after ${WARMUP} s warm-up, Redis FLUSHALL and a fresh server per run; fan-out: ${SUBSCRIBERS} subscribers in ${SUB_PROCS} process(es), sender tick ${TICK_MS} ms, target order alternating per round and rate; ingest: wrk \`-t1 -c${WRK_CONNECTIONS}\` with bench/http/batch.lua (100 readings per request), WS_SLOW_TIMEOUT_MS=${SLOW_TIMEOUT_MS} for both variants, variant order alternating per round`,
      `caveat: the server, redis-server and the clients (subscriber processes, sender or wrk) share the ${machine.nproc} cores; absolute figures are bound to this machine and load, compare figures of the same run only.`,
    ];
    const notes = {
      fanout: [
        `${SUBSCRIBERS.toLocaleString('en-US')} WebSocket subscribers without filters (raw node:net clients in ${SUB_PROCS} processes that count frames from their headers; the first frame of every`,
        'connection and every 1,000th frame are parsed and must be sensor-data). A paced sender POSTs batches every tick to reach the rate (readings/s).',
        'delivered frames/s = data frames counted at the subscribers over the measured window ÷ its length; offered = accepted readings/s × subscribers.',
        'completeness = every frame the subscribers received during the whole run (warm-up included, counted until they stopped moving) ÷ (readings accepted × subscribers);',
        "least-served subscriber = the lowest one subscriber's count ÷ readings accepted (worst round). CPU % from /proc/<pid>/stat over the window (100 = one core);",
        'a subscriber process near 100 % means the client side, not the server, was the limit. machine busy % = the whole machine from /proc/stat (200 = both',
        "cores busy); in brackets the part not used by this benchmark's processes (other work on the machine: more than a few % means a disturbed run).",
      ],
      ingest: [
        `HTTP batch ingest with wrk (\`-t1 -c${WRK_CONNECTIONS}\`, bench/http/batch.lua, 100 readings per request) for ${DURATION} s, without any WebSocket connection and with ${SLOW}`,
        'subscribers to every reading that pause their sockets right after "subscribed" and never read again. WS_SLOW_TIMEOUT_MS is raised above the run length',
        'so the slow subscribers stay connected (frames to them skipped by uWS past WS_MAX_BACKPRESSURE_BYTES) for the whole window; after the run they',
        'read what they were sent and report whether they were still open. readings/s counts 2xx answers; stored check: XLEN sensor-data grew by at least those.',
        'CPU % and machine busy % as above (the server: primary + workers; wrk is among "ours").',
      ],
    };
    const md = rep.section({ facts, fanout: fSum, fanoutRuns: fanout, heads, fRatios, targets: TARGETS, ingestSum, ingestRuns: ingest, notes, logFindings });
    writeSection(RESULTS, START, END, md);
    console.log(`\nwrote ${path.relative(ROOT, RESULTS)} (section ${START} … ${END})`);
  } else {
    console.log(`\n${QUICK ? 'quick run: ' : ''}bench/RESULTS.md left unchanged (BENCH_WRITE_RESULTS=1 to write it)`);
  }
  if (problems) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`bench:ws: ${err?.stack ?? err}`);
  killAll('SIGKILL');
  process.exit(1);
});
