import { describe, expect, test } from 'bun:test';
import { type BreakerState, CircuitBreaker } from '../../../src/util/circuit-breaker.ts';

describe('circuit breaker', () => {
  test('opens after `threshold` failures in a row, not before; a success in between resets the count', () => {
    const b = new CircuitBreaker(3, 1000);
    b.failure(0);
    b.failure(0);
    b.success();
    b.failure(0);
    b.failure(0);
    expect(b.state).toBe('closed');
    expect(b.allow(0)).toBe(true);
    b.failure(10);
    expect(b.state).toBe('open');
    expect(b.allow(10)).toBe(false);
    expect(b.retryInMs(500)).toBe(510);
  });

  test('after the timeout one probe goes through; others wait for its outcome; success closes', () => {
    const changes: string[] = [];
    const b = new CircuitBreaker(1, 1000, { onChange: (to: BreakerState, from: BreakerState) => changes.push(`${from}->${to}`) });
    b.failure(0);
    expect(b.allow(999)).toBe(false);
    expect(b.allow(1000)).toBe(true); // the probe
    expect(b.state).toBe('half-open');
    expect(b.allow(1001)).toBe(false);
    b.success();
    expect(b.state).toBe('closed');
    expect(b.allow(1002)).toBe(true);
    expect(b.allow(1002)).toBe(true);
    expect(changes).toEqual(['closed->open', 'open->half-open', 'half-open->closed']);
  });

  test('a failed probe opens it again for a whole timeout', () => {
    const b = new CircuitBreaker(2, 1000);
    b.failure(0);
    b.failure(0);
    expect(b.allow(1500)).toBe(true);
    b.failure(1600);
    expect(b.state).toBe('open');
    expect(b.allow(2500)).toBe(false);
    expect(b.allow(2600)).toBe(true);
  });

  test('probeNow: an open breaker lets the next reading through as a probe before its timeout (the queue reconnected)', () => {
    const b = new CircuitBreaker(1, 60_000);
    b.failure(0);
    expect(b.allow(10)).toBe(false);
    b.probeNow();
    expect(b.allow(20)).toBe(true);
    expect(b.state).toBe('half-open');
    expect(b.allow(21)).toBe(false);
  });
});
