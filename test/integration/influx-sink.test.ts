/**
 * `neurobuild-ingest consume influx` end to end: real redis-server, the built server, the consume
 * process spawned from the bundle, and
 * - a real InfluxDB 1.x (Debian's `influxdb` package, 1.6.7 on Debian 12; a private influxd on
 *   free ports) through `INFLUX_API=v1` (`/write`): readings of the three sensors land as the
 *   storage service's points (queried back with /query and compared field by field, with the
 *   field types InfluxDB recorded), ppb → ppm, a replay leaves the point count unchanged, tag
 *   and string escaping survives the round trip, entries InfluxDB refuses (a field type
 *   conflict) or that cannot be encoded go to the DLQ while the rest is written, and an
 *   InfluxDB that goes away holds the entries (nothing to the DLQ) until it is back;
 * - for `/api/v2/write`, which 1.6.7 lacks, a line-protocol receiver in this process that checks
 *   every request's headers and query and parses every line: batching by lines and by the
 *   flush interval, acknowledgement only after a 2xx, 5xx / timeouts retried, a 400 isolated to
 *   the offending entry, 401 waiting for a fixed token, 413 split.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { randomUUID } from 'node:crypto';
import { reading } from '../fixtures/readings.ts';
import { ConsumeProcess } from '../helpers/consume-process.ts';
import { groupSettled } from '../helpers/group-settled.ts';
import { InfluxServer, influxUnavailable } from '../helpers/influx-server.ts';
import { LineProtocolReceiver, type ParsedPoint } from '../helpers/line-protocol-receiver.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const STREAM = 'sensor-data';
const DLQ = 'sensor-data-dlq';
const why = influxUnavailable();
if (why) console.warn(`influx-sink tests against InfluxDB 1.x skipped: ${why}`);

const stack = useStack();
const running: ConsumeProcess[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.stop('SIGKILL')));
});

async function consume(env: Record<string, string>): Promise<ConsumeProcess> {
  const c = await ConsumeProcess.start('influx', { REDIS_URL: stack.redis.url, CONSUMER_CLAIM_IDLE_MS: '1000', RETRY_DELAY_MS: '10', INFLUX_FLUSH_INTERVAL_MS: '20', ...env });
  running.push(c);
  return c;
}

async function postReadings(items: Record<string, unknown>[]): Promise<string[]> {
  const res = await stack.server.post('/api/v1/sensor-data/batch', items);
  expect(res.status).toBe(202);
  const body = (await res.json()) as { results: { status: string; message_id: string }[] };
  expect(body.results.map((r) => r.status)).toEqual(items.map(() => 'accepted'));
  return body.results.map((r) => r.message_id);
}

/** Appends enriched readings to `stream` as the server does (fields data, device_id, message_id); their stream ids. */
async function append(stream: string, readings: Record<string, unknown>[]): Promise<string[]> {
  const ids: string[] = [];
  for (const r of readings) {
    const full: Record<string, unknown> = { message_id: randomUUID(), received_at: new Date().toISOString(), ...r };
    ids.push((await stack.client.xadd(stream, '*', 'data', JSON.stringify(full), 'device_id', String(full.device_id), 'message_id', String(full.message_id)))!);
  }
  return ids;
}

const deadLetters = async (dlq: string) =>
  ((await stack.client.xrange(dlq, '-', '+')) as [string, string[]][]).map(([, f]) => Object.fromEntries(Array.from({ length: f.length / 2 }, (_, i) => [f[2 * i]!, f[2 * i + 1]!])));

/** A time as InfluxDB's /query writes it (RFC 3339, trailing zeros of the fraction dropped). */
const influxTime = (iso: string) => new Date(iso).toISOString().replace(/0+Z$/, 'Z').replace(/\.Z$/, 'Z');

const pending = async (stream: string, group: string) => Number(((await stack.client.xpending(stream, group)) as [number])[0]);

describe.skipIf(why !== undefined)('consume influx: InfluxDB 1.x (/write)', () => {
  let influx: InfluxServer;
  const DB = 'sensor_data';

  beforeAll(async () => {
    influx = await InfluxServer.start();
  });
  afterAll(async () => {
    await influx?.dispose();
  });

  const v1 = (env: Record<string, string> = {}) => consume({ INFLUX_URL: influx.url, INFLUX_API: 'v1', ...env });
  const countOf = async (measurement: string, field: string, where = 'true') => {
    const s = await influx.query(`SELECT count("${field}") FROM "${measurement}" WHERE ${where === 'true' ? 'time > 0' : where}`, DB);
    return Number(s[0]?.values[0]?.[1] ?? 0);
  };

  test('influx v1 - readings of the three sensors land as ld2410_presence, pir_motion and mq134_gas points, field by field, with the storage service\'s types', async () => {
    const withMd = reading({ sensors: { ld2410: { presence: true, distance: 125.5, energy: 75 }, pir: { motion_detected: true }, mq134: { gas_concentration: 612.5, unit: 'ppb' } } });
    const md = { location: 'room-101', room: 'lab-2', zone: 'entrance', firmware_version: 'v1.2.3', sensor_type: 'HC-SR501', calibration: 'calibrated' };
    expect((await stack.server.post('/api/v1/devices/metadata', { device_id: withMd.device_id, metadata: md })).status).toBe(200);
    const bare = reading({ sensors: { ld2410: { presence: false, distance: 0, energy: 12.4 }, mq134: { gas_concentration: 250, unit: 'ppm' } } });
    await postReadings([withMd, bare]);
    const c = await v1();
    await groupSettled(stack.client, STREAM, 'influx');
    expect(c.logged((m) => m.startsWith('influx: database sensor_data ready'))).toBeDefined();
    expect((await influx.query('SHOW DATABASES')).flatMap((s) => s.values.flat())).toContain(DB);

    const at = (r: Record<string, unknown>) => influxTime(r.timestamp as string);
    const dev = (r: Record<string, unknown>) => `device_id = '${r.device_id as string}'`;
    expect(await influx.rows(`SELECT * FROM ld2410_presence WHERE ${dev(withMd)}`, DB)).toEqual([
      { time: at(withMd), device_id: withMd.device_id, distance_cm: 125.5, firmware_ver: 'v1.2.3', location: 'room-101', motion_energy: 75, presence_detected: true, zone: 'entrance' },
    ]);
    expect(await influx.rows(`SELECT * FROM pir_motion WHERE ${dev(withMd)}`, DB)).toEqual([
      { time: at(withMd), device_id: withMd.device_id, firmware_ver: 'v1.2.3', location: 'room-101', motion_detected: true, sensor_type: 'HC-SR501', zone: 'entrance' },
    ]);
    // 612.5 ppb = 0.6125 ppm
    expect(await influx.rows(`SELECT * FROM mq134_gas WHERE ${dev(withMd)}`, DB)).toEqual([
      { time: at(withMd), calibration: 'calibrated', concentration_ppm: 0.6125, device_id: withMd.device_id, firmware_ver: 'v1.2.3', location: 'room-101', zone: 'entrance' },
    ]);
    // no metadata: device_id is the one tag; 12.4 % energy is stored as the integer 12
    const l = await influx.rows(`SELECT * FROM ld2410_presence WHERE ${dev(bare)}`, DB);
    expect(l).toEqual([{ time: at(bare), device_id: bare.device_id, distance_cm: 0, firmware_ver: null, location: null, motion_energy: 12, presence_detected: false, zone: null }]);
    expect(await influx.rows(`SELECT concentration_ppm FROM mq134_gas WHERE ${dev(bare)}`, DB)).toEqual([{ time: at(bare), concentration_ppm: 250 }]);
    expect(await influx.rows(`SELECT * FROM pir_motion WHERE ${dev(bare)}`, DB)).toEqual([]);

    // the field types InfluxDB recorded are the storage schema's
    const types = Object.fromEntries((await influx.query('SHOW FIELD KEYS', DB)).flatMap((s) => s.values.map(([k, t]) => [`${s.name}.${k as string}`, t])));
    expect(types).toEqual({
      'ld2410_presence.distance_cm': 'float',
      'ld2410_presence.motion_energy': 'integer',
      'ld2410_presence.presence_detected': 'boolean',
      'mq134_gas.concentration_ppm': 'float',
      'pir_motion.motion_detected': 'boolean',
    });
    const stats = await stack.client.hgetall('influx-stats:influx');
    expect(Number(stats.points)).toBe(5);
    expect(Number(stats.writes)).toBeGreaterThanOrEqual(1);
  });

  test('influx v1 - replay: the same entries appended again, the group rewound, a second group: the point count is unchanged', async () => {
    await postReadings([reading(), reading()]);
    await v1();
    await groupSettled(stack.client, STREAM, 'influx');
    const counts = async () => [await countOf('ld2410_presence', 'presence_detected'), await countOf('pir_motion', 'motion_detected'), await countOf('mq134_gas', 'concentration_ppm')];
    const before = await counts();
    expect(before[0]).toBeGreaterThanOrEqual(4);

    // every entry appended again (as `dlq replay` does: new stream ids, the same readings)
    const entries = (await stack.client.xrange(STREAM, '-', '+')) as [string, string[]][];
    for (const [, f] of entries) await stack.client.xadd(STREAM, '*', ...f);
    await groupSettled(stack.client, STREAM, 'influx');
    expect(await counts()).toEqual(before);

    await stack.client.xgroup('SETID', STREAM, 'influx', '0');
    await v1({ CONSUMER_GROUP: 'influx-2' });
    await groupSettled(stack.client, STREAM, 'influx');
    await groupSettled(stack.client, STREAM, 'influx-2');
    expect(await counts()).toEqual(before);
    expect(await stack.client.xlen(DLQ)).toBe(0);
  }, 60_000);

  test('influx v1 - tags and strings with commas, spaces, equals signs, quotes, backslashes, newlines and non-ASCII survive the round trip', async () => {
    const stream = `esc-${randomUUID()}`;
    const device = 'esc-1';
    const md = { location: 'HQ, floor 2 = east\\, wing', zone: 'Zürich "Süd"\tpool', firmware_version: 'C:\\fw\\1.0\\' };
    const ts = '2025-10-16T18:33:58.123Z';
    await append(stream, [{ device_id: device, timestamp: ts, device_metadata: md, sensors: { pir: { motion_detected: true }, note: { text: 'say "hi", a\\b = c\nnext line', level: 2 } } }]);
    await v1({ QUEUE_NAME: stream, CONSUMER_GROUP: 'esc' });
    await groupSettled(stack.client, stream, 'esc');
    const stored = 'Zürich "Süd"\\tpool';
    expect(await influx.rows(`SELECT * FROM pir_motion WHERE device_id = '${device}'`, DB)).toEqual([
      // the two documented changes: a tab is stored as the two characters \t, a trailing backslash is dropped
      { time: ts, device_id: device, firmware_ver: 'C:\\fw\\1.0', location: md.location, motion_detected: true, sensor_type: null, zone: stored },
    ]);
    expect(await influx.rows(`SELECT * FROM note WHERE device_id = '${device}'`, DB)).toEqual([
      { time: ts, device_id: device, firmware_ver: 'C:\\fw\\1.0', level: 2, location: md.location, text: 'say "hi", a\\b = c\nnext line', zone: stored },
    ]);
  });

  test('influx v1 - entries InfluxDB refuses (a field type conflict) or that cannot be encoded go to the DLQ at once; the rest of the batch is written', async () => {
    const stream = `poison-${randomUUID()}`;
    const dlq = `${stream}-dlq`;
    const ts = Date.parse('2025-10-16T12:00:00Z');
    // `gauge.value` already stored as a string: a float point for it is a field type conflict
    const seed = await fetch(`${influx.url}/write?db=${DB}&precision=ns`, { method: 'POST', body: `gauge,device_id=seed value="text" ${ts}000000` });
    expect(seed.status).toBe(204);
    const good = Array.from({ length: 6 }, (_, i) => ({ device_id: `good-${i}`, timestamp: new Date(ts + i).toISOString(), sensors: { pir: { motion_detected: i % 2 === 0 } } }));
    const ids = await append(stream, [
      ...good.slice(0, 3),
      { device_id: 'conflict-1', timestamp: new Date(ts + 10).toISOString(), sensors: { gauge: { value: 3 } } },
      { device_id: 'ancient-1', timestamp: '1500-01-01T00:00:00.000Z', sensors: { pir: { motion_detected: true } } },
      ...good.slice(3),
    ]);
    const c = await v1({ QUEUE_NAME: stream, DLQ_NAME: dlq, CONSUMER_GROUP: 'poison' });
    await groupSettled(stack.client, stream, 'poison');
    const dead = await deadLetters(dlq);
    expect(dead.map((d) => [d.dlq_original_id, d.device_id, d.dlq_attempts])).toEqual([
      [ids[3], 'conflict-1', '1'],
      [ids[4], 'ancient-1', '1'],
    ]);
    expect(dead[0]!.dlq_error).toMatch(/InfluxDB refused the reading's points: 400 .*field type conflict/);
    expect(dead[1]!.dlq_error).toContain('outside what InfluxDB stores');
    expect(c.logged((m) => m.includes('writing it in halves'))).toBeDefined();
    for (const g of good) {
      expect(await influx.rows(`SELECT motion_detected FROM pir_motion WHERE device_id = '${g.device_id}'`, DB)).toEqual([{ time: influxTime(g.timestamp), motion_detected: g.sensors.pir.motion_detected }]);
    }
    expect(await influx.rows(`SELECT value FROM gauge WHERE device_id = 'conflict-1'`, DB)).toEqual([]);
  }, 60_000);

  test('influx v1 - InfluxDB going away: the batch waits (entries pending, nothing to the DLQ) and is written once it is back', async () => {
    const stream = `outage-${randomUUID()}`;
    const dlq = `${stream}-dlq`;
    const c = await v1({ QUEUE_NAME: stream, DLQ_NAME: dlq, CONSUMER_GROUP: 'outage' });
    await influx.stop();
    try {
      const items = [reading(), reading(), reading()];
      await append(stream, items);
      await waitFor(() => c.logged((m) => m.includes('unavailable') && m.includes('the batch waits')), 15_000, 'the wait logged');
      expect(await pending(stream, 'outage')).toBe(3);
    } finally {
      await influx.restart();
    }
    await groupSettled(stack.client, stream, 'outage');
    expect(c.logged((m) => m.includes('answers again'))).toBeDefined();
    expect(await stack.client.xlen(dlq)).toBe(0);
    expect(Number(await stack.client.hget('influx-stats:outage', 'retries'))).toBeGreaterThanOrEqual(1);
  }, 60_000);

  test('influx v1 - settings: no INFLUX_URL or v2 without org/token exits 2; INFLUX_API=v2 against 1.6.7 exits 2 naming INFLUX_API=v1; nothing listening exits 1', async () => {
    const env = { REDIS_URL: stack.redis.url };
    await expect(ConsumeProcess.start('influx', env)).rejects.toThrow(/exited with 2: [^]*consume influx needs INFLUX_URL/);
    await expect(ConsumeProcess.start('influx', { ...env, INFLUX_URL: influx.url, INFLUX_TOKEN: 't' })).rejects.toThrow(/exited with 2: [^]*needs INFLUX_ORG/);
    await expect(ConsumeProcess.start('influx', { ...env, INFLUX_URL: influx.url, INFLUX_ORG: 'o' })).rejects.toThrow(/exited with 2: [^]*needs INFLUX_TOKEN/);
    await expect(ConsumeProcess.start('influx', { ...env, INFLUX_URL: influx.url, INFLUX_ORG: 'o', INFLUX_TOKEN: 't' })).rejects.toThrow(/exited with 2: [^]*InfluxDB 1\.\d+\.\d+[^ ]* at http:\/\/127\.0\.0\.1:\d+ has no \/api\/v2\/write [^]*set INFLUX_API=v1/);
    await expect(ConsumeProcess.start('influx', { ...env, INFLUX_URL: 'http://127.0.0.1:1', INFLUX_API: 'v1' })).rejects.toThrow(/exited with 1: [^]*cannot reach InfluxDB at http:\/\/127\.0\.0\.1:1/);
  }, 60_000);
});

describe('consume influx: /api/v2/write (line-protocol receiver)', () => {
  const ORG = 'neurobuildtech';
  const TOKEN = 'write-token-123';
  let rx: LineProtocolReceiver;

  beforeAll(async () => {
    rx = await LineProtocolReceiver.start({ org: ORG, bucket: 'sensor_data', token: TOKEN });
  });
  afterAll(async () => {
    await rx?.close();
  });
  afterEach(() => {
    rx.requests.length = 0;
    rx.errors.length = 0;
    rx.points.clear();
    rx.answer = () => undefined;
  });

  /** A consumer of its own stream (and DLQ, group) against the receiver. */
  async function v2(stream: string, env: Record<string, string> = {}) {
    return consume({ INFLUX_URL: rx.url, INFLUX_ORG: ORG, INFLUX_TOKEN: TOKEN, QUEUE_NAME: stream, DLQ_NAME: `${stream}-dlq`, CONSUMER_GROUP: 'g', ...env });
  }
  const fresh = () => `v2-${randomUUID()}`;
  const ns = (iso: string) => `${Date.parse(iso)}000000`;

  test('influx v2 - headers and query of every request (Token, org, bucket, precision=ns), every line parsed; the three sensors as the storage schema\'s points; batches cut at INFLUX_BATCH_LINES', async () => {
    const stream = fresh();
    const items = Array.from({ length: 5 }, (_, i) => reading({ sensors: { ld2410: { presence: i % 2 === 0, distance: 100 + i / 4, energy: 50 + i }, pir: { motion_detected: true }, mq134: { gas_concentration: 1000 + i, unit: 'ppb' } } }));
    items[0]!.device_metadata = { location: 'lab 1', zone: 'a,b', firmware_version: '2.0' };
    await append(stream, items);
    await v2(stream, { INFLUX_BATCH_LINES: '7' });
    await groupSettled(stack.client, stream, 'g');
    expect(rx.errors).toEqual([]);
    expect(rx.requests.length).toBeGreaterThanOrEqual(3);
    for (const r of rx.requests) {
      expect(r.status).toBe(204);
      expect(r.url.pathname).toBe('/api/v2/write');
      expect(Object.fromEntries(r.url.searchParams)).toEqual({ org: ORG, bucket: 'sensor_data', precision: 'ns' });
      expect(r.headers.authorization).toBe(`Token ${TOKEN}`);
      expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(r.lines.length).toBeLessThanOrEqual(7);
      expect(r.lines.length % 3).toBe(0); // a reading's three lines are never split
    }
    expect(rx.points.size).toBe(15);
    for (const [i, r] of items.entries()) {
      const tags = { device_id: r.device_id as string, ...(i === 0 ? { location: 'lab 1', zone: 'a,b', firmware_ver: '2.0' } : {}) };
      const t = ns(r.timestamp as string);
      const expected: ParsedPoint[] = [
        { measurement: 'ld2410_presence', tags, timestamp: t, fields: { presence_detected: { type: 'boolean', value: i % 2 === 0 }, distance_cm: { type: 'float', value: 100 + i / 4 }, motion_energy: { type: 'integer', value: 50 + i } } },
        { measurement: 'pir_motion', tags, timestamp: t, fields: { motion_detected: { type: 'boolean', value: true } } },
        { measurement: 'mq134_gas', tags, timestamp: t, fields: { concentration_ppm: { type: 'float', value: (1000 + i) / 1000 } } },
      ];
      for (const e of expected) expect(rx.of(e.measurement, r.device_id as string)).toEqual([e]);
    }
  });

  test('influx v2 - the flush interval gathers entries that arrive one by one into one write', async () => {
    const stream = fresh();
    await v2(stream, { INFLUX_FLUSH_INTERVAL_MS: '3000' });
    for (let i = 0; i < 5; i++) await append(stream, [reading()]);
    await groupSettled(stack.client, stream, 'g');
    expect(rx.requests.map((r) => r.lines.length)).toEqual([15]);
  });

  test('influx v2 - 503, 500 and no answer are retried with backoff; entries are acknowledged only after the 2xx; nothing goes to the DLQ', async () => {
    const stream = fresh();
    let calls = 0;
    rx.answer = () => {
      calls++;
      if (calls === 1) return { status: 503, headers: { 'retry-after': '1' } };
      if (calls === 2) return { status: 500 };
      if (calls === 3) return 'hang';
      return undefined;
    };
    await append(stream, [reading(), reading()]);
    const c = await v2(stream, { INFLUX_TIMEOUT_MS: '500' });
    await waitFor(() => calls >= 2, 15_000, 'two failed writes');
    expect(await pending(stream, 'g')).toBe(2); // read, not acknowledged
    expect(rx.points.size).toBe(0);
    await groupSettled(stack.client, stream, 'g');
    expect(calls).toBe(4); // the fourth request came only after the third timed out
    expect(rx.points.size).toBe(6);
    expect(await stack.client.xlen(`${stream}-dlq`)).toBe(0);
    expect(c.logged((m) => m.includes('unavailable (503 forced 503); the batch waits'))).toBeDefined();
    expect(Number(await stack.client.hget('influx-stats:g', 'retries'))).toBeGreaterThanOrEqual(3);
  }, 60_000);

  test('influx v2 - a 400 for one reading\'s lines: the request is halved until that entry stands alone; it goes to the DLQ with InfluxDB\'s message, the others are written', async () => {
    const stream = fresh();
    const items = Array.from({ length: 8 }, () => reading());
    const bad = items[5]!.device_id as string;
    rx.answer = ({ lines }) => (lines.some((l) => l.includes(`device_id=${bad} `) || l.includes(`device_id=${bad},`)) ? { status: 400, body: JSON.stringify({ code: 'invalid', message: 'partial write: field type conflict dropped=1' }) } : undefined);
    const ids = await append(stream, items);
    await v2(stream);
    await groupSettled(stack.client, stream, 'g');
    const dead = await deadLetters(`${stream}-dlq`);
    expect(dead.map((d) => [d.dlq_original_id, d.device_id])).toEqual([[ids[5], bad]]);
    expect(dead[0]!.dlq_error).toBe('InfluxDB refused the reading\'s points: 400 partial write: field type conflict dropped=1');
    expect(rx.points.size).toBe(21);
    expect(rx.of('pir_motion', bad)).toEqual([]);
    expect(Number(await stack.client.hget('influx-stats:g', 'dead_lettered'))).toBe(1);
  });

  test('influx v2 - 401 (a wrong token) holds the batch and names INFLUX_TOKEN; with the right token it is written; nothing goes to the DLQ', async () => {
    const stream = fresh();
    await append(stream, [reading()]);
    const wrong = await v2(stream, { INFLUX_TOKEN: 'not-the-token' });
    await waitFor(() => wrong.logged((m) => m.includes('refuses the write (401') && m.includes('check INFLUX_TOKEN')), 15_000, 'the 401 logged');
    expect(await pending(stream, 'g')).toBe(1);
    await wrong.stop('SIGKILL');
    await v2(stream, { CONSUMER_CLAIM_IDLE_MS: '1000' });
    await groupSettled(stack.client, stream, 'g');
    expect(rx.points.size).toBe(3);
    expect(await stack.client.xlen(`${stream}-dlq`)).toBe(0);
  }, 60_000);

  test('influx v2 - 413 for a large body: the request is split until InfluxDB takes each part', async () => {
    const stream = fresh();
    rx.answer = ({ lines }) => (lines.join('\n').length > 700 ? { status: 413, body: JSON.stringify({ code: 'request too large', message: 'unable to read data: points batch is too large' }) } : undefined);
    await append(stream, Array.from({ length: 10 }, () => reading()));
    await v2(stream);
    await groupSettled(stack.client, stream, 'g');
    expect(rx.points.size).toBe(30);
    expect(rx.requests.some((r) => r.status === 413)).toBe(true);
    expect(await stack.client.xlen(`${stream}-dlq`)).toBe(0);
  });
});
