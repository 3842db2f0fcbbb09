import { describe, expect, test } from 'bun:test';
import { InvalidReadingError } from '../../../src/core/errors.ts';
import type { Reading } from '../../../src/core/readings/reading.ts';
import { builtinSensorTypes } from '../../../src/core/readings/registry.ts';
import { ReadingValidator, utcMs } from '../../../src/core/validate.ts';
import { designExample, reading } from '../../fixtures/readings.ts';

const v = new ReadingValidator(builtinSensorTypes, 300_000);
const NOW = Date.parse('2026-01-01T00:00:00Z');

/** UNKNOWN_FIELDS=reject, NAIVE_TIMESTAMPS=reject: the canonical form only (tolerant-input.test.ts has the rest). */
const strict = new ReadingValidator(builtinSensorTypes, 300_000, { unknownFields: 'reject', naiveTimestamps: 'reject' });

function details(value: unknown, validator = v): string | undefined {
  const r = validator.validate(structuredClone(value), NOW);
  return r instanceof InvalidReadingError ? r.details : undefined;
}
const withSensor = (name: string, values: unknown) => ({ ...designExample, sensors: { [name]: values } });

describe('validate - envelope', () => {
  test('the DESIGN example is valid and its timestamp normalised', () => {
    const r = v.validate(structuredClone(designExample), NOW) as Reading;
    expect(r).not.toBeInstanceOf(InvalidReadingError);
    expect(r.timestamp).toBe('2025-10-16T18:33:58.000Z');
  });
  test('offset timestamps are normalised to UTC', () => {
    const r = v.validate({ ...designExample, timestamp: '2025-10-16T20:33:58+02:00' }, NOW) as Reading;
    expect(r.timestamp).toBe('2025-10-16T18:33:58.000Z');
  });
  test('device_id rules', () => {
    expect(details({ ...designExample, device_id: 'esp 32' })).toBe('device_id must match ^[a-zA-Z0-9_-]+$');
    expect(details({ ...designExample, device_id: 'a'.repeat(65) })).toBe('device_id must be at most 64 characters');
    expect(details({ ...designExample, device_id: 'a'.repeat(64) })).toBeUndefined();
    expect(details({ ...designExample, device_id: '' })).toBe('device_id must not be empty');
    expect(details({ ...designExample, device_id: 42 })).toBe('device_id must be a string');
    const { device_id: _, ...noId } = designExample;
    expect(details(noId)).toBe('device_id is required');
  });
  test('timestamp rules', () => {
    expect(details({ ...designExample, timestamp: 'yesterday' })).toBe('timestamp must be an ISO 8601 date-time (without a time zone: UTC) or a number of epoch seconds or milliseconds');
    expect(details({ ...designExample, timestamp: '2025-10-16T18:33:58' }, strict)).toBe('timestamp must be an ISO 8601 date-time with a time zone or a number of epoch seconds or milliseconds');
    expect(details({ ...designExample, timestamp: '2025-13-16T18:33:58Z' })).toBe('timestamp is not a valid date');
    expect(details({ ...designExample, timestamp: '2025-02-30T00:00:00.000Z' })).toBe('timestamp is not a valid date');
    expect(details({ ...designExample, timestamp: '2024-02-29T00:00:00.000Z' })).toBeUndefined();
    expect(details({ ...designExample, timestamp: {} })).toBe('timestamp must be an ISO 8601 date-time (without a time zone: UTC) or a number of epoch seconds or milliseconds');
  });
  test('timestamps beyond the clock-skew bound are rejected, within it accepted', () => {
    expect(details({ ...designExample, timestamp: new Date(NOW + 300_001).toISOString() })).toBe('timestamp is more than 300 s in the future');
    expect(details({ ...designExample, timestamp: new Date(NOW + 300_000).toISOString() })).toBeUndefined();
  });
  test('sensors must hold at least one known sensor', () => {
    expect(details({ ...designExample, sensors: {} })).toBe('sensors must contain at least one sensor');
    expect(details({ ...designExample, sensors: { bme280: { t: 1 } } })).toBe('sensors.bme280 is not a known sensor type (known: ld2410, pir, mq134)');
    expect(details({ ...designExample, sensors: 'pir' })).toBe('sensors must be an object');
    expect(details({ ...designExample, extra: 1 }, strict)).toBe('extra is not an allowed property');
  });
  test('the body must be an object', () => {
    expect(details([designExample])).toBe('body must be an object');
    expect(details(null)).toBe('body must be an object');
  });
});

describe('validate - ld2410', () => {
  const ok = { presence: true, distance: 150, energy: 75 };
  test('distance 0..600', () => {
    expect(details(withSensor('ld2410', { ...ok, distance: 600 }))).toBeUndefined();
    expect(details(withSensor('ld2410', { ...ok, distance: 0 }))).toBeUndefined();
    expect(details(withSensor('ld2410', { ...ok, distance: 601 }))).toBe('sensors.ld2410.distance must be <= 600');
    expect(details(withSensor('ld2410', { ...ok, distance: -1 }))).toBe('sensors.ld2410.distance must be >= 0');
    expect(details(withSensor('ld2410', { ...ok, distance: '150' }))).toBe('sensors.ld2410.distance must be a number');
  });
  test('energy 0..100', () => {
    expect(details(withSensor('ld2410', { ...ok, energy: 100 }))).toBeUndefined();
    expect(details(withSensor('ld2410', { ...ok, energy: 101 }))).toBe('sensors.ld2410.energy must be <= 100');
    expect(details(withSensor('ld2410', { ...ok, energy: -0.5 }))).toBe('sensors.ld2410.energy must be >= 0');
  });
  test('presence boolean, all fields required', () => {
    expect(details(withSensor('ld2410', { ...ok, presence: 'yes' }))).toBe('sensors.ld2410.presence must be a boolean');
    expect(details(withSensor('ld2410', { distance: 1, energy: 1 }))).toBe('sensors.ld2410.presence is required');
    expect(details(withSensor('ld2410', { ...ok, gate: 3 }), strict)).toBe('sensors.ld2410.gate is not an allowed property');
  });
});

describe('validate - pir and mq134', () => {
  test('pir.motion_detected boolean', () => {
    expect(details(withSensor('pir', { motion_detected: false }))).toBeUndefined();
    expect(details(withSensor('pir', { motion_detected: 1 }))).toBe('sensors.pir.motion_detected must be a boolean');
    expect(details(withSensor('pir', {}))).toBe('sensors.pir.motion_detected is required');
  });
  test('mq134 gas_concentration >= 0 and unit ppm|ppb', () => {
    expect(details(withSensor('mq134', { gas_concentration: 0, unit: 'ppb' }))).toBeUndefined();
    expect(details(withSensor('mq134', { gas_concentration: -1, unit: 'ppm' }))).toBe('sensors.mq134.gas_concentration must be >= 0');
    expect(details(withSensor('mq134', { gas_concentration: 1, unit: 'mg' }))).toBe('sensors.mq134.unit must be one of "ppm", "ppb"');
    expect(details(withSensor('mq134', { gas_concentration: 1 }))).toBe('sensors.mq134.unit is required');
  });
  test('non-finite numbers are rejected (MessagePack can carry them)', () => {
    expect(details(withSensor('mq134', { gas_concentration: Number.POSITIVE_INFINITY, unit: 'ppm' }))).toBeDefined();
    expect(details(withSensor('mq134', { gas_concentration: Number.NaN, unit: 'ppm' }))).toBeDefined();
  });
  test('a fresh fixture reading is valid', () => {
    expect(v.validate(reading(), Date.now())).not.toBeInstanceOf(InvalidReadingError);
  });
});

describe('validate - calendar', () => {
  const at = (timestamp: string) => details({ ...designExample, timestamp });
  test('days that exist pass, days that do not are refused', () => {
    for (const ok of ['2024-02-29T00:00:00Z', '2000-02-29T00:00:00Z', '2025-01-31T00:00:00Z', '2025-04-30T00:00:00Z', '2025-12-31T23:59:59Z']) {
      expect([ok, at(ok)]).toEqual([ok, undefined]);
    }
    for (const bad of ['2025-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2025-04-31T00:00:00Z', '2025-06-31T00:00:00Z', '2025-11-31T00:00:00Z']) {
      expect([bad, at(bad)]).toEqual([bad, 'timestamp is not a valid date']);
    }
  });
});

describe('validate - canonical timestamps', () => {
  test('the stored timestamp is what toISOString gives, whole seconds in UTC included (their shortcut), and timestampMs its time', () => {
    const v2 = new ReadingValidator(builtinSensorTypes, 300_000);
    const cases = ['2025-10-16T18:33:58Z', '2025-10-16T00:00:00Z', '2025-10-16T23:59:59Z', '2025-10-16T19:59:59Z', '2025-10-16T24:00:00Z', '2025-10-16T20:33:58+02:00', '2025-10-16T18:33:58.5Z', '2025-10-16T18:33:58.123Z', '2024-02-29T12:00:00Z'];
    for (const ts of cases) {
      const r = v2.validate({ ...designExample, timestamp: ts }, NOW);
      if (r instanceof InvalidReadingError) throw new Error(`${ts}: ${r.details}`);
      expect([ts, (r as { timestamp: string }).timestamp]).toEqual([ts, new Date(Date.parse(ts)).toISOString()]);
      expect(v2.timestampMs).toBe(Date.parse(ts));
    }
  });
});

describe('validate - the arithmetic timestamp parser', () => {
  test('utcMs agrees with Date.parse and the calendar check on canonical and whole-second UTC text, NaN where it leaves the judgement to them', () => {
    const pad = (n: number, w: number) => String(n).padStart(w, '0');
    const cases: string[] = ['0000-01-01T00:00:00.000Z', '0000-02-29T12:00:00Z', '9999-12-31T23:59:59.999Z', '1970-01-01T00:00:00Z', '1969-12-31T23:59:59.999Z', '2024-02-29T00:00:00Z', '2025-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2000-02-29T00:00:00Z', '2025-10-16T24:00:00Z', '2025-10-16T23:60:00Z', '2025-10-16T23:59:60Z', '2025-13-01T00:00:00Z', '2025-00-01T00:00:00Z', '2025-01-00T00:00:00Z', '2025-01-32T00:00:00Z', '2025-1a-01T00:00:00Z', '2025-10-16T18:33:58.12Z', '2025-10-16 18:33:58Z', '2025-10-16T18:33:58+00:00'];
    for (let i = 0; i < 3000; i++) {
      const y = Math.floor(Math.random() * 10000);
      const parts = [pad(y, 4), pad(Math.floor(Math.random() * 14), 2), pad(Math.floor(Math.random() * 33), 2), pad(Math.floor(Math.random() * 25), 2), pad(Math.floor(Math.random() * 61), 2), pad(Math.floor(Math.random() * 61), 2)];
      const base = `${parts[0]}-${parts[1]}-${parts[2]}T${parts[3]}:${parts[4]}:${parts[5]}`;
      cases.push(Math.random() < 0.5 ? `${base}Z` : `${base}.${pad(Math.floor(Math.random() * 1000), 3)}Z`);
    }
    let fast = 0;
    for (const ts of cases) {
      const ms = utcMs(ts);
      const reference = Date.parse(ts);
      const valid = !Number.isNaN(reference) && details({ ...designExample, timestamp: ts }) !== 'timestamp is not a valid date';
      if (Number.isNaN(ms)) continue;
      fast++;
      expect([ts, valid, ms]).toEqual([ts, true, reference]);
    }
    // and it takes the usual ones: every valid case below 24:00 in the generated set
    expect(fast).toBeGreaterThan(400);
  });
});
