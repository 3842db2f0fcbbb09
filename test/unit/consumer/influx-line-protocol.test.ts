/**
 * The line-protocol encoder and the storage schema mapping, without a server: escaping of each
 * part, the four field types, nanosecond timestamps and their range, the platform's
 * measurements / tags / field names and types, ppb → ppm, configured sensor types, and the
 * readings that cannot be written (each with its reason).
 */
import { describe, expect, test } from 'bun:test';
import { escapeKey, escapeMeasurement, fieldValue, FieldKind, LineProtocolError, nanoseconds, quoteString, toLine } from '../../../src/consumer/influx/line-protocol.ts';
import { readingLines, UnencodableReadingError } from '../../../src/consumer/influx/storage-schema.ts';
import { chunk } from '../../../src/consumer/sinks/influx.ts';

describe('line protocol', () => {
  test('line protocol - tag keys, tag values and field keys escape comma, equals and space', () => {
    expect(escapeKey('room 101')).toBe('room\\ 101');
    expect(escapeKey('a,b=c')).toBe('a\\,b\\=c');
    expect(escapeKey('plain-value_1.2')).toBe('plain-value_1.2');
    expect(escapeKey('Zürich "Süd"')).toBe('Zürich\\ "Süd"'); // quotes are literal outside string fields
  });

  test('line protocol - newline, carriage return and tab become the two characters \\n, \\r, \\t (a raw newline would end the line)', () => {
    expect(escapeKey('line1\nline2\r\tx')).toBe('line1\\nline2\\r\\tx');
    expect(escapeMeasurement('a\nb')).toBe('a\\nb');
  });

  test('line protocol - a backslash is written as it is (InfluxDB reads it back so); trailing ones, which would escape the separator, are dropped', () => {
    expect(escapeKey('C:\\temp')).toBe('C:\\temp');
    expect(escapeKey('a\\,b')).toBe('a\\\\,b'); // read back as a\,b: the parser unescapes only \, \= and \space
    expect(escapeKey('a\\ b=c')).toBe('a\\\\ b\\=c');
    expect(escapeKey('ends\\')).toBe('ends');
    expect(escapeKey('two\\\\')).toBe('two');
    expect(escapeKey('\\')).toBe('');
    expect(toLine({ measurement: 'm', tags: { a: '\\', b: 'x' }, fields: [['f', FieldKind.float, 1]], timestamp: '1' })).toBe('m,b=x f=1 1');
  });

  test('line protocol - measurements escape comma and space but not equals', () => {
    expect(escapeMeasurement('my measure,x=1')).toBe('my\\ measure\\,x=1');
  });

  test('line protocol - string field values are quoted with backslash and double quote escaped', () => {
    expect(quoteString('say "hi"')).toBe('"say \\"hi\\""');
    expect(quoteString('back\\slash')).toBe('"back\\\\slash"');
    expect(quoteString('a, b=c d')).toBe('"a, b=c d"');
  });

  test('line protocol - field types: float bare, integer with i, booleans, strings; a value of another type is refused', () => {
    expect(fieldValue(FieldKind.float, 125)).toBe('125'); // still a float: no i suffix
    expect(fieldValue(FieldKind.float, 0.6125)).toBe('0.6125');
    expect(fieldValue(FieldKind.float, -45.2)).toBe('-45.2');
    expect(fieldValue(FieldKind.float, 1e21)).toBe('1e+21');
    expect(fieldValue(FieldKind.float, 1.5e-7)).toBe('1.5e-7');
    expect(fieldValue(FieldKind.integer, 75)).toBe('75i');
    expect(fieldValue(FieldKind.integer, -3)).toBe('-3i');
    expect(fieldValue(FieldKind.boolean, true)).toBe('true');
    expect(fieldValue(FieldKind.boolean, false)).toBe('false');
    expect(fieldValue(FieldKind.string, 'NH3')).toBe('"NH3"');
    expect(() => fieldValue(FieldKind.integer, 7.5, 'motion_energy')).toThrow(/motion_energy must be an integer/);
    expect(() => fieldValue(FieldKind.integer, 2 ** 60)).toThrow(LineProtocolError);
    expect(() => fieldValue(FieldKind.float, Number.NaN)).toThrow(/finite number/);
    expect(() => fieldValue(FieldKind.float, Number.POSITIVE_INFINITY)).toThrow(/finite number/);
    expect(() => fieldValue(FieldKind.float, '1')).toThrow(/must be a finite number/);
    expect(() => fieldValue(FieldKind.boolean, 1)).toThrow(/must be a boolean/);
    expect(() => fieldValue(FieldKind.string, 1)).toThrow(/must be a string/);
  });

  test('line protocol - a point: tags sorted by key, empty tags left out, fields in order, timestamp last', () => {
    const line = toLine({
      measurement: 'ld2410_presence',
      tags: { zone: 'entrance', device_id: 'ld2410-001', location: 'room 101', firmware_ver: '' },
      fields: [['presence_detected', FieldKind.boolean, true], ['distance_cm', FieldKind.float, 125.5], ['motion_energy', FieldKind.integer, 75]],
      timestamp: '1697472000000000000',
    });
    expect(line).toBe('ld2410_presence,device_id=ld2410-001,location=room\\ 101,zone=entrance presence_detected=true,distance_cm=125.5,motion_energy=75i 1697472000000000000');
    expect(() => toLine({ measurement: 'm', tags: {}, fields: [], timestamp: '0' })).toThrow(/at least one field/);
  });

  test('line protocol - nanosecond timestamps: exact for every millisecond, refused outside 1677-09-21 … 2262-04-11', () => {
    expect(nanoseconds(0)).toBe('0');
    expect(nanoseconds(1_697_472_000_000)).toBe('1697472000000000000');
    expect(nanoseconds(Date.parse('2262-04-11T23:47:16.854Z'))).toBe('9223372036854000000'); // under 2^63 − 1
    expect(nanoseconds(-1)).toBe('-1000000');
    expect(nanoseconds(Date.parse('1677-09-21T00:12:43.146Z'))).toBe('-9223372036854000000');
    // 1_697_472_000_123 × 1e6 is not a double: the text is exact
    expect(nanoseconds(1_697_472_000_123)).toBe('1697472000123000000');
    expect(() => nanoseconds(Date.parse('2262-04-12T00:00:00Z'))).toThrow(/outside what InfluxDB stores/);
    expect(() => nanoseconds(Date.parse('1500-01-01T00:00:00Z'))).toThrow(/outside what InfluxDB stores/);
  });
});

const base = { device_id: 'esp32-001', timestamp: '2025-10-16T18:33:58.000Z', message_id: 'm1', received_at: '2025-10-16T18:33:58.120Z' };
const TS = '1760639638000000000';

describe('storage schema', () => {
  test('storage schema - the three sensors as ld2410_presence, pir_motion and mq134_gas with the storage service\'s field names and types', () => {
    const lines = readingLines({
      ...base,
      sensors: { ld2410: { presence: true, distance: 150, energy: 75 }, pir: { motion_detected: false }, mq134: { gas_concentration: 250, unit: 'ppm' } },
    });
    expect(lines).toEqual([
      `ld2410_presence,device_id=esp32-001 presence_detected=true,distance_cm=150,motion_energy=75i ${TS}`,
      `pir_motion,device_id=esp32-001 motion_detected=false ${TS}`,
      `mq134_gas,device_id=esp32-001 concentration_ppm=250 ${TS}`,
    ]);
  });

  test('storage schema - ppb is converted to ppm; ppm is kept', () => {
    expect(readingLines({ ...base, sensors: { mq134: { gas_concentration: 612.5, unit: 'ppb' } } })).toEqual([`mq134_gas,device_id=esp32-001 concentration_ppm=0.6125 ${TS}`]);
    expect(readingLines({ ...base, sensors: { mq134: { gas_concentration: 1500, unit: 'ppb' } } })).toEqual([`mq134_gas,device_id=esp32-001 concentration_ppm=1.5 ${TS}`]);
    expect(readingLines({ ...base, sensors: { mq134: { gas_concentration: 0.5, unit: 'ppm' } } })).toEqual([`mq134_gas,device_id=esp32-001 concentration_ppm=0.5 ${TS}`]);
  });

  test('storage schema - energy is stored as an integer (rounded), distance as a float even when whole', () => {
    expect(readingLines({ ...base, sensors: { ld2410: { presence: false, distance: 0, energy: 42.6 } } })).toEqual([`ld2410_presence,device_id=esp32-001 presence_detected=false,distance_cm=0,motion_energy=43i ${TS}`]);
  });

  test('storage schema - device metadata becomes the location, zone and firmware_ver tags; sensor_type only on pir_motion, calibration only on mq134_gas', () => {
    const md = { location: 'HQ, floor 2', room: 'lab-2', zone: 'north=1', firmware_version: '1.4.2', sensor_type: 'HC-SR501', calibration: 'calibrated', owner: 'ops' };
    const lines = readingLines({ ...base, device_metadata: md, sensors: { ld2410: { presence: true, distance: 150, energy: 75 }, pir: { motion_detected: true }, mq134: { gas_concentration: 1, unit: 'ppm' } } });
    expect(lines).toEqual([
      `ld2410_presence,device_id=esp32-001,firmware_ver=1.4.2,location=HQ\\,\\ floor\\ 2,zone=north\\=1 presence_detected=true,distance_cm=150,motion_energy=75i ${TS}`,
      `pir_motion,device_id=esp32-001,firmware_ver=1.4.2,location=HQ\\,\\ floor\\ 2,sensor_type=HC-SR501,zone=north\\=1 motion_detected=true ${TS}`,
      `mq134_gas,calibration=calibrated,device_id=esp32-001,firmware_ver=1.4.2,location=HQ\\,\\ floor\\ 2,zone=north\\=1 concentration_ppm=1 ${TS}`,
    ]);
    // firmware_ver named as the storage names it, numbers as text, empty values left out
    expect(readingLines({ ...base, device_metadata: { firmware_ver: 'v2', zone: 7, location: '' }, sensors: { pir: { motion_detected: true } } })).toEqual([`pir_motion,device_id=esp32-001,firmware_ver=v2,zone=7 motion_detected=true ${TS}`]);
  });

  test('storage schema - the same reading gives the same lines (a redelivery overwrites its own points)', () => {
    const r = { ...base, device_metadata: { location: 'lab' }, sensors: { ld2410: { presence: true, distance: 1.25, energy: 3 }, mq134: { gas_concentration: 7, unit: 'ppb' } } };
    expect(readingLines(structuredClone(r))).toEqual(readingLines(r));
    // the server's received_at and message_id are not part of a point
    expect(readingLines({ ...r, received_at: '2030-01-01T00:00:00.000Z', message_id: 'other' })).toEqual(readingLines(r));
  });

  test('storage schema - a configured sensor type: its own measurement, scalar fields typed by value, the rest left out', () => {
    const lines = readingLines({
      ...base,
      sensors: { co2: { ppm: 415, unit: 'ppm', calibrated: true, time: 5, _value: 1, nested: { a: 1 }, list: [1, 2], none: null, whole: 3 } },
    });
    expect(lines).toEqual([`co2,device_id=esp32-001 ppm=415,unit="ppm",calibrated=true,whole=3 ${TS}`]);
    expect(readingLines({ ...base, sensors: { blob: { nested: { a: 1 } } } })).toEqual([]);
  });

  test('storage schema - readings that cannot be written are refused with the reason', () => {
    const bad: [unknown, RegExp][] = [
      [null, /not a JSON object/],
      [[1], /not a JSON object/],
      [{ ...base, device_id: '' }, /no device_id/],
      [{ ...base, timestamp: undefined, sensors: {} }, /no timestamp/],
      [{ ...base, timestamp: 'yesterday', sensors: {} }, /"yesterday" is not a date/],
      [{ ...base, timestamp: '1500-01-01T00:00:00.000Z', sensors: { pir: { motion_detected: true } } }, /outside what InfluxDB stores/],
      [{ ...base }, /no sensors object/],
      [{ ...base, sensors: { pir: 'yes' } }, /sensors.pir is not an object/],
      [{ ...base, sensors: { ld2410: { presence: 'yes', distance: 1, energy: 1 } } }, /sensors.ld2410.presence must be a boolean/],
      [{ ...base, sensors: { ld2410: { presence: true, distance: '1', energy: 1 } } }, /sensors.ld2410.distance must be a number/],
      [{ ...base, sensors: { ld2410: {} } }, /sensors.ld2410 has none of presence, distance, energy/],
      [{ ...base, sensors: { mq134: { gas_concentration: 3, unit: 'mg/m3' } } }, /unit must be "ppm" or "ppb"/],
    ];
    for (const [r, why] of bad) {
      let err: unknown;
      try {
        readingLines(r);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(UnencodableReadingError);
      expect((err as Error).message).toMatch(why);
    }
  });
});

describe('influx batches', () => {
  const it = (lines: number, bytes: number) => ({ lines, bytes });
  test('influx batches - requests are cut at the line and byte limits, a reading never split, an oversized one alone', () => {
    expect(chunk([it(3, 10), it(3, 10), it(3, 10)], 6, 1000).map((c) => c.length)).toEqual([2, 1]);
    expect(chunk([it(1, 40), it(1, 40), it(1, 40)], 100, 100).map((c) => c.length)).toEqual([2, 1]);
    expect(chunk([it(1, 10), it(1, 500), it(1, 10)], 100, 100).map((c) => c.length)).toEqual([1, 1, 1]);
    expect(chunk([], 10, 10)).toEqual([]);
  });
});
