import { describe, expect, test } from 'bun:test';
import { DedupeWindow } from '../../../src/queue/memory/dedupe-window.ts';

describe('dedupe window (embedded backend)', () => {
  test('a key is a duplicate within its bucket of device time while the bucket is remembered (2 windows after its last touch)', () => {
    const w = new DedupeWindow(1000, 100);
    expect(w.claim('a', 5_000, 0)).toBe(true);
    expect(w.claim('a', 5_999, 999)).toBe(false); // same bucket [5000, 6000)
    expect(w.claim('a', 5_500, 2_500)).toBe(false); // touched at 999: remembered until 2999
    expect(w.claim('a', 6_000, 2_600)).toBe(true); // another bucket of device time
    expect(w.claim('a', 5_000, 4_600)).toBe(true); // bucket 5 last touched at 2500: forgotten at 4500
  });
  test('expired buckets are dropped and the count stays bounded (the least recently touched bucket goes first)', () => {
    const w = new DedupeWindow(10, 3);
    for (let i = 0; i < 10; i++) w.claim(`k${i}`, i * 10, 0);
    expect(w.size).toBe(3);
    expect(w.claim('k9', 90, 0)).toBe(false);
    expect(w.claim('k0', 0, 0)).toBe(true);
    w.claim('z', 0, 100);
    expect(w.size).toBe(1);
  });
});
