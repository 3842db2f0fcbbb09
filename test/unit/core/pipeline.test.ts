import { describe, expect, test } from 'bun:test';
import { pino } from 'pino';
import { ErrorCode } from '../../../src/core/errors.ts';
import type { IngestItem } from '../../../src/core/item.ts';
import { Pipeline } from '../../../src/core/pipeline.ts';
import { builtinSensorTypes } from '../../../src/core/readings/registry.ts';
import { ReadingValidator } from '../../../src/core/validate.ts';
import { createMetrics } from '../../../src/metrics/registry.ts';
import type { AppendEntry, AppendResult } from '../../../src/queue/backend.ts';
import { MemoryBackend } from '../../../src/queue/memory/index.ts';
import { reading } from '../../fixtures/readings.ts';

/** The embedded backend with a switch to hold or fail appends (a unit-level fault injector). */
class ControlledBackend extends MemoryBackend {
  gate: Promise<void> | undefined;
  failWith: Error | undefined;
  override async appendBatch(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    if (this.gate) await this.gate;
    if (this.failWith) throw this.failWith;
    return super.appendBatch(entries);
  }
}

function setup(maxInFlight = 1000, breaker: { breakerThreshold?: number; breakerTimeoutMs?: number } = {}) {
  const logs: { msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const backend = new ControlledBackend({ maxLen: 1000, dedupeWindowMs: 60_000 });
  const metrics = createMetrics({ queueSizes: async () => ({}), queueUp: () => true, inFlight: () => 0 }, { defaultMetrics: false });
  const pipeline = new Pipeline(
    { validator: new ReadingValidator(builtinSensorTypes, 300_000), backend, metrics, log },
    { dedupeWindowMs: 60_000, queueBatchSize: 100, maxInFlight, ...breaker },
  );
  const item = (value: unknown): IngestItem => ({ source: 'http', payload: new TextEncoder().encode(JSON.stringify(value)) });
  return { logs, backend, metrics, pipeline, item };
}

describe('pipeline', () => {
  test('pipeline - a valid reading is enriched, stored and counted per sensor', async () => {
    const { pipeline, backend, metrics, item } = setup();
    const o = await pipeline.ingest(item(reading()));
    expect(o.ok).toBe(true);
    const [stored] = backend.entries();
    const data = JSON.parse(stored!.fields.data!);
    expect(data.message_id).toBe(stored!.fields.message_id);
    expect(typeof data.received_at).toBe('string');
    const text = await metrics.registry.metrics();
    expect(text).toContain('sensor_data_ingested_total{sensor_type="mq134",transport="http"} 1');
  });

  test('pipeline - an invalid reading is refused and kept in the rejects stream with its reason', async () => {
    const { pipeline, backend, item } = setup();
    const bad = reading({ sensors: { pir: { motion_detected: 'no' } } });
    const o = await pipeline.ingest(item(bad));
    expect(o.ok).toBe(false);
    await pipeline.drain();
    const [r] = backend.rejectEntries();
    expect(r!.fields).toMatchObject({ reason: 'sensors.pir.motion_detected must be a boolean', code: ErrorCode.INVALID_READING, device_id: bad.device_id });
  });

  test('pipeline - a body nested too deep to serialise is refused, not thrown; the rejects stream keeps its bytes', async () => {
    const { pipeline, backend } = setup();
    // JSON.parse takes it, JSON.stringify and String() overflow the stack (RangeError); under Node
    // 10,000 levels do (test/integration/hostile-input.test.ts), under Bun it takes 100,000
    const text = '['.repeat(100_000) + ']'.repeat(100_000);
    const o = await pipeline.ingest({ source: 'http', payload: new TextEncoder().encode(text) });
    expect(o.ok === false && o.error.code).toBe(ErrorCode.INVALID_READING);
    await pipeline.drain();
    const [r] = backend.rejectEntries();
    expect(r!.fields.payload).toBe(text.slice(0, 4096));
  });

  test('pipeline - past MAX_IN_FLIGHT readings are refused at once; logged once on the way in and once out', async () => {
    const { pipeline, backend, logs, item } = setup(2);
    let release!: () => void;
    backend.gate = new Promise((r) => (release = r));
    const held = [pipeline.ingest(item(reading())), pipeline.ingest(item(reading()))];
    const refused = await Promise.all([pipeline.ingest(item(reading())), pipeline.ingest(item(reading()))]);
    expect(refused.map((o) => !o.ok && o.error.code)).toEqual([ErrorCode.QUEUE_SATURATED, ErrorCode.QUEUE_SATURATED]);
    backend.gate = undefined;
    release();
    expect((await Promise.all(held)).every((o) => o.ok)).toBe(true);
    expect((await pipeline.ingest(item(reading()))).ok).toBe(true);
    const msgs = logs.map((l) => l.msg);
    expect(msgs.filter((m) => m.startsWith('saturated')).length).toBe(1);
    expect(msgs.filter((m) => m === 'no longer saturated').length).toBe(1);
  });

  test('pipeline - a failing queue answers QUEUE_UNAVAILABLE, logged once per outage', async () => {
    const { pipeline, backend, logs, item } = setup();
    backend.failWith = new Error('Connection is closed.');
    const outs = await Promise.all([pipeline.ingest(item(reading())), pipeline.ingest(item(reading()))]);
    await pipeline.ingest(item(reading()));
    expect(outs.map((o) => !o.ok && o.error.code)).toEqual([ErrorCode.QUEUE_UNAVAILABLE, ErrorCode.QUEUE_UNAVAILABLE]);
    backend.failWith = undefined;
    expect((await pipeline.ingest(item(reading()))).ok).toBe(true);
    const msgs = logs.map((l) => l.msg);
    expect(msgs.filter((m) => m.startsWith('queue appends failing')).length).toBe(1);
    expect(msgs.filter((m) => m === 'queue appends succeeding again').length).toBe(1);
  });

  test('pipeline - after stopAccepting new readings get SHUTTING_DOWN, pending ones finish', async () => {
    const { pipeline, backend, item } = setup();
    let release!: () => void;
    backend.gate = new Promise((r) => (release = r));
    const pending = pipeline.ingest(item(reading()));
    pipeline.stopAccepting();
    const late = await pipeline.ingest(item(reading()));
    expect(!late.ok && late.error.code).toBe(ErrorCode.SHUTTING_DOWN);
    const drained = pipeline.drain();
    release();
    await drained;
    expect((await pending).ok).toBe(true);
    expect(backend.entries().length).toBe(1);
  });
});

describe('pipeline - stored JSON', () => {
  test('pipeline - a non-canonical timestamp is stored normalised; a canonical one as sent', async () => {
    const { pipeline, backend } = setup();
    const text = (ts: string) => `{ "device_id": "d-${ts.length}", "timestamp": "${ts}", "sensors": { "pir": { "motion_detected": true } } }`;
    for (const ts of ['2025-10-16T20:33:58+02:00', '2025-10-16T18:33:59.000Z']) {
      expect((await pipeline.ingest({ source: 'http', payload: new TextEncoder().encode(text(ts)) })).ok).toBe(true);
    }
    const data = backend.entries().map((e) => JSON.parse(e.fields.data!));
    expect(data.map((d) => d.timestamp)).toEqual(['2025-10-16T18:33:58.000Z', '2025-10-16T18:33:59.000Z']);
    expect(data.every((d) => typeof d.message_id === 'string' && typeof d.received_at === 'string')).toBe(true);
  });

  test('pipeline - a batch element is stored from its own text when validation left it as sent, re-serialised otherwise', async () => {
    const { pipeline, backend } = setup();
    const el = (id: string, ts: string, extra = '') => `{ "device_id" : "${id}",\n "timestamp": "${ts}", "sensors": { "pir": { "motion_detected": true } }${extra} }`;
    const elements = [el('as-sent', '2025-10-16T18:33:59.000Z'), el('zoned', '2025-10-16T20:33:58+02:00'), el('with-note', '2025-10-16T18:33:57.000Z', ', "note": "a,}{\\"b"')];
    const body = `[ ${elements.join(' ,\n')} ]`;
    const outcomes = await pipeline.ingestBatch({ source: 'http', payload: new TextEncoder().encode(body) }, 100);
    expect(Array.isArray(outcomes) && outcomes.every((o) => o.ok)).toBe(true);
    const stored = new Map(backend.entries().map((e) => [e.fields.device_id!, e.fields.data!]));
    // the device's bytes, then what the server adds
    expect(stored.get('as-sent')!.startsWith(elements[0]!.slice(0, -2))).toBe(true);
    expect(stored.get('with-note')!.startsWith(elements[2]!.slice(0, -2))).toBe(true);
    expect(JSON.parse(stored.get('with-note')!).note).toBe('a,}{"b');
    // the timestamp was rewritten: JSON.stringify of the reading
    expect(stored.get('zoned')!.startsWith('{"device_id":"zoned","timestamp":"2025-10-16T18:33:58.000Z"')).toBe(true);
    for (const data of stored.values()) expect(Object.keys(JSON.parse(data))).toEqual(expect.arrayContaining(['received_at', 'message_id']));
  });

  test('pipeline - circuit breaker: after THRESHOLD failed batches readings are refused at once; a probe after the timeout closes it', async () => {
    const { pipeline, backend, item, logs } = setup(1000, { breakerThreshold: 2, breakerTimeoutMs: 200 });
    backend.failWith = new Error('redis timed out');
    for (let i = 0; i < 2; i++) expect((await pipeline.ingest(item(reading({ timestamp: new Date(Date.now() - 1000 * i).toISOString() })))).ok).toBe(false);
    const openedAt = Date.now();
    expect(pipeline.breakerState).toBe('open');
    let calls = 0;
    const original = backend.appendBatch.bind(backend);
    backend.appendBatch = (e) => (calls++, original(e));
    const refused = await pipeline.ingest(item(reading({ timestamp: new Date(Date.now() - 5000).toISOString() })));
    expect(refused.ok).toBe(false);
    if (!refused.ok) {
      expect(refused.error.code).toBe(ErrorCode.QUEUE_UNAVAILABLE);
      expect(refused.error.details).toContain('circuit breaker open');
    }
    expect(calls).toBe(0); // refused without a queue round trip
    backend.failWith = undefined;
    // the time under test: the breaker's 200 ms timeout, from when it opened
    await Bun.sleep(Math.max(0, openedAt + 250 - Date.now()));
    const probe = await pipeline.ingest(item(reading({ timestamp: new Date(Date.now() - 6000).toISOString() })));
    expect(probe.ok).toBe(true);
    expect(pipeline.breakerState).toBe('closed');
    expect((await pipeline.ingest(item(reading({ timestamp: new Date(Date.now() - 7000).toISOString() })))).ok).toBe(true);
    expect(logs.map((l) => l.msg).filter((m) => m.startsWith('circuit breaker'))).toEqual([
      expect.stringContaining('circuit breaker open'),
      expect.stringContaining('circuit breaker half-open'),
      expect.stringContaining('circuit breaker closed'),
    ]);
  });
});
