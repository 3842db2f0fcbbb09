/**
 * Scenario: offered load at twice the capacity, 6 s (SCENARIO_LONG=1: 60 s).
 *
 * Capacity is made small and known, so that 2× can be offered from this machine's 2 shared
 * cores (the real one, tens of thousands of readings/s, needs more CPU than the load generators
 * have): the TCP proxy limits server → Redis to LINK_BYTES_PER_S, and a warm-up below capacity
 * measures the bytes per reading on that link, so capacity = LINK_BYTES_PER_S / bytes per reading.
 * Then HTTP (no resends: a refused reading stays refused) and MQTT QoS 1 together offer 2× that.
 * The server must stay up, its RSS under RSS_BOUND_MIB, its accepted throughput near capacity
 * (≥ 80 %; refusals are 503 QUEUE_SATURATED and held MQTT acks), and nothing acknowledged lost.
 * MAX_IN_FLIGHT is 0.6 s of this capacity, as the default 50,000 is about 0.7 s of the real one.
 */
import { expect, test } from 'bun:test';
import { expectNothingLost, LONG, Scenario, sleep, useScenario } from './lib/scenario.ts';

const LINK_BYTES_PER_S = 250_000;
const OVERLOAD_MS = LONG ? 60_000 : 6_000;
const RSS_BOUND_MIB = 250;
const MAX_IN_FLIGHT = 300;

const s = useScenario({ proxy: true, env: { MAX_IN_FLIGHT: String(MAX_IN_FLIGHT), REDIS_COMMAND_TIMEOUT_MS: '2000' } });

test(`scenario - 2× capacity for ${OVERLOAD_MS / 1000} s: no crash, bounded memory, throughput near capacity, nothing lost`, async () => {
  const sc = await new Scenario('overload', s.faults, s.stack.client).start({ httpRate: 300, mqttRate: 200, http: { resend: false, concurrency: 128 } });
  const link = s.faults.link;
  const { bytesPerReading, capacity } = await sc.capLink(LINK_BYTES_PER_S);
  sc.setRates(1.2 * capacity, 0.8 * capacity);
  const from = Date.now();
  s.faults.timeline.push({ t: from, what: `link ${LINK_BYTES_PER_S / 1000} kB/s, offering ${Math.round(2 * capacity)} readings/s` });
  await sleep(OVERLOAD_MS);
  const to = Date.now();
  const alive = s.faults.server.proc.exitCode === null && s.faults.server.proc.signalCode === null;
  link.heal();
  sc.setRates(300, 200);
  s.faults.timeline.push({ t: to, what: 'link unlimited, load back to 500 readings/s' });
  await sleep(2000);
  // from 2 s in: the queues in the server and on the link have filled
  const accepted = sc.tracker.rate(from + 2000, to);
  const offeredRate = [...sc.tracker.offered.values()].filter((o) => o.at >= from + 2000 && o.at < to).length / ((to - from - 2000) / 1000);
  const r = await sc.finish({
    overload_s: OVERLOAD_MS / 1000,
    link_bytes_per_s: LINK_BYTES_PER_S,
    bytes_per_reading: Math.round(bytesPerReading),
    capacity_per_s: Math.round(capacity),
    offered_per_s: Math.round(offeredRate),
    accepted_per_s: Math.round(accepted),
    accepted_of_capacity: Math.round((accepted / capacity) * 100) / 100,
    rss_bound_mib: RSS_BOUND_MIB,
    max_in_flight: MAX_IN_FLIGHT,
    server_alive: alive,
  }, { recoveryFrom: to });

  expect(alive).toBe(true);
  expectNothingLost(r);
  expect(r.summary.peak_rss_mib as number).toBeLessThan(RSS_BOUND_MIB);
  expect(r.summary.peak_in_flight as number).toBeLessThanOrEqual(MAX_IN_FLIGHT);
  expect(accepted / capacity).toBeGreaterThan(0.8);
  expect(sc.tracker.answers.http['503 INGEST_ERR_QUEUE_SATURATED']).toBeGreaterThan(0);
}, 180_000);
