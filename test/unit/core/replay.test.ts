import { describe, expect, test } from 'bun:test';
import { pino } from 'pino';
import type { IngestItem } from '../../../src/core/item.ts';
import { Pipeline } from '../../../src/core/pipeline.ts';
import { builtinSensorTypes } from '../../../src/core/readings/registry.ts';
import { parseRejectQuery, parseSince, replayablePayload, replayRejects, REJECT_PAYLOAD_BYTES } from '../../../src/core/replay.ts';
import { ReadingValidator } from '../../../src/core/validate.ts';
import { createMetrics } from '../../../src/metrics/registry.ts';
import { MemoryBackend } from '../../../src/queue/memory/index.ts';
import { reading } from '../../fixtures/readings.ts';

const log = pino({ level: 'silent' });

function pipelineOn(backend: MemoryBackend, clockSkewMs: number) {
  const metrics = createMetrics({ queueSizes: async () => ({}), queueUp: () => true, inFlight: () => 0 }, { defaultMetrics: false });
  const validator = new ReadingValidator(builtinSensorTypes, clockSkewMs);
  const pipeline = new Pipeline({ validator, backend, metrics, log }, { dedupeWindowMs: 60_000, queueBatchSize: 100, maxInFlight: 1000 });
  return { pipeline, validator, backend };
}

const item = (value: unknown): IngestItem => ({ source: 'http', payload: typeof value === 'string' || value instanceof Uint8Array ? (typeof value === 'string' ? new TextEncoder().encode(value) : value) : new TextEncoder().encode(JSON.stringify(value)) });

/** A backend whose rejects stream holds, in order: a future reading, an invalid one, a truncated one, not JSON, binary, a batch body. */
async function quarantine() {
  const backend = new MemoryBackend({ maxLen: 1000, dedupeWindowMs: 60_000 });
  const strict = pipelineOn(backend, 300_000);
  const future = reading({ timestamp: new Date(Date.now() + 10 * 60_000).toISOString() });
  const invalid = reading({ sensors: { ld2410: { presence: true, distance: 700, energy: 5 } } });
  const outcomes = [
    await strict.pipeline.ingest(item(future)),
    await strict.pipeline.ingest(item(invalid)),
    await strict.pipeline.ingest(item(reading({ device_id: 'x'.repeat(5000) }))),
    await strict.pipeline.ingest(item('{"device_id": "half')),
    await strict.pipeline.ingest(item(new Uint8Array([0x7b, 0xff, 0xfe]))),
  ];
  expect(outcomes.every((o) => !o.ok)).toBe(true);
  expect(await strict.pipeline.ingestBatch(item([]), 100)).toMatchObject({ code: 'INGEST_ERR_INVALID_BATCH' });
  await strict.pipeline.drain();
  const ids = backend.rejectEntries().map((e) => e.id);
  expect(ids.length).toBe(6);
  return { backend, strict, future, invalid, ids };
}

describe('replay', () => {
  test('replay - under a raised CLOCK_SKEW_MS the future reading is accepted and deleted; the others are counted and stay', async () => {
    const { backend, future, ids } = await quarantine();
    const lenient = pipelineOn(backend, 3_600_000);
    const report = await replayRejects(lenient, {});
    expect(report).toMatchObject({ dry_run: false, examined: 6, accepted: 1, rejected_again: 1, duplicate: 0, unreplayable: 4, failed: 0, not_found: 0, next_cursor: null });
    expect(report.results.map((r) => r.status)).toEqual(['accepted', 'rejected_again', 'unreplayable', 'unreplayable', 'unreplayable', 'unreplayable']);
    expect(report.results[0]).toMatchObject({ id: ids[0], device_id: future.device_id });
    expect(report.results[1]).toMatchObject({ code: 'INGEST_ERR_INVALID_READING', reason: 'sensors.ld2410.distance must be <= 600' });
    expect(report.results.slice(2).map((r) => r.reason)).toEqual([
      `payload truncated: only its first ${REJECT_PAYLOAD_BYTES} bytes were kept`,
      'payload is not JSON (kept as received)',
      'binary payload that could not be decoded when it was received (kept as base64)',
      'a whole batch body, not one reading',
    ]);
    await lenient.pipeline.drain();
    const [stored] = backend.entries();
    const data = JSON.parse(stored!.fields.data!);
    expect(data).toMatchObject({ device_id: future.device_id, timestamp: future.timestamp, sensors: future.sensors, message_id: report.results[0]!.message_id });
    expect(Date.parse(data.received_at)).toBeGreaterThan(Date.now() - 5000);
    // still invalid: not added to the rejects stream once more
    expect(backend.rejectEntries().map((e) => e.id)).toEqual(ids.slice(1));
    const again = await replayRejects(lenient, {});
    expect(again).toMatchObject({ examined: 5, accepted: 0, rejected_again: 1, unreplayable: 4 });
  });

  test('replay - dry run changes nothing; without the change the entry is rejected again', async () => {
    const { backend, strict, ids } = await quarantine();
    const lenient = pipelineOn(backend, 3_600_000);
    expect(await replayRejects(lenient, { dryRun: true })).toMatchObject({ dry_run: true, examined: 6, accepted: 1, rejected_again: 1 });
    expect(backend.entries()).toEqual([]);
    const unchanged = await replayRejects(strict, { ids: [ids[0]!] });
    expect(unchanged).toMatchObject({ examined: 1, accepted: 0, rejected_again: 1 });
    expect(unchanged.results[0]!.reason).toBe('timestamp is more than 300 s in the future');
    expect(backend.rejectEntries().map((e) => e.id)).toEqual(ids);
    expect(backend.entries()).toEqual([]);
  });

  test('replay - by ids in the order given; a missing id is not_found; a duplicate is deleted', async () => {
    const { backend, future, ids } = await quarantine();
    const lenient = pipelineOn(backend, 3_600_000);
    // the same reading (device_id, timestamp) stored meanwhile
    expect((await lenient.pipeline.ingest(item(future))).ok).toBe(true);
    const report = await replayRejects(lenient, { ids: ['1-0', ids[1]!, ids[0]!] });
    expect(report.results.map((r) => [r.id, r.status])).toEqual([
      ['1-0', 'not_found'],
      [ids[1]!, 'rejected_again'],
      [ids[0]!, 'duplicate'],
    ]);
    expect(report).toMatchObject({ examined: 2, duplicate: 1, not_found: 1 });
    expect(backend.rejectEntries().map((e) => e.id)).toEqual(ids.slice(1));
  });

  test('replay - filters, limit and cursor: oldest first, next_cursor continues', async () => {
    const { backend, ids } = await quarantine();
    const lenient = pipelineOn(backend, 3_600_000);
    const first = await replayRejects(lenient, { limit: 2, dryRun: true });
    expect(first.results.map((r) => r.id)).toEqual(ids.slice(0, 2));
    expect(first.next_cursor).toBe(ids[1]!);
    const rest = await replayRejects(lenient, { after: first.next_cursor!, dryRun: true });
    expect(rest.results.map((r) => r.id)).toEqual(ids.slice(2));
    expect(rest.next_cursor).toBeNull();
    const malformed = await replayRejects(lenient, { filter: { code: 'INGEST_ERR_MALFORMED_PAYLOAD' }, dryRun: true });
    expect(malformed.results.map((r) => r.id)).toEqual([ids[3]!, ids[4]!]);
  });

  test('replay - payloads: JSON text replayable, cut, not JSON, base64 and arrays not', () => {
    expect(replayablePayload('{"a":1}')).toEqual({ text: '{"a":1}' });
    expect(replayablePayload('{"a":' + '1'.repeat(REJECT_PAYLOAD_BYTES))).toHaveProperty('unreplayable');
    expect(replayablePayload('base64:AAEC')).toHaveProperty('unreplayable');
    expect(replayablePayload('[{"a":1}]')).toEqual({ unreplayable: 'a whole batch body, not one reading' });
    expect(replayablePayload('')).toEqual({ unreplayable: 'empty payload' });
  });

  test('replay - query parsing: code without prefix, since as duration or ISO time, limit bounds, cursor', () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    expect(parseRejectQuery({ device_id: 'd1', code: 'invalid_reading', since: '10m', limit: '5', cursor: '17-3' }, now, 100)).toEqual({
      filter: { deviceId: 'd1', code: 'INGEST_ERR_INVALID_READING', sinceMs: now - 600_000 },
      limit: 5,
      after: '17-3',
    });
    expect(parseSince('2026-03-01T11:00:00Z', now)).toBe(now - 3_600_000);
    expect(parseSince('2d', now)).toBe(now - 2 * 86_400_000);
    expect(parseSince('yesterday', now)).toBeUndefined();
    expect(parseRejectQuery({ code: 'NOPE' }, now)).toContain('code must be one of');
    expect(parseRejectQuery({ since: 'soon' }, now)).toContain('since must be');
    expect(parseRejectQuery({ limit: '0' }, now, 100)).toBe('limit must be an integer from 1 to 100');
    expect(parseRejectQuery({ limit: '101' }, now, 100)).toBe('limit must be an integer from 1 to 100');
    expect(parseRejectQuery({ limit: 'x' }, now, 100)).toBe('limit must be an integer from 1 to 100');
    expect(parseRejectQuery({ cursor: 'abc' }, now)).toContain('cursor must be');
    expect(parseRejectQuery({}, now)).toEqual({ filter: {}, limit: undefined, after: undefined });
  });
});
