#!/usr/bin/env node
// MQTT across instances: commands to devices routed between 1, 2 and 3 instances on one Redis.
//
//   npm run bench:relay   (BENCH_ROUNDS=3, BENCH_DURATION=10 s, BENCH_WARMUP=2 s; BENCH_QUICK=1
//   for one short round without writing bench/RESULTS.md; BENCH_RELAY_VARIANTS=i1,i2,i3)
//
// A private redis-server and N neurobuild-ingest instances (the bundle under Node, one worker
// each, MQTT_SHARED_STATE=auto). 2,000 device connections, spread round robin over the
// instances, each subscribed at QoS 1 to its own `fleet/{device}/cmd` (2,000 routes in every
// instance's table); 4 controller connections on the first instance publish QoS 1 commands to
// random devices, 64 in flight each. With N instances (N-1)/N of the commands cross to another
// instance through its Redis inbox. Per round and variant: commands delivered per second,
// latency from publish to delivery (p50 / p99, the publisher and devices are this process), and
// CPU time (utime+stime from /proc) of Redis and of all servers over the measured window per
// delivered command; "Redis µs per routed command" divides Redis' CPU by the commands that
// crossed instances. One Redis, 2 shared cores: every variant runs on the same machine in the
// same run, so the ratios to one instance are the figures to read.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt from 'mqtt';
import { fail, pickFromEnv, readSettings, setBenchName, commandLine } from '../lib/cli.mjs';
import { ensureTool } from '../lib/machine.mjs';
import { DIST, RESULTS } from '../lib/paths.mjs';
import { installCleanup, sleep, startWatchdog, stop } from '../lib/processes.mjs';
import { startRedis } from '../lib/redis-server.mjs';
import { oursEnv, startNodeServer } from '../lib/servers.mjs';
import { median } from '../lib/stats.mjs';
import { mdTable } from '../lib/tables.mjs';
import { writeSection } from '../lib/results-md.mjs';
import { cpuSeconds } from '../ws/procstat.mjs';

setBenchName('bench:relay');
installCleanup();
ensureTool('redis-server', 'redis-server');
if (!fs.existsSync(DIST)) fail('dist/neurobuild-ingest.cjs missing: run npm run bundle (npm run bench:relay does)');

const settings = readSettings();
const VARIANTS = pickFromEnv('BENCH_RELAY_VARIANTS', [1, 2, 3].map((n) => ({ id: `i${n}`, instances: n })), 'variant');
const DEVICES = 2000;
const CONTROLLERS = 4;
const IN_FLIGHT = 64;
startWatchdog(120 + settings.rounds * VARIANTS.length * (settings.duration + settings.warmup + 60));
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-relay-'));

function percentile(sorted, p) {
  return sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
}

async function connect(port, clientId) {
  const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId, keepalive: 300 });
  c.on('error', () => {});
  return c;
}

async function runVariant(v, round) {
  const redis = await startRedis(logDir);
  const servers = [];
  try {
    for (let i = 0; i < v.instances; i++) {
      servers.push(
        await startNodeServer({
          label: `instance ${i}`,
          script: DIST,
          redisPort: redis.port,
          logFile: path.join(logDir, `r${round}-${v.id}-${i}.log`),
          env: (ports) => oursEnv(ports, { WORKERS: '1', MQTT_SYS_INTERVAL_S: '0' }),
        }),
      );
    }
    const state = { measuring: false, delivered: 0, crossed: 0, latencies: [] };
    const devices = [];
    for (let d = 0; d < DEVICES; d++) {
      const on = d % v.instances;
      const c = await connect(servers[on].ports.mqtt, `dev-${d}`);
      c.on('message', (_topic, payload) => {
        if (!state.measuring) return;
        state.delivered++;
        if (on !== 0) state.crossed++;
        state.latencies.push(performance.now() - Number(payload.toString()));
      });
      await c.subscribeAsync(`fleet/dev-${d}/cmd`, { qos: 1 });
      devices.push(c);
    }
    // every route known on the first instance: one command to the last device of each instance arrives
    for (let on = 0; on < v.instances; on++) {
      const d = DEVICES - 1 - ((DEVICES - 1 - on) % v.instances);
      const got = new Promise((resolve) => devices[d].once('message', resolve));
      const probe = await connect(servers[0].ports.mqtt, `probe-${on}`);
      const deadline = Date.now() + 10_000;
      let arrived = false;
      got.then(() => (arrived = true));
      while (!arrived && Date.now() < deadline) {
        await probe.publishAsync(`fleet/dev-${d}/cmd`, String(performance.now()), { qos: 1 });
        await sleep(50);
      }
      await probe.endAsync(true);
      if (!arrived) throw new Error(`routes of instance ${on} not known on the first instance`);
    }
    const controllers = [];
    for (let k = 0; k < CONTROLLERS; k++) controllers.push(await connect(servers[0].ports.mqtt, `controller-${k}`));
    let running = true;
    const loops = controllers.map(async (c) => {
      const lanes = Array.from({ length: IN_FLIGHT }, async () => {
        while (running) await c.publishAsync(`fleet/dev-${Math.floor(Math.random() * DEVICES)}/cmd`, String(performance.now()), { qos: 1 });
      });
      await Promise.all(lanes);
    });
    await sleep(settings.warmup * 1000);
    const pids = [redis.proc.pid, ...servers.map((s) => s.child.pid)];
    const before = pids.map(cpuSeconds);
    const t0 = performance.now();
    state.measuring = true;
    await sleep(settings.duration * 1000);
    state.measuring = false;
    const seconds = (performance.now() - t0) / 1000;
    const after = pids.map(cpuSeconds);
    running = false;
    await Promise.all(loops);
    const cpu = after.map((a, i) => (a - before[i]) * 1e6);
    const serverUs = cpu.slice(1).reduce((a, b) => a + b, 0);
    const lat = state.latencies.sort((a, b) => a - b);
    for (const c of [...devices, ...controllers]) c.end(true);
    return {
      round,
      variant: v.id,
      instances: v.instances,
      perSecond: state.delivered / seconds,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      crossedShare: state.delivered ? state.crossed / state.delivered : 0,
      serverUsPerCommand: serverUs / state.delivered,
      redisUsPerCommand: cpu[0] / state.delivered,
      redisUsPerRouted: state.crossed ? cpu[0] / state.crossed : NaN,
    };
  } finally {
    for (const s of servers) await stop(s.child, 10_000);
    await redis.close();
  }
}

const runs = [];
for (let round = 1; round <= settings.rounds; round++) {
  for (const v of VARIANTS) {
    const r = await runVariant(v, round);
    runs.push(r);
    console.log(`round ${round} ${v.id}: ${r.perSecond.toFixed(0)} commands/s, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, crossed ${(r.crossedShare * 100).toFixed(0)} %, server ${r.serverUsPerCommand.toFixed(2)} µs, Redis ${r.redisUsPerCommand.toFixed(2)} µs per command (${r.redisUsPerRouted.toFixed(2)} per routed)`);
  }
}

const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const base = (round) => runs.find((r) => r.round === round && r.instances === 1);
const rows = [['instances', 'commands/s', 'vs 1 instance', 'p50 ms', 'p99 ms', 'crossed', 'server µs / command', 'Redis µs / command', 'Redis µs / routed command']];
for (const v of VARIANTS) {
  const rs = runs.filter((r) => r.variant === v.id);
  const ratio = median(rs.map((r) => (base(r.round) ? r.perSecond / base(r.round).perSecond : NaN)));
  rows.push([
    String(v.instances),
    f(median(rs.map((r) => r.perSecond)), 0),
    Number.isFinite(ratio) ? `${ratio.toFixed(2)}×` : '—',
    f(median(rs.map((r) => r.p50))),
    f(median(rs.map((r) => r.p99))),
    `${f(median(rs.map((r) => r.crossedShare * 100)), 0)} %`,
    f(median(rs.map((r) => r.serverUsPerCommand))),
    f(median(rs.map((r) => r.redisUsPerCommand))),
    f(median(rs.map((r) => r.redisUsPerRouted))),
  ]);
}
const raw = [['round', 'instances', 'commands/s', 'p50 ms', 'p99 ms', 'server µs', 'Redis µs', 'Redis µs / routed']];
for (const r of runs) raw.push([String(r.round), String(r.instances), f(r.perSecond, 0), f(r.p50), f(r.p99), f(r.serverUsPerCommand), f(r.redisUsPerCommand), f(r.redisUsPerRouted)]);
const table = mdTable(rows);
console.log(table);
if (settings.writeResults) {
  const section = [
    '## MQTT across instances (bench/relay)',
    '',
    `- ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} cores, Node ${process.version}; command: \`${commandLine('bench:relay', 'bench/relay/run.mjs')}\``,
    `- ${DEVICES} devices each subscribed to its own command topic (QoS 1), spread round robin over the instances; ${CONTROLLERS} controllers on the first instance, ${IN_FLIGHT} QoS 1 commands in flight each; ${settings.rounds} rounds of ${settings.duration} s after ${settings.warmup} s warm-up; medians.`,
    '- Everything (Redis, the instances, the clients) shares 2 cores: commands/s falls as instances are added because they share the same CPU; per-command costs are the figures that carry to separate machines.',
    '',
    table,
    '',
    '### Per-round raw figures',
    '',
    mdTable(raw),
    '',
  ].join('\n');
  writeSection(RESULTS, '<!-- bench:relay:start -->', '<!-- bench:relay:end -->', section);
  console.log(`written to ${path.relative(process.cwd(), RESULTS)}`);
}
process.exit(0);
