/**
 * The memory check of issue 16: the floods of findings 2, 5, 7 and 8 run one after the other
 * against one server with the shipped defaults (only MAX_CONNECTIONS_PER_IP off, as if each
 * connection came from its own address), while a Node process polls /live every 20 ms. RSS
 * stays within FLOOD_RSS_BOUND_MIB of where it started and /live's p99 under 50 ms throughout:
 * the claim is that the floods do not stall the server. The server and the sampler run at nice
 * -10 (where the test may renice: root, as in CI), so that a CPU hog beside the suite (stress-ng)
 * takes its CPU from the flood generators (at nice 10) and not from what is judged; where renice is refused,
 * the bound is 50 ms or 4× /live's p99 before any flood when that exceeds 12.5 ms.
 * The figures are printed as one JSON line and quoted in SECURITY.md.
 *
 * Bounded sizes here; `npm run test:security-long` (SECURITY_LONG=1) runs the sizes of the
 * findings (2,000 bodies of 1 MiB, 1,000 filters of 1 KB, 1,000 retained 250 KB publishes).
 */
import { describe, expect, test } from 'bun:test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { ADMIN, registerKey } from '../helpers/identities.ts';
import { onLines } from '../helpers/lines.ts';
import { metricValue, publishQos1, rawConnect, rawSubscribe } from '../helpers/mqtt5.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const LONG = process.env.SECURITY_LONG === '1';
const SIZES = LONG ? { bodies: 2000, connects: 3000, upgrades: 3000, filters: 1000, retained: 1000 } : { bodies: 200, connects: 1500, upgrades: 1500, filters: 150, retained: 60 };
/** Stated in SECURITY.md: what the floods may add to the server's RSS. */
const FLOOD_RSS_BOUND_MIB = 160;
const helper = (name: string) => resolve(import.meta.dir, '../helpers', name);
/**
 * The flood generators run at nice 10 (lowering one's own priority needs no privilege): on a
 * machine where the server cannot be raised to -10 (a container without CAP_SYS_NICE) they still
 * leave the CPU to the server and the sampler, which are what the test judges.
 */
const GENERATOR = ['nice', '-n', '10'];

/** Starts a Node helper; resolves once it printed its first JSON line. */
async function startHelper(name: string, args: string[], { generator = false } = {}): Promise<{ proc: ChildProcess; first: Record<string, unknown>; lines: () => Record<string, unknown>[]; last: () => Promise<Record<string, unknown>> }> {
  const command = [...(generator ? GENERATOR : []), 'node', helper(name), ...args];
  const proc = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
  const out: string[] = [];
  onLines(proc.stdout!, (l) => out.push(l));
  const first = JSON.parse((await waitFor(() => out[0], 60_000, `${name} ready`))!) as Record<string, unknown>;
  const last = async () => {
    const before = out.length;
    proc.kill('SIGTERM');
    return JSON.parse((await waitFor(() => (out.length > before ? out.at(-1) : undefined), 10_000, `${name} done`))!) as Record<string, unknown>;
  };
  const lines = () => out.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { proc, first, lines, last };
}

/** Raises a process to nice -10; false where that is refused (not root). */
function renice(pid: number): boolean {
  return spawnSync('renice', ['-n', '-10', '-p', String(pid)], { stdio: 'ignore' }).status === 0;
}

describe('security - floods without and with credentials leave memory and /live bounded', () => {
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN, MAX_CONNECTIONS_PER_IP: '0' });

  test(`security flood - bodies, CONNECTs, /mqtt upgrades, filters, retained (${LONG ? 'full' : 'bounded'} sizes): RSS within ${FLOOD_RSS_BOUND_MIB} MiB, /live p99 < 50 ms`, async () => {
    const s = stack.server;
    const subscriberKey = await registerKey(s.base, 'flood-subscriber', 'subscriber');
    const deviceKey = await registerKey(s.base, 'flood-retainer');
    const rss0 = s.rssMiB();
    let peak = rss0;
    const sampleRss = setInterval(() => (peak = Math.max(peak, s.rssMiB())), 50);
    // 150 samples (≈ 4 s) of /live before any flood, after a warm-up: the machine's own baseline
    const sampler = await startHelper('live-sampler.mjs', [`${s.base}/live`, '150']);
    const prioritised = renice(s.pid) && renice(sampler.proc.pid!);
    const baseline = (await waitFor(() => sampler.lines().find((l) => l.baseline)?.baseline, 30_000, 'the /live baseline')) as { p99: number };
    const liveBound = prioritised ? 50 : Math.max(50, 4 * baseline.p99);
    const report: Record<string, unknown> = { sizes: SIZES, rss_start_mib: Math.round(rss0), prioritised, live_baseline_ms: baseline, live_bound_ms: liveBound };
    const phases: [string, number][] = [];
    const phase = (name: string) => phases.push([name, Date.now()]);
    try {
      phase('bodies');
      // finding 7: bodies with a wrong key, refused from the headers
      const bodies = spawnSync(GENERATOR[0]!, [...GENERATOR.slice(1), 'node', helper('http-flood.mjs'), String(s.port), String(SIZES.bodies), String(1 << 20), JSON.stringify({ 'x-api-key': 'nbk_wrong' })], { encoding: 'utf8', timeout: 120_000 });
      expect(bodies.status).toBe(0);
      const ends = JSON.parse(bodies.stdout) as Record<string, number>;
      expect(Object.keys(ends).filter((k) => k !== '401' && k !== 'reset')).toEqual([]);
      report.bodies = ends;

      phase('connects');
      // finding 7: unfinished CONNECTs of nearly MQTT_MAX_CONNECT_BYTES, more than MAX_UNAUTHENTICATED_CONNECTIONS of them
      const hit = () => metricValue(s, 'mqtt_bounds_hit_total{bound="unauthenticated_connections"}');
      const hit0 = await hit();
      const connects = await startHelper('preconnect-flood.mjs', ['mqtt', String(s.mqttPort), String(SIZES.connects), '16000', '15000'], { generator: true });
      await waitFor(async () => (await hit()) - hit0 >= SIZES.connects - 2000, 20_000, 'the connections over MAX_UNAUTHENTICATED_CONNECTIONS closed');
      report.connects = { held_rss_mib: Math.round(s.rssMiB()), refused: (await hit()) - hit0 };
      await connects.last();
      await waitFor(async () => (await (await fetch(`${s.base}/live`)).status) === 200, 5000, 'live');

      phase('upgrades');
      // finding 8: WebSocket /mqtt upgrades that never CONNECT; an authenticated live subscriber still gets in
      await waitFor(async () => {
        // the CONNECT flood's sockets are released as the server sees them close
        const probe = await rawConnect(s.mqttPort, { clientId: `probe-${Math.random()}`, username: 'flood-subscriber', password: subscriberKey }).catch(() => undefined);
        probe?.c.end();
        return probe !== undefined;
      }, 20_000, 'pre-CONNECT slots free again');
      const upgrades = await startHelper('preconnect-flood.mjs', ['ws', String(s.wsPort), String(SIZES.upgrades)], { generator: true });
      const statuses = upgrades.first.upgrade_statuses as Record<string, number>;
      expect((statuses['101'] ?? 0) <= 2000).toBe(true);
      expect(statuses['503'] ?? 0).toBeGreaterThanOrEqual(SIZES.upgrades - 2000);
      const live = await fetch(`${s.base}/live`);
      expect(live.status).toBe(200);
      report.upgrades = statuses;
      await upgrades.last();

      phase('filters');
      // finding 2: one subscriber key asks for many long filters (1,000 bytes: MQTT_MAX_FILTER_BYTES
      // refuses the 60 KB ones of the finding outright); the identity's filter bytes stop it
      const sub = stack.track((await rawConnect(s.mqttPort, { clientId: 'flood-subscriber', username: 'flood-subscriber', password: subscriberKey })).c);
      let granted = 0;
      for (let i = 0; i < SIZES.filters; i++) {
        const filter = `neurobuild/sensors/+/${String(i).padStart(979, 'f')}`;
        const ack = await rawSubscribe(sub, [{ topic: filter, qos: 0 }]);
        if ((ack.granted[0] as number) < 0x80) granted++;
      }
      expect(granted).toBe(Math.min(SIZES.filters, Math.floor(131_072 / 1000)));
      report.filters = { asked: SIZES.filters, granted };

      phase('retained');
      // finding 5: retained 250 KB publishes from one device; its retained bytes stop it
      const dev = stack.track((await rawConnect(s.mqttPort, { clientId: 'flood-retainer', username: 'flood-retainer', password: deviceKey })).c);
      const payload = Buffer.alloc(250_000, 0x61);
      let kept = 0;
      for (let i = 0; i < SIZES.retained; i++) {
        const ack = (await publishQos1(dev, `neurobuild/sensors/flood-retainer/cfg/${i}`, payload, { retain: true })) as { reasonCode?: number };
        if ((ack.reasonCode ?? 0) === 0) kept++;
      }
      expect(kept).toBe(4);
      report.retained = { published: SIZES.retained, kept };
    } finally {
      clearInterval(sampleRss);
    }
    const latency = await sampler.last();
    report.rss_peak_mib = Math.round(peak);
    report.rss_end_mib = Math.round(s.rssMiB());
    report.live_ms = latency;
    report.phases_ms = phases.map(([name, at]) => [name, at - Number(latency.started_at)]);
    console.log(JSON.stringify({ scenario: 'security-flood', long: LONG, ...report }));
    expect(peak - rss0).toBeLessThan(FLOOD_RSS_BOUND_MIB);
    expect(latency).toBeDefined();
    expect(Number(latency!.failed)).toBe(0);
    expect(Number(latency!.p99)).toBeLessThan(liveBound);
  }, LONG ? 600_000 : 180_000);
});
