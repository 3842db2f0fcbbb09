/**
 * Scenario (SCENARIO_LONG=1 only): a 10-minute soak at half capacity, HTTP and MQTT QoS 1.
 * Capacity is set as in overload.test.ts: the TCP proxy limits server → Redis to
 * LINK_BYTES_PER_S and a warm-up measures the bytes per reading. Reports the server's RSS growth
 * slope (least squares over minutes 1 to 10, sampled every 250 ms) and fails on any
 * acknowledged reading lost, on a crash, or on RSS growing faster than SLOPE_BOUND_MIB_PER_MIN.
 */
import { expect, test } from 'bun:test';
import { expectNothingLost, LONG, Scenario, sleep, useScenario } from './lib/scenario.ts';

const LINK_BYTES_PER_S = 1_000_000;
const SOAK_MS = Number(process.env.SCENARIO_SOAK_MS ?? 600_000);
const RSS_BOUND_MIB = 250;
const SLOPE_BOUND_MIB_PER_MIN = 2;

// the stack starts only for the long run
const scenario = LONG ? useScenario({ proxy: true }) : undefined;

test.skipIf(!LONG)(`scenario - soak at half capacity for ${SOAK_MS / 60_000} min: RSS slope, nothing lost`, async () => {
  const s = scenario!;
  const sc = await new Scenario('soak', s.faults, s.stack.client).start({ httpRate: 300, mqttRate: 200, http: { batchShare: 0.8 } });
  const { capacity } = await sc.capLink(LINK_BYTES_PER_S);
  sc.setRates(0.3 * capacity, 0.2 * capacity);
  const from = Date.now();
  s.faults.timeline.push({ t: from, what: `link ${LINK_BYTES_PER_S / 1000} kB/s, offering ${Math.round(capacity / 2)} readings/s` });
  const rssAt: number[] = [];
  for (let m = 0; m * 60_000 < SOAK_MS; m++) {
    await sleep(Math.min(60_000, SOAK_MS - m * 60_000));
    rssAt.push(Math.round(s.faults.server.rssMiB()));
  }
  const to = Date.now();
  const alive = s.faults.server.proc.exitCode === null && s.faults.server.proc.signalCode === null;
  const slope = sc.sampler.rssSlopeMiBPerMin(from + Math.min(60_000, SOAK_MS / 10), to);
  const r = await sc.finish({
    soak_s: SOAK_MS / 1000,
    capacity_per_s: Math.round(capacity),
    offered_per_s: Math.round([...sc.tracker.offered.values()].filter((o) => o.at >= from && o.at < to).length / ((to - from) / 1000)),
    accepted_per_s: Math.round(sc.tracker.rate(from, to)),
    rss_slope_mib_per_min: Math.round(slope * 100) / 100,
    rss_by_minute_mib: rssAt,
    server_alive: alive,
    ack_latency_ms: (([p50, p99]) => ({ p50, p99 }))(sc.tracker.latency(from, to)),
  }, { settleMs: 60_000 });

  expect(alive).toBe(true);
  expectNothingLost(r);
  expect(r.summary.peak_rss_mib as number).toBeLessThan(RSS_BOUND_MIB);
  expect(slope).toBeLessThan(SLOPE_BOUND_MIB_PER_MIN);
  expect(r.acknowledged).toBe(r.offered);
}, SOAK_MS + 180_000);
