/**
 * The subscription index (hash for exact filters, qlobber for wildcards) against the plain
 * matcher of topic-filter.ts, on random filters and topics: the same targets, every time.
 */
import { describe, expect, test } from 'bun:test';
import { SharedGroup } from '../../../../src/transports/mqtt/shared-group.ts';
import { SubscriptionIndex, type Target } from '../../../../src/transports/mqtt/subscription-index.ts';
import { matches } from '../../../../src/transports/mqtt/topic-filter.ts';

const LEVELS = ['a', 'b', '', '$SYS', 'dev-1', 'x'];
const pick = <T>(xs: readonly T[]) => xs[Math.floor(Math.random() * xs.length)]!;

function randomTopic(): string {
  return Array.from({ length: 1 + Math.floor(Math.random() * 4) }, () => pick(LEVELS)).join('/');
}

function randomFilter(): string {
  const n = 1 + Math.floor(Math.random() * 4);
  const levels = Array.from({ length: n }, (_, i) => (Math.random() < 0.25 ? '+' : i === n - 1 && Math.random() < 0.2 ? '#' : pick(LEVELS)));
  return levels.join('/');
}

const group = (filter: string) => new SharedGroup('', 'g', filter) as Target;

describe('mqtt subscription index', () => {
  test('subscription index - matches exactly what the plain matcher matches, with adds and removes', () => {
    const index = new SubscriptionIndex(128);
    const held: Target[] = [];
    for (let round = 0; round < 3000; round++) {
      if (held.length > 0 && Math.random() < 0.3) {
        const t = held.splice(Math.floor(Math.random() * held.length), 1)[0]!;
        index.remove(t);
      } else {
        const t = group(randomFilter());
        held.push(t);
        index.add(t);
      }
      expect(index.size).toBe(held.length);
      const topic = randomTopic();
      const got = new Set(index.match(topic));
      const want = new Set(held.filter((t) => matches(t.filter, topic)));
      expect([topic, got.size]).toEqual([topic, want.size]);
      for (const t of want) expect(got.has(t)).toBe(true);
    }
  });

  test('subscription index - a wildcard at the first level does not match $ topics [MQTT-4.7.2-1], an exact $ filter does', () => {
    const index = new SubscriptionIndex(128);
    const all = group('#');
    const plus = group('+/broker/uptime');
    const exact = group('$SYS/broker/uptime');
    const sys = group('$SYS/#');
    for (const t of [all, plus, exact, sys]) index.add(t);
    expect(new Set(index.match('$SYS/broker/uptime'))).toEqual(new Set([exact, sys]));
    expect(new Set(index.match('x/broker/uptime'))).toEqual(new Set([all, plus]));
  });

  test('subscription index - matching never changes what is stored (qlobber hands back its own arrays)', () => {
    const index = new SubscriptionIndex(128);
    const exact = group('t/a');
    const wild = group('t/#');
    index.add(exact);
    index.add(wild);
    for (let i = 0; i < 5; i++) expect(new Set(index.match('t/a'))).toEqual(new Set([exact, wild]));
    expect(index.match('t/b')).toEqual([wild]);
    index.remove(exact);
    expect(index.match('t/a')).toEqual([wild]);
  });

  test('subscription index - 50,000 exact filters and one wildcard: a topic finds its own filter only', () => {
    const index = new SubscriptionIndex(128);
    const own: Target[] = [];
    for (let i = 0; i < 50_000; i++) {
      const t = group(`fleet/dev-${i}/cmd`);
      own.push(t);
      index.add(t);
    }
    const wild = group('fleet/+/cmd');
    index.add(wild);
    expect(new Set(index.match('fleet/dev-4711/cmd'))).toEqual(new Set([own[4711]!, wild]));
    expect(index.match('fleet/dev-4711/other')).toEqual([]);
  });
});
