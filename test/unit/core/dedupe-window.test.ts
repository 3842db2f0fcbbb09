import { describe, expect, test } from 'bun:test';
import { DedupeWindow } from '../../../src/queue/memory/dedupe-window.ts';

describe('dedupe window (embedded backend)', () => {
  test('a key is a duplicate within the window and new after it', () => {
    const w = new DedupeWindow(1000, 100);
    expect(w.claim('a', 0)).toBe(true);
    expect(w.claim('a', 999)).toBe(false);
    expect(w.claim('a', 1000)).toBe(true);
  });
  test('expired keys are dropped and the count stays bounded', () => {
    const w = new DedupeWindow(10, 3);
    for (let i = 0; i < 10; i++) w.claim(`k${i}`, 0);
    expect(w.size).toBe(3);
    w.claim('z', 100);
    expect(w.size).toBe(1);
  });
});
