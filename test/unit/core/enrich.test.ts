import { describe, expect, test } from 'bun:test';
import { enrichedJsonFromText } from '../../../src/core/enrich.ts';
import type { EnrichedReading } from '../../../src/core/readings/reading.ts';

const base = {
  device_id: 'esp32-001',
  timestamp: '2025-10-16T18:33:58.000Z',
  sensors: { pir: { motion_detected: true }, mq134: { gas_concentration: 250, unit: 'ppm' } },
};
const added = { received_at: '2026-01-01T00:00:00.000Z', message_id: '6f1c2c3e-1b2a-4c5d-8e9f-0a1b2c3d4e5f' };

describe('enrich - JSON from the device text', () => {
  const cases: [string, string][] = [
    ['compact', JSON.stringify(base)],
    ['pretty with trailing newline', JSON.stringify(base, null, 2) + '\n'],
    ['escaped unicode', JSON.stringify(base).replace('esp32-001', '\\u0065sp32-001')],
  ];
  for (const [name, text] of cases) {
    test(`enrich - ${name}: parses to the same object as JSON.stringify would give`, () => {
      const r = { ...JSON.parse(text), ...added } as EnrichedReading;
      expect(JSON.parse(enrichedJsonFromText(text, r))).toEqual(JSON.parse(JSON.stringify(r)));
    });
  }
  test('enrich - device metadata is appended', () => {
    const r = { ...base, ...added, device_metadata: { room: 'lab "2"', zone: 'n' } } as EnrichedReading;
    expect(JSON.parse(enrichedJsonFromText(JSON.stringify(base), r))).toEqual(r);
  });
});
