/**
 * `neurobuild-ingest consume alerts` against a real redis-server.
 *
 * In process (openAlerts with an injected clock): a redelivered batch raises nothing twice,
 * the suppression time ends in a reminder, the state outlives the consumer (a new one
 * carries on), two consumers racing on the same condition raise one alert, a reading
 * replayed from the DLQ (same message_id, new entry) is not raised again.
 *
 * End to end (the built server, the consume process spawned from the bundle, a local
 * webhook): gas over the threshold fires once (stream, channel, webhook), again is
 * suppressed, below resolves, above fires again; presence in a secure area at night fires
 * unauthorized_presence (not in the day, not outside the secure areas); a webhook failing
 * twice gets the alert on the third attempt; one that keeps failing is given up (logged,
 * counted) without holding the others; the state survives a restart and is shared by two
 * consumers; a bad rules file stops the start with exit 2 naming the rule.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { buildRules } from '../../src/consumer/alerts/rules.ts';
import type { Alert } from '../../src/consumer/alerts/store.ts';
import { type ConsumedEntry, toEntry } from '../../src/consumer/entry.ts';
import { openAlerts } from '../../src/consumer/sinks/alerts.ts';
import { ConsumeProcess } from '../helpers/consume-process.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { BUNDLE } from '../helpers/spawn-server.ts';
import { groupSettled } from '../helpers/group-settled.ts';
import { useStack } from '../helpers/stack.ts';
import { sleep, waitFor } from '../helpers/wait.ts';

const STREAM = 'sensor-data';
const silent = pino({ level: 'silent' });

/** The alerts in the alerts stream, oldest first. */
async function alertsIn(client: Redis, stream = 'alerts'): Promise<(Alert & { fields: Record<string, string> })[]> {
  const raw = (await client.xrange(stream, '-', '+')) as [string, string[]][];
  return raw.map(([id, flat]) => {
    const e = toEntry([id, flat]);
    return { ...(JSON.parse(e.fields.data!) as Alert), fields: e.fields };
  });
}

describe('alerts sink in process', () => {
  let redis: RedisServer;
  let client: Redis;
  const rules = buildRules({ secure_areas: ['vault'] }, 'test');
  let seq = 0;

  beforeAll(async () => {
    redis = await RedisServer.start();
    client = redis.client();
  });
  afterAll(() => redis.dispose());
  beforeEach(() => client.flushall());

  /** An entry as the consumer hands it over: stream id `<n>-0`, the enriched reading in `data`. */
  function entry(device: string, gas: number, messageId?: string): ConsumedEntry {
    const id = `${1000 + ++seq}-0`;
    messageId ??= `m${seq}`;
    const data = JSON.stringify({ device_id: device, timestamp: new Date(1_760_000_000_000 + seq).toISOString(), sensors: { mq134: { gas_concentration: gas, unit: 'ppm' } }, received_at: new Date().toISOString(), message_id: messageId });
    return toEntry([id, ['data', data, 'device_id', device, 'message_id', messageId]]);
  }

  async function sink(clock: { t: number }, suppressMs = 300_000) {
    const r = redis.client();
    const s = await openAlerts({ redis: r, log: silent, rules, stream: 'alerts', channel: 'alerts', maxlen: 0, suppressMs, now: () => clock.t });
    return { ...s, close: async () => (await s.close(), r.disconnect()) };
  }
  const states = async () => (await alertsIn(client)).map((a) => `${a.state}${a.reminder ? ' (reminder)' : ''} ${a.device_id} ${a.value}`);

  test('in process - a batch handed over twice raises its alerts once', async () => {
    const clock = { t: 1_000_000 };
    const s = await sink(clock);
    const batch = [entry('d1', 600), entry('d2', 700), entry('d1', 650)];
    await s.handle(batch);
    await s.handle(batch); // a consumer died before XACK: the same entries again
    clock.t += 10 * 300_000; // even after the suppression time
    await s.handle(batch);
    expect(await states()).toEqual(['firing d1 600', 'firing d2 700']);
    expect(await client.hgetall('alerts:stats')).toEqual({ fired: '2', suppressed: '1' });
    await s.close();
  });

  test('in process - suppressed for the suppression time, then a reminder; the state outlives the consumer', async () => {
    const clock = { t: 1_000_000 };
    const a = await sink(clock, 60_000);
    await a.handle([entry('d1', 600)]);
    clock.t += 30_000;
    await a.handle([entry('d1', 610)]);
    await a.close();
    // a new consumer (a restart) knows the condition is firing
    const b = await sink(clock, 60_000);
    clock.t += 29_000;
    await b.handle([entry('d1', 620)]);
    expect(await states()).toEqual(['firing d1 600']);
    clock.t += 1000; // 60 s after the first firing
    await b.handle([entry('d1', 630)]);
    await b.handle([entry('d1', 100), entry('d1', 640)]);
    expect(await states()).toEqual(['firing d1 600', 'firing (reminder) d1 630', 'resolved d1 100', 'firing d1 640']);
    const [first, reminder, resolved] = await alertsIn(client);
    expect(reminder!.since).toBe(first!.since);
    expect(resolved!.since).toBe(first!.since);
    await b.close();
  });

  test('in process - two consumers racing on the same condition raise one alert', async () => {
    const clock = { t: 1_000_000 };
    const [a, b] = await Promise.all([sink(clock), sink(clock)]);
    // interleaved entries of one device, split between the two consumers as a group would
    const all = Array.from({ length: 40 }, () => entry('race', 900));
    await Promise.all([a.handle(all.filter((_, i) => i % 2 === 0)), b.handle(all.filter((_, i) => i % 2 === 1))]);
    expect(await states()).toEqual(['firing race 900']);
    expect(await client.hget('alerts:stats', 'fired')).toBe('1');
    await Promise.all([a.close(), b.close()]);
  });

  test('in process - a reading replayed from the DLQ (same message_id, new entry id) is not raised again', async () => {
    const clock = { t: 1_000_000 };
    const s = await sink(clock);
    const fire = entry('d1', 600, 'msg-fire');
    await s.handle([fire]);
    await s.handle([entry('d1', 100)]);
    await s.handle([entry('d1', 600, 'msg-fire')]); // replayed: new stream id, same reading
    expect(await states()).toEqual(['firing d1 600', 'resolved d1 100']);
    expect(await client.hget('alerts:stats', 'duplicates')).toBe('1');
    await s.close();
  });

  test('in process - readings without the sensor, or not readings at all, are skipped', async () => {
    const s = await sink({ t: 0 });
    const pirOnly = toEntry(['1-0', ['data', JSON.stringify({ device_id: 'd', timestamp: '2025-10-15T10:00:00Z', sensors: { pir: { motion_detected: true } }, message_id: 'x' })]]);
    const odd = toEntry(['2-0', ['data', '{"hello":1}']]);
    await s.handle([pirOnly, odd]);
    expect(await client.dbsize()).toBe(0);
    await s.close();
  });
});

/** A local webhook: records what it is sent; `plan` can fail requests. */
class Webhook {
  readonly got: { alert: Alert; headers: Record<string, unknown>; status: number }[] = [];
  /** Status to answer for an alert on this attempt (1-based), default 200. */
  plan: (alert: Alert, attempt: number) => number = () => 200;
  readonly #attempts = new Map<string, number>();
  #server!: Server;
  url = '';

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const alert = JSON.parse(body) as Alert;
        const n = (this.#attempts.get(alert.alert_id) ?? 0) + 1;
        this.#attempts.set(alert.alert_id, n);
        const status = this.plan(alert, n);
        this.got.push({ alert, headers: req.headers, status });
        res.writeHead(status).end();
      });
    });
    await new Promise<void>((r) => this.#server.listen(0, '127.0.0.1', r));
    const addr = this.#server.address() as { port: number };
    this.url = `http://127.0.0.1:${addr.port}/hooks/alerts?token=secret`;
  }

  delivered(): Alert[] {
    return this.got.filter((g) => g.status < 300).map((g) => g.alert);
  }

  close(): Promise<void> {
    return new Promise((r) => this.#server.close(() => r()));
  }
}

describe('consume alerts end to end', () => {
  const stack = useStack();
  const dir = mkdtempSync(join(tmpdir(), 'nb-alerts-'));
  const rulesFile = join(dir, 'rules.json');
  // secure area "vault"; business hours Mon-Fri 08:00-18:00 Berlin time; the default rules
  writeFileSync(rulesFile, JSON.stringify({ secure_areas: ['vault'], business_hours: { time_zone: 'Europe/Berlin' } }));
  const hook = new Webhook();
  const running: ConsumeProcess[] = [];
  let sub: Redis;
  const published: Alert[] = [];
  let ts = Date.now() - 120_000;

  beforeAll(async () => {
    await hook.start();
    sub = stack.redis.client();
    await sub.subscribe('alerts');
    sub.on('message', (_ch, m: string) => published.push(JSON.parse(m) as Alert));
  });
  afterEach(async () => {
    await Promise.all(running.splice(0).map((c) => c.stop('SIGKILL')));
  });
  afterAll(async () => {
    sub?.disconnect();
    await hook.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function consumer(env: Record<string, string> = {}): Promise<ConsumeProcess> {
    const c = await ConsumeProcess.start('alerts', {
      REDIS_URL: stack.redis.url,
      ALERT_RULES_FILE: rulesFile,
      ALERT_WEBHOOK_URL: hook.url,
      ALERT_WEBHOOK_RETRY_MS: '100',
      CONSUMER_CLAIM_IDLE_MS: '2000',
      ...env,
    });
    running.push(c);
    return c;
  }

  async function post(device: string, sensors: Record<string, unknown>, timestamp = new Date((ts += 1000)).toISOString()): Promise<string> {
    const res = await stack.server.post('/api/v1/sensor-data', { device_id: device, timestamp, sensors });
    expect(res.status).toBe(202);
    return ((await res.json()) as { message_id: string }).message_id;
  }
  const gas = (device: string, ppm: number) => post(device, { mq134: { gas_concentration: ppm, unit: 'ppm' } });

  /** The alerts group has read and acknowledged the whole readings stream. */
  const settled = (group = 'alerts'): Promise<void> => groupSettled(stack.client, STREAM, group, 15_000);
  const summary = async () => (await alertsIn(stack.client)).map((a) => `${a.type} ${a.state} ${a.device_id}`);
  const waitAlerts = (n: number) => waitFor(async () => (await alertsIn(stack.client)).length >= n, 15_000, `${n} alert(s) in the stream`);

  test('e2e - gas over the threshold fires once, is suppressed while it persists, resolves below, fires again above', async () => {
    const c = await consumer();
    const m1 = await gas('gas-1', 620);
    await waitAlerts(1);
    const [a] = await alertsIn(stack.client);
    expect(a).toMatchObject({
      alert_id: `${m1}:high_gas_concentration`,
      type: 'high_gas_concentration',
      state: 'firing',
      rule_id: 'high_gas_concentration',
      severity: 'warning',
      device_id: 'gas-1',
      value: 620,
      threshold: 500,
      unit: 'ppm',
      location: null,
      message_id: m1,
      reminder: false,
    });
    expect(new Date(ts).toISOString()).toBe(a!.timestamp); // the reading's timestamp
    expect(Math.abs(Date.parse(a!.raised_at) - Date.now())).toBeLessThan(15_000);
    expect(a!.fields).toMatchObject({ type: 'high_gas_concentration', state: 'firing', rule_id: 'high_gas_concentration', device_id: 'gas-1', value: '620', threshold: '500', location: '', message_id: m1, timestamp: a!.timestamp, raised_at: a!.raised_at });
    await waitFor(() => published.length === 1, 5000, 'the alert on the channel');
    expect(published[0]).toEqual(JSON.parse(a!.fields.data!));

    // the same condition again: suppressed
    await gas('gas-1', 700);
    await gas('gas-1', 800);
    await settled();
    expect(await summary()).toEqual(['high_gas_concentration firing gas-1']);
    expect(await stack.client.hget('alerts:stats', 'suppressed')).toBe('2');

    // below: resolved; above again: fires again
    await gas('gas-1', 300);
    await waitAlerts(2);
    await gas('gas-1', 650);
    await waitAlerts(3);
    const all = await alertsIn(stack.client);
    expect(all.map((x) => `${x.state} ${x.value}`)).toEqual(['firing 620', 'resolved 300', 'firing 650']);
    expect(all[1]!.since).toBe(all[0]!.since);
    expect(all[1]!.message).toBe('high_gas_concentration resolved on gas-1: mq134.gas_concentration 300 ppm, no longer > 500 ppm');
    await waitFor(() => published.length === 3, 5000, 'three alerts on the channel');
    expect(published.map((p) => p.alert_id)).toEqual(all.map((x) => x.alert_id));
    // every one to the webhook, with its idempotency key
    await waitFor(() => hook.delivered().length === 3, 10_000, 'three webhook deliveries');
    expect(hook.delivered().map((x) => x.alert_id)).toEqual(all.map((x) => x.alert_id));
    expect(hook.got[0]!.headers['idempotency-key']).toBe(all[0]!.alert_id);
    expect(c.logged((m) => m.startsWith('alert firing: high_gas_concentration firing on gas-1'))).toBeDefined();
    expect(c.stdout).not.toContain('token=secret');
  });

  test('e2e - presence in a secure area at night: unauthorized_presence; a webhook failing twice gets it on the third attempt', async () => {
    hook.plan = (a, n) => (a.type === 'unauthorized_presence' && n <= 2 ? 500 : 200);
    const c = await consumer();
    for (const [device, location] of [['vault-cam', 'vault'], ['lobby-cam', 'lobby'], ['vault-day', 'Vault']]) {
      const res = await stack.server.post('/api/v1/devices/metadata', { device_id: device, metadata: { location, zone: 'b1', room: 'r1', firmware_version: '1.0' } });
      expect(res.status).toBe(200);
    }
    const radar = { ld2410: { presence: true, distance: 120, energy: 60 }, pir: { motion_detected: true } };
    // Wednesday 15 Oct 2025: 21:00 UTC is 23:00 in Berlin (night); 07:00 UTC is 09:00 there (business hours, though not in UTC)
    const m = await post('vault-cam', radar, '2025-10-15T21:00:00.000Z');
    await post('lobby-cam', radar, '2025-10-15T21:00:00.000Z');
    await post('vault-day', radar, '2025-10-15T07:00:00.000Z');
    await settled();
    const presence = (await alertsIn(stack.client)).filter((a) => a.type === 'unauthorized_presence');
    expect(presence).toHaveLength(1);
    expect(presence[0]).toMatchObject({ alert_id: `${m}:unauthorized_presence`, state: 'firing', severity: 'critical', device_id: 'vault-cam', value: true, threshold: null, location: 'vault', timestamp: '2025-10-15T21:00:00.000Z', message_id: m });
    expect(presence[0]!.message).toBe('unauthorized_presence firing on vault-cam: presence in secure area "vault" outside business hours (Europe/Berlin)');
    // webhook: 500, 500, 200 (retries 100 then 200 ms later)
    await waitFor(() => hook.delivered().some((a) => a.type === 'unauthorized_presence'), 10_000, 'the presence alert at the webhook');
    expect(hook.got.filter((g) => g.alert.type === 'unauthorized_presence').map((g) => g.status)).toEqual([500, 500, 200]);
    await waitFor(() => c.logged((msg) => msg.includes('took alert')), 5000, 'the delivery log');
    expect(c.logged((msg) => msg.includes(`took alert ${m}:unauthorized_presence`))).toMatchObject({ attempts: 3 });
    expect(c.logs.filter((l) => String(l.msg).includes('failed (HTTP 500); retrying'))).toHaveLength(2);

    // the person leaves: resolved
    await post('vault-cam', { ld2410: { presence: false, distance: 0, energy: 0 } }, '2025-10-15T21:05:00.000Z');
    await waitFor(async () => (await summary()).includes('unauthorized_presence resolved vault-cam'), 10_000, 'resolved');
  });

  test('e2e - a webhook that keeps failing is given up after its retries (logged, counted) and holds neither the readings nor other alerts', async () => {
    hook.plan = (a) => (a.device_id === 'gas-broken' ? 503 : 200);
    const c = await consumer({ ALERT_WEBHOOK_RETRIES: '2' });
    const before = (await alertsIn(stack.client)).length;
    await gas('gas-broken', 900);
    await gas('gas-ok', 900);
    await waitAlerts(before + 2);
    await waitFor(() => hook.delivered().some((a) => a.device_id === 'gas-ok'), 10_000, 'the other alert delivered');
    await waitFor(() => c.logged((m) => m.includes('did not take alert')), 10_000, 'the give-up log');
    expect(hook.got.filter((g) => g.alert.device_id === 'gas-broken').map((g) => g.status)).toEqual([503, 503, 503]);
    const log = c.logged((m) => m.includes('did not take alert'))!;
    expect(log).toMatchObject({ level: 50, attempts: 3, error: 'HTTP 503' });
    expect(String(log.msg)).toContain(`webhook http://127.0.0.1:`);
    expect(String(log.msg)).not.toContain('secret');
    expect(await stack.client.hget('alerts:stats', 'webhook_failed')).toBe('1');
    // the alert stays in the stream
    expect((await alertsIn(stack.client)).some((a) => a.device_id === 'gas-broken' && a.state === 'firing')).toBe(true);
  });

  test('e2e - the state survives a restart and is shared by two consumers of the group', async () => {
    hook.plan = () => 200;
    const c1 = await consumer();
    await gas('gas-2', 900);
    await waitFor(async () => (await summary()).includes('high_gas_concentration firing gas-2'), 10_000, 'firing');
    expect(await c1.stop('SIGTERM')).toBe(0);
    running.splice(running.indexOf(c1), 1);
    const count = (await alertsIn(stack.client)).length;
    // two new consumers: the condition is still firing for both
    await Promise.all([consumer({ CONSUMER_NAME: 'a', CONSUMER_BATCH_SIZE: '1' }), consumer({ CONSUMER_NAME: 'b', CONSUMER_BATCH_SIZE: '1' })]);
    for (let i = 0; i < 10; i++) await gas('gas-2', 950 + i);
    await settled();
    expect((await alertsIn(stack.client)).length).toBe(count);
    await gas('gas-2', 10);
    await waitAlerts(count + 1);
    expect((await summary()).at(-1)).toBe('high_gas_concentration resolved gas-2');
    // the group has read and acknowledged every reading: an alert is written before its reading is acknowledged
    await settled();
    expect((await alertsIn(stack.client)).length).toBe(count + 1);
  });

  test('e2e - a bad rules file stops the start with exit 2, naming the rule', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ rules: [{ id: 'gas', kind: 'threshold', sensor: 'mq134', field: 'gas_concentration', op: '>', value: 1 }, { id: 'hot', kind: 'threshold', sensor: 'mq134', field: 'temperature', op: '>', value: 1 }] }));
    const run = (file: string) => spawnSync('node', [BUNDLE, 'consume', 'alerts'], { env: { PATH: process.env.PATH ?? '', REDIS_URL: stack.redis.url, ALERT_RULES_FILE: file }, encoding: 'utf8', timeout: 15_000 });
    const r = run(bad);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe(`neurobuild-ingest: invalid alert rules: ALERT_RULES_FILE ${bad}: rule #2 "hot": mq134 has no numeric field "temperature" (numeric fields: gas_concentration)`);
    const missing = run(join(dir, 'nope.json'));
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('cannot read ALERT_RULES_FILE');
  });
});
