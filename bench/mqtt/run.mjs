#!/usr/bin/env node
// MQTT benchmark: neurobuild-ingest (dist/neurobuild-ingest.cjs) against Aedes appending to Redis
// (bench/baselines/aedes-redis.mjs) and mosquitto as a plain relay, side by side.
//
//   npm run bench:mqtt        (= node scripts/bundle.mjs && node bench/mqtt/run.mjs)
//
// Env knobs: BENCH_ROUNDS (3), BENCH_DURATION s (10), BENCH_WARMUP s (2), BENCH_QUICK=1 (1 round ×
// 3 s, warm-up 1 s, RESULTS.md left alone), BENCH_SCENARIOS (comma list of ids), BENCH_WRITE_RESULTS
// (0|1), BENCH_MQTT_TARGETS (ours,aedes,mosquitto), BENCH_MQTT_INFLIGHT (16), BENCH_MQTT_QOS0_WINDOW
// (256), BENCH_MQTT_IDLE_CONNECTIONS (10000), BENCH_MQTT_IDLE_SETTLE s (3). See bench/README.md.
//
// Everything listens on and targets 127.0.0.1 only. Every child process is killed on exit, on
// errors and on SIGINT/SIGTERM; a watchdog bounds the whole run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { commandLine, fail, intEnv, pickFromEnv, pickScenarios, readSettings, setBenchName } from '../lib/cli.mjs';
import { bundleInfo, ensureTool, firstLine, machineInfo, packageVersion } from '../lib/machine.mjs';
import { DIST, RESULTS, ROOT } from '../lib/paths.mjs';
import { installCleanup, killAll, rssKiB, sleep, startWatchdog, stop } from '../lib/processes.mjs';
import { startRedis } from '../lib/redis-server.mjs';
import { reportServerHealth } from '../lib/report.mjs';
import { saveReport } from '../lib/report-json.mjs';
import { writeSection } from '../lib/results-md.mjs';
import { runClient } from './clients.mjs';
import { childNofile, nofileOf } from './open-files.mjs';
import { END, START, printIdleRun, printLoadRun, printSummary, reportJsonDoc, resultsSection } from './report.mjs';
import { TARGETS, startTarget } from './targets.mjs';

setBenchName('bench:mqtt');
const { quick: QUICK, rounds: ROUNDS, duration: DURATION, warmup: WARMUP, writeResults: WRITE_RESULTS } = readSettings();
const INFLIGHT = intEnv('BENCH_MQTT_INFLIGHT', 16, 1, 65535);
const QOS0_WINDOW = intEnv('BENCH_MQTT_QOS0_WINDOW', 256, 1, 1_000_000);
const QOS0_MARKER = 32;
const DEVICES_PER_CONN = 10;
const IDLE_CONNS = intEnv('BENCH_MQTT_IDLE_CONNECTIONS', 10_000, 1, 60_000);
const IDLE_SETTLE = intEnv('BENCH_MQTT_IDLE_SETTLE', 3, 0, 120);

const ALL_SCENARIOS = [
  { id: 'qos0-c100', label: 'QoS 0, 100 conns', qos: 0, connections: 100 },
  { id: 'qos0-c1000', label: 'QoS 0, 1,000 conns', qos: 0, connections: 1000 },
  { id: 'qos1-c100', label: `QoS 1, 100 conns × ${INFLIGHT} in flight`, qos: 1, connections: 100 },
  { id: 'qos1-c1000', label: `QoS 1, 1,000 conns × ${INFLIGHT} in flight`, qos: 1, connections: 1000 },
  { id: 'qos1-c100-sub', label: `QoS 1, 100 conns × ${INFLIGHT}, + 1 subscriber on neurobuild/sensors/#`, qos: 1, connections: 100, subscriber: true },
  { id: `idle-c${IDLE_CONNS}`, label: `${IDLE_CONNS.toLocaleString('en-US')} idle connections, keep-alive 60 s`, idle: true, connections: IDLE_CONNS },
];
const SCENARIOS = pickScenarios(ALL_SCENARIOS);
const TGTS = pickFromEnv('BENCH_MQTT_TARGETS', TARGETS, 'target');
const STOP_GRACE_S = 15;

installCleanup();

/** Cores, CPU, memory and versions (bench/lib), plus the MQTT side's software and the children's open-files limit. */
function mqttMachineInfo() {
  return {
    ...machineInfo(),
    mosquitto: firstLine('mosquitto', ['-h']).match(/version (\S+)/)?.[1] ?? 'unknown',
    aedes: packageVersion('aedes'),
    ioredis: packageVersion('ioredis'),
    mqttPacket: packageVersion('mqtt-packet'),
    nofile: childNofile(),
  };
}

// ---------------------------------------------------------------------------------- runs
/** Polls XLEN until it stops moving (3 equal reads 250 ms apart); returns it and when it last grew. */
async function settledXlen(redis, maxMs = 20_000) {
  let last = -1;
  let lastChange = performance.now();
  let same = 0;
  const deadline = Date.now() + maxMs;
  for (;;) {
    const n = await redis.xlen('sensor-data');
    if (n !== last) lastChange = performance.now();
    same = n === last ? same + 1 : 0;
    last = n;
    if (same >= 2 || Date.now() > deadline) return { n, at: lastChange, settled: same >= 2 };
    await sleep(250);
  }
}

async function startSubscriber(port) {
  let onReady;
  const ready = new Promise((r) => (onReady = r));
  const counts = [];
  const sub = runClient('subscriber.mjs', ['--port', String(port)], { stdinOpen: true, timeoutMs: (WARMUP + DURATION + 120) * 1000, onEvent: (e) => (e.event === 'ready' ? onReady(e) : e.event === 'count' ? counts.push(e) : e.event === 'error' ? onReady(e) : null) });
  const r = await Promise.race([ready, sub.done.then(() => ({ event: 'error', error: 'subscriber exited' })), sleep(10_000).then(() => ({ event: 'error', error: 'no SUBACK within 10 s' }))]);
  if (r.event !== 'ready') throw new Error(`subscriber: ${r.error}`);
  /** Asks for counts until the number stops moving (1 s) or 15 s passed, then closes it. */
  sub.finish = async () => {
    let last = -1;
    for (let i = 0; i < 60; i++) {
      sub.child.stdin.write('report\n');
      await sleep(250);
      const n = counts.at(-1)?.received ?? -1;
      if (n === last && i >= 4) break;
      last = n;
    }
    sub.child.stdin.end();
    return sub.done;
  };
  return sub;
}

async function loadRun(scenario, target, srv, redis) {
  const args = ['--port', String(srv.mqttPort), '--connections', String(scenario.connections), '--qos', String(scenario.qos), '--duration', String(DURATION), '--warmup', String(WARMUP), '--devices-per-conn', String(DEVICES_PER_CONN)];
  if (scenario.qos) args.push('--inflight', String(INFLIGHT));
  else args.push('--qos0-window', String(QOS0_WINDOW), '--qos0-marker', String(QOS0_MARKER));
  const sub = scenario.subscriber ? await startSubscriber(srv.mqttPort) : null;
  const before = target.stores ? await redis.xlen('sensor-data') : 0;
  let xs;
  let xsAt = 0;
  const { done } = runClient('load.mjs', args, {
    timeoutMs: (WARMUP + DURATION + 90 + scenario.connections / 50) * 1000,
    onEvent: (e) => {
      if (!target.stores) return;
      if (e.event === 'measure-start') {
        xsAt = performance.now();
        xs = redis.xlen('sensor-data');
      }
    },
  });
  const load = await done;
  const r = { load, msgPerS: load.msg_per_s, p50: load.p50_ms, p99: load.p99_ms, cmd: `node bench/mqtt/load.mjs ${args.join(' ')}` };
  if (load.error) throw new Error(`load.mjs: ${load.error}${load.first_error ? ` (first socket error: ${load.first_error})` : ''}`);
  if (target.stores) {
    const after = await settledXlen(redis);
    // sustained append rate: entries added from the start of the measured window until the
    // stream stopped growing (a broker may confirm QoS 0 reads well before its XADDs land)
    const fromStart = xs ? after.n - (await xs) : NaN;
    r.storedPerS = fromStart > 0 && after.at > xsAt ? fromStart / ((after.at - xsAt) / 1000) : 0;
    const delta = after.n - before;
    r.stored = { delta, expected: load.acked_total, strict: scenario.qos === 1, ok: delta >= load.acked_total, settled: after.settled };
    if (target.id === 'ours') r.stored.rejects = await redis.xlen('sensor-data-invalid');
  }
  if (sub) {
    const s = await sub.finish();
    r.sub = { ...s, ok: s.received >= load.acked_total && !s.bad_payloads };
  }
  return r;
}

async function idleRun(scenario, srv) {
  const pid = srv.child.pid;
  await sleep(1000);
  const rssBefore = rssKiB(pid);
  let onReady;
  const ready = new Promise((r) => (onReady = r));
  const args = ['--idle', '--port', String(srv.mqttPort), '--connections', String(scenario.connections), '--ramp-batch', '100', '--ramp-pause-ms', '5', '--keepalive', '60', '--devices-per-conn', '1'];
  const c = runClient('load.mjs', args, { stdinOpen: true, timeoutMs: (IDLE_SETTLE + 120 + scenario.connections / 100) * 1000, onEvent: (e) => e.event === 'ready' && onReady(e) });
  const early = await Promise.race([ready, c.done]);
  if (early.event !== 'ready') throw new Error(`load.mjs --idle: ${early.error ?? 'ended before all connections were open'}`);
  await sleep(IDLE_SETTLE * 1000);
  const rssAfter = rssKiB(pid);
  c.child.stdin.end();
  const res = await c.done;
  if (res.error) throw new Error(`load.mjs --idle: ${res.error}`);
  return { connected: early.connections, rssBefore, rssAfter, perConnKiB: (rssAfter - rssBefore) / early.connections, rampMs: res.ramp_ms, stillOpen: res.still_open, load: res, cmd: `node bench/mqtt/load.mjs ${args.join(' ')}` };
}

// ----------------------------------------------------------------------------------- main
async function main() {
  ensureTool('redis-server', 'redis-server');
  if (TGTS.some((t) => t.id === 'mosquitto')) ensureTool('mosquitto', 'mosquitto');
  if (TGTS.some((t) => t.id === 'aedes') && packageVersion('aedes') === 'missing') fail('aedes is not installed: run npm install (it is a devDependency)');
  const bundle = TGTS.some((t) => t.id === 'ours') ? bundleInfo(DIST) : { sha: '-', built: '-', stale: false };
  const machine = mqttMachineInfo();
  const idleScenario = SCENARIOS.find((s) => s.idle);
  if (idleScenario && machine.nofile < idleScenario.connections + 200) {
    fail(`the idle scenario needs an open-files limit of at least ${idleScenario.connections + 200} per process, children get ${machine.nofile} (raise the hard limit: ulimit -Hn, or BENCH_MQTT_IDLE_CONNECTIONS)`);
  }
  const command = commandLine('bench:mqtt', 'bench/mqtt/run.mjs');
  const startedAt = new Date();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-mqtt-'));
  const loadScen = SCENARIOS.filter((s) => !s.idle);
  const perRunS = WARMUP + DURATION + 25;
  const budgetS = ROUNDS * TGTS.length * (loadScen.length * perRunS + (idleScenario ? 60 + IDLE_SETTLE : 0)) + 120;
  startWatchdog(budgetS);

  const expectS = ROUNDS * TGTS.length * (loadScen.length * (WARMUP + DURATION + 4) + (idleScenario ? 10 + IDLE_SETTLE : 0));
  console.log(`bench:mqtt ${QUICK ? '(QUICK smoke run) ' : ''}— ${ROUNDS} round(s) × ${SCENARIOS.length} scenario(s) × ${TGTS.length} targets, ${DURATION} s each (+${WARMUP} s warm-up), ≈${Math.ceil(expectS / 60)} min`);
  console.log(`machine: ${machine.nproc} cores (${machine.cpu}), node ${machine.node}, redis ${machine.redis}, mosquitto ${machine.mosquitto}, aedes ${machine.aedes}; children get ulimit -n ${machine.nofile}`);
  console.log(`note: the load generator, redis-server and the broker under test share the ${machine.nproc} cores — compare ratios from the same run only.`);
  if (bundle.sha !== '-') console.log(`bundle: dist/neurobuild-ingest.cjs sha256:${bundle.sha} built ${bundle.built}${bundle.stale ? '  WARNING: src/ has newer files than the bundle (run npm run bundle)' : ''}`);
  console.log(`logs: ${tmp}`);

  const rd = await startRedis(tmp);
  console.log(`redis-server ${machine.redis} on 127.0.0.1:${rd.port} (--save '' --appendonly no)\n`);

  const runs = [];
  const idle = [];
  const findings = [];
  const failures = [];
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [si, scenario] of SCENARIOS.entries()) {
      const shift = (round - 1 + si) % TGTS.length;
      const order = [...TGTS.slice(shift), ...TGTS.slice(0, shift)];
      for (const [oi, target] of order.entries()) {
        const tag = `r${round}-${scenario.id}-${target.id}`;
        await rd.redis.flushall();
        const logFile = path.join(tmp, `${tag}.log`);
        const head = `[round ${round}/${ROUNDS}] ${scenario.id.padEnd(13)} ${target.label.padEnd(17)}`;
        let srv;
        let exit;
        try {
          srv = await startTarget(target, { redisPort: rd.port, logFile, tmp });
          const base = { round, scenario: scenario.id, target: target.id, targetLabel: target.label, order: oi + 1 };
          if (scenario.idle) {
            const r = { ...base, ...(await idleRun(scenario, srv)) };
            idle.push(r);
            printIdleRun(head, r, nofileOf(srv.child.pid));
          } else {
            const r = { ...base, ...(await loadRun(scenario, target, srv, rd.redis)) };
            runs.push(r);
            failures.push(...printLoadRun(head, tag, r, scenario, target));
          }
        } catch (e) {
          console.log(`${head} FAILED: ${e.message}`);
          failures.push(`${tag}: ${e.message.split('\n')[0]}`);
        } finally {
          if (srv) exit = await stop(srv.child, STOP_GRACE_S * 1000);
        }
        findings.push(...reportServerHealth({ key: tag, label: target.label, exit, graceS: STOP_GRACE_S, logFile, log: target.log }));
      }
    }
  }
  await rd.close();

  printSummary({ runs, idle, loadScenarios: loadScen, idleScenario, targets: TGTS, failures, findings, logDir: tmp });

  const settings =
    `${ROUNDS} round(s) × ${DURATION} s measured per run after ${WARMUP} s warm-up (then a barrier: everything acknowledged), ` +
    `QoS 1 window ${INFLIGHT} per connection, QoS 0 window ${QOS0_WINDOW} per connection with a PINGREQ after every ${QOS0_MARKER} messages, ` +
    `${DEVICES_PER_CONN} devices per connection, connections opened 100 at a time, MQTT 3.1.1, target order rotating per round and scenario, ` +
    `Redis FLUSHALL and a fresh server per run; idle: ${IDLE_CONNS} connections opened 100 at a time, keep-alive 60 s, RSS read ${IDLE_SETTLE} s after the last CONNACK`;
  fs.writeFileSync(path.join(tmp, 'results.json'), JSON.stringify({ machine, bundle, command, settings, runs, idle, findings, failures }, null, 1));
  console.log(`raw figures: ${path.join(tmp, 'results.json')}`);
  const finishedAt = new Date();
  const section = resultsSection({ startedAt, finishedAt, quick: QUICK, machine, bundle, command, settings, runs, idle, scenarios: SCENARIOS, idleScenario, targets: TGTS, findings, failures });
  if (WRITE_RESULTS) {
    writeSection(RESULTS, START, END, section);
    console.log(`\nwrote ${path.relative(ROOT, RESULTS)} (section ${START} … ${END})`);
  } else console.log(`\n${QUICK ? 'quick run: ' : ''}bench/RESULTS.md left unchanged (BENCH_WRITE_RESULTS=1 to write it)`);
  if (runs.length || idle.length) {
    await saveReport(reportJsonDoc({ startedAt, finishedAt, quick: QUICK, machine, bundle, command, settings, runs, idle, scenarios: SCENARIOS, targets: TGTS, allTargets: TARGETS }), { tmp, commit: WRITE_RESULTS });
  }
  if (failures.length) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`bench:mqtt: ${err?.stack ?? err}`);
  killAll('SIGKILL');
  process.exit(1);
});
