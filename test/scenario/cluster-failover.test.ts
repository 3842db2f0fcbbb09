/**
 * Scenarios on a Redis Cluster (3 primaries, 1 replica each) with STREAM_SHARDS=6 and two server
 * instances, at ACK_DURABILITY=replicas (a reading is acknowledged once its shard's replica has it):
 *
 * 1. A primary is SIGKILLed under HTTP and MQTT QoS 1 load on both instances. Its replica is
 *    promoted; the killed node is started again (as a supervisor would) and rejoins as the new
 *    primary's replica. Nothing acknowledged is lost or stored twice; while the promoted primary
 *    has no replica no reading of its shards is acknowledged (WAIT confirms none); the recovery
 *    time of the shards it served is reported, and the other shards never stop.
 * 2. `redis-cli --cluster reshard` moves the slots of one shard's stream (with its dedupe keys)
 *    to another primary under the same load: nothing acknowledged is lost or stored twice.
 *
 * Each prints one JSON summary line (SCENARIO_REPORT appends it to a file); the figures are
 * quoted in docs/redis-cluster.md.
 */
import { describe, expect, test } from 'bun:test';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { check, readStreams, type CheckResult } from './lib/checker.ts';
import { HttpLoad } from './lib/http-load.ts';
import { MqttLoad } from './lib/mqtt-load.ts';
import { expectNothingLost, LONG, SCENARIO_ENV } from './lib/scenario.ts';
import { AckTracker } from './lib/tracker.ts';
import { appendFileSync } from 'node:fs';

const SHARDS = 6;

describe('scenario - Redis Cluster, 6 shards, 2 instances, ACK_DURABILITY=replicas', () => {
  const stack = useStack({ ...SCENARIO_ENV, ACK_DURABILITY: 'replicas', ACK_REPLICAS: '1', ACK_WAIT_TIMEOUT_MS: '1000' }, { cluster: { shards: SHARDS }, servers: 2 });

  /** HTTP load spread over both instances, one MQTT load on each, one tracker for all. */
  async function startLoad() {
    const tracker = new AckTracker();
    const [a, b] = stack.servers;
    let turn = 0;
    const http = new HttpLoad({ base: () => (turn++ % 2 ? b! : a!).base, tracker, rate: 300, devices: 60 }).start();
    const mqtt = await Promise.all([
      MqttLoad.start({ url: `mqtt://127.0.0.1:${a!.mqttPort}`, tracker, rate: 150, prefix: 'scn-a' }),
      MqttLoad.start({ url: `mqtt://127.0.0.1:${b!.mqttPort}`, tracker, rate: 150, prefix: 'scn-b' }),
    ]);
    return { tracker, http, mqtt, t0: Date.now() };
  }

  /** Settles the load, reads every shard and checks it against the tracker; prints the summary. */
  async function finish(load: Awaited<ReturnType<typeof startLoad>>, name: string, extra: Record<string, unknown>): Promise<CheckResult & { unresolved: number }> {
    const duration = (Date.now() - load.t0) / 1000;
    const left = await Promise.all([load.http.settle(20_000), ...load.mqtt.map((m) => m.settle(20_000))]);
    await Promise.all(load.mqtt.map((m) => m.end()));
    const r = check(load.tracker, await readStreams(stack.client, stack.layout.streams()));
    const unresolved = left.reduce((x, y) => x + y, 0);
    const line = JSON.stringify({
      scenario: name,
      long: LONG,
      duration_s: Math.round(duration * 10) / 10,
      offered: r.offered,
      acknowledged: r.acknowledged,
      stored: r.stored,
      lost: r.lost,
      duplicated: r.duplicated,
      unresolved,
      http: { ...r.byTransport.http, answers: load.tracker.answers.http },
      mqtt: { ...r.byTransport.mqtt, answers: load.tracker.answers.mqtt },
      ...extra,
    });
    console.log(line);
    if (process.env.SCENARIO_REPORT) appendFileSync(process.env.SCENARIO_REPORT, `${line}\n`);
    return { ...r, unresolved };
  }

  const deviceOf = (key: string) => key.slice(0, key.indexOf('|'));
  /** Load under way: this many readings acknowledged over each transport (more with SCENARIO_LONG). */
  const flowing = (load: Awaited<ReturnType<typeof startLoad>>, what: string) => {
    const n = LONG ? 3000 : 300;
    return waitFor(() => load.tracker.count('http').acknowledged >= n && load.tracker.count('mqtt').acknowledged >= n, 30_000, `${n} readings acknowledged over each transport ${what}`);
  };

  test('scenario - a primary SIGKILLed, its replica promoted, the node back as a replica: nothing acknowledged lost or duplicated', async () => {
    const cluster = stack.cluster;
    const layout = stack.layout;
    const load = await startLoad();
    await flowing(load, 'before the kill');

    // the primary with the most shards (2 or 3 of the 6)
    const owner = new Map<number, number[]>();
    for (const shard of layout.all()) {
      const port = await cluster.primaryFor(layout.stream(shard));
      owner.set(port, [...(owner.get(port) ?? []), shard]);
    }
    const [victim, shards] = [...owner].sort((x, y) => y[1].length - x[1].length)[0]!;
    const affected = (key: string) => shards.includes(layout.shardOf(deviceOf(key)));

    const killedAt = Date.now();
    const kill = await cluster.killPrimary(victim);
    // a supervisor (Kubernetes, systemd) starts the node again: it rejoins as the new primary's replica
    const restartAt = Date.now();
    await cluster.restartNode(kill.killedPort);
    const replicaBackAt = Date.now();
    // the killed primary's shards take readings again over both transports
    await waitFor(() => {
      const r = load.tracker.recovery(killedAt, affected);
      return r.http !== undefined && r.mqtt !== undefined;
    }, 30_000, "readings of the killed primary's shards offered after the kill acknowledged over both transports");

    const recovery = load.tracker.recovery(killedAt, affected);
    const others = load.tracker.recovery(killedAt, (k) => !affected(k));
    const r = await finish(load, 'cluster-failover', {
      killed_primary: victim,
      shards_on_it: shards,
      promoted_ms: kill.promotedMs,
      cluster_stable_ms: kill.recoveryMs,
      replica_back_ms: replicaBackAt - killedAt,
      // the killed primary's shards: until a reading offered after the kill was acknowledged
      recovery_s: recovery,
      other_shards_recovery_s: others,
    });

    expectNothingLost(r);
    expect(r.duplicated).toBe(0);
    expect(r.unresolved).toBe(0);
    // the promoted primary had no replica until the node came back: WAIT confirmed none of its appends
    let early = 0;
    for (const [key, a] of load.tracker.acked) if (affected(key) && a.offeredAt >= killedAt + 50 && a.ackedAt < restartAt) early++;
    expect(early).toBe(0);
    // the killed primary's shards came back; the others hardly paused
    expect(recovery.http).toBeDefined();
    expect(recovery.mqtt).toBeDefined();
    expect(others.http).toBeDefined();
  }, 120_000);

  test('scenario - resharding under load: the slot of a shard stream and its dedupe keys move to another primary, nothing acknowledged lost or duplicated', async () => {
    const cluster = stack.cluster;
    const layout = stack.layout;
    // the streams hold only this scenario's readings (the checker counts any other as foreign)
    for (const stream of layout.streams()) await stack.client.del(stream);
    const load = await startLoad();
    await flowing(load, 'before the reshard');

    // the shard whose stream's slot is nearest the start of its primary's range: redis-cli moves
    // the lowest slots first, so that many slots take the stream (and every key of its devices) along
    const primaries = await cluster.primaries();
    let pick: { shard: number; from: number; to: number; count: number } | undefined;
    for (const shard of layout.all()) {
      const slot = await cluster.slotOf(layout.stream(shard));
      const from = primaries.find((p) => p.slots.some(([x, y]) => slot >= x && slot <= y))!;
      const count = slot - Math.min(...from.slots.map(([x]) => x)) + 1;
      if (from.slots.length === 1 && (!pick || count < pick.count)) pick = { shard, from: from.port, to: primaries.find((p) => p !== from)!.port, count };
    }
    expect(pick).toBeDefined();
    const { shard, from, to, count } = pick!;
    const entriesBefore = (await stack.client.xlen(layout.stream(shard))) as number;
    const { ms } = await cluster.reshard(from, to, count);
    // the moved shard takes readings again at its new primary
    const movedAt = Date.now();
    const moved = (key: string) => layout.shardOf(deviceOf(key)) === shard;
    await waitFor(() => Object.keys(load.tracker.recovery(movedAt, moved)).length > 0, 30_000, 'a reading of the moved shard offered after the reshard acknowledged');

    const r = await finish(load, 'cluster-reshard', { shard, stream_entries_at_move: entriesBefore, slots_moved: count, from, to, reshard_ms: ms });
    expect(await cluster.primaryFor(layout.stream(shard))).toBe(to);
    expectNothingLost(r);
    expect(r.duplicated).toBe(0);
    expect(r.unresolved).toBe(0);
  }, 120_000);
});
