/** The retained-message tree against a plain scan with the topic matcher. */
import { describe, expect, test } from 'bun:test';
import type { Message } from '../../../../src/transports/mqtt/message.ts';
import { RetainedStore, type RetainedLimits } from '../../../../src/transports/mqtt/retained.ts';
import { matches } from '../../../../src/transports/mqtt/topic-filter.ts';

const LEVELS = ['a', 'b', '', '$SYS', 'x'];
const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)]!;
const topic = () => Array.from({ length: 1 + Math.floor(Math.random() * 3) }, () => pick(LEVELS)).join('/');
const filter = () => {
  const n = 1 + Math.floor(Math.random() * 3);
  return Array.from({ length: n }, (_, i) => (Math.random() < 0.3 ? '+' : i === n - 1 && Math.random() < 0.25 ? '#' : pick(LEVELS))).join('/');
};
const msg = (t: string, payload = 'p', owner?: string): Message => ({ topic: t, payload: Buffer.from(payload), qos: 0, retain: true, ...(owner ? { owner } : {}) });
const limits = (o: Partial<RetainedLimits> = {}): RetainedLimits => ({ max: 1000, maxBytes: 1 << 30, maxPerOwner: 1000, maxBytesPerOwner: 1 << 30, ...o });

describe('mqtt retained store', () => {
  test('retained store - a filter finds exactly the retained topics it matches; empty payloads remove', () => {
    const store = new RetainedStore(limits());
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
    const store = new RetainedStore(limits({ max: 2 }));
    expect(store.set(msg('a'))).toBeUndefined();
    expect(store.set(msg('b'))).toBeUndefined();
    expect(store.set(msg('c'))).toBe('retained');
    expect(store.set(msg('a', 'new'))).toBeUndefined();
    const got: string[] = [];
    store.forEachMatch('#', (m) => got.push(m.payload.toString()));
    expect(got.sort()).toEqual(['new', 'p']);
  });

  test('retained store - bounded by bytes in all: a message that would pass MQTT_MAX_RETAINED_BYTES is refused, a smaller replacement fits, removal frees', () => {
    // accountedBytes: payload + topic + 16
    const store = new RetainedStore(limits({ maxBytes: 100 }));
    expect(store.set(msg('a', 'x'.repeat(60)))).toBeUndefined();
    expect(store.bytes).toBe(77);
    expect(store.set(msg('b', 'x'.repeat(10)))).toBe('retained_bytes');
    expect(store.set(msg('a', 'x'.repeat(70)))).toBeUndefined();
    expect(store.bytes).toBe(87);
    expect(store.set(msg('a', ''))).toBeUndefined();
    expect(store.bytes).toBe(0);
    expect(store.set(msg('b', 'x'.repeat(10)))).toBeUndefined();
  });

  test("retained store - per identity: count and bytes bounded per owner, others unaffected, replacing another owner's topic moves it, removeOwnedBy clears one owner", () => {
    const store = new RetainedStore(limits({ maxPerOwner: 2, maxBytesPerOwner: 100 }));
    expect(store.set(msg('d1/a', 'p', 'device:d1'))).toBeUndefined();
    expect(store.set(msg('d1/b', 'p', 'device:d1'))).toBeUndefined();
    expect(store.set(msg('d1/c', 'p', 'device:d1'))).toBe('identity_retained');
    // replacing its own topic is no new message
    expect(store.set(msg('d1/a', 'q', 'device:d1'))).toBeUndefined();
    expect(store.set(msg('d2/a', 'x'.repeat(90), 'device:d2'))).toBe('identity_retained');
    expect(store.set(msg('d2/a', 'x'.repeat(50), 'device:d2'))).toBeUndefined();
    // without an owner only the totals count
    for (let i = 0; i < 5; i++) expect(store.set(msg(`anon/${i}`))).toBeUndefined();
    expect(store.usageOf('device:d1')).toEqual({ count: 2, bytes: 2 * (1 + 4 + 16) });
    // d2 takes over d1's topic: it counts for d2 now
    expect(store.set(msg('d1/b', 'r', 'device:d2'))).toBeUndefined();
    expect(store.usageOf('device:d1').count).toBe(1);
    expect(store.usageOf('device:d2').count).toBe(2);
    store.removeOwnedBy('device:d2');
    expect(store.usageOf('device:d2')).toEqual({ count: 0, bytes: 0 });
    const got: string[] = [];
    store.forEachMatch('#', (m) => got.push(m.topic));
    expect(got.sort()).toEqual(['anon/0', 'anon/1', 'anon/2', 'anon/3', 'anon/4', 'd1/a']);
    expect(store.size).toBe(6);
  });

  test('retained store - expired messages are not delivered and are removed', () => {
    const store = new RetainedStore(limits({ max: 10 }));
    store.set({ ...msg('old'), expiresAt: Date.now() - 1 });
    store.set(msg('fresh'));
    const got: string[] = [];
    store.forEachMatch('#', (m) => got.push(m.topic));
    expect(got).toEqual(['fresh']);
    expect(store.size).toBe(1);
  });
});
