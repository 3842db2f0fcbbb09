#!/usr/bin/env node
// CPU per reading: what one reading costs the server and Redis, per transport. The figure every
// deployment pays per core, and the input of docs/capacity.md.
//
//   npm run bench:cpu   (BENCH_ROUNDS=5, BENCH_DURATION=10 s, BENCH_WARMUP=2 s; BENCH_QUICK=1 for one
//   short round without writing results; BENCH_CPU_LOADS=mqtt-qos1,http-batch,http-single;
//   BENCH_BASELINE_REF=<git ref>: that ref's server too, side by side in every round, alternating
//   which goes first, with the ratios per round)
//
// One neurobuild-ingest (the bundle under Node, WORKERS=1, RATE_LIMIT=off) on a private
// redis-server; per round and load a fresh server and FLUSHALL. Loads:
//   mqtt-qos1    bench/mqtt/load.mjs: 100 connections × 16 QoS 1 publishes in flight, 10 devices each
//   http-batch   wrk -t1 -c16 bench/http/batch.lua: batches of 100 readings
//   http-single  wrk -t1 -c64 bench/http/single.lua: one reading per POST
// CPU = utime+stime from /proc over the measured window (the server; Redis), divided by the
// entries appended to the stream in that window. Also Redis' memory per stream entry
// (used_memory growth ÷ entries, dedupe keys included) and the server's RSS at the end.
// Writes its section of bench/RESULTS.md and bench/figures/cpu.json (read by bench/capacity.mjs).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fail, pickFromEnv, readSettings, setBenchName } from '../lib/cli.mjs';
import { ensureTool } from '../lib/machine.mjs';
import { DIST, RESULTS, ROOT } from '../lib/paths.mjs';
import { installCleanup, rssKiB, startWatchdog, stop, tail } from '../lib/processes.mjs';
import { startRedis } from '../lib/redis-server.mjs';
import { DEPLOYED_NODE_OPTIONS, oursEnv, startNodeServer } from '../lib/servers.mjs';
import { median } from '../lib/stats.mjs';
import { mdTable } from '../lib/tables.mjs';
import { writeSection } from '../lib/results-md.mjs';
import { bundleRef, thisTree } from '../lib/baseline.mjs';
import { parseWrk, runWrk } from '../lib/wrk.mjs';
import { runClient } from '../mqtt/clients.mjs';
import { cpuSeconds } from '../ws/procstat.mjs';

setBenchName('bench:cpu');
installCleanup();
ensureTool('wrk', 'wrk');
ensureTool('redis-server', 'redis-server');
if (!fs.existsSync(DIST)) fail('dist/neurobuild-ingest.cjs missing: run npm run bundle (npm run bench:cpu does)');
const settings = readSettings();
// five rounds unless BENCH_ROUNDS or BENCH_QUICK says otherwise (the other benches default to three)
const rounds = process.env.BENCH_ROUNDS || settings.quick ? settings.rounds : 5;
const LOADS = pickFromEnv(
  'BENCH_CPU_LOADS',
  [
    // goal: the server µs per reading to reach (issue 21), p99Goal: the request p99 not to exceed,
    // setAt: the µs per reading of GOAL_REF when the goal was set (issue 21's "now" column)
    { id: 'mqtt-qos1', label: 'MQTT QoS 1, 100 connections × 16 in flight', kind: 'mqtt', goal: 9, setAt: 16.2 },
    { id: 'http-batch', label: 'HTTP batch ×100, 16 connections', kind: 'wrk', script: 'batch.lua', connections: 16, goal: 6, setAt: 9.4 },
    { id: 'http-single', label: 'HTTP single POST, 64 connections', kind: 'wrk', script: 'single.lua', connections: 64, goal: 22, p99Goal: 25, setAt: 30.8 },
  ],
  'load',
);
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-cpu-'));
const BASELINE_REF = process.env.BENCH_BASELINE_REF;
/**
 * The tree issue 21's goals were measured against (its "now" column, ranges taken at their
 * midpoint: setAt). This machine's pace drifts by tens of percent between days (the same build
 * measured 20–21.5 µs per MQTT reading one day, 15–17.4 another), so with this ref as the
 * baseline each goal is also judged as a ratio, goal ÷ setAt, against the same-run ratio.
 */
const GOAL_REF = '789e9c3';
// each tree started as its Dockerfile deploys it (NODE_OPTIONS)
const TARGETS = [{ id: 'this', label: `this tree (${thisTree()})`, file: DIST, nodeOptions: DEPLOYED_NODE_OPTIONS }];
if (BASELINE_REF) {
  const base = bundleRef(BASELINE_REF, path.join(logDir, 'baseline'));
  TARGETS.unshift({ id: 'baseline', label: `${BASELINE_REF} (${base.commit})`, file: base.file, nodeOptions: base.nodeOptions, commit: base.commit });
}
const goalRatios = TARGETS.some((t) => t.id === 'baseline' && t.commit.startsWith(GOAL_REF));
startWatchdog(120 + rounds * (LOADS.length * TARGETS.length + 1) * (settings.duration + settings.warmup + 60));
const redis = await startRedis(logDir);
const usedMemory = async () => Number((await redis.redis.info('memory')).match(/^used_memory:(\d+)/m)[1]);

/** Server + Redis CPU seconds, stream length and Redis memory now. */
async function sample(serverPid) {
  return { server: cpuSeconds(serverPid), redis: cpuSeconds(redis.proc.pid), script: await scriptSeconds(), len: await redis.redis.xlen('sensor-data'), mem: await usedMemory(), at: performance.now() };
}

/** Time Redis spent inside the ingest script's calls (INFO commandstats of EVAL and EVALSHA), seconds. */
async function scriptSeconds() {
  const stats = await redis.redis.info('commandstats');
  let usec = 0;
  for (const m of stats.matchAll(/^cmdstat_(?:eval|evalsha):calls=\d+,usec=(\d+)/gm)) usec += Number(m[1]);
  return usec / 1e6;
}

async function measureMqtt(server) {
  let start;
  let end;
  const args = ['--port', String(server.ports.mqtt), '--connections', '100', '--qos', '1', '--inflight', '16', '--warmup', String(settings.warmup), '--duration', String(settings.duration)];
  const { done } = runClient('load.mjs', args, {
    timeoutMs: (settings.warmup + settings.duration + 120) * 1000,
    onEvent: (e) => {
      if (e.event === 'measure-start') start = sample(server.child.pid);
      if (e.event === 'measure-end') end = sample(server.child.pid);
    },
  });
  const result = await done;
  if (result.error) throw new Error(`load.mjs: ${result.error}`);
  if (!start || !end) throw new Error('load.mjs gave no measure-start / measure-end');
  return { start: await start, end: await end, p99: result.p99_ms };
}

async function measureWrk(server, load) {
  const wrk = (duration) =>
    runWrk({ script: path.join(ROOT, 'bench/http', load.script), connections: load.connections, port: server.port, duration, threads: 1, timeout: '5s', luaDir: path.join(ROOT, 'bench/http'), countStatus: false, env: { BENCH_BATCH_SIZE: '100' } });
  if (settings.warmup > 0) await wrk(settings.warmup);
  const start = await sample(server.child.pid);
  const report = parseWrk((await wrk(settings.duration)).out, load.script === 'batch.lua' ? 100 : 1);
  const end = await sample(server.child.pid);
  return { start, end, p99: report.p99 };
}

/**
 * The HTTP single-POST floor (floor-uws.mjs): uWebSockets.js reading the body and answering 202,
 * nothing stored; its requests per second and CPU per request, run beside the servers.
 */
async function measureFloor(round) {
  const logFile = path.join(logDir, `floor-r${round}.log`);
  const server = await startNodeServer({ label: 'floor (bare uWS)', script: path.join(ROOT, 'bench/cpu/floor-uws.mjs'), redisPort: redis.port, logFile, env: () => ({ NODE_OPTIONS: DEPLOYED_NODE_OPTIONS }) });
  try {
    const load = LOADS.find((l) => l.id === 'http-single');
    const wrk = (duration) => runWrk({ script: path.join(ROOT, 'bench/http', load.script), connections: load.connections, port: server.port, duration, threads: 1, timeout: '5s', luaDir: path.join(ROOT, 'bench/http'), countStatus: false });
    if (settings.warmup > 0) await wrk(settings.warmup);
    const cpu0 = cpuSeconds(server.child.pid);
    const t0 = performance.now();
    const report = parseWrk((await wrk(settings.duration)).out, 1);
    const seconds = (performance.now() - t0) / 1000;
    const us = ((cpuSeconds(server.child.pid) - cpu0) * 1e6) / report.acceptedReadings;
    floors.push({ round, us, perSec: report.acceptedReadings / seconds, p99: report.p99 });
    console.error(`bench:cpu: round ${round} floor http-single: ${Math.round(report.acceptedReadings / seconds)} requests/s, ${us.toFixed(2)} µs per request, p99 ${report.p99} ms`);
  } finally {
    await stop(server.child, 10_000);
  }
}

const runs = [];
const floors = [];
for (let round = 1; round <= rounds; round++) {
  if (LOADS.some((l) => l.id === 'http-single')) await measureFloor(round);
  for (const load of LOADS) {
    // with a baseline, which target goes first alternates by round (the machine drifts over minutes)
    for (const target of round % 2 === 0 ? [...TARGETS].reverse() : TARGETS) {
      await redis.redis.flushall();
      const logFile = path.join(logDir, `server-${target.id}-${load.id}-r${round}.log`);
      const server = await startNodeServer({ label: `${target.label} (${load.id})`, script: target.file, redisPort: redis.port, logFile, env: (ports) => ({ ...oursEnv(ports), WORKERS: '1', NODE_OPTIONS: target.nodeOptions }) });
      try {
        const { start, end, p99 } = load.kind === 'mqtt' ? await measureMqtt(server) : await measureWrk(server, load);
        const readings = end.len - start.len;
        if (readings <= 0) fail(`${load.id}: no reading appended in the window; log ${logFile}:\n${tail(logFile)}`);
        const run = {
          round,
          target: target.id,
          load: load.id,
          p99,
          readings,
          perSec: readings / ((end.at - start.at) / 1000),
          serverUs: ((end.server - start.server) * 1e6) / readings,
          redisUs: ((end.redis - start.redis) * 1e6) / readings,
          scriptUs: ((end.script - start.script) * 1e6) / readings,
          bytesPerEntry: (end.mem - start.mem) / readings,
          serverRssMiB: rssKiB(server.child.pid) / 1024,
        };
        runs.push(run);
        console.error(`bench:cpu: round ${round} ${target.id} ${load.id}: ${Math.round(run.perSec)} readings/s, server ${run.serverUs.toFixed(2)} µs, Redis ${run.redisUs.toFixed(2)} µs (script ${run.scriptUs.toFixed(2)}) per reading, p99 ${p99} ms, ${Math.round(run.bytesPerEntry)} B per entry`);
      } finally {
        await stop(server.child, 10_000);
      }
    }
  }
}
await redis.close();

const f2 = (x) => x.toFixed(2);
const spread = (xs) => `${f2(Math.min(...xs))}–${f2(Math.max(...xs))}`;
const summaryOf = (target, load) => {
  const rs = runs.filter((r) => r.load === load.id && r.target === target.id);
  const pick = (k) => rs.map((r) => r[k]);
  return { id: load.id, target: target.id, label: load.label, rounds: rs.length, perSec: median(pick('perSec')), serverUs: median(pick('serverUs')), serverUsSpread: spread(pick('serverUs')), redisUs: median(pick('redisUs')), redisUsSpread: spread(pick('redisUs')), scriptUs: median(pick('scriptUs')), scriptUsSpread: spread(pick('scriptUs')), p99Ms: median(pick('p99')), bytesPerEntry: median(pick('bytesPerEntry')), serverRssMiB: median(pick('serverRssMiB')), goalUs: load.goal, p99GoalMs: load.p99Goal };
};
const summaries = LOADS.flatMap((load) => TARGETS.map((t) => summaryOf(t, load)));
// this tree's medians: the capacity model's inputs
const summary = summaries.filter((s) => s.target === 'this');
/** Per load, the median over rounds of this tree ÷ the baseline in the same round. */
const ratioOf = (load, k) => median(runs.filter((r) => r.load === load.id && r.target === 'this').map((r) => r[k] / runs.find((b) => b.target === 'baseline' && b.load === load.id && b.round === r.round)[k]));
const met = (s) => (s.target !== 'this' ? '' : s.serverUs <= s.goalUs && (s.p99GoalMs === undefined || s.p99Ms <= s.p99GoalMs) ? 'met' : 'not met');
const targetLabel = (id) => TARGETS.find((t) => t.id === id).label;
const command = `${BASELINE_REF ? `BENCH_BASELINE_REF=${BASELINE_REF} ` : ''}npm run bench:cpu${settings.quick ? ' (BENCH_QUICK=1)' : ''}`;
const version = (await import('node:child_process')).spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.match(/v=(\S+)/)?.[1];
const section = [
  '## CPU per reading (bench/cpu)',
  '',
  `- date: ${new Date().toISOString()}; node ${process.version}, redis-server ${version} (\`--save '' --appendonly no\`), ${os.cpus().length} cores (${os.cpus()[0]?.model.trim()})`,
  `- command: \`${command}\`${BASELINE_REF ? ` (that ref's server beside this tree's in every round, alternating which runs first)` : ''} (${rounds} rounds, ${settings.duration} s measured after ${settings.warmup} s of warm-up per load; a fresh server with WORKERS=1 and RATE_LIMIT=off and an emptied Redis per run; each server with the NODE_OPTIONS of its tree's Dockerfile: ${TARGETS.map((t) => `${t.id} \`${t.nodeOptions || '(none)'}\``).join(', ')})`,
  '- server and Redis µs per reading = utime+stime from /proc over the measured window ÷ entries appended to the stream in it; medians, with the lowest–highest round. "In the script": the time Redis spent inside the ingest script calls (INFO commandstats of EVAL/EVALSHA) ÷ entries, the rest of the Redis CPU being the network, the protocol and its event loop. Bytes per entry = Redis used_memory growth ÷ entries (the dedupe keys of the window included). readings/s is this 2-core machine with the load generator on it.',
  '',
  mdTable([
    ['load', ...(BASELINE_REF ? ['server'] : []), 'readings/s', 'server µs/reading', 'server spread', 'goal (server µs)', 'Redis µs/reading', 'Redis spread', 'of it in the script (goal ≤ 7)', 'p99 ms', 'Redis bytes per entry', 'server RSS MiB'],
    ...summaries.map((s) => [s.label, ...(BASELINE_REF ? [targetLabel(s.target)] : []), Math.round(s.perSec).toLocaleString('en'), f2(s.serverUs), s.serverUsSpread, `≤ ${s.goalUs}${s.p99GoalMs ? ` (p99 ≤ ${s.p99GoalMs} ms)` : ''} ${met(s)}`, f2(s.redisUs), s.redisUsSpread, `${f2(s.scriptUs)} (${s.scriptUsSpread})${s.target === 'this' ? (s.scriptUs <= 7 ? ' met' : ' not met') : ''}`, s.p99Ms.toFixed(1), Math.round(s.bytesPerEntry).toLocaleString('en'), Math.round(s.serverRssMiB)]),
  ]),
  '',
  ...(BASELINE_REF
    ? [
        `Same-run ratios, this tree ÷ ${targetLabel('baseline')} (median over rounds of the ratio within each round):`,
        '',
        mdTable([
          ['load', 'server µs/reading', ...(goalRatios ? ['goal as a ratio (goal ÷ µs when set)'] : []), 'Redis µs/reading', 'readings/s'],
          ...LOADS.map((l) => [l.label, `${f2(ratioOf(l, 'serverUs'))}×`, ...(goalRatios ? [`≤ ${f2(l.goal / l.setAt)}× ${ratioOf(l, 'serverUs') <= l.goal / l.setAt ? 'met' : 'not met'}`] : []), `${f2(ratioOf(l, 'redisUs'))}×`, `${f2(ratioOf(l, 'perSec'))}×`]),
        ]),
        '',
        ...(goalRatios
          ? [
              `The goals were set against ${GOAL_REF}'s figures of that day (${LOADS.map((l) => `${l.id} ${l.setAt} µs`).join(', ')}); this run measured ${GOAL_REF} at ${LOADS.map((l) => `${f2(summaries.find((x) => x.id === l.id && x.target === 'baseline').serverUs)}`).join(', ')} µs, so the absolute goals above are judged at another pace of this machine, and the ratio column judges them at this run's.`,
              '',
            ]
          : []),
      ]
    : []),
  ...(floors.length > 0
    ? [
        `The HTTP single-POST floor (\`bench/cpu/floor-uws.mjs\`: uWebSockets.js reading each body, JSON.parse, a UUID, 202 with a body like the server's, nothing stored; same load, same rounds): ${f2(median(floors.map((f) => f.us)))} µs of CPU per request (${spread(floors.map((f) => f.us))}), ${Math.round(median(floors.map((f) => f.perSec))).toLocaleString('en')} requests/s, p99 ${median(floors.map((f) => f.p99)).toFixed(1)} ms.`,
        '',
      ]
    : []),
  '### Per-round raw figures',
  '',
  mdTable([['round', 'server', 'load', 'readings', 'readings/s', 'server µs', 'Redis µs', 'script µs', 'p99 ms', 'bytes per entry'], ...runs.map((r) => [r.round, r.target, r.load, r.readings.toLocaleString('en'), Math.round(r.perSec).toLocaleString('en'), f2(r.serverUs), f2(r.redisUs), f2(r.scriptUs), r.p99.toFixed(1), Math.round(r.bytesPerEntry)])]),
].join('\n');
console.log(section);
if (settings.writeResults) {
  writeSection(RESULTS, '<!-- bench:cpu:start -->', '<!-- bench:cpu:end -->', section);
  fs.mkdirSync(path.join(ROOT, 'bench/figures'), { recursive: true });
  const floor = floors.length > 0 ? { httpSingleUs: median(floors.map((f) => f.us)), perSec: median(floors.map((f) => f.perSec)) } : undefined;
  fs.writeFileSync(path.join(ROOT, 'bench/figures/cpu.json'), `${JSON.stringify({ bench: 'cpu', date: new Date().toISOString(), command, cores: os.cpus().length, loads: summary, floor }, null, 2)}\n`);
  console.error('bench:cpu: bench/RESULTS.md (section bench:cpu) and bench/figures/cpu.json updated');
}
process.exit(0);
