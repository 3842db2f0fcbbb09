#!/usr/bin/env node
// MQTT benchmark: neurobuild-ingest (dist/neurobuild-ingest.cjs) against Aedes appending to Redis
// (bench/baselines/aedes-redis.mjs) and mosquitto as a plain relay, side by side.
//
//   npm run bench:mqtt        (= node scripts/bundle.mjs && node bench/mqtt/run.mjs)
//
// Env knobs: BENCH_ROUNDS (3), BENCH_DURATION s (10), BENCH_WARMUP s (2), BENCH_QUICK=1 (1 round ×
// 3 s, warm-up 1 s, RESULTS.md left alone), BENCH_SCENARIOS (comma list of ids), BENCH_WRITE_RESULTS
// (0|1), BENCH_MQTT_TARGETS (ours,aedes,mosquitto), BENCH_MQTT_INFLIGHT (16), BENCH_MQTT_QOS0_WINDOW
// (256), BENCH_MQTT_IDLE_CONNECTIONS (10000), BENCH_MQTT_IDLE_SETTLE s (3), BENCH_MQTT_CMD_SUBSCRIBERS
// (10000), BENCH_MQTT_IDLE_SUB_CONNECTIONS (50000, capped by the open-files limit),
// BENCH_MQTT_FLEET_PER_PROCESS (10000), BENCH_MQTT_CMD_INFLIGHT (64). See bench/README.md.
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
import { processTree } from '../ws/procstat.mjs';
import { runClient } from './clients.mjs';
import { startFleet, waitDelivered } from './command-fleet.mjs';
import { childNofile, nofileOf } from './open-files.mjs';
import { END, START, printIdleRun, printLoadRun, printSummary, reportJsonDoc, resultsSection } from './report.mjs';
import { printFleetCheck, printIdleSubRun } from './report-fleet.mjs';
import { TARGETS, startTarget } from './targets.mjs';

setBenchName('bench:mqtt');
const { quick: QUICK, rounds: ROUNDS, duration: DURATION, warmup: WARMUP, writeResults: WRITE_RESULTS } = readSettings();
const INFLIGHT = intEnv('BENCH_MQTT_INFLIGHT', 16, 1, 65535);
const QOS0_WINDOW = intEnv('BENCH_MQTT_QOS0_WINDOW', 256, 1, 1_000_000);
const QOS0_MARKER = 32;
const DEVICES_PER_CONN = 10;
const IDLE_CONNS = intEnv('BENCH_MQTT_IDLE_CONNECTIONS', 10_000, 1, 60_000);
const IDLE_SETTLE = intEnv('BENCH_MQTT_IDLE_SETTLE', 3, 0, 120);
// the fleet scenarios: subscribed-idle devices, each on its own command topic fleet/dev-<n>/cmd
const NOFILE = childNofile();
const FD_RESERVE = 300; // a server's descriptors besides the client sockets: listeners, Redis, logs, epoll, …
const CMD_SUBS = intEnv('BENCH_MQTT_CMD_SUBSCRIBERS', 10_000, 1, 1_000_000);
const IDLE_SUB_ASKED = intEnv('BENCH_MQTT_IDLE_SUB_CONNECTIONS', 50_000, 1, 1_000_000);
const IDLE_SUB = Math.min(IDLE_SUB_ASKED, NOFILE - FD_RESERVE);
const IDLE_SUB_CAPPED = IDLE_SUB < IDLE_SUB_ASKED;
const FLEET_PER_PROCESS = intEnv('BENCH_MQTT_FLEET_PER_PROCESS', 10_000, 100, 60_000);
const CMD_INFLIGHT = intEnv('BENCH_MQTT_CMD_INFLIGHT', 64, 1, 65535);
/** 10000 → "10k", 500 → "500": the count in a scenario id. */
const shortCount = (n) => (n % 1000 === 0 ? `${n / 1000}k` : String(n));
const CMD_ID = `qos1-c100-cmd${shortCount(CMD_SUBS)}`;

const ALL_SCENARIOS = [
  { id: 'qos0-c100', label: 'QoS 0, 100 conns', qos: 0, connections: 100 },
  { id: 'qos0-c1000', label: 'QoS 0, 1,000 conns', qos: 0, connections: 1000 },
  { id: 'qos1-c100', label: `QoS 1, 100 conns × ${INFLIGHT} in flight`, qos: 1, connections: 100 },
  { id: 'qos1-c1000', label: `QoS 1, 1,000 conns × ${INFLIGHT} in flight`, qos: 1, connections: 1000 },
  { id: 'qos1-c100-sub', label: `QoS 1, 100 conns × ${INFLIGHT}, + 1 subscriber on neurobuild/sensors/#`, qos: 1, connections: 100, subscriber: true },
  { id: CMD_ID, label: `QoS 1, 100 conns × ${INFLIGHT}, + ${CMD_SUBS.toLocaleString('en-US')} subscribed-idle devices (fleet/dev-<n>/cmd, QoS 1)`, qos: 1, connections: 100, commandSubscribers: CMD_SUBS, baseline: 'qos1-c100' },
  { id: `idle-c${IDLE_CONNS}`, label: `${IDLE_CONNS.toLocaleString('en-US')} idle connections, keep-alive 60 s`, idle: true, connections: IDLE_CONNS },
  {
    id: `idle-sub-c${IDLE_SUB}`,
    label: `${IDLE_SUB.toLocaleString('en-US')} subscribed idle devices (own command topic, QoS 1), one server process, then one command each`,
    idleSub: true,
    connections: IDLE_SUB,
    asked: IDLE_SUB_ASKED,
    capped: IDLE_SUB_CAPPED,
    nofile: NOFILE,
  },
];
const SCENARIOS = (() => {
  const picked = pickScenarios(ALL_SCENARIOS);
  // the fleet scenario's figure is a ratio to qos1-c100 of the same run: it runs too
  if (picked.some((s) => s.baseline) && !picked.some((s) => s.id === 'qos1-c100')) {
    console.log(`note: ${CMD_ID} is compared with qos1-c100 of the same run, so qos1-c100 runs too`);
    return ALL_SCENARIOS.filter((s) => s.id === 'qos1-c100' || picked.includes(s));
  }
  return picked;
})();
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

/** Server VmRSS in KiB, summed over the process and its descendants (ours' workers). */
const treeRssKiB = (pid) => processTree(pid).reduce((a, p) => a + rssKiB(p), 0);

/** The subscribed-idle fleet of a scenario, connected and subscribed, from its own processes. */
function fleetOf(scenario, srv, lifetimeS) {
  return startFleet({ port: srv.mqttPort, total: scenario.commandSubscribers ?? scenario.connections, perProcess: FLEET_PER_PROCESS, keepalive: 60, lifetimeS, run: `f${Date.now().toString(36)}` });
}

async function loadRun(scenario, target, srv, redis) {
  const args = ['--port', String(srv.mqttPort), '--connections', String(scenario.connections), '--qos', String(scenario.qos), '--duration', String(DURATION), '--warmup', String(WARMUP), '--devices-per-conn', String(DEVICES_PER_CONN)];
  if (scenario.qos) args.push('--inflight', String(INFLIGHT));
  else args.push('--qos0-window', String(QOS0_WINDOW), '--qos0-marker', String(QOS0_MARKER));
  const fleet = scenario.commandSubscribers ? await fleetOf(scenario, srv, WARMUP + DURATION + 180 + Math.ceil(scenario.commandSubscribers / 100)) : null;
  try {
    if (fleet) await sleep(1000); // the server settles after the burst of CONNECTs and SUBSCRIBEs
    const r = await loadWith(scenario, target, srv, redis, args);
    if (fleet) {
      const rssKiB = treeRssKiB(srv.child.pid);
      const f = await fleet.close();
      r.fleet = { devices: fleet.ready.connections, processes: fleet.ready.processes, rampMs: fleet.ready.rampMs, received: f.received, open: f.open, closes: f.unexpected_closes, errors: f.socket_errors, serverRssKiB: rssKiB, cmd: fleet.cmd };
      r.fleet.ok = f.received === 0 && f.open === fleet.ready.connections && !f.errors;
    }
    return r;
  } finally {
    fleet?.kill();
  }
}

async function loadWith(scenario, target, srv, redis, args) {
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
  // the whole process tree: ours may run workers (NODE_ENV=production), which hold the connections
  const rssBefore = treeRssKiB(pid);
  let onReady;
  const ready = new Promise((r) => (onReady = r));
  const args = ['--idle', '--port', String(srv.mqttPort), '--connections', String(scenario.connections), '--ramp-batch', '100', '--ramp-pause-ms', '5', '--keepalive', '60', '--devices-per-conn', '1'];
  const c = runClient('load.mjs', args, { stdinOpen: true, timeoutMs: (IDLE_SETTLE + 120 + scenario.connections / 100) * 1000, onEvent: (e) => e.event === 'ready' && onReady(e) });
  const early = await Promise.race([ready, c.done]);
  if (early.event !== 'ready') throw new Error(`load.mjs --idle: ${early.error ?? 'ended before all connections were open'}`);
  await sleep(IDLE_SETTLE * 1000);
  const rssAfter = treeRssKiB(pid);
  c.child.stdin.end();
  const res = await c.done;
  if (res.error) throw new Error(`load.mjs --idle: ${res.error}`);
  return { connected: early.connections, rssBefore, rssAfter, perConnKiB: (rssAfter - rssBefore) / early.connections, rampMs: res.ramp_ms, stillOpen: res.still_open, load: res, cmd: `node bench/mqtt/load.mjs ${args.join(' ')}` };
}

/**
 * idle-sub: RSS of the server before and after N subscribed-idle devices, then one QoS 1 command
 * to each device's topic from a separate publisher; every device must receive its own.
 */
async function idleSubRun(scenario, srv) {
  const pid = srv.child.pid;
  await sleep(1000);
  const serverProcs = processTree(pid).length;
  const rssBefore = treeRssKiB(pid);
  const N = scenario.connections;
  const fleet = await fleetOf(scenario, srv, IDLE_SETTLE + 240 + Math.ceil(N / 50));
  try {
    await sleep(IDLE_SETTLE * 1000);
    const rssAfter = treeRssKiB(pid);
    const args = ['--port', String(srv.mqttPort), '--count', String(N), '--inflight', String(CMD_INFLIGHT), '--qos', '1', '--timeout', String(120 + Math.ceil(N / 100))];
    const pub = await runClient('command-publisher.mjs', args, { timeoutMs: (130 + Math.ceil(N / 100)) * 1000 }).done;
    const waited = await waitDelivered(fleet, N, { quietMs: 5000, maxMs: 30_000 + N });
    // after the commands went out (garbage collections ran): what the devices hold at steady state
    const rssAfterCommands = treeRssKiB(pid);
    const final = await fleet.close();
    const c = waited.counts;
    return {
      connected: fleet.ready.connections,
      asked: scenario.asked,
      capped: scenario.capped,
      serverProcs,
      serverNofile: nofileOf(pid),
      clientProcesses: fleet.ready.processes,
      addresses: fleet.ready.addresses,
      rampMs: fleet.ready.rampMs,
      rssBefore,
      rssAfter,
      perConnKiB: (rssAfter - rssBefore) / fleet.ready.connections,
      rssAfterCommands,
      perConnAfterCommandsKiB: (rssAfterCommands - rssBefore) / fleet.ready.connections,
      published: pub.published,
      acked: pub.acked,
      pubSeconds: pub.seconds,
      pubOk: pub.ok,
      pubError: pub.error ?? null,
      delivered: c.devices_reached,
      deliveredShare: c.devices_reached / N,
      missing: N - c.devices_reached,
      duplicates: c.duplicates,
      wrongTopic: c.wrong_topic,
      firstWrong: c.first_wrong ?? null,
      complete: waited.complete,
      deliverMs: c.last_at && pub.start_at ? c.last_at - pub.start_at : NaN,
      stillOpen: final.open,
      closes: final.unexpected_closes,
      fleetCmd: fleet.cmd,
      cmd: `node bench/mqtt/command-publisher.mjs ${args.join(' ')}`,
    };
  } finally {
    fleet.kill();
  }
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
  const cmdScenario = SCENARIOS.find((s) => s.commandSubscribers);
  const idleSubScenario = SCENARIOS.find((s) => s.idleSub);
  if (cmdScenario && CMD_SUBS + 100 + FD_RESERVE > machine.nofile) {
    fail(`${CMD_ID} needs room for ${CMD_SUBS} + 100 connections in one broker process, which gets an open-files limit of ${machine.nofile}: lower BENCH_MQTT_CMD_SUBSCRIBERS`);
  }
  if ((cmdScenario || idleSubScenario) && FLEET_PER_PROCESS + 200 > machine.nofile) fail(`BENCH_MQTT_FLEET_PER_PROCESS=${FLEET_PER_PROCESS} is above what one client process may hold (open-files limit ${machine.nofile})`);
  if (idleSubScenario && IDLE_SUB < 1) fail(`the open-files limit of ${machine.nofile} leaves no room for ${idleSubScenario.id}`);
  if (idleSubScenario && IDLE_SUB_CAPPED) {
    console.log(
      `NOTE: ${idleSubScenario.id}: ${IDLE_SUB.toLocaleString('en-US')} devices instead of the ${IDLE_SUB_ASKED.toLocaleString('en-US')} asked (BENCH_MQTT_IDLE_SUB_CONNECTIONS): ` +
        `one server process holds them all, and this machine's hard open-files limit (ulimit -Hn) is ${machine.nofile}, which cannot be raised here; ${FD_RESERVE} descriptors are left for the server's own files.`,
    );
  }
  const command = commandLine('bench:mqtt', 'bench/mqtt/run.mjs');
  const startedAt = new Date();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-mqtt-'));
  const loadScen = SCENARIOS.filter((s) => !s.idle && !s.idleSub);
  const perRunS = WARMUP + DURATION + 25;
  const fleetS = (n) => 30 + n / 100; // bound of connecting and subscribing n devices
  const budgetS =
    ROUNDS * TGTS.length * (loadScen.length * perRunS + (idleScenario ? 60 + IDLE_SETTLE : 0) + (cmdScenario ? fleetS(CMD_SUBS) : 0) + (idleSubScenario ? 120 + IDLE_SETTLE + 3 * fleetS(IDLE_SUB) : 0)) + 120;
  startWatchdog(budgetS);

  const expectS = ROUNDS * TGTS.length * (loadScen.length * (WARMUP + DURATION + 4) + (idleScenario ? 10 + IDLE_SETTLE : 0) + (cmdScenario ? 3 + CMD_SUBS / 2000 : 0) + (idleSubScenario ? 15 + IDLE_SETTLE + IDLE_SUB / 1000 : 0));
  console.log(`bench:mqtt ${QUICK ? '(QUICK smoke run) ' : ''}— ${ROUNDS} round(s) × ${SCENARIOS.length} scenario(s) × ${TGTS.length} targets, ${DURATION} s each (+${WARMUP} s warm-up), ≈${Math.ceil(expectS / 60)} min`);
  console.log(`machine: ${machine.nproc} cores (${machine.cpu}), node ${machine.node}, redis ${machine.redis}, mosquitto ${machine.mosquitto}, aedes ${machine.aedes}; children get ulimit -n ${machine.nofile}`);
  console.log(`note: the load generator, redis-server and the broker under test share the ${machine.nproc} cores — compare ratios from the same run only.`);
  if (bundle.sha !== '-') console.log(`bundle: dist/neurobuild-ingest.cjs sha256:${bundle.sha} built ${bundle.built}${bundle.stale ? '  WARNING: src/ has newer files than the bundle (run npm run bundle)' : ''}`);
  console.log(`logs: ${tmp}`);

  const rd = await startRedis(tmp);
  console.log(`redis-server ${machine.redis} on 127.0.0.1:${rd.port} (--save '' --appendonly no)\n`);

  const runs = [];
  const idle = [];
  const idleSub = [];
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
          // idle-sub: one server process holds every device (ours otherwise forks a worker per CPU)
          srv = await startTarget(target, { redisPort: rd.port, logFile, tmp, oursEnv: scenario.idleSub ? { WORKERS: '1' } : {} });
          const base = { round, scenario: scenario.id, target: target.id, targetLabel: target.label, order: oi + 1 };
          if (scenario.idleSub) {
            const r = { ...base, ...(await idleSubRun(scenario, srv)) };
            idleSub.push(r);
            failures.push(...printIdleSubRun(head, tag, r));
          } else if (scenario.idle) {
            const r = { ...base, ...(await idleRun(scenario, srv)) };
            idle.push(r);
            printIdleRun(head, r, nofileOf(srv.child.pid));
          } else {
            const r = { ...base, ...(await loadRun(scenario, target, srv, rd.redis)) };
            runs.push(r);
            failures.push(...printLoadRun(head, tag, r, scenario, target));
            if (r.fleet) failures.push(...printFleetCheck(tag, r));
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

  printSummary({ runs, idle, idleSub, loadScenarios: loadScen, idleScenario, idleSubScenario, cmdScenario, targets: TGTS, failures, findings, logDir: tmp });

  const settings =
    `${ROUNDS} round(s) × ${DURATION} s measured per run after ${WARMUP} s warm-up (then a barrier: everything acknowledged), ` +
    `QoS 1 window ${INFLIGHT} per connection, QoS 0 window ${QOS0_WINDOW} per connection with a PINGREQ after every ${QOS0_MARKER} messages, ` +
    `${DEVICES_PER_CONN} devices per connection, connections opened 100 at a time, MQTT 3.1.1, target order rotating per round and scenario, ` +
    `Redis FLUSHALL and a fresh server per run; idle: ${IDLE_CONNS} connections opened 100 at a time, keep-alive 60 s, RSS read ${IDLE_SETTLE} s after the last CONNACK` +
    (cmdScenario ? `; ${CMD_ID}: ${CMD_SUBS} devices subscribed (QoS 1, SUBACK awaited) to fleet/dev-<n>/cmd from ${Math.ceil(CMD_SUBS / FLEET_PER_PROCESS)} process(es) of their own, keep-alive 60 s, connected before the load and idle during it` : '') +
    (idleSubScenario
      ? `; ${idleSubScenario.id}: ${IDLE_SUB} devices (${IDLE_SUB_CAPPED ? `capped from ${IDLE_SUB_ASKED} by the open-files hard limit ${NOFILE} per process` : 'as asked'}) from ${Math.ceil(IDLE_SUB / FLEET_PER_PROCESS)} process(es), each from its own 127.0.x.y address, ours with WORKERS=1, RSS of the server process tree read ${IDLE_SETTLE} s after the last SUBACK, then one QoS 1 command per device, ${CMD_INFLIGHT} in flight`
      : '');
  fs.writeFileSync(path.join(tmp, 'results.json'), JSON.stringify({ machine, bundle, command, settings, runs, idle, idleSub, findings, failures }, null, 1));
  console.log(`raw figures: ${path.join(tmp, 'results.json')}`);
  const finishedAt = new Date();
  const section = resultsSection({ startedAt, finishedAt, quick: QUICK, machine, bundle, command, settings, runs, idle, idleSub, scenarios: SCENARIOS, idleScenario, idleSubScenario, cmdScenario, targets: TGTS, findings, failures });
  if (WRITE_RESULTS) {
    writeSection(RESULTS, START, END, section);
    console.log(`\nwrote ${path.relative(ROOT, RESULTS)} (section ${START} … ${END})`);
  } else console.log(`\n${QUICK ? 'quick run: ' : ''}bench/RESULTS.md left unchanged (BENCH_WRITE_RESULTS=1 to write it)`);
  if (runs.length || idle.length || idleSub.length) {
    await saveReport(reportJsonDoc({ startedAt, finishedAt, quick: QUICK, machine, bundle, command, settings, runs, idle, idleSub, scenarios: SCENARIOS, targets: TGTS, allTargets: TARGETS }), { tmp, commit: WRITE_RESULTS });
  }
  if (failures.length) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`bench:mqtt: ${err?.stack ?? err}`);
  killAll('SIGKILL');
  process.exit(1);
});
