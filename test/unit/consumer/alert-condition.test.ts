import { describe, expect, test } from 'bun:test';
import { advance, compareIds, type ConditionState } from '../../../src/consumer/alerts/condition.ts';

const SUPPRESS = 300_000;

/** Applies outcomes in order with an injected clock; returns the events ('-' for none). */
function run(steps: [outcome: 'match' | 'clear', at: number][], start?: ConditionState): { events: string[]; state: ConditionState | undefined } {
  let state = start;
  const events: string[] = [];
  steps.forEach(([o, at], i) => {
    const s = advance(state, o, `${1000 + i}-0`, at, SUPPRESS);
    state = s.state;
    events.push(s.event ? `${s.event}${s.reminder ? ' (reminder)' : ''}` : s.suppressed ? 'suppressed' : '-');
  });
  return { events, state };
}

describe('alert conditions', () => {
  test('condition - fires once, is suppressed while it persists, resolves when it clears, fires again after', () => {
    const { events, state } = run([
      ['clear', 0],
      ['match', 1000],
      ['match', 2000],
      ['match', 60_000],
      ['clear', 70_000],
      ['clear', 80_000],
      ['match', 90_000],
    ]);
    expect(events).toEqual(['-', 'firing', 'suppressed', 'suppressed', 'resolved', '-', 'firing']);
    expect(state).toEqual({ status: 'firing', since: 90_000, lastFired: 90_000, lastId: '1006-0' });
  });

  test('condition - a condition that persists past the suppression time fires again as a reminder of the same episode', () => {
    const { events, state } = run([
      ['match', 0],
      ['match', SUPPRESS - 1],
      ['match', SUPPRESS],
      ['match', SUPPRESS + 1000],
      ['match', 2 * SUPPRESS],
    ]);
    expect(events).toEqual(['firing', 'suppressed', 'firing (reminder)', 'suppressed', 'firing (reminder)']);
    expect(state).toMatchObject({ status: 'firing', since: 0, lastFired: 2 * SUPPRESS });
  });

  test('condition - a clear reading with no state changes nothing (no write)', () => {
    expect(advance(undefined, 'clear', '1-0', 0, SUPPRESS)).toEqual({ state: undefined, changed: false });
  });

  test('condition - a reading not after the last one applied (redelivered, or older than one handled) is ignored', () => {
    const firing: ConditionState = { status: 'firing', since: 0, lastFired: 0, lastId: '1700000000000-5' };
    expect(advance(firing, 'clear', '1700000000000-5', 1000, SUPPRESS)).toEqual({ state: firing, changed: false, stale: true });
    expect(advance(firing, 'clear', '1700000000000-4', 1000, SUPPRESS).stale).toBe(true);
    expect(advance(firing, 'clear', '999999999999-9', 1000, SUPPRESS).stale).toBe(true); // fewer digits, still older
    expect(advance(firing, 'clear', '1700000000000-6', 1000, SUPPRESS).event).toBe('resolved');
    // even long after the suppression time a redelivered match raises nothing
    expect(advance(firing, 'match', '1700000000000-5', 10 * SUPPRESS, SUPPRESS).event).toBeUndefined();
  });

  test('condition - stream ids compare as numbers, part by part', () => {
    expect(compareIds('2-0', '10-0')).toBe(-1);
    expect(compareIds('10-2', '10-10')).toBe(-1);
    expect(compareIds('10-10', '10-10')).toBe(0);
    expect(compareIds('1-0', '')).toBe(1);
    expect(compareIds('', '1-0')).toBe(-1);
    expect(compareIds('18446744073709551615-0', '18446744073709551614-99')).toBe(1);
  });
});
