/**
 * The validator's second look (core/normalise.ts through core/validate.ts): each UNKNOWN_FIELDS
 * and NAIVE_TIMESTAMPS policy against each payload variant, the boundaries of the epoch rule,
 * and hostile or reserved field names.
 */
import { describe, expect, test } from 'bun:test';
import { pack, Unpackr } from 'msgpackr';
import { InvalidReadingError } from '../../../src/core/errors.ts';
import { decode, MediaKind, parseJson } from '../../../src/core/decode.ts';
import { epochToIso, type ToleranceOptions } from '../../../src/core/normalise.ts';
import { sensorTypeFromJsonSchema } from '../../../src/core/readings/json-schema.ts';
import type { Reading } from '../../../src/core/readings/reading.ts';
import { builtinSensorTypes } from '../../../src/core/readings/registry.ts';
import { NormalisedReading, ReadingValidator, UnknownFieldsError } from '../../../src/core/validate.ts';
import { designExample } from '../../fixtures/readings.ts';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const validator = (o: Partial<ToleranceOptions> = {}, skewMs = 300_000) => new ReadingValidator(builtinSensorTypes, skewMs, o);
const keep = validator({ unknownFields: 'keep' });
const strip = validator({ unknownFields: 'strip' });
const reject = validator({ unknownFields: 'reject' });

type Result = ReturnType<ReadingValidator['validate']>;
const run = (v: ReadingValidator, value: unknown): Result => v.validate(value, NOW);
/** A copy of the DESIGN example with changes; `sensors` replaced whole when given. */
const example = (over: Record<string, unknown> = {}) => ({ ...structuredClone(designExample), ...over });

function normalised(r: Result): NormalisedReading {
  if (!(r instanceof NormalisedReading)) throw new Error(`expected a NormalisedReading, got ${r instanceof InvalidReadingError ? `an error: ${r.details}` : 'a plain reading'}`);
  return r;
}
function refused(r: Result): string {
  if (!(r instanceof InvalidReadingError)) throw new Error('expected a refusal');
  return r.details!;
}

describe('tolerant input - the canonical path', () => {
  test('canonical - a reading without unknown fields and with an ISO timestamp comes back as the same plain object, no flags', () => {
    for (const v of [keep, strip, reject, validator({ naiveTimestamps: 'reject' })]) {
      const value = example();
      const r = run(v, value);
      expect(r).toBe(value as unknown as Reading);
      expect(r).not.toBeInstanceOf(NormalisedReading);
    }
  });
  test('canonical - an offset timestamp is written in UTC without a flag (notation, not a normalisation of meaning)', () => {
    const r = run(keep, example({ timestamp: '2025-10-16T20:33:58+02:00' })) as Reading;
    expect(r.timestamp).toBe('2025-10-16T18:33:58.000Z');
  });
});

describe('tolerant input - UNKNOWN_FIELDS', () => {
  const variants: [string, () => Record<string, unknown>, string[]][] = [
    ['a top-level field', () => example({ rssi: -60 }), ['rssi']],
    ['a sensor field', () => example({ sensors: { pir: { motion_detected: true, sensitivity: 3 } } }), ['sensors.pir.sensitivity']],
    [
      'fields at both levels',
      () => example({ rssi: -60, fw: { build: '1.4.2', heap: 81234 }, sensors: { ld2410: { presence: true, distance: 150, energy: 75, gate: 3 }, mq134: { gas_concentration: 1, unit: 'ppm', r0: 9.8 } } }),
      ['rssi', 'fw', 'sensors.ld2410.gate', 'sensors.mq134.r0'],
    ],
  ];
  for (const [name, make, paths] of variants) {
    test(`keep - ${name}: stored as sent, flagged unknown_fields_kept, counted`, () => {
      const value = make();
      const sent = structuredClone(value);
      const r = normalised(run(keep, value));
      expect(r.reading).toEqual({ ...sent, timestamp: '2025-10-16T18:33:58.000Z' } as unknown as Reading);
      expect(r.normalisation).toEqual({ flags: ['unknown_fields_kept'], unknown: { kept: paths.length, stripped: 0, names: paths }, fieldsRemoved: false });
    });
    test(`strip - ${name}: removed, flagged unknown_fields_stripped, counted`, () => {
      const r = normalised(run(strip, make()));
      // what was sent minus the unknown fields
      const expected = { ...make(), timestamp: '2025-10-16T18:33:58.000Z' } as Record<string, unknown>;
      for (const p of paths) {
        const parts = p.split('.');
        const at = parts.slice(0, -1).reduce<Record<string, unknown>>((o, k) => o[k] as Record<string, unknown>, expected);
        delete at[parts.at(-1)!];
      }
      expect(r.reading).toEqual(expected as unknown as Reading);
      expect(r.normalisation).toEqual({ flags: ['unknown_fields_stripped'], unknown: { kept: 0, stripped: paths.length, names: paths }, fieldsRemoved: true });
    });
    test(`reject - ${name}: refused naming the first field, the value left as sent`, () => {
      const value = make();
      const sent = structuredClone(value);
      const r = run(reject, value);
      expect(r).toBeInstanceOf(UnknownFieldsError);
      expect(refused(r)).toBe(`${paths[0]} is not an allowed property${paths.length > 1 ? ` (${paths.length} unknown fields)` : ''}`);
      expect((r as UnknownFieldsError).count).toBe(paths.length);
      expect((r as UnknownFieldsError).fields).toEqual(paths);
      expect(value).toEqual(sent);
    });
  }

  test('all policies - an invalid known value is refused as before, whatever the unknown fields', () => {
    for (const v of [keep, strip, reject]) {
      expect(refused(run(v, example({ rssi: -60, sensors: { ld2410: { presence: true, distance: 601, energy: 1, gate: 1 } } })))).toBe('sensors.ld2410.distance must be <= 600');
      expect(refused(run(v, example({ rssi: -60, device_id: 'esp 32' })))).toBe('device_id must match ^[a-zA-Z0-9_-]+$');
      expect(refused(run(v, example({ rssi: -60, timestamp: new Date(NOW + 3_600_000).toISOString() })))).toBe('timestamp is more than 300 s in the future');
    }
  });
  test('all policies - unknown sensor types stay refused', () => {
    for (const v of [keep, strip, reject]) {
      expect(refused(run(v, example({ sensors: { pir: { motion_detected: true }, bme280: { t: 21 } } })))).toBe('sensors.bme280 is not a known sensor type (known: ld2410, pir, mq134)');
    }
  });
  test('all policies - a refused reading is left as sent (the rejects stream keeps what the device sent)', () => {
    for (const v of [keep, strip, reject]) {
      const value = example({ timestamp: 1760639638000, rssi: 1, sensors: { pir: { motion_detected: 'yes', sensitivity: 3 } } });
      const sent = structuredClone(value);
      refused(run(v, value));
      expect(value).toEqual(sent);
    }
  });

  describe('keep - bounds', () => {
    const fields = (n: number, value: unknown = 1) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, value]));
    test('keep - UNKNOWN_FIELDS_MAX fields are kept; one more and none is (the reading is stored without them)', () => {
      const v = validator({ unknownFieldsMax: 3 });
      expect(normalised(run(v, example(fields(3)))).normalisation.unknown).toMatchObject({ kept: 3, stripped: 0 });
      const over = normalised(run(v, example({ ...fields(2), sensors: { pir: { motion_detected: true, a: 1, b: 2 } } })));
      expect(over.normalisation).toMatchObject({ flags: ['unknown_fields_stripped'], unknown: { kept: 0, stripped: 4 }, fieldsRemoved: true });
      expect(over.reading).toEqual({ ...example(), timestamp: '2025-10-16T18:33:58.000Z', sensors: { pir: { motion_detected: true } } });
    });
    test('keep - UNKNOWN_FIELDS_MAX_BYTES counts UTF-8 names plus JSON values: at the bound kept, one byte over none', () => {
      // "note" (4) + JSON of a 94-character string (96) = 100 bytes
      const v = validator({ unknownFieldsMaxBytes: 100 });
      expect(normalised(run(v, example({ note: 'x'.repeat(94) }))).normalisation.unknown).toMatchObject({ kept: 1, stripped: 0 });
      expect(normalised(run(v, example({ note: 'x'.repeat(95) }))).normalisation.unknown).toMatchObject({ kept: 0, stripped: 1 });
      // é is two bytes in UTF-8: 4 + 2 + 47 × 2 = 100
      expect(normalised(run(v, example({ note: 'é'.repeat(47) }))).normalisation.unknown).toMatchObject({ kept: 1 });
      expect(normalised(run(v, example({ note: 'é'.repeat(48) }))).normalisation.unknown).toMatchObject({ kept: 0, stripped: 1 });
      // nested values count as their JSON
      const nested = { a: [1, 2, 3], b: { c: 'd' } }; // {"a":[1,2,3],"b":{"c":"d"}} = 27
      const exact = validator({ unknownFieldsMaxBytes: 4 + 27 });
      expect(normalised(run(exact, example({ diag: nested }))).normalisation.unknown).toMatchObject({ kept: 1 });
      expect(normalised(run(validator({ unknownFieldsMaxBytes: 4 + 26 }), example({ diag: nested }))).normalisation.unknown).toMatchObject({ kept: 0, stripped: 1 });
    });
    test('keep - a value nested deeper than JSON.stringify goes is not kept, and nothing throws', () => {
      let deep: unknown = 1;
      // deeper than JSON.stringify goes in Node and in Bun (a RangeError, caught)
      for (let i = 0; i < 200_000; i++) deep = [deep];
      const r = normalised(run(validator({ unknownFieldsMaxBytes: 65_536 }), example({ deep })));
      expect(r.normalisation).toMatchObject({ flags: ['unknown_fields_stripped'], unknown: { kept: 0, stripped: 1 } });
      expect(Object.hasOwn(r.reading, 'deep')).toBe(false);
    });
    test('keep - the names remembered are the first 10, each at most 64 characters', () => {
      const long = 'n'.repeat(100);
      const r = normalised(run(validator({ unknownFieldsMax: 100 }), example({ [long]: 1, ...fields(12) })));
      expect(r.normalisation.unknown!.names).toHaveLength(10);
      expect(r.normalisation.unknown!.names[0]).toBe('n'.repeat(64));
      expect(r.normalisation.unknown!.kept).toBe(13);
    });
  });

  describe('hostile and reserved names', () => {
    // JSON.parse makes "__proto__" an own property: the way such a payload really arrives
    const parsed = (text: string) => parseJson(text) as Record<string, unknown>;
    const body = (extra: string, pir = '"motion_detected":true') => `{"device_id":"esp32-001","timestamp":"2025-10-16T18:33:58Z",${extra}"sensors":{"pir":{${pir}}}}`;

    test('keep - __proto__, constructor and prototype are never kept, at the top level or in a sensor; the prototype is untouched', () => {
      const value = parsed(body('"__proto__":{"polluted":1},"constructor":{"prototype":{"x":1}},"prototype":2,"rssi":-60,', '"motion_detected":true,"__proto__":{"polluted":2}'));
      const r = normalised(run(keep, value));
      expect(r.normalisation).toEqual({ flags: ['unknown_fields_kept', 'unknown_fields_stripped'], unknown: { kept: 1, stripped: 4, names: ['__proto__', 'constructor', 'prototype', 'rssi', 'sensors.pir.__proto__'] }, fieldsRemoved: true });
      expect(Object.keys(r.reading)).toEqual(['device_id', 'timestamp', 'rssi', 'sensors']);
      expect(Object.getPrototypeOf(r.reading)).toBe(Object.prototype);
      expect(Object.keys(r.reading.sensors.pir!)).toEqual(['motion_detected']);
      expect(Object.getPrototypeOf(r.reading.sensors.pir)).toBe(Object.prototype);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(JSON.stringify(r.reading)).not.toContain('polluted');
    });
    test('keep - a kept field whose value holds a hostile name at any depth is not kept', () => {
      const r = normalised(run(keep, parsed(body('"diag":{"a":[{"b":{"__proto__":{"x":1}}}]},"ok":{"a":[{"b":1}]},'))));
      expect(r.normalisation.unknown).toEqual({ kept: 1, stripped: 1, names: ['diag', 'ok'] });
      expect(Object.keys(r.reading)).toEqual(['device_id', 'timestamp', 'ok', 'sensors']);
    });
    test('strip and reject - hostile names are stripped or refused like any unknown field', () => {
      const s = normalised(run(strip, parsed(body('"__proto__":{"polluted":1},'))));
      expect(Object.keys(s.reading)).toEqual(['device_id', 'timestamp', 'sensors']);
      expect(Object.getPrototypeOf(s.reading)).toBe(Object.prototype);
      expect(refused(run(reject, parsed(body('"constructor":1,'))))).toBe('constructor is not an allowed property');
    });
    test('MessagePack - a __proto__ key arrives renamed by msgpackr (__proto_), an ordinary unknown field', () => {
      // msgpackr's own guard: a map key "__proto__" never sets a prototype
      const raw = new Unpackr({ mapsAsObjects: true, useRecords: false }).unpack(Buffer.from([0x81, 0xa9, ...Buffer.from('__proto__'), 0x81, 0xa1, 0x78, 0x01]));
      expect(Object.getPrototypeOf(raw)).toBe(Object.prototype);
      expect(Object.keys(raw as object)).toEqual(['__proto_']);
    });
    test('keep - the names the server writes (received_at, message_id, device_metadata, backfill, quality) are stripped at the top level, kept inside a sensor', () => {
      const value = example({ received_at: 'x', message_id: 'y', device_metadata: {}, backfill: true, quality: ['ok'], sensors: { pir: { motion_detected: true, quality: 'good' } } });
      const r = normalised(run(keep, value));
      expect(r.normalisation.unknown).toMatchObject({ kept: 1, stripped: 5 });
      expect(r.normalisation.flags).toEqual(['unknown_fields_kept', 'unknown_fields_stripped']);
      expect(r.reading).toEqual({ ...example(), timestamp: '2025-10-16T18:33:58.000Z', sensors: { pir: { motion_detected: true, quality: 'good' } } } as unknown as Reading);
    });
  });

  describe('configured sensor types (SENSOR_TYPES_DIR)', () => {
    const closed = sensorTypeFromJsonSchema('co2', { type: 'object', properties: { ppm: { type: 'number' }, cal: { type: 'object', properties: { at: { type: 'string' } } } }, required: ['ppm'] });
    const open = sensorTypeFromJsonSchema('voc', { type: 'object', properties: { index: { type: 'number' } }, additionalProperties: true });
    const types = [...builtinSensorTypes, closed, open];
    const v = (o: Partial<ToleranceOptions>) => new ReadingValidator(types, 300_000, o);
    test('a closed schema follows the policy for its direct fields; deeper fields follow the schema (refused)', () => {
      expect(normalised(v({ unknownFields: 'keep' }).validate(example({ sensors: { co2: { ppm: 400, temp: 21 } } }), NOW)).normalisation.unknown).toMatchObject({ kept: 1, names: ['sensors.co2.temp'] });
      expect(refused(v({ unknownFields: 'reject' }).validate(example({ sensors: { co2: { ppm: 400, temp: 21 } } }), NOW))).toBe('sensors.co2.temp is not an allowed property');
      expect(refused(v({ unknownFields: 'keep' }).validate(example({ sensors: { co2: { ppm: 400, cal: { at: 'x', by: 'y' } } } }), NOW))).toBe('sensors.co2.cal.by is not an allowed property');
    });
    test('an open schema (additionalProperties: true) takes any field without a flag, on every policy', () => {
      for (const unknownFields of ['keep', 'strip', 'reject'] as const) {
        const r = v({ unknownFields }).validate(example({ sensors: { voc: { index: 100, raw: 31000 } } }), NOW);
        expect(r).not.toBeInstanceOf(NormalisedReading);
        expect((r as Reading).sensors.voc).toEqual({ index: 100, raw: 31000 });
      }
    });
  });
});

describe('tolerant input - NAIVE_TIMESTAMPS', () => {
  const utc = validator({ naiveTimestamps: 'utc' });
  const strict = validator({ naiveTimestamps: 'reject' });
  const forms: [string, string][] = [
    ['2025-10-16T18:35:00', '2025-10-16T18:35:00.000Z'],
    ['2025-10-16T18:35', '2025-10-16T18:35:00.000Z'],
    ['2025-10-16T18:35:00.1', '2025-10-16T18:35:00.100Z'],
    ['2025-10-16T18:35:00.123456789', '2025-10-16T18:35:00.123Z'],
  ];
  for (const [sent, stored] of forms) {
    test(`utc - ${sent} is read as UTC (${stored}), flagged timestamp_naive_utc`, () => {
      const r = normalised(run(utc, example({ timestamp: sent })));
      expect(r.reading.timestamp).toBe(stored);
      expect(r.normalisation).toEqual({ flags: ['timestamp_naive_utc'], unknown: undefined, fieldsRemoved: false });
    });
    test(`reject - ${sent} is refused, the value left as sent`, () => {
      const value = example({ timestamp: sent });
      expect(refused(run(strict, value))).toBe('timestamp must be an ISO 8601 date-time with a time zone or a number of epoch seconds or milliseconds');
      expect(value.timestamp).toBe(sent);
    });
  }
  test('utc - the calendar and clock-skew checks apply to the normalised time', () => {
    expect(refused(run(utc, example({ timestamp: '2025-02-30T00:00:00' })))).toBe('timestamp is not a valid date');
    expect(refused(run(utc, example({ timestamp: '2026-01-01T00:05:01' })))).toBe('timestamp is more than 300 s in the future');
    expect(normalised(run(utc, example({ timestamp: '2026-01-01T00:05:00' }))).reading.timestamp).toBe('2026-01-01T00:05:00.000Z');
  });
  test('utc - a naive timestamp with unknown fields carries both flags, in that order', () => {
    const r = normalised(run(utc, example({ timestamp: '2025-10-16T18:35:00', rssi: -60 })));
    expect(r.normalisation.flags).toEqual(['timestamp_naive_utc', 'unknown_fields_kept']);
  });
  test('both - what is no date-time at all gets one message saying what is accepted', () => {
    expect(refused(run(utc, example({ timestamp: '16/10/2025' })))).toBe('timestamp must be an ISO 8601 date-time (without a time zone: UTC) or a number of epoch seconds or milliseconds');
    expect(refused(run(utc, example({ timestamp: true })))).toBe('timestamp must be an ISO 8601 date-time (without a time zone: UTC) or a number of epoch seconds or milliseconds');
    expect(refused(run(utc, example({ timestamp: '2025-10-16' })))).toBe('timestamp must be an ISO 8601 date-time (without a time zone: UTC) or a number of epoch seconds or milliseconds');
    expect(refused(run(utc, example({ timestamp: '2025-10-16 18:35:00' })))).toBe('timestamp must be an ISO 8601 date-time (without a time zone: UTC) or a number of epoch seconds or milliseconds');
    const { timestamp: _, ...none } = example();
    expect(refused(run(utc, none))).toBe('timestamp is required');
  });
});

describe('tolerant input - epoch timestamps', () => {
  // a clock-skew bound far away, to see the classification at the ends of both ranges
  const far = validator({}, 1e15);
  const at = (n: number, v = far) => run(v, example({ timestamp: n }));
  const stored = (n: number) => normalised(at(n));

  test('epoch - seconds below 1e11, milliseconds from 1e11 to below 1e14, each flagged', () => {
    expect(stored(1760639700)).toMatchObject({ reading: { timestamp: '2025-10-16T18:35:00.000Z' }, normalisation: { flags: ['timestamp_epoch_s'] } });
    expect(stored(1760639700250)).toMatchObject({ reading: { timestamp: '2025-10-16T18:35:00.250Z' }, normalisation: { flags: ['timestamp_epoch_ms'] } });
    expect(stored(1e11 - 1).reading.timestamp).toBe('5138-11-16T09:46:39.000Z');
    expect(stored(1e11 - 1).normalisation.flags).toEqual(['timestamp_epoch_s']);
    expect(stored(1e14 - 1).reading.timestamp).toBe('5138-11-16T09:46:39.999Z');
    expect(stored(1e14 - 1).normalisation.flags).toEqual(['timestamp_epoch_ms']);
  });
  test('epoch - the floor at 2000-01-01, in both units', () => {
    expect(stored(946684800).reading.timestamp).toBe('2000-01-01T00:00:00.000Z');
    expect(refused(at(946684799))).toStartWith('timestamp 946684799 is epoch seconds before 2000-01-01: the device clock is not set (SNTP not synchronised?)');
    expect(stored(946684800000).reading.timestamp).toBe('2000-01-01T00:00:00.000Z');
    expect(refused(at(946684799999))).toStartWith('timestamp 946684799999 is epoch milliseconds before 2000-01-01');
    // 1e11 is milliseconds: 1973-03-03
    expect(refused(at(1e11))).toStartWith('timestamp 100000000000 is epoch milliseconds before 2000-01-01');
    expect(refused(at(0))).toStartWith('timestamp 0 is epoch seconds before 2000-01-01');
    expect(refused(at(42))).toStartWith('timestamp 42 is epoch seconds before 2000-01-01');
  });
  test('epoch - 1e14 and above (microseconds, nanoseconds), negatives and non-finite numbers are refused with the rule', () => {
    const rule = 'a number must be epoch seconds (below 1e11) or milliseconds (1e11 up to 1e14), from 2000-01-01 on';
    expect(refused(at(1e14))).toBe(`timestamp 100000000000000 is too large (microseconds or nanoseconds?): ${rule}`);
    expect(refused(at(1760639700250000))).toBe(`timestamp 1760639700250000 is too large (microseconds or nanoseconds?): ${rule}`);
    expect(refused(at(1.76063970025e18))).toStartWith('timestamp 1760639700250000000 is too large');
    expect(refused(at(-1))).toBe(`timestamp -1 is not an epoch time: ${rule}`);
    expect(epochToIso(Number.NaN)).toEqual({ error: `timestamp NaN is not an epoch time: ${rule}` });
    expect(epochToIso(Number.POSITIVE_INFINITY)).toEqual({ error: `timestamp Infinity is not an epoch time: ${rule}` });
  });
  test('epoch - fractions are allowed and rounded to the millisecond', () => {
    expect(stored(1760639700.25).reading.timestamp).toBe('2025-10-16T18:35:00.250Z');
    expect(stored(1760639700.123).reading.timestamp).toBe('2025-10-16T18:35:00.123Z');
    expect(stored(1760639700.0004).reading.timestamp).toBe('2025-10-16T18:35:00.000Z');
    expect(stored(1760639700.9996).reading.timestamp).toBe('2025-10-16T18:35:01.000Z');
    expect(stored(1760639700250.6).reading.timestamp).toBe('2025-10-16T18:35:00.251Z');
  });
  test('epoch - the clock-skew bound applies; accepted under both NAIVE_TIMESTAMPS settings', () => {
    expect(refused(at(NOW / 1000 + 301, keep))).toBe('timestamp is more than 300 s in the future');
    expect(normalised(at(NOW / 1000 + 300, keep)).reading.timestamp).toBe('2026-01-01T00:05:00.000Z');
    expect(normalised(at(1760639700250, validator({ naiveTimestamps: 'reject' }))).normalisation.flags).toEqual(['timestamp_epoch_ms']);
  });
  test('epoch - a MessagePack integer or float timestamp is the same number', () => {
    const ms = decode(pack({ ...designExample, timestamp: 1760639700250 }), MediaKind.msgpack);
    expect(normalised(run(keep, ms)).reading.timestamp).toBe('2025-10-16T18:35:00.250Z');
    const s = decode(pack({ ...designExample, timestamp: 1760639700.5 }), MediaKind.msgpack);
    expect(normalised(run(keep, s)).reading.timestamp).toBe('2025-10-16T18:35:00.500Z');
    // a float NaN (JSON cannot carry one) is refused, as a kept field it is not kept
    expect(refused(run(keep, decode(pack({ ...designExample, timestamp: Number.NaN }), MediaKind.msgpack)))).toStartWith('timestamp NaN is not an epoch time');
    const nan = normalised(run(keep, decode(pack({ ...designExample, level: Number.NaN }), MediaKind.msgpack)));
    expect(nan.normalisation.unknown).toMatchObject({ kept: 0, stripped: 1 });
  });
});
