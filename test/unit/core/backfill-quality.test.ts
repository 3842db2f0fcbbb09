import { describe, expect, test } from 'bun:test';
import { pino } from 'pino';
import { ErrorCode } from '../../../src/core/errors.ts';
import type { Admission, AdmissionKind, IngestItem } from '../../../src/core/item.ts';
import { Pipeline } from '../../../src/core/pipeline.ts';
import { QualityChecks } from '../../../src/core/quality.ts';
import { builtinSensorTypes } from '../../../src/core/readings/registry.ts';
import type { Reading } from '../../../src/core/readings/reading.ts';
import { ReadingValidator } from '../../../src/core/validate.ts';
import { createMetrics } from '../../../src/metrics/registry.ts';
import type { AppendEntry, AppendResult } from '../../../src/queue/backend.ts';
import { MemoryBackend } from '../../../src/queue/memory/index.ts';
import { reading } from '../../fixtures/readings.ts';

class GatedBackend extends MemoryBackend {
  gate: Promise<void> | undefined;
  override async appendBatch(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    if (this.gate) await this.gate;
    return super.appendBatch(entries);
  }
}

const quality = () => new QualityChecks({ ld2410NearCm: 100, ld2410MinEnergy: 50, mq134MaxStepPpm: 200, stepWindowMs: 60_000 });

function setup(maxInFlight = 1000) {
  const backend = new GatedBackend({ maxLen: 1000, dedupeWindowMs: 60_000 });
  const metrics = createMetrics({ queueSizes: async () => ({}), queueUp: () => true, inFlight: () => 0 }, { defaultMetrics: false });
  const pipeline = new Pipeline(
    { validator: new ReadingValidator(builtinSensorTypes, 300_000), backend, metrics, log: pino({ level: 'silent' }), quality: quality() },
    { dedupeWindowMs: 60_000, queueBatchSize: 100, maxInFlight, backfillAfterMs: 300_000 },
  );
  const asked: AdmissionKind[] = [];
  const item = (value: unknown, answer?: (kind: AdmissionKind) => Admission | Error): IngestItem => ({
    source: 'http',
    payload: new TextEncoder().encode(JSON.stringify(value)),
    ...(answer
      ? {
          admit: async (kind: AdmissionKind) => {
            asked.push(kind);
            const a = answer(kind);
            if (a instanceof Error) throw a;
            return a;
          },
        }
      : {}),
  });
  const stored = () => backend.entries().map((e) => JSON.parse(e.fields.data!) as Record<string, unknown>);
  return { backend, metrics, pipeline, item, asked, stored };
}

const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
const ok = (): Admission => ({ ok: true });

describe('backfill', () => {
  test('backfill - a reading older than BACKFILL_AFTER_MS is stored with "backfill": true (device text or re-encoded), a recent one without', async () => {
    const { pipeline, item, stored, metrics } = setup();
    expect((await pipeline.ingest(item(reading({ timestamp: ago(600_000) })))).ok).toBe(true);
    expect((await pipeline.ingest(item(reading({ timestamp: ago(600_000).replace('Z', '+00:00') })))).ok).toBe(true);
    expect((await pipeline.ingest(item(reading({ timestamp: ago(60_000) })))).ok).toBe(true);
    expect(stored().map((r) => r.backfill)).toEqual([true, true, undefined]);
    expect(await metrics.registry.metrics()).toContain('readings_backfill_total 2');
  });

  test('backfill - admission is asked with the kind: live spends the live budget, backfill its own; a refusal is RATE_LIMITED with the reason', async () => {
    const { pipeline, item, asked, stored } = setup();
    const liveOnly = (kind: AdmissionKind): Admission => (kind === 'live' ? { ok: false, retryAfterSeconds: 7, details: 'live budget spent' } : ok());
    const refused = await pipeline.ingest(item(reading({ timestamp: ago(1000) }), liveOnly));
    expect(!refused.ok && [refused.error.code, refused.error.details, (refused.error as { retryAfterSeconds?: number }).retryAfterSeconds]).toEqual([ErrorCode.RATE_LIMITED, 'live budget spent', 7]);
    // the device's buffered readings still go in, on the backfill budget
    expect((await pipeline.ingest(item(reading({ timestamp: ago(3_600_000) }), liveOnly))).ok).toBe(true);
    expect(asked).toEqual(['live', 'backfill']);
    expect(stored()).toHaveLength(1);
    // an admission that cannot answer (the limiter's Redis is down): retry later, nothing stored
    const broken = await pipeline.ingest(item(reading(), () => new Error('Connection is closed.')));
    expect(!broken.ok && broken.error.code).toBe(ErrorCode.QUEUE_UNAVAILABLE);
    expect(stored()).toHaveLength(1);
  });

  test('backfill - a batch asks per reading: each item its own answer', async () => {
    const { pipeline, item, asked } = setup();
    let backfillTokens = 1;
    const answer = (kind: AdmissionKind): Admission => (kind === 'live' || backfillTokens-- > 0 ? ok() : { ok: false, retryAfterSeconds: 2, details: 'backfill budget spent' });
    const outcomes = await pipeline.ingestBatch(item([reading({ timestamp: ago(1000) }), reading({ timestamp: ago(900_000) }), reading({ timestamp: ago(800_000) })], answer), 100);
    expect(Array.isArray(outcomes) && outcomes.map((o) => (o.ok ? 'ok' : o.error.details))).toEqual(['ok', 'ok', 'backfill budget spent']);
    expect(asked).toEqual(['live', 'backfill', 'backfill']);
  });

  test('backfill - paused while more than half of MAX_IN_FLIGHT await the queue; live readings still taken', async () => {
    const { pipeline, backend, item } = setup(4);
    let release!: () => void;
    backend.gate = new Promise((r) => (release = r));
    const held = [0, 1, 2].map(() => pipeline.ingest(item(reading())));
    const paused = await pipeline.ingest(item(reading({ timestamp: ago(900_000) })));
    expect(!paused.ok && [paused.error.code, paused.error.details]).toEqual([ErrorCode.QUEUE_SATURATED, 'backfill paused: more than half of 4 readings await the queue; live readings first']);
    const live = pipeline.ingest(item(reading()));
    backend.gate = undefined;
    release();
    expect((await Promise.all([...held, live])).every((o) => o.ok)).toBe(true);
    expect((await pipeline.ingest(item(reading({ timestamp: ago(900_000) })))).ok).toBe(true);
  });
});

describe('quality flags', () => {
  const r = (sensors: Record<string, unknown>, device = 'q-dev'): Reading => ({ device_id: device, timestamp: new Date().toISOString(), sensors: sensors as Reading['sensors'] });

  test('quality - LD2410 absent but near: flagged only with presence false, a near target and high energy', () => {
    const q = quality();
    expect(q.check(r({ ld2410: { presence: false, distance: 80, energy: 70 } }), 0)).toEqual(['ld2410_absent_but_near']);
    expect(q.check(r({ ld2410: { presence: false, distance: 100, energy: 50 } }), 0)).toEqual(['ld2410_absent_but_near']);
    expect(q.check(r({ ld2410: { presence: true, distance: 80, energy: 70 } }), 0)).toBeUndefined();
    expect(q.check(r({ ld2410: { presence: false, distance: 101, energy: 70 } }), 0)).toBeUndefined();
    expect(q.check(r({ ld2410: { presence: false, distance: 80, energy: 49 } }), 0)).toBeUndefined();
  });

  test('quality - MQ134 step: against the device\'s previous value within the window, ppb converted, late readings do not replace it', () => {
    const q = quality();
    const gas = (v: number, unit = 'ppm') => r({ mq134: { gas_concentration: v, unit } });
    expect(q.check(gas(250), 1000)).toBeUndefined(); // the first: nothing to compare with
    expect(q.check(gas(440), 2000)).toBeUndefined(); // +190
    expect(q.check(gas(700), 3000)).toEqual(['mq134_step']); // +260
    expect(q.check(gas(650_000, 'ppb'), 4000)).toBeUndefined(); // 650 ppm: −50
    expect(q.check(gas(100), 5000)).toEqual(['mq134_step']);
    expect(q.check(gas(900), 200_000)).toBeUndefined(); // more than a minute later: no comparison
    expect(q.check(gas(100), 150_000)).toEqual(['mq134_step']); // a late one compared with 900…
    expect(q.check(gas(950), 201_000)).toBeUndefined(); // …but 900 stays the previous value
    expect(q.check(r({ mq134: { gas_concentration: 5000, unit: 'ppm' } }, 'other-dev'), 201_000)).toBeUndefined(); // per device
    expect(q.check(r({ ld2410: { presence: false, distance: 10, energy: 90 }, mq134: { gas_concentration: 5000, unit: 'ppm' } }, 'other-dev'), 202_000)).toEqual(['ld2410_absent_but_near']);
  });

  test('quality - flags travel in the stored reading as "quality" and are counted; a plausible reading has none', async () => {
    const { pipeline, item, stored, metrics } = setup();
    expect((await pipeline.ingest(item(reading({ sensors: { ld2410: { presence: false, distance: 50, energy: 90 } } })))).ok).toBe(true);
    expect((await pipeline.ingest(item(reading()))).ok).toBe(true);
    expect(stored().map((x) => x.quality)).toEqual([['ld2410_absent_but_near'], undefined]);
    expect(await metrics.registry.metrics()).toContain('readings_quality_flags_total{flag="ld2410_absent_but_near"} 1');
  });
});
