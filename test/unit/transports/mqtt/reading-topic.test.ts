import { describe, expect, test } from 'bun:test';
import { readingDeviceId } from '../../../../src/transports/mqtt/reading-topic.ts';

describe('mqtt reading topic', () => {
  test('reading topic - the device id of a reading event, first key or anywhere at the top level', () => {
    expect(readingDeviceId('{"device_id":"esp32-1","sensors":{}}')).toBe('esp32-1');
    expect(readingDeviceId('{ "timestamp": "x", "device_id" : "esp32-2" }')).toBe('esp32-2');
    expect(readingDeviceId('{"sensors":{"co2":{"device_id":"nested"}},"device_id":"top"}')).toBe('top');
    expect(readingDeviceId('{"note":"a \\"device_id\\":\\"fake\\" inside","device_id":"real"}')).toBe('real');
    expect(readingDeviceId('{"note":"ends with backslash \\\\","device_id":"after"}')).toBe('after');
  });
  test('reading topic - no device id, a malformed one or broken JSON: undefined', () => {
    expect(readingDeviceId('{"sensors":{}}')).toBeUndefined();
    expect(readingDeviceId('{"device_id":"bad id"}')).toBeUndefined();
    expect(readingDeviceId('{"device_id":12}')).toBeUndefined();
    expect(readingDeviceId('{"device_id":"unterminated')).toBeUndefined();
    expect(readingDeviceId('')).toBeUndefined();
  });
});
