#!/usr/bin/env node
// The capacity model of docs/capacity.md, computed from measured figures only:
//   bench/figures/cpu.json      (npm run bench:cpu)      server and Redis µs per reading per transport, bytes per entry
//   bench/figures/cluster.json  (npm run bench:cluster)  Redis µs per reading per primary over shards, PUBLISH vs SPUBLISH
//   bench/reports/mqtt.json     (npm run bench:mqtt)     server KiB per connected, subscribed device
// and writes the tables between <!-- capacity:start --> and <!-- capacity:end --> in docs/capacity.md.
//
//   npm run bench:capacity            rewrite the tables
//   node bench/capacity.mjs --check   exit 1 when docs/capacity.md differs from what the figures give
//                                     (test/unit/capacity-doc.test.ts runs it)
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DOC = path.join(ROOT, 'docs/capacity.md');
const [START, END] = ['<!-- capacity:start -->', '<!-- capacity:end -->'];
const read = (p) => JSON.parse(fs.readFileSync(path.join(ROOT, p), 'utf8'));

/** The planning rule: a core (server or Redis primary) is planned at 60 % busy at the peak. */
const UTILISATION = 0.6;
const FLEETS = [10_000, 100_000, 1_000_000];
const RATES = [
  { label: 'one reading per 10 s', perSec: 0.1 },
  { label: 'one reading per second', perSec: 1 },
];

const median = (xs) => {
  const v = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

function inputs() {
  const cpu = read('bench/figures/cpu.json');
  const cluster = read('bench/figures/cluster.json');
  const mqtt = read('bench/reports/mqtt.json');
  const load = (id) => cpu.loads.find((l) => l.id === id);
  const variant = (id) => cluster.variants.find((v) => v.id === id);
  const subscribed = mqtt.runs.filter((r) => r.target === 'ours' && r.scenario.startsWith('idle-sub-') && r.ok).map((r) => r.perConnKiB);
  const one = variant('s1');
  const sharded = variant('s6-sharded');
  const classic = variant('s6');
  // classic PUBLISH on Cluster: every primary relays every reading's message; measured as what a
  // primary that owns no shard pays per reading with one shard (the two idle primaries of s1)
  const owner = Math.max(...one.primaryUs);
  const relay = median(one.primaryUs.filter((x) => x !== owner));
  return {
    sources: { cpu: `${cpu.command} (${cpu.date.slice(0, 10)})`, cluster: `${cluster.command} (${cluster.date.slice(0, 10)})`, mqtt: `${mqtt.command} (${mqtt.finishedAt.slice(0, 10)})` },
    server: { mqtt: load('mqtt-qos1').serverUs, batch: load('http-batch').serverUs, single: load('http-single').serverUs },
    redisSingle: { mqtt: load('mqtt-qos1').redisUs, batch: load('http-batch').redisUs, single: load('http-single').redisUs },
    bytesPerEntry: median(cpu.loads.map((l) => l.bytesPerEntry)),
    kibPerDevice: median(subscribed),
    clusterSumSharded: sharded.sumUs,
    clusterSumClassic: classic.sumUs,
    busiest: { one: one.busiestUs, sharded: sharded.busiestUs, classic: classic.busiestUs },
    relayUs: relay,
    primaries: cluster.primaries,
  };
}

const fmt = (x, d = 0) => x.toLocaleString('en', { minimumFractionDigits: d, maximumFractionDigits: d });

function render(i) {
  const out = [];
  out.push('### Measured inputs', '');
  out.push('| figure | value | from |', '|---|---:|---|');
  out.push(`| server CPU per reading, MQTT QoS 1 | ${fmt(i.server.mqtt, 2)} µs | \`${i.sources.cpu}\` |`);
  out.push(`| server CPU per reading, HTTP batch of 100 | ${fmt(i.server.batch, 2)} µs | same |`);
  out.push(`| server CPU per reading, HTTP single POST | ${fmt(i.server.single, 2)} µs | same |`);
  out.push(`| Redis CPU per reading, one Redis, MQTT QoS 1 (the script, nobody subscribed to the live events: EVENTS_PUBLISH=subscribed publishes nothing) | ${fmt(i.redisSingle.mqtt, 2)} µs | same |`);
  out.push(`| Redis memory per stream entry (dedupe keys of the window included) | ${fmt(i.bytesPerEntry)} B | same |`);
  out.push(`| Redis CPU per reading over all primaries, 6 shards, SPUBLISH | ${fmt(i.clusterSumSharded, 2)} µs | \`${i.sources.cluster}\` |`);
  out.push(`| Redis CPU per reading over all primaries, 6 shards, classic PUBLISH | ${fmt(i.clusterSumClassic, 2)} µs | same |`);
  out.push(`| of which each primary pays for relaying classic PUBLISH (per reading of the whole cluster) | ${fmt(i.relayUs, 2)} µs | same (a primary owning no shard, 1 shard) |`);
  out.push(`| busiest primary per reading: 1 shard / 6 shards SPUBLISH / 6 shards PUBLISH (3 primaries) | ${fmt(i.busiest.one, 2)} / ${fmt(i.busiest.sharded, 2)} / ${fmt(i.busiest.classic, 2)} µs | same |`);
  out.push(`| server memory per connected device with a command subscription | ${fmt(i.kibPerDevice, 1)} KiB | \`${i.sources.mqtt}\`, idle-sub |`);
  out.push('');

  out.push('### What a fleet needs (MQTT QoS 1 devices, Redis Cluster with SPUBLISH)', '');
  out.push(`Cores planned at ${Math.round(UTILISATION * 100)} % busy at the peak; instances of one core each (WORKERS=1), plus one so that the fleet survives losing one (N+1); Redis primaries of one core each, plus a replica per primary (ACK_DURABILITY=replicas), at least 3 primaries on Cluster; STREAM_SHARDS a multiple of the primaries (2 per primary leaves room to reshard).`, '');
  out.push('| devices | rate | readings/s | server cores | ingest instances | Redis cores busy (all primaries) | Redis primaries (+ replicas) | STREAM_SHARDS | server memory for connections | Redis memory per hour of readings kept |', '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const devices of FLEETS) {
    for (const rate of RATES) {
      const r = devices * rate.perSec;
      const serverCores = (r * i.server.mqtt) / 1e6 / UTILISATION;
      const instances = Math.max(2, Math.ceil(serverCores) + 1);
      const redisCoreUs = r * i.clusterSumSharded;
      const single = (r * i.redisSingle.mqtt) / 1e6 / UTILISATION <= 1;
      const primaries = single ? 1 : Math.max(3, Math.ceil(redisCoreUs / 1e6 / UTILISATION));
      const shards = single ? 1 : primaries * 2;
      const memConn = (devices * i.kibPerDevice) / 1024 / 1024;
      const memHour = (r * 3600 * i.bytesPerEntry) / 1024 ** 3;
      out.push(`| ${fmt(devices)} | ${rate.label} | ${fmt(r)} | ${fmt(serverCores, 1)} | ${instances} | ${fmt(redisCoreUs / 1e6, 2)} | ${single ? '1 (one Redis, no Cluster needed)' : `${primaries} (+ ${primaries})`} | ${shards} | ${fmt(memConn, 2)} GiB | ${fmt(memHour, 1)} GiB |`);
    }
  }
  out.push('');
  out.push('### Classic PUBLISH against SPUBLISH on Cluster', '');
  const cap = (UTILISATION * 1e6) / i.relayUs;
  out.push(
    `With classic PUBLISH every primary relays every reading's message (${fmt(i.relayUs, 2)} µs each, whatever shard it belongs to), so a primary's load is its share of the scripts plus the whole cluster's relaying: no number of primaries takes a cluster past about ${fmt(Math.round(cap / 1000) * 1000)} readings/s at ${Math.round(UTILISATION * 100)} % (${fmt(UTILISATION, 1)} s of core per s ÷ ${fmt(i.relayUs, 2)} µs). 1,000,000 devices at one reading per second need EVENTS_PUBSUB=sharded; at one per 10 s (100,000 readings/s) classic still fits, but relaying alone takes ${fmt((1e5 * i.relayUs) / 1e4)} % of every primary's core (${fmt(((1e5 * i.relayUs) / 1e6 / UTILISATION) * 100)} % of the ${Math.round(UTILISATION * 100)} % planned), whatever the number of primaries.`,
  );
  return out.join('\n');
}

const doc = fs.readFileSync(DOC, 'utf8');
if (!doc.includes(START) || !doc.includes(END)) throw new Error(`${DOC} lacks the ${START} … ${END} markers`);
const next = `${doc.slice(0, doc.indexOf(START) + START.length)}\n${render(inputs())}\n${doc.slice(doc.indexOf(END))}`;
if (process.argv.includes('--check')) {
  if (next !== doc) {
    console.error('docs/capacity.md is not what bench/figures give: run npm run bench:capacity');
    process.exit(1);
  }
  console.log('docs/capacity.md matches the measured figures');
} else {
  fs.writeFileSync(DOC, next);
  console.log('docs/capacity.md tables rewritten from bench/figures and bench/reports/mqtt.json');
}
