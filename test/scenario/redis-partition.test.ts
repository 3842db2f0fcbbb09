/**
 * Scenario: the server's connections to Redis go silent for good under HTTP and MQTT QoS 1
 * load (the proxy drops their bytes both ways, without FIN or RST: Redis' host gone, a failover
 * to another address, NAT state dropped), while new connections to Redis work. The server must
 * give up on the dead connection and reconnect: new readings are acknowledged again within
 * RECOVERY_BOUND_S, and nothing acknowledged is lost. (TCP itself would notice only after its
 * retransmissions give up, ~15 minutes with Linux defaults.)
 */
import { expect, test } from 'bun:test';
import { expectNothingLost, Scenario, sleep, useScenario } from './lib/scenario.ts';

const RECOVERY_BOUND_S = 10;

const s = useScenario({ proxy: true });

test('scenario - Redis connections silently dead: the server reconnects, new readings acknowledged again, nothing lost', async () => {
  const sc = await new Scenario('redis-partition', s.faults, s.stack.client).start({ httpRate: 400, mqttRate: 300 });
  await sleep(2000);
  const silencedAt = Date.now();
  const n = s.faults.link.silence();
  s.faults.timeline.push({ t: silencedAt, what: `proxy: ${n} open connection(s) silenced, new ones forwarded` });
  const deadline = silencedAt + RECOVERY_BOUND_S * 1000;
  while (Date.now() < deadline && sc.tracker.recovery(silencedAt + 1000).http === undefined) await sleep(200);
  await sleep(2000);
  const reconnects = s.faults.link.stats.accepted;
  const r = await sc.finish({ proxy_connections_accepted: reconnects }, { recoveryFrom: silencedAt });

  expectNothingLost(r);
  expect(r.summary.recovery_s as number).toBeLessThan(RECOVERY_BOUND_S);
  expect(r.summary.unresolved).toEqual({ http: 0, mqtt: 0 });
}, 90_000);
