import { describe, expect, test } from 'bun:test';
import { matches, validFilter } from '../../../../src/transports/mqtt/topic-filter.ts';

describe('mqtt topic filters', () => {
  test('topic filters - validity', () => {
    for (const ok of ['a', 'a/b', '#', '+', 'a/+/c', 'a/#', '+/+', '/', 'a//b']) expect([ok, validFilter(ok)]).toEqual([ok, true]);
    for (const bad of ['', 'a/#/b', 'a#', 'a/b+', '#/a', 'a+/b']) expect([bad, validFilter(bad)]).toEqual([bad, false]);
  });
  const cases: [string, string, boolean][] = [
    ['neurobuild/sensors/#', 'neurobuild/sensors/esp32-1/data', true],
    ['neurobuild/sensors/#', 'neurobuild/sensors', true],
    ['neurobuild/sensors/+/data', 'neurobuild/sensors/esp32-1/data', true],
    ['neurobuild/sensors/+/data', 'neurobuild/sensors/esp32-1/pir', false],
    ['neurobuild/sensors/+', 'neurobuild/sensors/esp32-1/data', false],
    ['+/+', '/finance', true],
    ['+', '/finance', false],
    ['#', '$SYS/broker', false],
    ['+/broker', '$SYS/broker', false],
    ['$SYS/#', '$SYS/broker', true],
    ['a/b', 'a/b', true],
    ['a/b', 'a/b/c', false],
  ];
  for (const [filter, topic, expected] of cases) {
    test(`topic filters - ${filter} ${expected ? 'matches' : 'does not match'} ${topic}`, () => {
      expect(matches(filter, topic)).toBe(expected);
    });
  }
});
