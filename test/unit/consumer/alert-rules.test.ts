import { describe, expect, test } from 'bun:test';
import { buildRules, defaultRules, parseRules, RulesError, type PresenceRule, type ThresholdRule } from '../../../src/consumer/alerts/rules.ts';
import { builtinSensorTypes } from '../../../src/core/readings/registry.ts';
import { sensorTypeFromJsonSchema } from '../../../src/core/readings/json-schema.ts';

const parse = (v: unknown) => parseRules(JSON.stringify(v), 'rules.json');
const error = (v: unknown): string => {
  try {
    parse(v);
  } catch (err) {
    expect(err).toBeInstanceOf(RulesError);
    return (err as Error).message;
  }
  throw new Error('no error');
};

describe('alert rules', () => {
  test('rules - the defaults: gas over 500 ppm and presence outside Mon-Fri 08:00-18:00 UTC, no secure areas', () => {
    const { rules } = defaultRules();
    expect(rules.map((r) => r.id)).toEqual(['high_gas_concentration', 'unauthorized_presence']);
    const gas = rules[0] as ThresholdRule;
    expect(gas).toMatchObject({ kind: 'threshold', alertType: 'high_gas_concentration', sensor: 'mq134', field: 'gas_concentration', op: '>', value: 500, unit: 'ppm' });
    const p = rules[1] as PresenceRule;
    expect(p.signals).toEqual([{ sensor: 'ld2410', field: 'presence' }]);
    expect(p.secureAreas.size).toBe(0);
    expect(p.hours).toEqual({ timeZone: 'UTC', days: new Set([1, 2, 3, 4, 5]), startMin: 480, endMin: 1080 });
  });

  test('rules - a file without rules keeps the defaults with its secure areas and business hours', () => {
    const { rules } = parse({ secure_areas: ['Vault', ' server-room '], business_hours: { time_zone: 'Europe/Berlin', start: '07:30' } });
    const p = rules.find((r) => r.kind === 'presence_outside_hours') as PresenceRule;
    expect([...p.secureAreas]).toEqual(['vault', 'server-room']);
    expect(p.hours).toMatchObject({ timeZone: 'Europe/Berlin', startMin: 450, endMin: 1080 });
  });

  test('rules - a file with rules replaces the defaults; per-rule areas and hours win; disabled rules are dropped', () => {
    const { rules } = parse({
      secure_areas: ['vault'],
      rules: [
        { id: 'hot-energy', kind: 'threshold', sensor: 'ld2410', field: 'energy', op: '>=', value: 90, alert_type: 'radar_energy', severity: 'info' },
        { id: 'night', kind: 'presence_outside_hours', signals: ['ld2410.presence', 'pir.motion_detected'], secure_areas: ['lab'], business_hours: { days: ['sat'], start: '10:00', end: '24:00' } },
        { id: 'off', kind: 'threshold', sensor: 'mq134', field: 'gas_concentration', op: '<', value: 1, enabled: false },
      ],
    });
    expect(rules.map((r) => r.id)).toEqual(['hot-energy', 'night']);
    expect(rules[0]).toMatchObject({ alertType: 'radar_energy', severity: 'info', op: '>=', value: 90 });
    expect(rules[0]).not.toHaveProperty('unit');
    const p = rules[1] as PresenceRule;
    expect([...p.secureAreas]).toEqual(['lab']);
    expect(p.signals).toEqual([{ sensor: 'ld2410', field: 'presence' }, { sensor: 'pir', field: 'motion_detected' }]);
    expect(p.hours).toEqual({ timeZone: 'UTC', days: new Set([6]), startMin: 600, endMin: 1440 });
  });

  test('rules - bad files are refused with a message naming the file and the rule', () => {
    expect(() => parseRules('{"rules": [', 'rules.json')).toThrow(/^rules\.json is not JSON: /);
    expect(error([])).toContain('rules.json: must be a JSON object');
    expect(error({ rulez: [] })).toBe('rules.json: /rulez is not a known setting');
    expect(error({ rules: [{ id: 'a', kind: 'thresold' }] })).toBe('rules.json: rule #1 "a": kind must be one of threshold presence_outside_hours (got "thresold")');
    expect(error({ rules: [{ id: 'gas', kind: 'threshold', sensor: 'mq134', field: 'gas_concentration', op: '=>', value: 5 }] })).toBe(
      'rules.json: rule #1 "gas": /op must be one of > >= < <= (got "=>")',
    );
    expect(error({ rules: [{ id: 'gas', kind: 'threshold', sensor: 'mq134', field: 'gas_concentration', op: '>' }] })).toContain('rule #1 "gas": /value');
    expect(error({ rules: [{ id: 'gas', kind: 'threshold', sensor: 'mq135', field: 'gas_concentration', op: '>', value: 1 }] })).toBe(
      'rules.json: rule #1 "gas": unknown sensor "mq135" (known: ld2410, pir, mq134)',
    );
    expect(error({ rules: [{ id: 'x', kind: 'threshold', sensor: 'mq134', field: 'unit', op: '>', value: 1 }] })).toBe(
      'rules.json: rule #1 "x": mq134 has no numeric field "unit" (numeric fields: gas_concentration)',
    );
    expect(error({ rules: [{ id: 'x', kind: 'threshold', sensor: 'ld2410', field: 'distance', op: '>', value: 1, unit: 'ppm' }] })).toContain('unit: ld2410 readings carry no unit');
    expect(error({ rules: [{ id: 'p', kind: 'presence_outside_hours', signals: ['ld2410.distance'] }] })).toBe(
      'rules.json: rule #1 "p": signals: ld2410 has no boolean field "distance" (boolean fields: presence)',
    );
    expect(error({ rules: [{ id: 'p', kind: 'presence_outside_hours', extra: 1 }] })).toBe('rules.json: rule #1 "p": /extra is not a known setting');
    expect(error({ rules: [{ id: 'bad id!', kind: 'presence_outside_hours' }] })).toContain('/id must be letters, digits, _ . - (at most 64)');
    const ok = { id: 'a', kind: 'presence_outside_hours' };
    expect(error({ rules: [ok, ok] })).toBe('rules.json: rule #2 "a": id is used by an earlier rule');
    expect(error({ rules: [{ ...ok, business_hours: { time_zone: 'Mars/Olympus' } }] })).toContain('rule #1 "a": business_hours.time_zone: unknown time zone "Mars/Olympus"');
    expect(error({ rules: [{ ...ok, business_hours: { start: '18:00', end: '08:00' } }] })).toContain('start 18:00 must be before end 08:00');
    expect(error({ business_hours: { start: '8:00' } })).toContain('/business_hours/start must be HH:MM');
    expect(error({ business_hours: { days: ['monday'] } })).toContain('/business_hours/days/0 must be one of sun mon tue wed thu fri sat');
    // top-level hours are checked even when no rule uses them
    expect(error({ business_hours: { time_zone: 'Nowhere/Town' }, rules: [] })).toContain('unknown time zone "Nowhere/Town"');
    expect(() => buildRules({ rules: [] }, 'x')).not.toThrow();
  });

  test('rules - a threshold on a sensor type of SENSOR_TYPES_DIR is accepted when the server has it, refused otherwise', () => {
    const co2 = sensorTypeFromJsonSchema('co2', { type: 'object', properties: { ppm: { type: 'number', minimum: 0 } }, required: ['ppm'] });
    const rule = { rules: [{ id: 'co2-high', kind: 'threshold', sensor: 'co2', field: 'ppm', op: '>', value: 1200 }] };
    const { rules } = parseRules(JSON.stringify(rule), 'rules.json', [...builtinSensorTypes, co2]);
    expect(rules[0]).toMatchObject({ kind: 'threshold', sensor: 'co2', field: 'ppm', value: 1200 });
    expect(error(rule)).toContain('co2');
  });
});
