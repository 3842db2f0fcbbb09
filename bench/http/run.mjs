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
// This file holds the scenarios, the targets and the run loop; the machinery is in bench/lib/.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { commandLine, pickScenarios, readSettings, setBenchName } from '../lib/cli.mjs';
import { bundleInfo, ensureTool, machineInfo } from '../lib/machine.mjs';
import { DIST, RESULTS, ROOT } from '../lib/paths.mjs';
import { installCleanup, killAll, sleep, startWatchdog, stop } from '../lib/processes.mjs';
import { startRedis } from '../lib/redis-server.mjs';
import { medianRows, printRun, printSummary, ratioRows, rawRows, reportServerHealth } from '../lib/report.mjs';
import { figs, reportDoc, saveReport } from '../lib/report-json.mjs';
import { renderSection, writeSection } from '../lib/results-md.mjs';
import { oursEnv, startNodeServer } from '../lib/servers.mjs';
import { summarize } from '../lib/stats.mjs';
import { parseWrk, runWrk } from '../lib/wrk.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BASELINE = path.join(ROOT, 'bench/baselines/express-seed.mjs');
const START = '<!-- bench:http:start -->';
const END = '<!-- bench:http:end -->';

// ------------------------------------------------------------------------------------ settings
setBenchName('bench:http');
const { quick: QUICK, rounds: ROUNDS, duration: DURATION, warmup: WARMUP, writeResults: WRITE_RESULTS } = readSettings();
const COUNT_STATUS = process.env.BENCH_COUNT_STATUS === '1';
const WRK_THREADS = 1;
const WRK_TIMEOUT = '5s';
const STOP_GRACE_S = 15;

const ALL_SCENARIOS = [
  { id: 'single-c64', label: 'single POST, 64 conns', script: 'single.lua', connections: 64, readingsPerRequest: 1 },
  { id: 'single-c256', label: 'single POST, 256 conns', script: 'single.lua', connections: 256, readingsPerRequest: 1 },
  { id: 'batch100-c16', label: 'batch POST ×100, 16 conns', script: 'batch.lua', connections: 16, readingsPerRequest: 100 },
];
const SCENARIOS = pickScenarios(ALL_SCENARIOS);

// `id` 'ours' / 'baseline' is what stats.mjs computes ratios from; `store` is the Redis count
// that must grow by at least the readings answered 2xx.
const TARGETS = [
  {
    id: 'ours',
    label: 'neurobuild-ingest',
    script: DIST,
    store: { cmd: 'xlen', key: 'sensor-data' },
    env: (ports) => oursEnv(ports),
  },
  {
    id: 'baseline',
    label: 'express-seed',
    script: BASELINE,
    store: { cmd: 'llen', key: 'sensor-data-baseline' },
    env: () => ({ BASELINE_QUEUE: 'sensor-data-baseline' }),
  },
];

installCleanup();

/** wrk against the scenario's Lua script, with this benchmark's fixed wrk settings. */
function wrk(scenario, port, duration) {
  const script = path.join(HERE, scenario.script);
  return runWrk({ script, connections: scenario.connections, port, duration, threads: WRK_THREADS, timeout: WRK_TIMEOUT, luaDir: HERE, countStatus: COUNT_STATUS });
}

/** One run: fresh server, warm-up, measured wrk run, stored check, stop. */
async function runOnce({ round, scenario, target, order, redis, redisPort, tmp }) {
  await redis.flushall();
  const logFile = path.join(tmp, `r${round}-${scenario.id}-${target.id}.log`);
  const srv = await startNodeServer({ label: target.label, script: target.script, env: target.env, redisPort, logFile });
  let parsed;
  let stored;
  let wrkCmd;
  let exit;
  try {
    if (WARMUP > 0) {
      const w = parseWrk((await wrk(scenario, srv.port, WARMUP)).out, scenario.readingsPerRequest);
      if (w.non2xx || w.socketErrors) console.log(`  warm-up ${target.id}: ${w.non2xx} non-2xx, ${w.socketErrors} socket errors`);
      await sleep(300); // let the last warm-up requests settle before counting
    }
    const count = () => redis[target.store.cmd](target.store.key);
    const before = await count();
    const res = await wrk(scenario, srv.port, DURATION);
    wrkCmd = res.args;
    fs.writeFileSync(path.join(tmp, `r${round}-${scenario.id}-${target.id}.wrk.txt`), res.out + res.err);
    parsed = parseWrk(res.out, scenario.readingsPerRequest);
    const after = await count();
    stored = { cmd: `${target.store.cmd.toUpperCase()} ${target.store.key}`, delta: after - before, ok: after - before >= parsed.acceptedReadings };
  } finally {
    exit = await stop(srv.child, STOP_GRACE_S * 1000);
  }
  const run = { round, scenario: scenario.id, target: target.id, targetLabel: target.label, order, ...parsed, stored, wrkCmd };
  printRun(run, ROUNDS);
  const findings = reportServerHealth({ key: `${round}/${scenario.id}/${target.id}`, label: target.label, exit, graceS: STOP_GRACE_S, logFile });
  return { run, findings };
}

/** The facts of the run: bullet points of the RESULTS.md section, also in bench/reports/http.json. */
function runFacts({ startedAt, finishedAt, machine, bundle, command }) {
  return [
    `date: ${startedAt.toISOString()} → ${finishedAt.toISOString()}${QUICK ? ' (QUICK smoke run, not representative)' : ''}`,
    `machine: ${machine.nproc} cores, ${machine.cpu}, ${machine.memGiB} GiB RAM, ${machine.kernel}`,
    `software: node ${machine.node}, redis-server ${machine.redis} (\`--save '' --appendonly no\`), wrk ${machine.wrk}`,
    `ours: dist/neurobuild-ingest.cjs sha256:${bundle.sha} (built ${bundle.built})${bundle.stale ? ' — WARNING: src/ was newer than the bundle' : ''}; baseline: bench/baselines/express-seed.mjs`,
    `command: \`${command}\``,
    `settings: ${ROUNDS} round(s) × ${DURATION} s per run, ${WARMUP} s warm-up per server start, wrk \`-t${WRK_THREADS} --timeout ${WRK_TIMEOUT} --latency\`, target order alternating per round and scenario, Redis FLUSHALL and fresh server per run`,
    `caveat: wrk, redis-server and the server under test share the ${machine.nproc} cores; absolute figures are bound to this machine and load, only ratios from the same run are meaningful.`,
  ];
}

/** The RESULTS.md section of this run. */
function section({ startedAt, finishedAt, machine, bundle, command, summary, runs, logFindings }) {
  return renderSection({
    title: '## HTTP (bench/http)',
    facts: runFacts({ startedAt, finishedAt, machine, bundle, command }),
    mediansNote: [
      'readings/s = req/s × readings per request × share of 2xx answers. "stored check": after each run the',
      'stream (XLEN sensor-data) or list (LLEN sensor-data-baseline) grew by at least the readings answered 2xx.',
    ],
    tables: { medians: medianRows(summary, TARGETS), ratios: ratioRows(summary), raw: rawRows(runs) },
    rawNote: `wrk command of the last run: \`${runs.at(-1)?.wrkCmd ?? ''}\``,
    logFindings,
  });
}

/** The run's figures in the stable JSON form of bench/reports/ (see bench/lib/report-json.mjs). */
function reportJsonDoc({ startedAt, finishedAt, machine, bundle, command, runs }) {
  return reportDoc({
    bench: 'http',
    title: 'HTTP ingest (bench/http)',
    startedAt,
    finishedAt,
    quick: QUICK,
    command,
    facts: runFacts({ startedAt, finishedAt, machine, bundle, command }),
    machine,
    metrics: {
      readingsPerSec: { label: 'readings/s', unit: 'readings/s', better: 'higher' },
      rps: { label: 'req/s', unit: 'req/s', better: 'higher' },
      p50: { label: 'p50', unit: 'ms', better: 'lower' },
      p99: { label: 'p99', unit: 'ms', better: 'lower' },
    },
    targets: [
      { id: 'ours', label: 'neurobuild-ingest', role: 'ours', what: 'dist/neurobuild-ingest.cjs, QUEUE_BACKEND=redis, RATE_LIMIT=off' },
      { id: 'baseline', label: 'express-seed', role: 'baseline', what: 'bench/baselines/express-seed.mjs: express 5, LPUSH + LLEN awaited per reading (the previous design)' },
    ],
    scenarios: SCENARIOS.map((s) => ({
      id: s.id,
      label: s.label,
      targets: TARGETS.map((t) => t.id),
      subject: 'ours',
      panels: [
        { title: 'Throughput', metrics: ['readingsPerSec'] },
        { title: 'Request latency (wrk)', metrics: ['p50', 'p99'] },
      ],
      details: ['rps'],
    })),
    runs: runs.map((r) => ({ round: r.round, scenario: r.scenario, target: r.target, order: r.order, ok: r.stored.ok, ...figs(r, ['readingsPerSec', 'rps', 'p50', 'p99', 'non2xx', 'socketErrors']) })),
  });
}

// ----------------------------------------------------------------------------------- main
async function main() {
  ensureTool('wrk', 'wrk');
  ensureTool('redis-server', 'redis-server');
  const bundle = bundleInfo(DIST);
  const machine = machineInfo();
  const command = commandLine('bench:http', 'bench/http/run.mjs');
  const startedAt = new Date();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-http-'));

  const perRunS = DURATION + WARMUP + 20; // start-up, settle, shutdown allowance
  startWatchdog(ROUNDS * SCENARIOS.length * TARGETS.length * perRunS + 60);

  const expectS = ROUNDS * SCENARIOS.length * TARGETS.length * (DURATION + WARMUP + 2);
  console.log(`bench:http ${QUICK ? '(QUICK smoke run) ' : ''}— ${ROUNDS} round(s) × ${SCENARIOS.length} scenario(s) × ${TARGETS.length} targets, ${DURATION} s each (+${WARMUP} s warm-up), ≈${Math.ceil(expectS / 60)} min`);
  console.log(`machine: ${machine.nproc} cores (${machine.cpu}), node ${machine.node}, redis ${machine.redis}, wrk ${machine.wrk}`);
  console.log(`note: wrk runs with -t${WRK_THREADS}; the ${machine.nproc} cores are shared by wrk, redis-server and the server under test, so absolute figures are machine-bound — compare ratios from the same run only.`);
  console.log(`bundle: dist/neurobuild-ingest.cjs sha256:${bundle.sha} built ${bundle.built}${bundle.stale ? '  WARNING: src/ has newer files than the bundle (run npm run bundle)' : ''}`);
  console.log(`logs: ${tmp}`);

  const { port: redisPort, redis, close: closeRedis } = await startRedis(tmp);
  console.log(`redis-server ${machine.redis} on 127.0.0.1:${redisPort} (--save '' --appendonly no)\n`);

  const runs = [];
  const logFindings = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [si, scenario] of SCENARIOS.entries()) {
      // alternate which target goes first, so neither always runs on a "warmer" machine
      const order = (round + si) % 2 === 1 ? TARGETS : [...TARGETS].reverse();
      for (const [oi, target] of order.entries()) {
        const { run, findings } = await runOnce({ round, scenario, target, order: oi + 1, redis, redisPort, tmp });
        runs.push(run);
        logFindings.push(...findings);
      }
    }
  }
  await closeRedis();

  const summary = summarize(runs, SCENARIOS);
  printSummary({ summary, targets: TARGETS, runs, logFindings, logDir: tmp });

  const finishedAt = new Date();
  if (WRITE_RESULTS) {
    writeSection(RESULTS, START, END, section({ startedAt, finishedAt, machine, bundle, command, summary, runs, logFindings }));
    console.log(`\nwrote ${path.relative(ROOT, RESULTS)} (section ${START} … ${END})`);
  } else {
    console.log(`\n${QUICK ? 'quick run: ' : ''}bench/RESULTS.md left unchanged (BENCH_WRITE_RESULTS=1 to write it)`);
  }
  await saveReport(reportJsonDoc({ startedAt, finishedAt, machine, bundle, command, runs }), { tmp, commit: WRITE_RESULTS });
  if (runs.some((r) => !r.stored.ok)) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`bench:http: ${err?.stack ?? err}`);
  killAll('SIGKILL');
  process.exit(1);
});
