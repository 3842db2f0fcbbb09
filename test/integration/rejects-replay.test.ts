/**
 * Quarantine and replay (issue 9): readings refused on one instance are listed, shown and
 * replayed from another instance (admin API) and from `neurobuild-ingest rejects …`, on a real
 * Redis shared by several server processes; a replayed entry is accepted after the configuration
 * (CLOCK_SKEW_MS) or the schema (SENSOR_TYPES_DIR) changed. The embedded backend answers the
 * same admin routes.
 */
import { describe, expect, test } from 'bun:test';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReplayReport } from '../../src/core/replay.ts';
import { reading } from '../fixtures/readings.ts';
import { BUNDLE, type ServerProcess } from '../helpers/spawn-server.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const ADMIN = 'admin-token-for-rejects-0123456789';
const admin = { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' };
const HOUR = '3600000';

interface Entry {
  id: string;
  received_at: string;
  code: string;
  reason: string;
  source: string;
  device_id?: string;
  payload: string;
}
interface Page {
  entries: Entry[];
  count: number;
  next_cursor: string | null;
}

let ahead = 0;
/** 10 minutes ahead (refused with the default CLOCK_SKEW_MS of 5 minutes), each a distinct (device_id, timestamp). */
const future = (deviceId: string) => reading({ device_id: deviceId, timestamp: new Date(Date.now() + 10 * 60_000 + ++ahead * 1000).toISOString() });
const tooFar = (deviceId: string) => reading({ device_id: deviceId, sensors: { ld2410: { presence: true, distance: 900, energy: 10 } } });

async function list(server: ServerProcess, query: string): Promise<Page> {
  const res = await fetch(`${server.base}/api/v1/admin/rejects${query}`, { headers: admin });
  expect(res.status).toBe(200);
  return (await res.json()) as Page;
}

async function replay(server: ServerProcess, body: unknown): Promise<ReplayReport> {
  const res = await fetch(`${server.base}/api/v1/admin/rejects/replay`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
  const report = (await res.json()) as ReplayReport;
  expect({ status: res.status, report }).toMatchObject({ status: 200 });
  return report;
}

/** Posts each reading to `server` (each refused with 400) and waits until the rejects stream has them all. */
async function refuse(server: ServerProcess, deviceId: string, readings: unknown[], reader = server): Promise<Entry[]> {
  for (const r of readings) expect((await server.post('/api/v1/sensor-data', r)).status).toBe(400);
  let page: Page | undefined;
  await waitFor(async () => (page = await list(reader, `?device_id=${deviceId}`)).count >= readings.length, 5000, `${readings.length} rejects of ${deviceId}`);
  return page!.entries;
}

describe('rejects - Redis, several instances', () => {
  const stack = useStack({ ADMIN_TOKEN: ADMIN }, { servers: 2 });
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '', REDIS_URL: stack.redis.url, ...extra });
  const cli = (args: string[], extra: Record<string, string> = {}) => spawnSync('node', [BUNDLE, 'rejects', ...args], { env: env(extra), encoding: 'utf8', timeout: 15_000 });
  const cliJson = <T>(args: string[], extra: Record<string, string> = {}): T => {
    const r = cli([...args, '--json'], extra);
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
    return JSON.parse(r.stdout) as T;
  };
  /** The enriched readings of `deviceId` in the readings stream. */
  const stored = async (deviceId: string) => {
    const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
    return rows.filter(([, f]) => f[f.indexOf('device_id') + 1] === deviceId).map(([, f]) => JSON.parse(f[f.indexOf('data') + 1]!) as Record<string, unknown>);
  };

  test('rejects - refused on instance 0, listed on instance 1 newest first: filters, pagination by cursor, one entry whole (admin API and CLI)', async () => {
    const sent = [future('rj-list'), future('rj-list'), tooFar('rj-list'), future('rj-list')];
    await refuse(stack.servers[0]!, 'rj-list', sent, stack.servers[1]!);
    await refuse(stack.servers[0]!, 'rj-list-other', [future('rj-list-other')], stack.servers[1]!);
    const all = await list(stack.servers[1]!, '?device_id=rj-list');
    expect(all.count).toBe(4);
    expect(all.next_cursor).toBeNull();
    // newest first: the last one sent comes first
    expect(all.entries.map((e) => JSON.parse(e.payload))).toEqual([...sent].reverse());
    expect(all.entries[0]).toMatchObject({ code: 'INGEST_ERR_INVALID_READING', reason: 'timestamp is more than 300 s in the future', source: 'http', device_id: 'rj-list' });
    expect(all.entries[1]).toMatchObject({ reason: 'sensors.ld2410.distance must be <= 600' });
    expect(Date.parse(all.entries[0]!.received_at)).toBeGreaterThan(Date.now() - 60_000);
    // pages of 3: the cursor continues after the last entry of the page
    const p1 = await list(stack.servers[1]!, '?device_id=rj-list&limit=3');
    expect(p1.entries.map((e) => e.id)).toEqual(all.entries.slice(0, 3).map((e) => e.id));
    expect(p1.next_cursor).toBe(all.entries[2]!.id);
    const p2 = await list(stack.servers[1]!, `?device_id=rj-list&limit=3&cursor=${p1.next_cursor}`);
    expect(p2.entries.map((e) => e.id)).toEqual([all.entries[3]!.id]);
    expect(p2.next_cursor).toBeNull();
    expect((await list(stack.servers[1]!, '?device_id=rj-list&code=INVALID_READING&since=10m')).count).toBe(4);
    expect((await list(stack.servers[1]!, `?device_id=rj-list&since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`)).count).toBe(0);
    expect((await list(stack.servers[1]!, '?device_id=rj-list&code=MALFORMED_PAYLOAD')).count).toBe(0);
    const whole = await fetch(`${stack.servers[1]!.base}/api/v1/admin/rejects/${all.entries[1]!.id}`, { headers: admin });
    expect(whole.status).toBe(200);
    expect(await whole.json()).toEqual(all.entries[1]!);

    // the CLI: JSON lines, or one line per entry and a count
    const lines = cli(['list', '--device-id', 'rj-list', '--json']);
    expect(lines.status).toBe(0);
    expect(lines.stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual(all.entries);
    const text = cli(['list', '--device-id', 'rj-list', '--limit', '2']);
    expect(text.status).toBe(0);
    const rows = text.stdout.trim().split('\n');
    expect(rows).toHaveLength(3);
    expect(rows[0]).toStartWith(`${all.entries[0]!.id}  ${all.entries[0]!.received_at}  INGEST_ERR_INVALID_READING  rj-list  http  timestamp is more than 300 s in the future`);
    expect(rows[2]).toBe('2 entries, newest first (more: raise --limit)');
    expect(cliJson<Entry>(['show', all.entries[1]!.id])).toEqual(all.entries[1]!);
    const shown = cli(['show', all.entries[1]!.id]);
    expect(shown.stdout).toContain(`reason:      sensors.ld2410.distance must be <= 600\n`);
    expect(shown.stdout).toContain(`payload:     ${all.entries[1]!.payload}\n`);
  });

  test('rejects - CLI replay with CLOCK_SKEW_MS raised: accepted into the readings stream and deleted; still invalid rejected again and kept; dry run and the old configuration change nothing', async () => {
    const sent = [future('rj-cli'), future('rj-cli'), tooFar('rj-cli')];
    const entries = await refuse(stack.servers[0]!, 'rj-cli', sent);
    const before = await stack.client.xlen('sensor-data-invalid');

    const dry = cliJson<ReplayReport>(['replay', '--device-id', 'rj-cli', '--dry-run'], { CLOCK_SKEW_MS: HOUR });
    expect(dry).toMatchObject({ dry_run: true, examined: 3, accepted: 2, rejected_again: 1, duplicate: 0, unreplayable: 0 });
    const unchanged = cliJson<ReplayReport>(['replay', '--device-id', 'rj-cli']);
    expect(unchanged).toMatchObject({ dry_run: false, examined: 3, accepted: 0, rejected_again: 3 });
    expect(unchanged.results[0]!.reason).toBe('timestamp is more than 300 s in the future');
    expect(await stored('rj-cli')).toEqual([]);
    expect(await stack.client.xlen('sensor-data-invalid')).toBe(before);

    const r = cli(['replay', '--device-id', 'rj-cli'], { CLOCK_SKEW_MS: HOUR });
    expect(r.status).toBe(0);
    const out = r.stdout.trim().split('\n');
    // oldest first, one line each, then the counts
    expect(out).toHaveLength(4);
    expect(out[0]).toMatch(new RegExp(`^${entries[2]!.id}  accepted  rj-cli  message_id \\S+$`));
    expect(out[1]).toMatch(new RegExp(`^${entries[1]!.id}  accepted  rj-cli  message_id \\S+$`));
    expect(out[2]).toBe(`${entries[0]!.id}  rejected again  rj-cli  INGEST_ERR_INVALID_READING: sensors.ld2410.distance must be <= 600`);
    expect(out[3]).toBe('examined 3, accepted 2, rejected again 1, duplicate 0, unreplayable 0');

    const readings = await stored('rj-cli');
    expect(readings.map((d) => ({ timestamp: d.timestamp, sensors: d.sensors }))).toEqual(sent.slice(0, 2).map((s) => ({ timestamp: s.timestamp, sensors: s.sensors })));
    for (const d of readings) expect(Date.parse(d.received_at as string)).toBeGreaterThan(Date.now() - 30_000);
    expect(readings.map((d) => d.message_id)).toEqual(out.slice(0, 2).map((l) => l.split(' ').at(-1)));
    const left = await list(stack.servers[1]!, '?device_id=rj-cli');
    expect(left.entries.map((e) => e.id)).toEqual([entries[0]!.id]);
    expect(await stack.client.xlen('sensor-data-invalid')).toBe(before - 2);

    // again: nothing left to accept; the invalid one is rejected again and stays
    expect(cliJson<ReplayReport>(['replay', '--device-id', 'rj-cli'], { CLOCK_SKEW_MS: HOUR })).toMatchObject({ examined: 1, accepted: 0, rejected_again: 1 });
    expect((await list(stack.servers[0]!, '?device_id=rj-cli')).count).toBe(1);
    expect(await stored('rj-cli')).toHaveLength(2);
  });

  test('rejects - admin replay on an instance started with CLOCK_SKEW_MS raised: counts and results; truncated payload unreplayable; replayed ids are gone', async () => {
    const lenient = await stack.startServer({ CLOCK_SKEW_MS: HOUR });
    const one = future('rj-api');
    // refused for its value; the unknown field makes its payload longer than the 4 KiB kept
    const cut = { ...reading({ device_id: 'rj-api', sensors: { pir: { motion_detected: 'yes' } } }), notes: 'n'.repeat(6000) };
    const [cutEntry, futureEntry] = await refuse(stack.servers[0]!, 'rj-api', [one, cut]);
    expect(cutEntry!.payload.length).toBe(4096);

    // the default configuration: nothing to accept
    expect(await replay(stack.servers[1]!, { device_id: 'rj-api', dry_run: true })).toMatchObject({ dry_run: true, examined: 2, accepted: 0, rejected_again: 1, unreplayable: 1 });
    const dry = await replay(lenient, { device_id: 'rj-api', dry_run: true });
    expect(dry).toMatchObject({ examined: 2, accepted: 1, unreplayable: 1 });
    expect((await list(lenient, '?device_id=rj-api')).count).toBe(2);

    const report = await replay(lenient, { device_id: 'rj-api' });
    expect(report).toMatchObject({ dry_run: false, examined: 2, accepted: 1, rejected_again: 0, duplicate: 0, unreplayable: 1, failed: 0, not_found: 0, next_cursor: null });
    expect(report.results).toEqual([
      { id: futureEntry!.id, status: 'accepted', device_id: 'rj-api', message_id: expect.any(String) },
      { id: cutEntry!.id, status: 'unreplayable', device_id: 'rj-api', reason: 'payload truncated: only its first 4096 bytes were kept' },
    ]);
    const [data] = await stored('rj-api');
    expect(data).toMatchObject({ device_id: 'rj-api', timestamp: one.timestamp, sensors: one.sensors, message_id: report.results[0]!.message_id });
    expect((await fetch(`${stack.servers[1]!.base}/api/v1/admin/rejects/${futureEntry!.id}`, { headers: admin })).status).toBe(404);
    // replayed once only: by id it is not found any more, and the filter finds only the cut one
    expect(await replay(stack.servers[1]!, { ids: [futureEntry!.id, cutEntry!.id] })).toMatchObject({ examined: 1, unreplayable: 1, not_found: 1, accepted: 0 });
    expect(await replay(lenient, { device_id: 'rj-api' })).toMatchObject({ examined: 1, accepted: 0, unreplayable: 1 });
    expect(await stored('rj-api')).toHaveLength(1);
    // counted under transport="replay"
    const metrics = await (await fetch(`http://127.0.0.1:${lenient.metricsPort}/metrics`)).text();
    expect(metrics).toContain('sensor_data_ingested_total{sensor_type="pir",transport="replay"} 1');
  });

  test('rejects - limit and cursor of a replay: oldest first, next_cursor continues where it stopped', async () => {
    const lenient = stack.servers[2] ?? (await stack.startServer({ CLOCK_SKEW_MS: HOUR }));
    const entries = await refuse(stack.servers[0]!, 'rj-page', [future('rj-page'), future('rj-page'), future('rj-page')]);
    const oldest = [...entries].reverse().map((e) => e.id);
    const first = await replay(lenient, { device_id: 'rj-page', limit: 2 });
    expect(first.results.map((r) => [r.id, r.status])).toEqual([
      [oldest[0]!, 'accepted'],
      [oldest[1]!, 'accepted'],
    ]);
    expect(first.next_cursor).toBe(oldest[1]!);
    const rest = await replay(lenient, { device_id: 'rj-page', cursor: first.next_cursor });
    expect(rest.results.map((r) => r.id)).toEqual([oldest[2]!]);
    expect(rest.next_cursor).toBeNull();
    expect(await stored('rj-page')).toHaveLength(3);
  });

  test('rejects - the CLI and two requests to an instance replaying the same entries at once store each reading once and empty the quarantine', async () => {
    const lenient = stack.servers[2] ?? (await stack.startServer({ CLOCK_SKEW_MS: HOUR }));
    const sent = Array.from({ length: 20 }, () => future('rj-race'));
    await refuse(stack.servers[0]!, 'rj-race', sent);
    const child = spawn('node', [BUNDLE, 'rejects', 'replay', '--device-id', 'rj-race', '--json'], { env: env({ CLOCK_SKEW_MS: HOUR }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // two requests at once on the instance too: both list the same entries before either deletes them
    const api = await Promise.all([replay(lenient, { device_id: 'rj-race' }), replay(lenient, { device_id: 'rj-race' })]);
    expect(await exited).toBe(0);
    const reports = [JSON.parse(out) as ReplayReport, ...api];
    expect(reports.reduce((n, r) => n + r.failed + r.rejected_again + r.unreplayable, 0)).toBe(0);
    expect(reports.reduce((n, r) => n + r.accepted, 0)).toBe(20);
    const stored20 = await stored('rj-race');
    expect(stored20.map((d) => d.timestamp).sort()).toEqual(sent.map((r) => r.timestamp as string).sort());
    expect((await list(stack.servers[1]!, '?device_id=rj-race')).count).toBe(0);
  });

  test('rejects - schema change: an unknown sensor type is rejected, then accepted by a CLI replay with SENSOR_TYPES_DIR holding its schema', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nb-rejects-types-'));
    stack.cleanup(() => rmSync(dir, { recursive: true, force: true }));
    const co2 = { device_id: 'rj-co2', timestamp: new Date(Date.now() - 5000).toISOString(), sensors: { co2: { ppm: 812 } } };
    const [entry] = await refuse(stack.servers[0]!, 'rj-co2', [co2]);
    expect(entry!.reason).toStartWith('sensors.co2 is not a known sensor type');
    expect(cliJson<ReplayReport>(['replay', '--ids', entry!.id])).toMatchObject({ rejected_again: 1 });
    writeFileSync(join(dir, 'co2.json'), JSON.stringify({ type: 'object', properties: { ppm: { type: 'number', minimum: 0, maximum: 5000 } }, required: ['ppm'] }));
    const report = cliJson<ReplayReport>(['replay', '--ids', entry!.id], { SENSOR_TYPES_DIR: dir });
    expect(report).toMatchObject({ examined: 1, accepted: 1 });
    expect(await stored('rj-co2')).toEqual([expect.objectContaining({ device_id: 'rj-co2', timestamp: co2.timestamp, sensors: co2.sensors, message_id: report.results[0]!.message_id })]);
    expect(cliJson<ReplayReport>(['replay', '--ids', entry!.id], { SENSOR_TYPES_DIR: dir })).toMatchObject({ examined: 0, not_found: 1 });
  });

  test('rejects - admin API: missing token 401, wrong token 403, bad ids and queries 400, unknown id 404', async () => {
    const base = `${stack.servers[1]!.base}/api/v1/admin/rejects`;
    const wrong = { authorization: 'Bearer not-the-admin-token-0123', 'content-type': 'application/json' };
    for (const [url, init] of [
      [base, {}],
      [`${base}/1-0`, {}],
      [`${base}/replay`, { method: 'POST', body: '{}' }],
    ] as const) {
      const none = await fetch(url, init);
      expect(none.status).toBe(401);
      expect(((await none.json()) as { code: string }).code).toBe('INGEST_ERR_UNAUTHENTICATED');
      expect((await fetch(url, { ...init, headers: wrong })).status).toBe(403);
    }
    const bad = async (res: Promise<Response>, status: number, details: string) => {
      const r = await res;
      expect({ status: r.status, body: await r.json() }).toMatchObject({ status, body: { details: expect.stringContaining(details) } });
    };
    await bad(fetch(`${base}/not-an-id`, { headers: admin }), 400, 'is not an entry id');
    await bad(fetch(`${base}/1-0`, { headers: admin }), 404, 'no entry 1-0');
    await bad(fetch(`${base}?limit=0`, { headers: admin }), 400, 'limit must be an integer from 1 to 1000');
    await bad(fetch(`${base}?code=NOPE`, { headers: admin }), 400, 'code must be one of');
    await bad(fetch(`${base}?since=soon`, { headers: admin }), 400, 'since must be');
    await bad(fetch(`${base}?cursor=x`, { headers: admin }), 400, 'cursor must be');
    await bad(fetch(`${base}?device=x`, { headers: admin }), 400, 'unknown parameter "device"');
    const post = (body: string) => fetch(`${base}/replay`, { method: 'POST', headers: admin, body });
    await bad(post('{"ids": "1-0"}'), 400, 'ids must be an array');
    await bad(post('{"ids": ["abc"]}'), 400, '"abc" is not an entry id');
    await bad(post('{"ids": ["1-0"], "device_id": "x"}'), 400, 'does not combine with device_id');
    await bad(post('{"dry_run": "yes"}'), 400, 'dry_run must be true or false');
    await bad(post('{"limit": 5000}'), 400, 'limit must be an integer from 1 to 1000');
    await bad(post('{"everything": true}'), 400, 'unknown field "everything"');
    await bad(post('not json'), 400, 'body must be JSON');
    await bad(post('[]'), 400, 'body must be a JSON object');
    expect(await replay(stack.servers[1]!, { ids: ['1-0'] })).toMatchObject({ examined: 0, not_found: 1, results: [{ id: '1-0', status: 'not_found' }] });
  });

  test('rejects - CLI usage errors exit 2 with one line; an unreachable Redis exits 1', () => {
    const usage = (args: string[], message: string | RegExp) => {
      const r = cli(args);
      expect({ status: r.status, stderr: r.stderr.trim(), stdout: r.stdout }).toEqual({ status: 2, stderr: typeof message === 'string' ? `neurobuild-ingest: ${message}` : expect.stringMatching(message), stdout: '' });
    };
    usage([], 'rejects needs an action: list, show <id> or replay (got none)');
    usage(['purge'], 'rejects needs an action: list, show <id> or replay (got "purge")');
    usage(['show'], 'rejects show takes one entry id');
    usage(['show', 'nope'], 'rejects show: "nope" is not an entry id (<ms>-<seq>, as rejects list prints them)');
    usage(['show', '1-0'], 'rejects show: no entry 1-0 in sensor-data-invalid (replayed, trimmed, or never there)');
    usage(['list', '--since', 'soon'], /^neurobuild-ingest: rejects list: --since must be an ISO 8601 time .* got "soon"$/);
    usage(['list', '--limit', '0'], 'rejects list: --limit must be an integer from 1 to 10000000');
    usage(['list', '--code', 'nope'], /^neurobuild-ingest: rejects list: --code must be one of INGEST_ERR_INVALID_READING, /);
    usage(['list', '--ids', '1-0'], 'rejects list does not take --ids (it takes --device-id, --code, --since, --limit, --json)');
    usage(['replay', '--ids', '1-0', '--code', 'INVALID_READING'], 'rejects replay: --ids replays exactly those entries; it does not combine with --device-id, --code, --since or --limit');
    const noRedis = spawnSync('node', [BUNDLE, 'rejects', 'list'], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8', timeout: 15_000 });
    expect({ status: noRedis.status, stderr: noRedis.stderr.trim() }).toEqual({ status: 2, stderr: 'neurobuild-ingest: rejects reads the Redis stream sensor-data-invalid: set REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES' });
    const down = cli(['list'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect({ status: down.status, stderr: down.stderr.trim() }).toEqual({ status: 1, stderr: 'neurobuild-ingest: rejects failed: cannot reach Redis (redis://127.0.0.1:1)' });
  });
});

describe('rejects - embedded backend', () => {
  // a reading 2 s ahead is refused at once and acceptable once the clock has caught up: the same
  // "configuration changed" on a single process
  const stack = useStack({ ADMIN_TOKEN: ADMIN, CLOCK_SKEW_MS: '500' }, { redis: false });

  test('rejects - the admin routes list, show and replay on the in-process queue', async () => {
    const soon = reading({ device_id: 'rj-mem', timestamp: new Date(Date.now() + 2000).toISOString() });
    const [entry, invalid] = [...(await refuse(stack.server, 'rj-mem', [tooFar('rj-mem'), soon]))];
    expect(entry!.reason).toBe('timestamp is more than 0.5 s in the future');
    expect(invalid!.reason).toBe('sensors.ld2410.distance must be <= 600');
    expect(await (await fetch(`${stack.server.base}/api/v1/admin/rejects/${entry!.id}`, { headers: admin })).json()).toEqual(entry!);
    const p1 = await list(stack.server, '?device_id=rj-mem&limit=1');
    expect(p1).toEqual({ entries: [entry!], count: 1, next_cursor: entry!.id });
    expect((await list(stack.server, `?device_id=rj-mem&cursor=${entry!.id}`)).entries).toEqual([invalid!]);
    expect(await replay(stack.server, { device_id: 'rj-mem' })).toMatchObject({ examined: 2, accepted: 0, rejected_again: 2 });
    await Bun.sleep(Math.max(0, Date.parse(soon.timestamp as string) - Date.now()) + 100);
    const report = await replay(stack.server, { device_id: 'rj-mem' });
    expect(report).toMatchObject({ examined: 2, accepted: 1, rejected_again: 1 });
    expect(report.results.map((r) => [r.id, r.status])).toEqual([
      [invalid!.id, 'rejected_again'],
      [entry!.id, 'accepted'],
    ]);
    expect((await list(stack.server, '?device_id=rj-mem')).entries).toEqual([invalid!]);
    expect(await (await fetch(`${stack.server.base}/api/v1/queue/status`)).json()).toMatchObject({ queue_size: 1, rejects_size: 1 });
  });
});
