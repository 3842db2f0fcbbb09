/**
 * A sensor type added by configuration (SENSOR_TYPES_DIR with co2.json, no code change) on
 * two server processes sharing one redis-server: it validates, reaches the stream, the
 * WebSocket sensor_type filter of the other instance, the MQTT sensor topic and the metrics
 * like the built-in three; a bad schema file stops the server with exit 2 and one line.
 */
import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { BUNDLE } from '../helpers/spawn-server.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { LiveClient } from '../helpers/ws-client.ts';

const CO2 = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  title: 'NDIR CO2 sensor',
  type: 'object',
  properties: {
    ppm: { type: 'number', minimum: 0, maximum: 5000 },
    calibrated: { type: 'boolean' },
  },
  required: ['ppm'],
};

const dir = mkdtempSync(join(tmpdir(), 'nb-sensor-types-'));
writeFileSync(join(dir, 'co2.json'), JSON.stringify(CO2, null, 2));
writeFileSync(join(dir, 'notes.txt'), 'not a schema: ignored');

const stack = useStack({ SENSOR_TYPES_DIR: dir }, { servers: 2 });
stack.cleanup(() => rmSync(dir, { recursive: true, force: true }));

let seq = 0;
function co2Reading(values: Record<string, unknown>, sensors: Record<string, unknown> = {}): Record<string, unknown> {
  seq++;
  return {
    device_id: `co2-dev-${seq}`,
    timestamp: new Date(Date.now() - 60_000 + seq).toISOString(),
    sensors: { co2: values, ...sensors },
  };
}

/** The stored reading (the `data` field, parsed) of `deviceId` in the stream, if there. */
async function stored(deviceId: string): Promise<Record<string, unknown> | undefined> {
  const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
  for (const [, f] of rows) {
    if (f[f.indexOf('device_id') + 1] === deviceId) return JSON.parse(f[f.indexOf('data') + 1]!);
  }
  return undefined;
}

describe('sensor types - configured co2 on two instances', () => {
  test('sensor types - each instance logs the types it loaded', () => {
    for (const s of stack.servers) {
      const line = s.logs.find((l) => String(l.msg).startsWith('sensor types:'));
      expect(line?.msg).toBe(`sensor types: ld2410, pir, mq134, co2 (co2 from SENSOR_TYPES_DIR ${dir})`);
      expect(line?.configured).toEqual(['co2']);
    }
  });

  test('sensor types - a valid co2 reading is accepted (202), stored in the stream and reaches a sensor_type co2 subscriber on the other instance', async () => {
    const [a, b] = stack.servers as [typeof stack.server, typeof stack.server];
    const sub = stack.track(await LiveClient.open(b.wsUrl('/')));
    expect((await sub.subscribe({ sensor_type: 'co2' })).filters).toEqual({ sensor_type: ['co2'] });
    // a reading without co2 first: the filtered subscriber must not see it
    const pirOnly = { device_id: 'co2-none', timestamp: new Date(Date.now() - 1000).toISOString(), sensors: { pir: { motion_detected: true } } };
    expect((await a.post('/api/v1/sensor-data', pirOnly)).status).toBe(202);
    const one = co2Reading({ ppm: 412.5, calibrated: true }, { pir: { motion_detected: false } });
    const res = await a.post('/api/v1/sensor-data', one);
    expect(res.status).toBe(202);
    expect(await res.json()).toMatchObject({ message: 'Sensor data accepted', device_id: one.device_id });
    const entry = await stored(one.device_id as string);
    expect(entry?.sensors).toEqual({ co2: { ppm: 412.5, calibrated: true }, pir: { motion_detected: false } });
    const frame = await sub.next('sensor-data', (f) => (f.data as { device_id: string }).device_id === one.device_id);
    expect((frame.data as { sensors: unknown }).sensors).toEqual(one.sensors);
    // the pir-only reading went first: had it been delivered, it would have come before this one
    expect(sub.readings().some((r) => r.device_id === 'co2-none')).toBe(false);
  });

  test('sensor types - an invalid co2 value is refused with 400 and the path; an unknown field is kept and flagged (UNKNOWN_FIELDS=keep)', async () => {
    const res = await stack.servers[0]!.post('/api/v1/sensor-data', co2Reading({ ppm: 5001 }));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'Invalid sensor data', details: 'sensors.co2.ppm must be <= 5000' });
    const extraReading = co2Reading({ ppm: 1, ppb: 1000 });
    const extra = await stack.servers[1]!.post('/api/v1/sensor-data', extraReading);
    expect(extra.status).toBe(202);
    expect(await stored(extraReading.device_id as string)).toMatchObject({ sensors: { co2: { ppm: 1, ppb: 1000 } }, quality: ['unknown_fields_kept'] });
    const missing = await stack.servers[0]!.post('/api/v1/sensor-data', co2Reading({ calibrated: false }));
    expect(await missing.json()).toMatchObject({ error: 'Invalid sensor data', details: 'sensors.co2.ppm is required' });
  });

  test('sensor types - WebSocket filters know co2; an unknown type lists it among the known ones', async () => {
    const sub = stack.track(await LiveClient.open(stack.servers[1]!.wsUrl('/')));
    sub.send({ type: 'subscribe', filters: { sensor_type: 'co3' } });
    expect((await sub.next('error')).message).toBe('filters.sensor_type "co3" is not a known sensor type (known: ld2410, pir, mq134, co2)');
  });

  test('sensor types - an MQTT publish to the co2 sensor topic is accepted and stored; another sensor there is refused', async () => {
    const c = stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.servers[1]!.mqttPort}`, { protocolVersion: 5, reconnectPeriod: 0 }));
    const one = co2Reading({ ppm: 800 });
    await c.publishAsync(`neurobuild/sensors/${one.device_id}/co2`, JSON.stringify(one), { qos: 1 });
    expect((await stored(one.device_id as string))?.sensors).toEqual({ co2: { ppm: 800 } });
    const wrong: Record<string, unknown> = { ...co2Reading({ ppm: 1 }), sensors: { pir: { motion_detected: true } } };
    const err = await c.publishAsync(`neurobuild/sensors/${wrong.device_id}/co2`, JSON.stringify(wrong), { qos: 1 }).catch((e: { code?: number; message?: string }) => e);
    expect((err as { code?: number }).code).toBe(0x99);
    expect(await stored(wrong.device_id as string)).toBeUndefined();
  });

  test('sensor types - metrics count sensor_type="co2" per transport', async () => {
    const a = stack.servers[0]!;
    const before = (await a.metric('sensor_data_ingested_total{sensor_type="co2",transport="http"}')) ?? 0;
    for (let i = 0; i < 3; i++) expect((await a.post('/api/v1/sensor-data', co2Reading({ ppm: 400 + i }))).status).toBe(202);
    await waitFor(async () => (await a.metric('sensor_data_ingested_total{sensor_type="co2",transport="http"}')) === before + 3, 3000, 'co2 counted');
    expect(await stack.servers[1]!.metric('sensor_data_ingested_total{sensor_type="co2",transport="mqtt"}')).toBe(1);
  });
});

describe('sensor types - a bad schema file', () => {
  test('sensor types - the server exits 2 with one line naming the directory, the file, the pointer and the keyword', () => {
    const bad = mkdtempSync(join(tmpdir(), 'nb-sensor-types-bad-'));
    try {
      writeFileSync(join(bad, 'co2.json'), JSON.stringify(CO2));
      writeFileSync(join(bad, 'voc.json'), JSON.stringify({ type: 'object', properties: { index: { type: 'integer', format: 'int32' } } }));
      const r = spawnSync('node', [BUNDLE], {
        env: { PATH: process.env.PATH ?? '', REDIS_URL: stack.redis.url, SENSOR_TYPES_DIR: bad, PORT: '0', METRICS_PORT: '0', MQTT_PORT: '0', WS_PORT: '0' },
        encoding: 'utf8',
        timeout: 10_000,
      });
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(
        `neurobuild-ingest: invalid configuration: SENSOR_TYPES_DIR=${JSON.stringify(bad)}: voc.json #/properties/index/format: "format" is not supported (with "type": "integer": minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf; see docs/sensor-types.md)\n`,
      );
      expect(r.stdout).toBe('');
    } finally {
      rmSync(bad, { recursive: true, force: true });
    }
  });
});
