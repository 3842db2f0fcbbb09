import { describe, expect, test } from 'bun:test';
import type { EnrichedReading } from '../../../src/core/readings/reading.ts';
import { evaluate, inBusinessHours, localTime } from '../../../src/consumer/alerts/evaluate.ts';
import { buildRules, type PresenceRule, type Rule, type ThresholdRule } from '../../../src/consumer/alerts/rules.ts';

function reading(sensors: Record<string, Record<string, unknown>>, over: Partial<EnrichedReading> = {}): EnrichedReading {
  return { device_id: 'esp32-001', timestamp: '2025-10-15T10:00:00.000Z', sensors, received_at: '2025-10-15T10:00:00.100Z', message_id: 'm1', ...over };
}
const rule = (r: object): Rule => buildRules({ rules: [{ id: 'r', ...r }] }, 't').rules[0]!;
const threshold = (op: string, value: number, extra: object = {}) => rule({ kind: 'threshold', sensor: 'mq134', field: 'gas_concentration', op, value, ...extra }) as ThresholdRule;
const gas = (v: number, unit = 'ppm') => reading({ mq134: { gas_concentration: v, unit } });

describe('alert rule evaluation', () => {
  test('evaluate - thresholds: each operator at, above and below its value', () => {
    const cases: [string, number, boolean][] = [
      ['>', 500, false], ['>', 500.1, true], ['>=', 500, true], ['>=', 499.9, false],
      ['<', 500, false], ['<', 499, true], ['<=', 500, true], ['<=', 501, false],
    ];
    for (const [op, v, holds] of cases) expect([op, v, evaluate(threshold(op, 500), gas(v)).kind]).toEqual([op, v, holds ? 'match' : 'clear']);
    expect(evaluate(threshold('>', 500, { unit: 'ppm' }), gas(620))).toEqual({
      kind: 'match', value: 620, threshold: 500, unit: 'ppm', location: null, detail: 'mq134.gas_concentration 620 ppm > 500 ppm',
    });
    expect(evaluate(threshold('>', 500, { unit: 'ppm' }), gas(300))).toMatchObject({ kind: 'clear', detail: 'mq134.gas_concentration 300 ppm, no longer > 500 ppm' });
  });

  test('evaluate - a reading without the sensor or field says nothing (na); any numeric field works', () => {
    expect(evaluate(threshold('>', 500), reading({ pir: { motion_detected: true } }))).toEqual({ kind: 'na' });
    expect(evaluate(threshold('>', 500), reading({ mq134: { unit: 'ppm' } }))).toEqual({ kind: 'na' });
    const energy = rule({ kind: 'threshold', sensor: 'ld2410', field: 'energy', op: '>=', value: 90 });
    expect(evaluate(energy, reading({ ld2410: { presence: true, distance: 10, energy: 95 } }))).toMatchObject({ kind: 'match', value: 95, unit: null, detail: 'ld2410.energy 95 >= 90' });
    expect(evaluate(energy, reading({ ld2410: { presence: true, distance: 10, energy: 5 } })).kind).toBe('clear');
  });

  test('evaluate - units: a ppb reading is compared with a ppm threshold in ppm (and back)', () => {
    const ppm = threshold('>', 500, { unit: 'ppm' });
    expect(evaluate(ppm, gas(600_000, 'ppb'))).toMatchObject({ kind: 'match', value: 600, unit: 'ppm' });
    expect(evaluate(ppm, gas(400_000, 'ppb'))).toMatchObject({ kind: 'clear', value: 400 });
    const ppb = threshold('>', 500, { unit: 'ppb' });
    expect(evaluate(ppb, gas(0.6))).toMatchObject({ kind: 'match', value: 600, unit: 'ppb' });
    expect(evaluate(ppm, gas(1, 'mg/m3'))).toEqual({ kind: 'na' });
    // without a unit in the rule the raw number counts
    expect(evaluate(threshold('>', 500), gas(600_000, 'ppb'))).toMatchObject({ kind: 'match', value: 600_000, unit: 'ppb' });
  });

  test('evaluate - business hours in a time zone, across midnight, weekends and daylight saving', () => {
    const hours = (tz: string) => (rule({ kind: 'presence_outside_hours', business_hours: { time_zone: tz } }) as PresenceRule).hours;
    const utc = hours('UTC');
    expect(inBusinessHours(utc, Date.parse('2025-10-15T08:00:00Z'))).toBe(true); // Wed 08:00: start is inclusive
    expect(inBusinessHours(utc, Date.parse('2025-10-15T07:59:59Z'))).toBe(false);
    expect(inBusinessHours(utc, Date.parse('2025-10-15T17:59:00Z'))).toBe(true);
    expect(inBusinessHours(utc, Date.parse('2025-10-15T18:00:00Z'))).toBe(false); // end is exclusive
    expect(inBusinessHours(utc, Date.parse('2025-10-18T10:00:00Z'))).toBe(false); // Saturday
    // Berlin is UTC+2 in summer time (until 26 Oct 2025), UTC+1 after
    const berlin = hours('Europe/Berlin');
    expect(inBusinessHours(berlin, Date.parse('2025-10-15T06:30:00Z'))).toBe(true); // 08:30 local
    expect(inBusinessHours(berlin, Date.parse('2025-10-15T16:30:00Z'))).toBe(false); // 18:30 local
    expect(inBusinessHours(berlin, Date.parse('2025-10-29T06:30:00Z'))).toBe(false); // 07:30 local (winter time)
    expect(inBusinessHours(berlin, Date.parse('2025-10-29T07:30:00Z'))).toBe(true); // 08:30 local
    // New York: Friday 20:00 local is Saturday 00:00 UTC; Monday 09:00 local is Monday 13:00 UTC
    const ny = hours('America/New_York');
    expect(localTime(Date.parse('2025-10-18T00:00:00Z'), 'America/New_York')).toEqual({ day: 5, minutes: 20 * 60 });
    expect(inBusinessHours(ny, Date.parse('2025-10-17T21:00:00Z'))).toBe(true); // Fri 17:00 local
    expect(inBusinessHours(ny, Date.parse('2025-10-18T00:00:00Z'))).toBe(false);
    expect(inBusinessHours(ny, Date.parse('2025-10-20T13:00:00Z'))).toBe(true);
    // Tokyo: Monday 07:00 UTC is Monday 16:00 there; Sunday 23:30 UTC is Monday 08:30 there
    const tokyo = hours('Asia/Tokyo');
    expect(inBusinessHours(tokyo, Date.parse('2025-10-19T23:30:00Z'))).toBe(true);
    expect(inBusinessHours(tokyo, Date.parse('2025-10-20T09:00:00Z'))).toBe(false); // 18:00 there
    expect(localTime(Date.parse('2025-10-20T15:00:00Z'), 'Asia/Tokyo')).toEqual({ day: 2, minutes: 0 }); // midnight is 00:00, not 24:00
    // half-hour offsets
    expect(localTime(Date.parse('2025-10-15T02:30:00Z'), 'Asia/Kolkata')).toEqual({ day: 3, minutes: 8 * 60 });
  });

  test('evaluate - presence in a secure area (location or zone, any case) outside business hours', () => {
    const p = rule({ kind: 'presence_outside_hours', secure_areas: ['Vault', 'server-room'], business_hours: { time_zone: 'Europe/Berlin' } });
    const radar = (presence: boolean) => ({ ld2410: { presence, distance: 100, energy: 50 } });
    const night = '2025-10-15T21:00:00.000Z'; // 23:00 Berlin
    const day = '2025-10-15T08:00:00.000Z'; // 10:00 Berlin
    const inVault = { device_metadata: { location: 'vault' }, timestamp: night };
    expect(evaluate(p, reading(radar(true), inVault))).toEqual({
      kind: 'match', value: true, threshold: null, unit: null, location: 'vault', detail: 'presence in secure area "vault" outside business hours (Europe/Berlin)',
    });
    expect(evaluate(p, reading(radar(true), { device_metadata: { location: 'building-a', zone: 'SERVER-ROOM' }, timestamp: night })).kind).toBe('match');
    expect(evaluate(p, reading(radar(false), inVault))).toMatchObject({ kind: 'clear', value: false, detail: 'no presence any more' });
    expect(evaluate(p, reading(radar(true), { ...inVault, timestamp: day }))).toMatchObject({ kind: 'clear', detail: 'presence within business hours' });
    expect(evaluate(p, reading(radar(true), { device_metadata: { location: 'lobby' }, timestamp: night }))).toMatchObject({ kind: 'clear', location: 'lobby', detail: 'presence, not in a secure area' });
    expect(evaluate(p, reading(radar(true), { timestamp: night })).kind).toBe('clear'); // no metadata: not secure
    // a reading without the radar says nothing about presence
    expect(evaluate(p, reading({ pir: { motion_detected: true } }, inVault))).toEqual({ kind: 'na' });
    // PIR as a signal too: any true signal is presence
    const both = rule({ kind: 'presence_outside_hours', signals: ['ld2410.presence', 'pir.motion_detected'], secure_areas: ['vault'] });
    expect(evaluate(both, reading({ ...radar(false), pir: { motion_detected: true } }, inVault)).kind).toBe('match');
    expect(evaluate(both, reading({ pir: { motion_detected: false } }, inVault)).kind).toBe('clear');
  });
});
