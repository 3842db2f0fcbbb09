/** The retained-message tree against a plain scan with the topic matcher. */
import { describe, expect, test } from 'bun:test';
import type { Message } from '../../../../src/transports/mqtt/message.ts';
import { RetainedStore } from '../../../../src/transports/mqtt/retained.ts';
import { matches } from '../../../../src/transports/mqtt/topic-filter.ts';

const LEVELS = ['a', 'b', '', '$SYS', 'x'];
const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)]!;
const topic = () => Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => pick(LEVELS)).join('/');
const filter = () => {
  const n = 1 + Math.floor(Math.random() * 3);
  return Array.from({ length: n }, (_, i) => (Math.random() < 0.3 ? '+' : i === n - 1 && Math.random() < 0.25 ? '#' : pick(LEVELS))).join('/');
};
const msg = (t: string, payload = 'p'): Message => ({ topic: t, payload: Buffer.from(payload), qos: 0, retain: true });

describe('mqtt retained store', () => {
  test('retained store - a filter finds exactly the retained topics it matches; empty payloads remove', () => {
    const store = new RetainedStore(1000);
    const held = new Map<string, Message>();
    for (let i = 0; i < 3000; i++) {
      const t = topic();
      if (Math.random() < 0.3) {
        store.set(msg(t, ''));
        held.delete(t);
      } else {
        const m = msg(t, String(i));
        store.set(m);
        held.set(t, m);
      }
      expect(store.size).toBe(held.size);
      const f = filter();
      const got: string[] = [];
      store.forEachMatch(f, (m) => got.push(m.topic));
      expect([f, got.sort()]).toEqual([f, [...held.keys()].filter((k) => matches(f, k)).sort()]);
    }
  });

  test('retained store - bounded by count: a new topic past the maximum is refused, a known one replaced', () => {
    const store = new RetainedStore(2);
    expect(store.set(msg('a'))).toBe(true);
    expect(store.set(msg('b'))).toBe(true);
    expect(store.set(msg('c'))).toBe(false);
    expect(store.set(msg('a', 'new'))).toBe(true);
    const got: string[] = [];
    store.forEachMatch('#', (m) => got.push(m.payload.toString()));
    expect(got.sort()).toEqual(['new', 'p']);
  });

  test('retained store - expired messages are not delivered and are removed', () => {
    const store = new RetainedStore(10);
    store.set({ ...msg('old'), expiresAt: Date.now() - 1 });
    store.set(msg('fresh'));
    const got: string[] = [];
    store.forEachMatch('#', (m) => got.push(m.topic));
    expect(got).toEqual(['fresh']);
    expect(store.size).toBe(1);
  });
});
