/**
 * Scenario: the server SIGKILLed under HTTP and MQTT QoS 1 load and started again on the same
 * ports a second later, while Redis' replies take 300 ms (so that some stored readings are not
 * acknowledged yet when it dies). Every reading acknowledged before the kill is in the stream; the
 * HTTP clients resend what got no answer, and the MQTT clients (persistent sessions: v3.1.1
 * clean session 0, v5 Session Expiry Interval) reconnect and resend their unacknowledged
 * publishes with DUP; dedupe keeps exactly one copy of each reading, so in the end every
 * offered reading is stored once and acknowledged.
 */
import { expect, test } from 'bun:test';
import { metricSum } from './lib/sampler.ts';
import { expectNothingLost, LONG, Scenario, sleep, useScenario } from './lib/scenario.ts';

// Redis' replies are held 300 ms by the proxy around the kill, so that readings Redis already
// stored are still unacknowledged when the server dies: their resends must not be stored again
const REPLY_DELAY_MS = 300;
const s = useScenario({ proxy: true });

test('scenario - server SIGKILL mid-load: acknowledged readings stored, persistent MQTT sessions resend, one copy each', async () => {
  const sc = await new Scenario('server-kill', s.faults, s.stack.client).start({ httpRate: 400, mqttRate: 300 });
  await sleep(1500);
  s.faults.link.latency(REPLY_DELAY_MS, 'down');
  s.faults.timeline.push({ t: Date.now(), what: `proxy +${REPLY_DELAY_MS} ms Redis → server` });
  await sleep(500);
  const killedAt = await s.faults.killServer();
  const ackedAtKill = sc.tracker.acked.size;
  await sleep(LONG ? 5000 : 1000);
  s.faults.link.heal();
  const backAt = await s.faults.restartServer();
  await sleep(3000);
  // MQTT readings produced before the kill and acknowledged by the new process: the sessions' resends
  const resent = () => [...sc.tracker.acked.values()].filter((a) => a.transport === 'mqtt' && a.offeredAt < killedAt && a.ackedAt > backAt).length;
  const r = await sc.finish(async () => ({
    server_down_s: (backAt - killedAt) / 1000,
    acked_before_kill: ackedAtKill,
    mqtt_reconnected: sc.mqtt.reconnectedAfter(killedAt),
    mqtt_resent_after_restart: resent(),
    // resends of readings stored before the kill, recognised by dedupe (409 / PUBACK without a second append)
    duplicates_recognised_by_new_server: await metricSum(s.faults.server, 'sensor_data_errors_total', 'error_type="duplicate"'),
  }), { recoveryFrom: backAt });

  expectNothingLost(r);
  expect(ackedAtKill).toBeGreaterThan(500);
  expect(r.duplicated).toBe(0);
  expect(resent()).toBeGreaterThan(0);
  expect(sc.mqtt.reconnectedAfter(killedAt)).toBe(sc.mqtt.clients);
  expect(r.summary.unresolved).toEqual({ http: 0, mqtt: 0 });
  expect(r.acknowledged).toBe(r.offered);
  expect(r.summary.recovery_s as number).toBeLessThan(5);
}, 90_000);
