/**
 * Scenario (issue 20): a rolling restart of three instances on one Redis under QoS 1 load from a
 * fleet whose devices each hold a persistent session (v3.1.1 and v5 alternating) and a command
 * subscription `cmd/{device}`, while a controller publishes one QoS 1 command per device per
 * second. Each device goes round the three instances (MQTT.js `servers`, the next one on each
 * reconnect: what a TCP load balancer does). The instances are restarted one after the other:
 * SIGTERM (its sessions handed to the others, docs/mqtt-cluster.md), wait for the exit, start it
 * again on its ports, wait until every device is connected, next.
 *
 * Checked: every acknowledged reading stored once; every command the server acknowledged to the
 * controller received by its device (none lost), each once, a second copy only flagged DUP; no
 * device found its session gone (sessionPresent false after its first connect); every device
 * connected again within a stated time of each stop.
 * Short run (npm test): 200 devices, 100 readings/s; SCENARIO_LONG=1: 1,000 devices, 500 readings/s.
 */
import { expect, test } from 'bun:test';
import mqtt, { type MqttClient } from 'mqtt';
import { useStack } from '../helpers/stack.ts';
import type { ServerProcess } from '../helpers/spawn-server.ts';
import { waitFor } from '../helpers/wait.ts';
import { check, readStreams } from './lib/checker.ts';
import { MqttLoad } from './lib/mqtt-load.ts';
import { expectNothingLost, LONG, SCENARIO_ENV } from './lib/scenario.ts';
import { AckTracker } from './lib/tracker.ts';

const DEVICES = LONG ? 1000 : 200;
const READINGS_PER_S = LONG ? 500 : 100;
/** How long a device may take to be connected again after its instance stopped (stated in docs/mqtt-cluster.md). */
const RECONNECT_BOUND_MS = 10_000;

const stack = useStack(SCENARIO_ENV, { servers: 3 });

test(`scenario - rolling restart of 3 instances: ${DEVICES} devices with persistent sessions and command subscriptions, 1 command per device per second: nothing acknowledged lost, each command once`, async () => {
  const servers: ServerProcess[] = [...stack.servers];
  const urls = servers.map((s) => `mqtt://127.0.0.1:${s.mqttPort}`);
  const tracker = new AckTracker();
  const load = await MqttLoad.start({ urls, tracker, rate: READINGS_PER_S, clients: DEVICES, prefix: `rr-${Date.now()}-`, commands: true, window: 16 });
  await waitFor(() => load.events.filter((e) => e.ev === 'sub').length >= DEVICES, 30_000, 'every device subscribed');
  const deviceIds = Array.from({ length: DEVICES }, (_, i) => i);

  // the controller: on the instances like the devices, persistent, resends what was not acknowledged
  const controller: MqttClient = stack.track(
    mqtt.connect(urls[0]!, {
      servers: servers.map((s) => ({ host: '127.0.0.1', port: s.mqttPort })),
      protocolVersion: 5,
      clientId: `controller-${Date.now()}`,
      clean: false,
      properties: { sessionExpiryInterval: 300 },
      reconnectPeriod: 250,
    }),
  );
  controller.on('error', () => {});
  await new Promise<void>((resolve) => controller.once('connect', () => resolve()));
  const topicOf = (i: number) => `cmd/${load.deviceId(i)}`;
  const acked = new Set<string>();
  let round = 0;
  let commanding = true;
  const publishRound = (r: number) => {
    for (const i of deviceIds) controller.publish(topicOf(i), `${r}`, { qos: 1 }, (err) => err || acked.add(`${i}|${r}`));
  };
  // probes until every device has one: every instance knows every route
  let probe = 0;
  await waitFor(
    () => {
      publishRound(-++probe);
      return deviceIds.every((i) => (load.commands.get(i)?.length ?? 0) > 0);
    },
    20_000,
    'a first command on every device',
  );
  const firstRound = 1;
  round = firstRound;
  const ticker = (async () => {
    while (commanding) {
      const started = Date.now();
      publishRound(round++);
      await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - started))));
    }
  })();

  /** When every device whose connection closed since `t` was connected again (ms after `t`), undefined while one is not. */
  const allBack = (t: number) => {
    const closedAt = new Map<number, number>();
    let lastConnect = t;
    for (const e of load.events) {
      if (e.t < t) continue;
      if (e.ev === 'close') closedAt.set(e.c, e.t);
      else if (e.ev === 'conn' && closedAt.delete(e.c)) lastConnect = Math.max(lastConnect, e.t);
    }
    return closedAt.size === 0 ? lastConnect - t : undefined;
  };
  const reconnects: number[] = [];
  for (let k = 0; k < servers.length; k++) {
    const since = round;
    await waitFor(() => round >= since + 1, 10_000, 'commands flowing');
    const stoppedAt = Date.now();
    expect(await servers[k]!.stop()).toBe(0);
    // every device of the stopped instance went round to the others
    await waitFor(() => allBack(stoppedAt) !== undefined, RECONNECT_BOUND_MS + 20_000, 'every device connected again');
    reconnects.push(allBack(stoppedAt)!);
    const again = await servers[k]!.restart();
    servers[k] = again;
    stack.cleanup(() => again.stop());
  }
  // two more rounds after the last restart, then stop commanding
  const last = round;
  await waitFor(() => round >= last + 2, 10_000, 'rounds after the restarts');
  commanding = false;
  await ticker;
  const unsettled = await load.settle(20_000);
  // every acknowledged command arrives (what is still on its way lands within the wait)
  const wanted = [...acked].filter((k) => Number(k.split('|')[1]) >= firstRound);
  const got = (i: number) => new Set((load.commands.get(i) ?? []).map((c) => c.payload));
  await waitFor(() => wanted.every((k) => got(Number(k.split('|')[0])).has(k.split('|')[1]!)), 20_000, 'every acknowledged command delivered').catch(() => {});
  const missing = wanted.filter((k) => !got(Number(k.split('|')[0])).has(k.split('|')[1]!));
  let duplicatesWithoutDup = 0;
  let duplicatesFlagged = 0;
  // each command sent once without DUP; a further copy only as a DUP resend (of one unacknowledged when a connection closed)
  for (const list of load.commands.values()) {
    const fresh = new Set<string>();
    for (const c of list) {
      if (c.payload.startsWith('-')) continue; // a probe
      if (c.dup) duplicatesFlagged++;
      else if (fresh.has(c.payload)) duplicatesWithoutDup++;
      else fresh.add(c.payload);
    }
  }
  const sessionsLost = load.events.filter((e) => e.ev === 'sub').length - DEVICES;
  await load.end();
  const r = check(tracker, await readStreams(stack.client, stack.layout.streams()));
  const summary = {
    scenario: 'mqtt-rolling-restart',
    long: LONG,
    devices: DEVICES,
    readings_acknowledged: r.acknowledged,
    readings_lost: r.lost,
    readings_unsettled: unsettled,
    commands_acknowledged: wanted.length,
    commands_lost: missing.length,
    commands_lost_sample: missing.slice(0, 10),
    commands_dup_resends: duplicatesFlagged,
    commands_duplicated_not_flagged: duplicatesWithoutDup,
    sessions_lost: sessionsLost,
    all_devices_back_ms: reconnects,
  };
  console.log(JSON.stringify(summary));
  expectNothingLost(r);
  expect(missing).toEqual([]);
  expect(duplicatesWithoutDup).toBe(0);
  expect(sessionsLost).toBe(0);
  for (const ms of reconnects) expect(ms).toBeLessThan(RECONNECT_BOUND_MS);
}, 300_000);
