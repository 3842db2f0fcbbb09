/**
 * Scenario: SIGTERM to the server under HTTP and MQTT QoS 1 load, while Redis' replies take
 * 300 ms (so the drain has readings in flight to finish). The drain ends within
 * SHUTDOWN_TIMEOUT_MS with exit 0, every reading answered 202 / PUBACKed is stored, v5 clients
 * are told DISCONNECT 0x8B (server shutting down; v3.1.1 has no reason codes: the connection
 * closes), and after a restart on the same ports the clients' resends are stored once each.
 */
import { expect, test } from 'bun:test';
import { expectNothingLost, Scenario, sleep, useScenario } from './lib/scenario.ts';

const SHUTDOWN_TIMEOUT_MS = 5000;
const REPLY_DELAY_MS = 300;
const SERVER_SHUTTING_DOWN = 0x8b;

const s = useScenario({ proxy: true, env: { SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS) } });

test('scenario - SIGTERM mid-load: drain in time, exit 0, v5 clients told 0x8B, nothing lost', async () => {
  const sc = await new Scenario('server-sigterm', s.faults, s.stack.client).start({ httpRate: 400, mqttRate: 300 });
  await sleep(1500);
  s.faults.link.latency(REPLY_DELAY_MS, 'down');
  s.faults.timeline.push({ t: Date.now(), what: `proxy +${REPLY_DELAY_MS} ms Redis → server` });
  await sleep(500);
  const old = s.faults.server;
  const inFlightAtSignal = sc.http.open;
  const { code, drainMs, at } = await s.faults.termServer();
  const drainedLog = old.logs.find((l) => l.msg === 'drained, exiting');
  s.faults.link.heal();
  const backAt = await s.faults.restartServer();
  await sleep(2500);
  const v5Clients = Math.ceil(sc.mqtt.clients / 2);
  const r = await sc.finish(() => ({
    shutdown_timeout_ms: SHUTDOWN_TIMEOUT_MS,
    exit_code: code,
    drain_ms: drainMs,
    drain_logged_ms: drainedLog?.ms ?? null,
    http_requests_open_at_sigterm: inFlightAtSignal,
    server_down_s: (backAt - at) / 1000,
    mqtt_disconnect_codes: sc.mqtt.disconnectCodes(at).map((c) => `0x${c.toString(16)}`),
    mqtt_reconnected: sc.mqtt.reconnectedAfter(at),
  }), { recoveryFrom: backAt });

  expect(code).toBe(0);
  expect(drainedLog).toBeDefined();
  expect(drainMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS);
  // every v5 client got DISCONNECT 0x8B, nobody anything else
  expect(sc.mqtt.disconnectCodes(at)).toEqual(new Array(v5Clients).fill(SERVER_SHUTTING_DOWN));
  expect(sc.mqtt.reconnectedAfter(at)).toBe(sc.mqtt.clients);
  expectNothingLost(r);
  expect(r.summary.unresolved).toEqual({ http: 0, mqtt: 0 });
  expect(r.acknowledged).toBe(r.offered);
}, 90_000);
