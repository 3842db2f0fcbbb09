/**
 * Scenario: 200 ms added to every round trip between the server and Redis (the TCP proxy holds
 * each server → Redis chunk 200 ms) for 4 s (SCENARIO_LONG=1: 20 s) under HTTP and MQTT QoS 1
 * load. Acknowledgements slow down by the latency, closed-loop HTTP clients (32 requests open at
 * most) get less through, in-flight readings stay under MAX_IN_FLIGHT, and nothing is lost.
 */
import { expect, test } from 'bun:test';
import { expectNothingLost, LONG, Scenario, sleep, useScenario } from './lib/scenario.ts';

const LATENCY_MS = 200;
const SLOW_MS = LONG ? 20_000 : 4000;
const MAX_IN_FLIGHT = 2000;

const s = useScenario({ proxy: true, env: { MAX_IN_FLIGHT: String(MAX_IN_FLIGHT) } });

test(`scenario - ${LATENCY_MS} ms latency to Redis: slower, bounded in flight, nothing lost`, async () => {
  const sc = await new Scenario('redis-latency', s.faults, s.stack.client).start({ httpRate: 400, mqttRate: 300 });
  await sleep(2000);
  const slowFrom = Date.now();
  s.faults.link.latency(LATENCY_MS, 'up');
  s.faults.timeline.push({ t: slowFrom, what: `proxy +${LATENCY_MS} ms server → Redis` });
  await sleep(SLOW_MS);
  const slowTo = Date.now();
  s.faults.link.heal();
  s.faults.timeline.push({ t: slowTo, what: 'proxy healed' });
  await sleep(2000);
  const t = sc.tracker;
  const [p50Before, p99Before] = t.latency(sc.t0, slowFrom);
  // readings offered once the first slow round trips were under way
  const [p50Slow, p99Slow] = t.latency(slowFrom + 500, slowTo);
  const phase = (from: number, to: number) => ({ http: Math.round(t.rate(from, to, 'http')), mqtt: Math.round(t.rate(from, to, 'mqtt')) });
  const r = await sc.finish({
    latency_ms: LATENCY_MS,
    slow_s: SLOW_MS / 1000,
    max_in_flight: MAX_IN_FLIGHT,
    acks_per_s_before: phase(sc.t0 + 500, slowFrom),
    acks_per_s_slow: phase(slowFrom + 500, slowTo),
    ack_latency_ms_before: { p50: p50Before, p99: p99Before },
    ack_latency_ms_slow: { p50: p50Slow, p99: p99Slow },
    peak_in_flight_slow: sc.sampler.peakInFlight(slowFrom, slowTo + 500),
  }, { recoveryFrom: slowTo });

  expectNothingLost(r);
  expect(p50Slow!).toBeGreaterThanOrEqual(LATENCY_MS);
  expect(p50Before!).toBeLessThan(LATENCY_MS / 2);
  // every sample of ingest_in_flight under the bound, and no reading refused for it
  expect(r.summary.peak_in_flight as number).toBeLessThanOrEqual(MAX_IN_FLIGHT);
  expect(Object.keys(sc.tracker.answers.http).filter((k) => k.includes('SATURATED'))).toEqual([]);
  expect(r.summary.unresolved).toEqual({ http: 0, mqtt: 0 });
  expect(r.acknowledged).toBe(r.offered);
}, 90_000);
