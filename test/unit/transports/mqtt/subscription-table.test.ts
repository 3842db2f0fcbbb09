import { describe, expect, test } from 'bun:test';
import type { Session } from '../../../../src/transports/mqtt/session.ts';
import { Subscription, subscriptionOptions, SubscriptionTable } from '../../../../src/transports/mqtt/subscription.ts';

const sub = (key: string) => new Subscription({} as Session, key, key, subscriptionOptions({ qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }));

describe('mqtt subscription table', () => {
  test('subscription table - one, many, replace, delete, clear: the same answers as a Map', () => {
    const t = new SubscriptionTable();
    const ref = new Map<string, Subscription>();
    const keys = ['a', 'b', 'c', 'a', 'd'];
    for (let i = 0; i < 200; i++) {
      const k = keys[i % keys.length]!;
      if (i % 3 === 2) expect(t.delete(k)).toBe(ref.delete(k));
      else {
        const s = sub(k);
        t.set(k, s);
        ref.set(k, s);
      }
      if (i % 50 === 49) {
        t.clear();
        ref.clear();
      }
      expect(t.size).toBe(ref.size);
      for (const key of keys) expect(t.get(key)).toBe(ref.get(key));
      expect(new Set(t.values())).toEqual(new Set(ref.values()));
    }
  });
  test('subscription options - shared when they carry no identifier, own object with one', () => {
    const a = subscriptionOptions({ qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 2 });
    const b = subscriptionOptions({ qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 2 });
    const c = subscriptionOptions({ qos: 1, noLocal: false, retainAsPublished: true, retainHandling: 2, identifier: 7 });
    expect(a).toBe(b);
    expect(c).not.toBe(a);
    expect(c.identifier).toBe(7);
    expect(Object.isFrozen(a)).toBe(true);
  });
});
