/**
 * Tolerant input end to end: the built server under Node on a real redis-server, three of them
 * (UNKNOWN_FIELDS and NAIVE_TIMESTAMPS at their defaults, strip, reject), each payload variant
 * the previous service took sent over HTTP (single, batch, one object on the batch route) and
 * MQTT (v5, QoS 1), and what was stored in the stream checked field by field; under reject, the
 * 400 / PUBACK 0x99 answers and the rejects stream. Then the fleet state and the metric.
 */
import { beforeAll, describe, expect, test } from 'bun:test';
import { duplicateKey } from '../../src/core/json-keys.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import type { ServerProcess } from '../helpers/spawn-server.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const stack = useStack({}, { servers: 0 });

interface Setting {
  name: string;
  env: Record<string, string>;
  unknown: 'keep' | 'strip' | 'reject';
  naive: 'utc' | 'reject';
}
const SETTINGS: Setting[] = [
  { name: 'defaults (keep, utc)', env: {}, unknown: 'keep', naive: 'utc' },
  { name: 'UNKNOWN_FIELDS=strip', env: { UNKNOWN_FIELDS: 'strip' }, unknown: 'strip', naive: 'utc' },
  { name: 'UNKNOWN_FIELDS=reject NAIVE_TIMESTAMPS=reject', env: { UNKNOWN_FIELDS: 'reject', NAIVE_TIMESTAMPS: 'reject' }, unknown: 'reject', naive: 'reject' },
];
const servers = new Map<string, ServerProcess>();
beforeAll(async () => {
  for (const s of SETTINGS) servers.set(s.name, await stack.startServer(s.env));
});

/** What the stream must hold for a payload (the enriched reading minus received_at and message_id), or the refusal's details. */
type Expected = { stored: Record<string, unknown> } | { refused: string };

interface Variant {
  name: string;
  /** The JSON text sent for device `id` with reading time `t` (ms, whole seconds). */
  body(id: string, t: number): string;
  expect(s: Setting, id: string, t: number): Expected;
}

const iso = (t: number) => new Date(t).toISOString();
const pir = { pir: { motion_detected: true } };
const reading = (id: string, timestamp: unknown, extra: Record<string, unknown> = {}, sensors: unknown = pir) => JSON.stringify({ device_id: id, timestamp, ...extra, sensors });
const plain = (id: string, t: number, quality?: string[]) => ({ device_id: id, timestamp: iso(t), sensors: pir, ...(quality ? { quality } : {}) });
const NAIVE_REFUSED = 'timestamp must be an ISO 8601 date-time with a time zone or a number of epoch seconds or milliseconds';

const VARIANTS: Variant[] = [
  { name: 'canonical', body: (id, t) => reading(id, iso(t)), expect: (_s, id, t) => ({ stored: plain(id, t) }) },
  {
    name: 'top-level unknown field "rssi": -60',
    body: (id, t) => reading(id, iso(t), { rssi: -60 }),
    expect: (s, id, t) =>
      s.unknown === 'keep'
        ? { stored: { device_id: id, timestamp: iso(t), rssi: -60, sensors: pir, quality: ['unknown_fields_kept'] } }
        : s.unknown === 'strip'
          ? { stored: plain(id, t, ['unknown_fields_stripped']) }
          : { refused: 'rssi is not an allowed property' },
  },
  {
    name: 'sensor field pir.sensitivity',
    body: (id, t) => reading(id, iso(t), {}, { pir: { motion_detected: true, sensitivity: 3 } }),
    expect: (s, id, t) =>
      s.unknown === 'keep'
        ? { stored: { device_id: id, timestamp: iso(t), sensors: { pir: { motion_detected: true, sensitivity: 3 } }, quality: ['unknown_fields_kept'] } }
        : s.unknown === 'strip'
          ? { stored: plain(id, t, ['unknown_fields_stripped']) }
          : { refused: 'sensors.pir.sensitivity is not an allowed property' },
  },
  {
    name: 'a __proto__ field',
    body: (id, t) => `{"device_id":"${id}","timestamp":"${iso(t)}","__proto__":{"polluted":true},"sensors":{"pir":{"motion_detected":true}}}`,
    expect: (s, id, t) => (s.unknown === 'reject' ? { refused: '__proto__ is not an allowed property' } : { stored: plain(id, t, ['unknown_fields_stripped']) }),
  },
  {
    name: 'timestamp without a time zone',
    body: (id, t) => reading(id, iso(t).slice(0, 19)),
    expect: (s, id, t) => (s.naive === 'utc' ? { stored: plain(id, t, ['timestamp_naive_utc']) } : { refused: NAIVE_REFUSED }),
  },
  { name: 'epoch seconds', body: (id, t) => reading(id, t / 1000), expect: (_s, id, t) => ({ stored: plain(id, t, ['timestamp_epoch_s']) }) },
  { name: 'epoch milliseconds', body: (id, t) => reading(id, t + 250), expect: (_s, id, t) => ({ stored: plain(id, t + 250, ['timestamp_epoch_ms']) }) },
  {
    name: 'epoch microseconds (refused everywhere)',
    body: (id, t) => reading(id, t * 1000),
    expect: (_s, _id, t) => ({ refused: `timestamp ${t * 1000} is too large (microseconds or nanoseconds?): a number must be epoch seconds (below 1e11) or milliseconds (1e11 up to 1e14), from 2000-01-01 on` }),
  },
];

type Transport = 'http single' | 'http batch' | 'http batch, one object' | 'mqtt v5 QoS 1';
const TRANSPORTS: Transport[] = ['http single', 'http batch', 'http batch, one object', 'mqtt v5 QoS 1'];

/** Sends `body` for device `id`; the message id of a stored reading, or the refusal's details. */
async function send(server: ServerProcess, transport: Transport, id: string, body: string): Promise<{ messageId: string } | { refused: string }> {
  if (transport === 'mqtt v5 QoS 1') {
    const raw = stack.track(await RawMqtt.connected(server.mqttPort, 5));
    raw.send({ cmd: 'publish', topic: `neurobuild/sensors/${id}/data`, payload: Buffer.from(body), qos: 1, messageId: 1, retain: false, dup: false });
    const ack = (await raw.next('puback')) as { reasonCode?: number; properties?: { reasonString?: string } };
    if ((ack.reasonCode ?? 0) === 0) return { messageId: '' };
    expect(ack.reasonCode).toBe(0x99);
    return { refused: ack.properties!.reasonString! };
  }
  if (transport === 'http single') {
    const res = await server.post('/api/v1/sensor-data', body);
    const answer = (await res.json()) as Record<string, unknown>;
    if (res.status === 202) return { messageId: answer.message_id as string };
    expect(res.status).toBe(400);
    expect(answer).toMatchObject({ error: 'Invalid sensor data', code: 'INGEST_ERR_INVALID_READING' });
    return { refused: answer.details as string };
  }
  const res = await server.post('/api/v1/sensor-data/batch', transport === 'http batch' ? `[${body}]` : body);
  expect(res.status).toBe(202);
  const answer = (await res.json()) as { message: string; total: number; results: Record<string, unknown>[] };
  expect(answer.message).toBe('Batch processed');
  expect(answer.total).toBe(1);
  expect(answer.results).toHaveLength(1);
  const [r] = answer.results;
  expect(r!.device_id).toBe(id);
  if (r!.status === 'accepted') return { messageId: r!.message_id as string };
  expect(r).toMatchObject({ status: 'failed', error: 'Invalid sensor data' });
  return { refused: r!.details as string };
}

/** Stream entries of one device, as field maps. */
async function entries(stream: string, deviceId: string): Promise<Record<string, string>[]> {
  const rows = (await stack.client.xrange(stream, '-', '+')) as [string, string[]][];
  const out: Record<string, string>[] = [];
  for (const [, flat] of rows) {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i]!] = flat[i + 1]!;
    if (f.device_id === deviceId) out.push(f);
  }
  return out;
}

let n = 0;
for (const setting of SETTINGS) {
  describe(`tolerant input - ${setting.name}`, () => {
    for (const variant of VARIANTS) {
      for (const transport of TRANSPORTS) {
        test(`${setting.name} - ${variant.name} over ${transport}`, async () => {
          const server = servers.get(setting.name)!;
          const id = `tol-${process.pid}-${++n}`;
          const t = Math.floor((Date.now() - 20_000) / 1000) * 1000;
          const expected = variant.expect(setting, id, t);
          const sent = Date.now();
          const outcome = await send(server, transport, id, variant.body(id, t));
          if ('refused' in expected) {
            expect(outcome).toEqual({ refused: expected.refused });
            // nothing stored; the payload kept with its reason, as sent
            const rejects = (await waitFor(async () => {
              const e = await entries('sensor-data-invalid', id);
              return e.length > 0 ? e : undefined;
            }, 5000, 'the rejects entry'))!;
            expect(rejects).toHaveLength(1);
            expect(rejects[0]!.reason).toStartWith(expected.refused);
            // as sent: the same JSON (a timestamp tried in another form was put back)
            expect(rejects[0]!.payload).toBe(JSON.stringify(JSON.parse(variant.body(id, t))));
            expect(await entries('sensor-data', id)).toEqual([]);
            return;
          }
          expect('messageId' in outcome).toBe(true);
          // acknowledged only once stored: no waiting
          const stored = await entries('sensor-data', id);
          expect(stored).toHaveLength(1);
          const fields = stored[0]!;
          expect(Object.keys(fields).sort()).toEqual(['data', 'device_id', 'message_id']);
          expect(fields.device_id).toBe(id);
          if ('messageId' in outcome && outcome.messageId !== '') expect(fields.message_id).toBe(outcome.messageId);
          const { received_at, message_id, ...data } = JSON.parse(fields.data!) as Record<string, unknown>;
          expect(message_id).toBe(fields.message_id);
          expect(Date.parse(received_at as string)).toBeGreaterThanOrEqual(sent - 1000);
          expect(Date.parse(received_at as string)).toBeLessThanOrEqual(Date.now());
          expect(data).toEqual(expected.stored);
          // one key per name in every object: nothing a consumer's parser could resolve another way
          expect(duplicateKey(fields.data!)).toBeUndefined();
          expect(fields.data).not.toContain('polluted');
        });
      }
    }
  });
}

describe('tolerant input - bounds, fleet state and metrics', () => {
  test('defaults - past UNKNOWN_FIELDS_MAX (16) fields, none is kept and the reading is stored without them', async () => {
    const server = servers.get(SETTINGS[0]!.name)!;
    const id = `tol-${process.pid}-bounds`;
    const t = Date.now() - 20_000;
    const extra = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`diag${i}`, i]));
    const res = await server.post('/api/v1/sensor-data', reading(id, iso(t), extra));
    expect(res.status).toBe(202);
    const [e] = await entries('sensor-data', id);
    const { received_at: _r, message_id: _m, ...data } = JSON.parse(e!.data!) as Record<string, unknown>;
    expect(data).toEqual(plain(id, t, ['unknown_fields_stripped']));
    // 1 KiB of them: stored without; just under: kept
    const big = await server.post('/api/v1/sensor-data', reading(`${id}-b`, iso(t), { note: 'x'.repeat(1024) }));
    expect(big.status).toBe(202);
    expect(JSON.parse((await entries('sensor-data', `${id}-b`))[0]!.data!)).not.toHaveProperty('note');
    const fits = await server.post('/api/v1/sensor-data', reading(`${id}-c`, iso(t), { note: 'x'.repeat(1014) }));
    expect(fits.status).toBe(202);
    expect(JSON.parse((await entries('sensor-data', `${id}-c`))[0]!.data!).note).toBe('x'.repeat(1014));
  });

  test('the fleet state counts unknown fields per device with the latest names; the metric counts them without a per-field label', async () => {
    const [keepServer, , rejectServer] = SETTINGS.map((s) => servers.get(s.name)!);
    const t = Date.now() - 20_000;
    const kept = `tol-${process.pid}-fleet-keep`;
    expect((await keepServer!.post('/api/v1/sensor-data', reading(kept, iso(t), { rssi: -60 }))).status).toBe(202);
    expect((await keepServer!.post('/api/v1/sensor-data', reading(kept, iso(t + 1000), { rssi: -61, uptime: 12 }, { pir: { motion_detected: true, sensitivity: 3 } }))).status).toBe(202);
    const refused = `tol-${process.pid}-fleet-reject`;
    expect((await rejectServer!.post('/api/v1/sensor-data', reading(refused, iso(t), { rssi: -60, uptime: 12 }))).status).toBe(400);
    const stats = async (server: ServerProcess, id: string) => {
      const res = await fetch(`${server.base}/api/v1/devices/${id}/stats`);
      return res.status === 200 ? ((await res.json()) as Record<string, Record<string, unknown>>) : undefined;
    };
    const k = (await waitFor(async () => {
      const s = await stats(keepServer!, kept);
      return s && (s.unknown_fields!.kept as number) === 4 ? s : undefined;
    }, 10_000, 'the fleet state of the keep device'))!;
    expect(k.unknown_fields).toMatchObject({ kept: 4, stripped: 0, refused: 0, last_names: ['rssi', 'uptime', 'sensors.pir.sensitivity'] });
    expect(k.quality_flags).toEqual({ unknown_fields_kept: 2 });
    const r = (await waitFor(async () => {
      const s = await stats(rejectServer!, refused);
      return s && (s.unknown_fields!.refused as number) === 2 ? s : undefined;
    }, 10_000, 'the fleet state of the reject device'))!;
    expect(r.unknown_fields).toMatchObject({ kept: 0, stripped: 0, refused: 2, last_names: ['rssi', 'uptime'] });
    expect(r.rejected).toMatchObject({ total: 1, last_reason: 'rssi is not an allowed property (2 unknown fields)' });
    // metrics: by action only
    const text = await (await fetch(`http://127.0.0.1:${keepServer!.metricsPort}/metrics`)).text();
    const lines = text.split('\n').filter((l) => l.startsWith('readings_unknown_fields_total{'));
    expect(lines.every((l) => /^readings_unknown_fields_total\{action="(kept|stripped|refused)"\} \d+$/.test(l))).toBe(true);
    expect(await keepServer!.metric('readings_unknown_fields_total{action="kept"}')).toBeGreaterThanOrEqual(4);
    expect(await rejectServer!.metric('readings_unknown_fields_total{action="refused"}')).toBeGreaterThanOrEqual(2);
    expect(await keepServer!.metric('readings_quality_flags_total{flag="timestamp_epoch_ms"}')).toBeGreaterThanOrEqual(1);
  });
});
