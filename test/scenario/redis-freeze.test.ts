/**
 * Scenario: redis-server frozen (SIGSTOP) under HTTP and MQTT QoS 1 load: 3 s in the short
 * run, 10 s with SCENARIO_LONG=1; then SIGCONT. Meanwhile nothing is acknowledged (HTTP 503,
 * MQTT acks held), the server's RSS stays under RSS_BOUND_MIB, and after the thaw new readings
 * are acknowledged within RECOVERY_BOUND_S; the resent and held ones are stored once each.
 */
import { expect, test } from 'bun:test';
import { expectNothingLost, LONG, Scenario, sleep, useScenario } from './lib/scenario.ts';

const FREEZE_MS = LONG ? 10_000 : 3000;
/** The server's RSS ceiling through the freeze (it idles at ~100 MiB under this load). */
const RSS_BOUND_MIB = 250;
/** New readings acknowledged within this long after SIGCONT (breaker probe 1 s, MQTT retry backoff up to 2 s). */
const RECOVERY_BOUND_S = 5;

const s = useScenario();

test(`scenario - Redis frozen ${FREEZE_MS / 1000} s: 503s and held acks, bounded memory, recovery after SIGCONT`, async () => {
  const sc = await new Scenario('redis-freeze', s.faults, s.stack.client).start({ httpRate: 400, mqttRate: 300 });
  await sleep(2000);
  const frozenAt = s.faults.freezeRedis();
  await sleep(FREEZE_MS);
  const thawedAt = s.faults.thawRedis();
  await sleep(3000);
  const r = await sc.finish({ freeze_s: FREEZE_MS / 1000, rss_bound_mib: RSS_BOUND_MIB, breaker_opened: sc.sampler.breakerSeen(frozenAt, thawedAt + 1000), peak_rss_frozen_mib: Math.round(sc.sampler.peakRssMiB(frozenAt, thawedAt)) }, { recoveryFrom: thawedAt });

  expectNothingLost(r);
  // no reading offered while Redis was frozen (50 ms for the signal to land) was acknowledged before the thaw
  expect(sc.tracker.ackedWithin(frozenAt + 50, thawedAt)).toBe(0);
  expect(sc.tracker.answers.http['503 INGEST_ERR_QUEUE_UNAVAILABLE']).toBeGreaterThan(0);
  expect(sc.mqtt.nacks).toEqual([]);
  expect(r.summary.peak_rss_mib as number).toBeLessThan(RSS_BOUND_MIB);
  expect(r.summary.recovery_s as number).toBeLessThan(RECOVERY_BOUND_S);
  expect(r.summary.unresolved).toEqual({ http: 0, mqtt: 0 });
  expect(r.acknowledged).toBe(r.offered);
}, 90_000);
