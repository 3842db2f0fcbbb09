/**
 * The ingest script's entries as a MessagePack array of strings (src/queue/redis/pack-strings.ts):
 * read back by msgpackr for every header size, non-ASCII text, and array lengths across their
 * format boundaries; each string's header is the size for its most bytes, never too small. Redis'
 * cmsgpack reading it is the Redis backend's contract suite (every append goes through it).
 */
import { describe, expect, test } from 'bun:test';
import { unpack } from 'msgpackr';
import { packStrings } from '../../../src/queue/redis/pack-strings.ts';

const lengths = [0, 1, 10, 11, 31, 32, 85, 86, 255, 256, 21845, 21846, 70_000];

describe('packStrings', () => {
  test('strings of every header size read back the same, ASCII and not', () => {
    const items = lengths.flatMap((n) => ['x'.repeat(n), 'é'.repeat(n), '€'.repeat(n), '😀'.repeat(Math.ceil(n / 2))]);
    items.push('{"device_id":"esp32-1","sensors":{"pir":{"motion":true}}}' + ',"received_at":"2026-12-06T07:15:00.200Z"'.repeat(3));
    expect(unpack(packStrings(items))).toEqual(items);
  });

  test('arrays of every length format', () => {
    for (const n of [0, 1, 15, 16, 65_535, 65_536]) {
      const items = Array.from({ length: n }, (_, i) => String(i % 1000));
      expect(unpack(packStrings(items))).toEqual(items);
    }
  });

  test('a string takes the header of its most bytes: 3 per UTF-16 unit', () => {
    // 10 units may be 30 bytes: fixstr (1 byte); 11 may be 33: str8
    expect(packStrings(['a'.repeat(10)])[1]).toBe(0xa0 | 10);
    expect([...packStrings(['a'.repeat(11)]).subarray(1, 3)]).toEqual([0xd9, 11]);
    expect([...packStrings(['a'.repeat(86)]).subarray(1, 4)]).toEqual([0xda, 0, 86]);
    expect(packStrings(['a'.repeat(21846)])[1]).toBe(0xdb);
  });

  test('each result is its own copy: packing again does not change an earlier one', () => {
    const first = packStrings(['one', 'two']);
    const copy = Buffer.from(first);
    packStrings(['three', 'four', 'five']);
    expect(first.equals(copy)).toBe(true);
  });
});
