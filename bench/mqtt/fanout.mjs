#!/usr/bin/env node
// MQTT fan-out correctness benchmark, ours only (aedes and mosquitto do not ingest readings):
// S MQTT v5 subscribers (Receive Maximum 20) on `neurobuild/sensors/#` at QoS 1, in a few
// processes of their own, while R valid readings are published at QoS 1 at a fixed rate; every
// subscriber must receive every acknowledged reading (counted by distinct message_id).
//
//   npm run bench:mqtt-fanout     (= node scripts/bundle.mjs && node bench/mqtt/fanout.mjs)
//
// Env knobs: BENCH_FANOUT_SUBSCRIBERS (1000), BENCH_FANOUT_READINGS (20000; 5000 with BENCH_QUICK=1),
// BENCH_FANOUT_RATE readings/s (200), BENCH_FANOUT_RECEIVE_MAXIMUM (20), BENCH_FANOUT_SUB_PROCS
// (2–4 by the subscriber count), BENCH_FANOUT_PUBLISHERS (10 connections), BENCH_FANOUT_WORKERS
// (unset: the server's default), BENCH_FANOUT_FILTER (neurobuild/sensors/#), BENCH_FANOUT_SENSOR_TOPICS
// (off|on: the server's MQTT_SENSOR_TOPICS), BENCH_ROUNDS (3; 1 with BENCH_QUICK=1), BENCH_WRITE_RESULTS (0|1).
// See bench/README.md.
//
// Everything listens on and targets 127.0.0.1 (the subscribers connect from 127.0.<round>.x). Every
// child process is killed on exit, on errors and on SIGINT/SIGTERM; a watchdog bounds the whole run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandLine, fail, intEnv, readSettings, setBenchName } from '../lib/cli.mjs';
import { bundleInfo, ensureTool, machineInfo } from '../lib/machine.mjs';
import { DIST, RESULTS, ROOT } from '../lib/paths.mjs';
import { installCleanup, killAll, sleep, startWatchdog, stop } from '../lib/processes.mjs';
import { startRedis } from '../lib/redis-server.mjs';
import { reportServerHealth } from '../lib/report.mjs';
import { saveReport } from '../lib/report-json.mjs';
import { writeSection } from '../lib/results-md.mjs';
import { performance } from 'node:perf_hooks';
import { CpuWindow, processTree, rssMiB } from '../ws/procstat.mjs';
import { runClient } from './clients.mjs';
import { END, START, fanoutJsonDoc, fanoutSection, printFanoutRun, printFanoutSummary } from './fanout-report.mjs';
import { childNofile } from './open-files.mjs';
import { TARGETS, startTarget } from './targets.mjs';

setBenchName('bench:mqtt-fanout');
const { quick: QUICK, rounds: ROUNDS, writeResults: WRITE_RESULTS } = readSettings();
const SUBSCRIBERS = intEnv('BENCH_FANOUT_SUBSCRIBERS', 1000, 1, 15_000);
const READINGS = intEnv('BENCH_FANOUT_READINGS', QUICK ? 5000 : 20_000, 1, 10_000_000);
// 200 readings/s to 1,000 subscribers is 200,000 deliveries/s: what this 2-core machine carries with
// the server and the subscriber processes on it (1,000/s would be a million a second)
const RATE = intEnv('BENCH_FANOUT_RATE', 200, 1, 1_000_000);
const RECEIVE_MAXIMUM = intEnv('BENCH_FANOUT_RECEIVE_MAXIMUM', 20, 1, 65_535);
const SUB_PROCS = intEnv('BENCH_FANOUT_SUB_PROCS', Math.min(4, Math.max(2, Math.ceil(SUBSCRIBERS / 250))), 1, 16);
const PUBLISHERS = intEnv('BENCH_FANOUT_PUBLISHERS', 10, 1, 1000);
const WORKERS = process.env.BENCH_FANOUT_WORKERS ? intEnv('BENCH_FANOUT_WORKERS', 1, 1, 64) : undefined;
const FILTER = process.env.BENCH_FANOUT_FILTER || 'neurobuild/sensors/#';
const SENSOR_TOPICS = process.env.BENCH_FANOUT_SENSOR_TOPICS === 'on' ? 'on' : 'off';
const INFLIGHT = 16;
const DEVICES_PER_CONN = 10;
const QUIET_MS = 5000; // delivery is over when no subscriber count moved for this long
const STOP_GRACE_S = 15;
const OURS = TARGETS.find((t) => t.id === 'ours');

installCleanup();

/** Starts the subscriber processes one after the other (each waits for its SUBACKs). */
async function startSubscribers(port, round, lifetimeS) {
  const procs = [];
  const per = Math.ceil(SUBSCRIBERS / SUB_PROCS);
  for (let k = 0, first = 0; first < SUBSCRIBERS; k++, first += per) {
    const n = Math.min(per, SUBSCRIBERS - first);
    const args = ['--port', port, '--filter', FILTER, '--connections', n, '--first', first, '--receive-maximum', RECEIVE_MAXIMUM, '--expect', READINGS, '--local-address', `127.0.${1 + (round % 254)}.${2 + k}`, '--timeout', lifetimeS].map(String);
    const p = { waiters: [], cmd: `node bench/mqtt/fanout-subscribers.mjs ${args.join(' ')}` };
    let onReady;
    const ready = new Promise((r) => (onReady = r));
    Object.assign(p, runClient('fanout-subscribers.mjs', args, { stdinOpen: true, timeoutMs: lifetimeS * 1000 + 10_000, onEvent: (e) => (e.event === 'count' ? p.waiters.shift()?.(e) : e.event === 'ready' || e.event === 'error' ? onReady(e) : null) }));
    p.done.catch(() => {});
    procs.push(p);
    const limitMs = 30_000 + 10 * n;
    const early = await Promise.race([ready, p.done.then((r) => ({ error: r.error ?? `exited (code ${r.exit_code})` }), (e) => ({ error: e.message })), sleep(limitMs).then(() => ({ error: `not subscribed within ${limitMs / 1000} s` }))]);
    if (early.event !== 'ready') {
      procs.forEach((q) => q.child.kill('SIGKILL'));
      throw new Error(`fanout-subscribers.mjs (subscribers ${first}..${first + n - 1}): ${early.error}`);
    }
    p.ready = early;
  }
  const counts = () =>
    Promise.all(
      procs.map(
        (p) =>
          new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error('fanout-subscribers.mjs: no count within 10 s')), 10_000);
            p.waiters.push((e) => {
              clearTimeout(timer);
              resolve(e);
            });
            p.child.stdin.write('report\n');
          }),
      ),
    );
  const close = () => {
    for (const p of procs) p.child.stdin.end();
    return Promise.all(procs.map((p) => p.done));
  };
  return { procs, counts, close, kill: () => procs.forEach((p) => p.child.kill('SIGKILL')), rampMs: procs.reduce((a, p) => a + p.ready.ramp_ms, 0) };
}

/** Polls the subscribers until every one has `expected` distinct readings, or nothing moved for QUIET_MS, or maxMs passed. */
async function awaitDelivery(subs, expected, maxMs) {
  const deadline = Date.now() + maxMs;
  let last = -1;
  let movedAt = Date.now();
  for (;;) {
    const cs = await subs.counts();
    const distinct = cs.reduce((a, c) => a + c.distinct, 0);
    const received = cs.reduce((a, c) => a + c.received, 0);
    if (distinct >= expected * SUBSCRIBERS) return { complete: true };
    if (received !== last) {
      last = received;
      movedAt = Date.now();
    }
    if (Date.now() - movedAt > QUIET_MS) return { complete: false, reason: `nothing moved for ${QUIET_MS / 1000} s` };
    if (Date.now() > deadline) return { complete: false, reason: `still moving after ${Math.round(maxMs / 1000)} s` };
    await sleep(250);
  }
}

/**
 * The MQTT lines of the server's /metrics: `sensor_data_errors_total` of the mqtt_* error types,
 * MQTT connections, and the samples of any `mqtt_*` metric (drops, bounds hit, sessions, …; not
 * histogram buckets).
 */
async function mqttMetricLines(httpPort) {
  try {
    const res = await fetch(`http://127.0.0.1:${httpPort}/metrics`, { signal: AbortSignal.timeout(5000) });
    const text = await res.text();
    const wanted = (l) =>
      (l.startsWith('sensor_data_errors_total{') && l.includes('error_type="mqtt_')) || l.startsWith('active_connections{connection_type="mqtt"}') || (/^mqtt_\w+[{ ]/.test(l) && !/^mqtt_\w+_bucket\{/.test(l));
    return text.split('\n').filter(wanted);
  } catch (e) {
    return [`(GET /metrics failed: ${e.message})`];
  }
}

async function fanoutRun(round, srv) {
  const publishS = READINGS / RATE;
  const subs = await startSubscribers(srv.mqttPort, round, Math.ceil(publishS + 180 + SUBSCRIBERS / 50));
  let sampler;
  try {
    await sleep(1000); // the server settles after the burst of CONNECTs and SUBSCRIBEs
    const serverPids = processTree(srv.child.pid);
    const cpu = new CpuWindow({ server: serverPids, subscribers: subs.procs.map((p) => p.child.pid) });
    const serverRss = () => serverPids.reduce((a, p) => a + (rssMiB(p) || 0), 0);
    let peakRssMiB = serverRss();
    sampler = setInterval(() => (peakRssMiB = Math.max(peakRssMiB, serverRss())), 200);
    let pubStartAt = NaN;
    const args = ['--port', srv.mqttPort, '--connections', PUBLISHERS, '--qos', 1, '--inflight', INFLIGHT, '--count', READINGS, '--rate', RATE, '--devices-per-conn', DEVICES_PER_CONN].map(String);
    cpu.start();
    const w0 = performance.now();
    const load = await runClient('load.mjs', args, { timeoutMs: (publishS + 180) * 1000, onEvent: (e) => e.event === 'measure-start' && (pubStartAt = e.at) }).done;
    if (load.error) throw new Error(`load.mjs: ${load.error}`);
    const delivery = await awaitDelivery(subs, load.acked_total, 60_000 + 2 * publishS * 1000);
    const usage = cpu.stop();
    const windowS = (performance.now() - w0) / 1000;
    clearInterval(sampler);
    peakRssMiB = Math.max(peakRssMiB, serverRss());
    const metrics = await mqttMetricLines(srv.httpPort);
    const finals = await subs.close();
    const per = finals.flatMap((f) => f.per_subscriber ?? []);
    const sum = (k) => finals.reduce((a, f) => a + (f[k] ?? 0), 0);
    const lastAt = Math.max(...finals.map((f) => f.last_at ?? 0));
    return {
      round,
      subscribers: SUBSCRIBERS,
      readings: READINGS,
      rate: RATE,
      receiveMaximum: RECEIVE_MAXIMUM,
      acked: load.acked_total,
      publishLost: load.lost,
      publishOk: load.ok,
      publishSeconds: load.seconds,
      distinct: per.map((s) => s.distinct),
      complete: per.filter((s) => s.distinct >= load.acked_total).length,
      stillOpen: per.filter((s) => s.open).length,
      delivery,
      deliveryMs: lastAt && Number.isFinite(pubStartAt) ? lastAt - pubStartAt : NaN,
      received: sum('received'),
      duplicates: sum('duplicates'),
      noMessageId: sum('no_message_id'),
      sampled: sum('sampled'),
      badPayloads: sum('bad_payloads'),
      firstBad: finals.find((f) => f.first_bad)?.first_bad ?? null,
      serverDisconnects: finals.reduce((a, f) => Object.entries(f.server_disconnects ?? {}).reduce((b, [k, v]) => ({ ...b, [k]: (b[k] ?? 0) + v }), a), {}),
      unexpectedCloses: sum('unexpected_closes'),
      subscriberErrors: finals.filter((f) => f.error).map((f) => f.error),
      serverProcs: serverPids.length,
      serverCpuPct: usage.server,
      serverCpuS: (usage.server * windowS) / 100,
      subscribersCpuPct: usage.subscribers,
      machinePct: usage.machine,
      othersPct: usage.others,
      windowS,
      peakRssMiB,
      metrics,
      rampMs: subs.rampMs,
      loadgenCpuPct: load.loadgen_cpu_pct,
      cmd: `node bench/mqtt/load.mjs ${args.join(' ')}`,
      subCmd: subs.procs[0].cmd,
    };
  } finally {
    clearInterval(sampler);
    subs.kill();
  }
}

async function main() {
  ensureTool('redis-server', 'redis-server');
  const bundle = bundleInfo(DIST);
  const machine = { ...machineInfo(), nofile: childNofile() };
  if (Math.ceil(SUBSCRIBERS / SUB_PROCS) + 200 > machine.nofile) fail(`${Math.ceil(SUBSCRIBERS / SUB_PROCS)} subscribers per process exceed the open-files limit ${machine.nofile}: raise BENCH_FANOUT_SUB_PROCS`);
  if (SUBSCRIBERS + PUBLISHERS + 300 > machine.nofile) fail(`${SUBSCRIBERS} subscribers may all land on one server process, whose open-files limit is ${machine.nofile}: lower BENCH_FANOUT_SUBSCRIBERS`);
  const command = commandLine('bench:mqtt-fanout', 'bench/mqtt/fanout.mjs');
  const startedAt = new Date();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-mqtt-fanout-'));
  const perRunS = READINGS / RATE + 2 * (READINGS / RATE) + 60 + 30 + SUBSCRIBERS / 50 + STOP_GRACE_S + 30;
  startWatchdog(Math.ceil(ROUNDS * perRunS + 60));
  console.log(`bench:mqtt-fanout ${QUICK ? '(QUICK smoke run) ' : ''}— ${ROUNDS} round(s): ${SUBSCRIBERS.toLocaleString('en-US')} v5 subscribers (Receive Maximum ${RECEIVE_MAXIMUM}, QoS 1, ${SUB_PROCS} processes), ${READINGS.toLocaleString('en-US')} readings at ${RATE.toLocaleString('en-US')}/s (QoS 1, ${PUBLISHERS} connections), ≈${Math.ceil((ROUNDS * (READINGS / RATE + 15)) / 60)} min`);
  console.log(`machine: ${machine.nproc} cores (${machine.cpu}), node ${machine.node}, redis ${machine.redis}; children get ulimit -n ${machine.nofile}`);
  console.log(`bundle: dist/neurobuild-ingest.cjs sha256:${bundle.sha} built ${bundle.built}${bundle.stale ? '  WARNING: src/ has newer files than the bundle (run npm run bundle)' : ''}`);
  console.log(`logs: ${tmp}`);
  const rd = await startRedis(tmp);
  console.log(`redis-server ${machine.redis} on 127.0.0.1:${rd.port} (--save '' --appendonly no)\n`);

  const runs = [];
  const findings = [];
  const failures = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const tag = `r${round}-fanout`;
    const logFile = path.join(tmp, `${tag}.log`);
    await rd.redis.flushall();
    let srv;
    let exit;
    try {
      srv = await startTarget(OURS, { redisPort: rd.port, logFile, tmp, oursEnv: { ...(WORKERS ? { WORKERS: String(WORKERS) } : {}), MQTT_SENSOR_TOPICS: SENSOR_TOPICS } });
      const r = await fanoutRun(round, srv);
      runs.push(r);
      failures.push(...printFanoutRun(`[round ${round}/${ROUNDS}]`, tag, r));
    } catch (e) {
      console.log(`[round ${round}/${ROUNDS}] FAILED: ${e.message}`);
      failures.push(`${tag}: ${e.message.split('\n')[0]}`);
    } finally {
      if (srv) exit = await stop(srv.child, STOP_GRACE_S * 1000);
    }
    findings.push(...reportServerHealth({ key: tag, label: OURS.label, exit, graceS: STOP_GRACE_S, logFile, log: OURS.log }));
  }
  await rd.close();
  printFanoutSummary({ runs, failures, findings, logDir: tmp });

  const settings =
    `${ROUNDS} round(s); ${SUBSCRIBERS} MQTT v5 subscribers (CONNECT with Receive Maximum ${RECEIVE_MAXIMUM}, SUBSCRIBE ${FILTER} QoS 1, every PUBLISH PUBACKed) in ${SUB_PROCS} processes; ` +
    `${READINGS} readings published at ${RATE}/s, QoS 1, from ${PUBLISHERS} MQTT 3.1.1 connections (${DEVICES_PER_CONN} devices each, ${INFLIGHT} in flight at most); ` +
    `ours: defaults, MQTT_SENSOR_TOPICS=${SENSOR_TOPICS}, RATE_LIMIT=off, LOG_LEVEL=warn, ${WORKERS ? `WORKERS=${WORKERS}` : 'WORKERS unset (one per CPU)'}; Redis FLUSHALL and a fresh server per round; delivery over when every subscriber has every reading or nothing moved for ${QUIET_MS / 1000} s`;
  fs.writeFileSync(path.join(tmp, 'results.json'), JSON.stringify({ machine, bundle, command, settings, runs, findings, failures }, null, 1));
  console.log(`raw figures: ${path.join(tmp, 'results.json')}`);
  const finishedAt = new Date();
  const facts = { startedAt, finishedAt, quick: QUICK, machine, bundle, command, settings };
  if (WRITE_RESULTS) {
    writeSection(RESULTS, START, END, fanoutSection({ ...facts, runs, findings, failures }));
    console.log(`\nwrote ${path.relative(ROOT, RESULTS)} (section ${START} … ${END})`);
  } else console.log(`\n${QUICK ? 'quick run: ' : ''}bench/RESULTS.md left unchanged (BENCH_WRITE_RESULTS=1 to write it)`);
  if (runs.length) await saveReport(fanoutJsonDoc({ ...facts, runs, target: OURS }), { tmp, commit: WRITE_RESULTS });
  if (failures.length) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`bench:mqtt-fanout: ${err?.stack ?? err}`);
  killAll('SIGKILL');
  process.exit(1);
});
