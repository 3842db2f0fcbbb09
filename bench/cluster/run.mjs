#!/usr/bin/env node
// Redis Cluster: what each primary pays per reading as the readings spread over 1, 3 and 6
// shards, and classic PUBLISH against sharded SPUBLISH for the live events.
//
//   npm run bench:cluster   (BENCH_ROUNDS=3, BENCH_DURATION=10 s, BENCH_WARMUP=2 s; BENCH_QUICK=1
//   for one short round without writing bench/RESULTS.md; BENCH_CLUSTER_VARIANTS=s1,s3,s6,s6-sharded)
//
// A private cluster of 3 primaries (no replicas: on 2 cores their replication would be measured
// as noise; a replica's cost is its primary's write traffic again) made by `redis-cli --cluster
// create` on free loopback ports, one neurobuild-ingest (the bundle under Node) with
// REDIS_CLUSTER_NODES, and wrk posting batches of 100 readings from 10,000 devices over 16
// connections. Per round and variant: FLUSHALL and CONFIG RESETSTAT on every primary, a warm-up,
// then CPU time (utime+stime from /proc) of each redis-server and of the server over the
// measured window, divided by the readings appended in it (the sum of XLEN over the shard
// streams). "busiest primary" is the most any one primary paid per reading of the whole load:
// what caps throughput, since each primary is one core. With N shards over P primaries it should
// fall to about 1/min(N, P) of the one-shard figure; the sum over primaries stays about the same.
// On 2 cores the server, wrk and the three primaries share the CPU, so readings/s does not grow
// here: the per-primary cost is the figure that carries to a real deployment.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import { fail, pickFromEnv, readSettings, setBenchName } from '../lib/cli.mjs';
import { ensureTool } from '../lib/machine.mjs';
import { DIST, RESULTS, ROOT } from '../lib/paths.mjs';
import { installCleanup, sleep, spawnLogged, startWatchdog, stop, tail } from '../lib/processes.mjs';
import { oursEnv, startNodeServer } from '../lib/servers.mjs';
import { median } from '../lib/stats.mjs';
import { runWrk } from '../lib/wrk.mjs';
import { mdTable } from '../lib/tables.mjs';
import { writeSection } from '../lib/results-md.mjs';

setBenchName('bench:cluster');
installCleanup();
ensureTool('wrk', 'wrk');
ensureTool('redis-server', 'redis-server');
ensureTool('redis-cli', 'redis-tools');
if (!fs.existsSync(DIST)) fail('dist/neurobuild-ingest.cjs missing: run npm run bundle (npm run bench:cluster does)');

const settings = readSettings();
const VARIANTS = pickFromEnv(
  'BENCH_CLUSTER_VARIANTS',
  [
    { id: 's1', shards: 1, pubsub: 'classic' },
    { id: 's3', shards: 3, pubsub: 'classic' },
    { id: 's6', shards: 6, pubsub: 'classic' },
    { id: 's6-sharded', shards: 6, pubsub: 'sharded' },
  ],
  'variant',
);
const PRIMARIES = 3;
const CONNECTIONS = 16;
const BATCH = 100;
const DEVICES = 10_000;
startWatchdog(120 + settings.rounds * VARIANTS.length * (settings.duration + settings.warmup + 30));
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'nb-bench-cluster-'));
const TICK_US = 1e6 / Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

/** utime + stime of a process in µs. */
function cpuUs(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_US;
}

/** A port whose cluster bus port (port + 10000) is free too, both below the kernel's ephemeral range. */
async function clusterPort(taken) {
  const free = (p) =>
    new Promise((res) => {
      const s = net.createServer().once('error', () => res(false));
      s.listen(p, '127.0.0.1', () => s.close(() => res(true)));
    });
  for (;;) {
    const p = 20_000 + Math.floor(Math.random() * 2700);
    if (!taken.has(p) && (await free(p)) && (await free(p + 10_000))) {
      taken.add(p);
      return p;
    }
  }
}

async function startCluster() {
  const taken = new Set();
  const nodes = [];
  for (let i = 0; i < PRIMARIES; i++) {
    const port = await clusterPort(taken);
    const dir = path.join(logDir, `node-${port}`);
    fs.mkdirSync(dir);
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
    const proc = spawnLogged('redis-server', args, path.join(dir, 'redis.log'), { PATH: process.env.PATH });
    nodes.push({ port, proc, dir });
  }
  for (const n of nodes) {
    n.redis = new Redis({ host: '127.0.0.1', port: n.port, lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    n.redis.on('error', () => {});
    const deadline = Date.now() + 10_000;
    for (;;) {
      try {
        if (n.redis.status === 'wait') await n.redis.connect();
        if ((await n.redis.ping()) === 'PONG') break;
      } catch {
        /* not up yet */
      }
      if (Date.now() > deadline) fail(`redis-server on ${n.port} not answering:\n${tail(path.join(n.dir, 'redis.log'))}`);
      await sleep(100);
    }
  }
  const create = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 });
  if (create.status !== 0) fail(`redis-cli --cluster create failed:\n${create.stdout}${create.stderr}`);
  const deadline = Date.now() + 30_000;
  while (!(await Promise.all(nodes.map(async (n) => /cluster_state:ok/.test(await n.redis.cluster('INFO'))))).every(Boolean)) {
    if (Date.now() > deadline) fail('cluster_state not ok within 30 s');
    await sleep(100);
  }
  return nodes;
}

async function streamLengths(nodes) {
  // every primary's own keys: SCAN for sensor-data streams (MATCH, TYPE stream)
  const lengths = new Map();
  for (const n of nodes) {
    let cursor = '0';
    do {
      const [next, keys] = await n.redis.scan(cursor, 'MATCH', 'sensor-data*', 'TYPE', 'stream', 'COUNT', 1000);
      cursor = next;
      for (const k of keys) lengths.set(k, { port: n.port, len: await n.redis.xlen(k) });
    } while (cursor !== '0');
  }
  return lengths;
}

const nodes = await startCluster();
console.error(`bench:cluster: 3 primaries on ${nodes.map((n) => n.port).join(', ')}; logs in ${logDir}`);
const seeds = nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
const runs = [];
for (let round = 1; round <= settings.rounds; round++) {
  for (const v of VARIANTS) {
    await Promise.all(nodes.map(async (n) => {
      await n.redis.flushall();
      await n.redis.config('RESETSTAT');
    }));
    const logFile = path.join(logDir, `server-${v.id}-r${round}.log`);
    const server = await startNodeServer({
      label: `neurobuild-ingest (${v.id})`,
      script: DIST,
      redisPort: 0,
      logFile,
      env: (ports) => ({ ...oursEnv(ports), WORKERS: '1', REDIS_URL: '', REDIS_CLUSTER_NODES: seeds, STREAM_SHARDS: String(v.shards), EVENTS_PUBSUB: v.pubsub }),
    });
    const wrk = (duration) =>
      runWrk({ script: path.join(ROOT, 'bench/http/batch.lua'), connections: CONNECTIONS, port: server.port, duration, threads: 1, timeout: '5s', luaDir: path.join(ROOT, 'bench/http'), countStatus: false, env: { BENCH_BATCH_SIZE: String(BATCH), BENCH_DEVICES: String(DEVICES) } });
    if (settings.warmup > 0) await wrk(settings.warmup);
    const before = await streamLengths(nodes);
    const cpu0 = { server: cpuUs(server.child.pid), nodes: nodes.map((n) => cpuUs(n.proc.pid)) };
    const t0 = process.hrtime.bigint();
    await wrk(settings.duration);
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const cpu1 = { server: cpuUs(server.child.pid), nodes: nodes.map((n) => cpuUs(n.proc.pid)) };
    const after = await streamLengths(nodes);
    await stop(server.child, 10_000);
    let readings = 0;
    const perPrimaryReadings = new Map(nodes.map((n) => [n.port, 0]));
    for (const [k, { port, len }] of after) {
      const added = len - (before.get(k)?.len ?? 0);
      readings += added;
      perPrimaryReadings.set(port, perPrimaryReadings.get(port) + added);
    }
    if (readings === 0) fail(`${v.id}: no reading appended; server log ${logFile}:\n${tail(logFile)}`);
    const primaryUs = nodes.map((n, i) => (cpu1.nodes[i] - cpu0.nodes[i]) / readings);
    const run = {
      round,
      id: v.id,
      shards: v.shards,
      pubsub: v.pubsub,
      streams: after.size,
      readings,
      perSec: readings / wall,
      serverUs: (cpu1.server - cpu0.server) / readings,
      primaryUs,
      busiestUs: Math.max(...primaryUs),
      sumUs: primaryUs.reduce((a, b) => a + b, 0),
      share: nodes.map((n) => perPrimaryReadings.get(n.port) / readings),
    };
    runs.push(run);
    console.error(`bench:cluster: round ${round} ${v.id}: ${Math.round(run.perSec)} readings/s, server ${run.serverUs.toFixed(2)} µs, primaries ${primaryUs.map((x) => x.toFixed(2)).join(' / ')} µs per reading (shares ${run.share.map((s) => Math.round(s * 100)).join('/')} %)`);
  }
}
await Promise.all(nodes.map((n) => n.redis.quit().catch(() => {})));
await Promise.all(nodes.map((n) => stop(n.proc, 5000)));

const f2 = (x) => x.toFixed(2);
// medians per variant, once: the RESULTS.md table and bench/figures/cluster.json both come from them
const summary = VARIANTS.map((v) => {
  const rs = runs.filter((r) => r.id === v.id);
  const m = (pick) => median(rs.map(pick));
  const perPrimary = (key) => [0, 1, 2].map((i) => m((r) => r[key][i]));
  return { id: v.id, shards: v.shards, pubsub: v.pubsub, perSec: m((r) => r.perSec), serverUs: m((r) => r.serverUs), busiestUs: m((r) => r.busiestUs), sumUs: m((r) => r.sumUs), primaryUs: perPrimary('primaryUs'), share: perPrimary('share') };
});
const one = summary.find((v) => v.id === 's1')?.busiestUs;
const medians = summary.map((v) => [
  `${v.shards} shard${v.shards > 1 ? 's' : ''}, ${v.pubsub === 'sharded' ? 'SPUBLISH' : 'PUBLISH'}`,
  Math.round(v.perSec).toLocaleString('en'),
  f2(v.serverUs),
  v.primaryUs.map(f2).join(' / '),
  f2(v.busiestUs),
  one ? `${f2(v.busiestUs / one)}×` : '-',
  f2(v.sumUs),
  v.share.map((x) => `${Math.round(x * 100)}`).join(' / '),
]);
const header = ['variant', 'readings/s (this machine)', 'server µs/reading', 'Redis µs/reading on each primary', 'busiest primary µs/reading', 'busiest ÷ 1 shard', 'all primaries µs/reading', 'readings per primary (%)'];
const raw = runs.map((r) => [r.round, r.id, r.streams, r.readings.toLocaleString('en'), Math.round(r.perSec).toLocaleString('en'), f2(r.serverUs), r.primaryUs.map(f2).join(' / '), r.share.map((s) => Math.round(s * 100)).join(' / ')]);
const version = spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout.match(/v=(\S+)/)?.[1];
const command = `npm run bench:cluster${settings.quick ? ' (BENCH_QUICK=1)' : ''}`;
const section = [
  '## Redis Cluster: cost per primary over 1, 3 and 6 shards (bench/cluster)',
  '',
  `- date: ${new Date().toISOString()}; redis-server ${version}, 3 primaries without replicas (\`redis-cli --cluster create\`, equal slot ranges), node ${process.version}, ${os.cpus().length} cores`,
  `- command: \`${command}\` (BENCH_ROUNDS=${settings.rounds}, ${settings.duration} s measured after ${settings.warmup} s of warm-up per variant and round; wrk -t1 -c${CONNECTIONS}, batches of ${BATCH} readings from ${DEVICES.toLocaleString('en')} devices)`,
  '- CPU µs per reading from /proc (utime+stime over the measured window ÷ readings appended in it); medians over rounds. "busiest primary" is the most one primary paid per reading of the whole load: one primary is one core, so it is what caps a deployment\'s throughput.',
  '- Everything shares 2 cores here, so readings/s does not grow with the shards on this machine; the per-primary cost is what carries to a cluster whose primaries have their own cores.',
  '',
  '### Medians over rounds',
  '',
  mdTable([header, ...medians]),
  '',
  '### Per-round raw figures',
  '',
  mdTable([['round', 'variant', 'streams', 'readings', 'readings/s', 'server µs/reading', 'primaries µs/reading', 'readings per primary (%)'], ...raw]),
].join('\n');
console.log(section);
if (settings.writeResults) {
  writeSection(RESULTS, '<!-- bench:cluster:start -->', '<!-- bench:cluster:end -->', section);
  fs.mkdirSync(path.join(ROOT, 'bench/figures'), { recursive: true });
  fs.writeFileSync(path.join(ROOT, 'bench/figures/cluster.json'), `${JSON.stringify({ bench: 'cluster', date: new Date().toISOString(), command, primaries: PRIMARIES, variants: summary }, null, 2)}\n`);
  console.error('bench:cluster: bench/RESULTS.md (section bench:cluster) and bench/figures/cluster.json updated');
}
process.exit(0);
