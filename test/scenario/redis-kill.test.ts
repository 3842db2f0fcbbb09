/**
 * Scenario: redis-server SIGKILLed under HTTP and MQTT QoS 1 load and started again on the same
 * port and AOF (appendonly yes, appendfsync always; the server at ACK_DURABILITY=fsync). Every
 * acknowledged reading must be in the stream afterwards, none twice; while Redis is gone nothing
 * new is acknowledged (HTTP 503, MQTT acks held); once it is back, new readings get through,
 * the HTTP clients' resends and MQTT's held publishes are stored and acknowledged.
 */
import { expect, test } from 'bun:test';
import { expectNothingLost, LONG, Scenario, sleep, useScenario } from './lib/scenario.ts';

const s = useScenario({ redis: ['--appendonly', 'yes', '--appendfsync', 'always'], env: { ACK_DURABILITY: 'fsync' } });

test('scenario - Redis SIGKILL and restart (appendfsync always): nothing acknowledged is lost', async () => {
  const sc = await new Scenario('redis-kill', s.faults, s.stack.client).start({ httpRate: 400, mqttRate: 300 });
  await sleep(2000);
  const killedAt = await s.faults.killRedis();
  await sleep(LONG ? 5000 : 1500);
  const downUntil = Date.now();
  const backAt = await s.faults.restartRedis();
  await sleep(3000);
  const r = await sc.finish({ redis_down_s: (backAt - killedAt) / 1000 }, { recoveryFrom: backAt });

  expectNothingLost(r);
  // no reading offered after the kill (50 ms for the signal to land) was acknowledged before the restart
  expect(sc.tracker.ackedWithin(killedAt + 50, downUntil)).toBe(0);
  expect(sc.tracker.answers.http['503 INGEST_ERR_QUEUE_UNAVAILABLE']).toBeGreaterThan(0);
  // and afterwards everything got through: resends (HTTP) and held publishes (MQTT)
  expect(r.summary.unresolved).toEqual({ http: 0, mqtt: 0 });
  expect(r.acknowledged).toBe(r.offered);
  expect(r.summary.recovery_s as number).toBeLessThan(5);
}, 60_000);
