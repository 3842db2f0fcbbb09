import { describe, expect, test } from 'bun:test';
import { backoffDelay } from '../../src/util/backoff.ts';

describe('backoff', () => {
  test('backoff - doubles from firstMs, capped at maxMs; without jitter exact', () => {
    const p = { firstMs: 100, maxMs: 1000, jitter: 0 };
    expect([1, 2, 3, 4, 5, 50, 10_000].map((a) => backoffDelay(p, a))).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });
  test('backoff - jitter takes at most its fraction off, and spreads retries that failed together', () => {
    const p = { firstMs: 1000, maxMs: 8000, jitter: 0.5 };
    expect(backoffDelay(p, 2, () => 0)).toBe(2000);
    expect(backoffDelay(p, 2, () => 0.999999)).toBe(1000);
    const spread = new Set(Array.from({ length: 200 }, () => backoffDelay(p, 3)));
    for (const d of spread) expect(d >= 2000 && d <= 4000).toBe(true);
    expect(spread.size).toBeGreaterThan(50);
  });
});
