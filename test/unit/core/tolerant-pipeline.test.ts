/**
 * Tolerant input through the pipeline on the embedded queue: what is stored for each policy,
 * the flags beside the plausibility flags, the metric, the fleet state, the rejects stream, and
 * one reading object on the batch path.
 */
import { describe, expect, test } from 'bun:test';
import { pino } from 'pino';
import { ErrorCode } from '../../../src/core/errors.ts';
import { DeviceTracker } from '../../../src/core/fleet/device-tracker.ts';
import type { IngestItem, Outcome } from '../../../src/core/item.ts';
import type { ToleranceOptions } from '../../../src/core/normalise.ts';
import { Pipeline } from '../../../src/core/pipeline.ts';
import { QualityChecks } from '../../../src/core/quality.ts';
import { builtinSensorTypes } from '../../../src/core/readings/registry.ts';
import { ReadingValidator } from '../../../src/core/validate.ts';
import { createMetrics } from '../../../src/metrics/registry.ts';
import { MemoryBackend } from '../../../src/queue/memory/index.ts';
import { reading } from '../../fixtures/readings.ts';

function setup(tolerance: Partial<ToleranceOptions> = {}) {
  const backend = new MemoryBackend({ maxLen: 1000, dedupeWindowMs: 60_000 });
  const metrics = createMetrics({ queueSizes: async () => ({}), queueUp: () => true, inFlight: () => 0 }, { defaultMetrics: false });
  const devices = new DeviceTracker(backend.fleet, 'i1', { flushMs: 60_000 });
  const quality = new QualityChecks({ ld2410NearCm: 100, ld2410MinEnergy: 50, mq134MaxStepPpm: 200, stepWindowMs: 60_000 });
  const pipeline = new Pipeline(
    { validator: new ReadingValidator(builtinSensorTypes, 300_000, tolerance), backend, metrics, log: pino({ level: 'silent' }), devices, quality },
    { dedupeWindowMs: 60_000, queueBatchSize: 100, maxInFlight: 1000 },
  );
  const item = (body: unknown): IngestItem => ({ source: 'http', payload: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)) });
  const stored = (messageId: string) => {
    const e = backend.entries().find((x) => x.fields.message_id === messageId);
    if (e === undefined) throw new Error(`${messageId} is not in the stream`);
    return { fields: e.fields, data: JSON.parse(e.fields.data!) as Record<string, unknown> };
  };
  const stats = async (id: string) => {
    await devices.flush();
    return (await backend.fleet.stats(id))!;
  };
  const metric = async (name: string) => (await metrics.registry.metrics()).split('\n').filter((l) => l.startsWith(name));
  return { backend, pipeline, item, stored, stats, metric };
}

const id = (o: Outcome): string => {
  if (!o.ok) throw new Error(`refused: ${o.error.details ?? o.error.message}`);
  return o.messageId;
};

describe('tolerant pipeline - UNKNOWN_FIELDS', () => {
  test('keep - the field is in the stream entry as sent, the device text kept byte for byte, flags before the plausibility flags; counted', async () => {
    const { pipeline, item, stored, stats, metric } = setup();
    const one = reading({ rssi: -60, sensors: { ld2410: { presence: false, distance: 50, energy: 80, gate: 2 } } });
    const text = JSON.stringify(one);
    const m = id(await pipeline.ingest(item(text)));
    const { fields, data } = stored(m);
    expect(Object.keys(fields)).toEqual(['data', 'device_id', 'message_id']);
    expect(data).toMatchObject({ rssi: -60, sensors: { ld2410: { gate: 2 } }, quality: ['unknown_fields_kept', 'ld2410_absent_but_near'] });
    // the device's text, then the added fields: nothing re-encoded
    expect(fields.data!.startsWith(text.slice(0, -1) + ',"received_at":')).toBe(true);
    expect(await metric('readings_unknown_fields_total')).toEqual(['readings_unknown_fields_total{action="kept"} 2']);
    expect(await metric('readings_quality_flags_total{flag="unknown_fields_kept"}')).toEqual(['readings_quality_flags_total{flag="unknown_fields_kept"} 1']);
    const s = await stats(one.device_id as string);
    expect(s.unknown_fields).toMatchObject({ kept: 2, stripped: 0, refused: 0, last_names: ['rssi', 'sensors.ld2410.gate'] });
    expect(s.quality_flags).toEqual({ unknown_fields_kept: 1, ld2410_absent_but_near: 1 });
  });

  test('strip - the stream entry holds no trace of the field but the flag; counted', async () => {
    const { pipeline, item, stored, stats, metric } = setup({ unknownFields: 'strip' });
    const one = reading({ rssi: -60, sensors: { pir: { motion_detected: true, sensitivity: 3 } } });
    const { data, fields } = stored(id(await pipeline.ingest(item(one))));
    expect(data).toEqual({ device_id: one.device_id, timestamp: one.timestamp, sensors: { pir: { motion_detected: true } }, received_at: data.received_at, message_id: fields.message_id, quality: ['unknown_fields_stripped'] });
    expect(fields.data).not.toContain('rssi');
    expect(fields.data).not.toContain('sensitivity');
    expect(await metric('readings_unknown_fields_total')).toEqual(['readings_unknown_fields_total{action="stripped"} 2']);
    expect((await stats(one.device_id as string)).unknown_fields).toMatchObject({ kept: 0, stripped: 2, refused: 0, last_names: ['rssi', 'sensors.pir.sensitivity'] });
  });

  test('reject - 400 naming the field; the rejects stream keeps what was sent; counted as refused in the metric and the fleet state', async () => {
    const { backend, pipeline, item, stats, metric } = setup({ unknownFields: 'reject' });
    const one = reading({ timestamp: 1760639700250, rssi: -60 });
    const o = await pipeline.ingest(item(one));
    expect(!o.ok && [o.error.code, o.error.details]).toEqual([ErrorCode.INVALID_READING, 'rssi is not an allowed property']);
    await pipeline.drain();
    expect(backend.entries()).toHaveLength(0);
    const [r] = backend.rejectEntries();
    expect(JSON.parse(r!.fields.payload!)).toEqual(one);
    expect(await metric('readings_unknown_fields_total')).toEqual(['readings_unknown_fields_total{action="refused"} 1']);
    const s = await stats(one.device_id as string);
    expect(s.unknown_fields).toMatchObject({ kept: 0, stripped: 0, refused: 1, last_names: ['rssi'] });
    expect(s.rejected).toMatchObject({ total: 1, last_reason: 'rssi is not an allowed property' });
  });

  test('keep - a reserved name is stripped: the stored JSON is re-encoded (no duplicate key) and the server\'s own value wins', async () => {
    const { pipeline, item, stored } = setup();
    const one = reading({ quality: ['fine'], received_at: 'yesterday', rssi: -1 });
    const { fields, data } = stored(id(await pipeline.ingest(item(one))));
    expect(data.quality).toEqual(['unknown_fields_kept', 'unknown_fields_stripped']);
    expect(data.received_at).not.toBe('yesterday');
    expect(fields.data!.match(/"quality"/g)).toHaveLength(1);
    expect(fields.data!.match(/"received_at"/g)).toHaveLength(1);
  });
});

describe('tolerant pipeline - timestamps', () => {
  test('epoch and naive timestamps are stored normalised and flagged; dedupe uses the normalised time', async () => {
    const { pipeline, item, stored, stats } = setup();
    const at = Date.now() - 30_000;
    const iso = new Date(at).toISOString();
    const ms = reading({ timestamp: at });
    const { data } = stored(id(await pipeline.ingest(item(ms))));
    expect(data).toMatchObject({ timestamp: iso, quality: ['timestamp_epoch_ms'] });
    // the same reading again as ISO text, as seconds with a fraction, naive: duplicates
    for (const timestamp of [iso, at / 1000, iso.slice(0, -1)]) {
      const again = await pipeline.ingest(item({ ...ms, timestamp }));
      expect(!again.ok && again.error.code).toBe(ErrorCode.DUPLICATE);
    }
    const naive = reading({ timestamp: iso.slice(0, -1), seq: 7 });
    expect(stored(id(await pipeline.ingest(item(naive)))).data).toMatchObject({ timestamp: iso, seq: 7, quality: ['timestamp_naive_utc'] });
    const s = await stats(ms.device_id as string);
    expect(s.quality_flags).toEqual({ timestamp_epoch_ms: 1 });
    expect(s.duplicates).toBe(3);
  });
  test('NAIVE_TIMESTAMPS=reject - 400 with what is accepted', async () => {
    const { pipeline, item } = setup({ naiveTimestamps: 'reject' });
    const o = await pipeline.ingest(item(reading({ timestamp: '2025-10-16T18:35:00' })));
    expect(!o.ok && o.error.details).toBe('timestamp must be an ISO 8601 date-time with a time zone or a number of epoch seconds or milliseconds');
  });
});

describe('tolerant pipeline - batch', () => {
  test('one reading object is a batch of one, normalised like any item', async () => {
    const { pipeline, item, stored } = setup();
    const one = reading({ timestamp: Math.floor(Date.now() / 1000) - 10, rssi: -60 });
    const outcomes = await pipeline.ingestBatch(item(one), 100);
    if (!Array.isArray(outcomes)) throw outcomes;
    expect(outcomes).toHaveLength(1);
    expect(stored(id(outcomes[0]!)).data).toMatchObject({ device_id: one.device_id, rssi: -60, quality: ['timestamp_epoch_s', 'unknown_fields_kept'] });
  });
  test('a body that is neither an array nor an object is refused whole; an invalid single object is one failed item', async () => {
    const { pipeline, item } = setup();
    for (const body of ['42', '"x"', 'null', 'true']) {
      const r = await pipeline.ingestBatch(item(body), 100);
      expect(!Array.isArray(r) && [r.code, r.details]).toEqual([ErrorCode.INVALID_BATCH, 'body must be an array of readings, or one reading object']);
    }
    const bad = await pipeline.ingestBatch(item(reading({ sensors: { pir: { motion_detected: 1 } } })), 100);
    if (!Array.isArray(bad)) throw bad;
    expect(bad.map((o) => !o.ok && o.error.details)).toEqual(['sensors.pir.motion_detected must be a boolean']);
  });
});
