import { describe, expect, test } from 'bun:test';
import slotOf from 'cluster-key-slot';
import { crc32 } from 'node:zlib';
import { CLUSTER_SLOTS, hashTagOf, KeyLayout, tagsFor } from '../../../src/queue/key-layout.ts';

/** The primary (0 … p-1) owning a slot in a cluster made by `redis-cli --cluster create` with p primaries. */
const primaryOf = (slot: number, p: number) => {
  // redis-cli: primary i ends at lround((i+1)·16384/p - 1) (3 primaries: 0-5460, 5461-10922, 10923-16383)
  for (let i = 0; i < p; i++) if (slot < Math.round(((i + 1) * CLUSTER_SLOTS) / p)) return i;
  return p - 1;
};

describe('key layout', () => {
  test('key layout - one shard on one Redis: every name as it always was', () => {
    const l = new KeyLayout({ stream: 'sensor-data' });
    expect(l.streams()).toEqual(['sensor-data']);
    expect(l.dedupePrefix(0)).toBe('sensor-data:dedupe:');
    expect(l.name('rate', 0)).toBe('rate');
    expect(l.global('api-keys')).toBe('api-keys');
    expect(l.alongside('alerts-dlq', 'alerts')).toBe('alerts-dlq');
    expect(l.shardOf('anything')).toBe(0);
  });

  test('key layout - one shard on Cluster: the stream keeps its name, its companions take it as their hash tag', () => {
    const l = new KeyLayout({ stream: 'sensor-data', cluster: true });
    expect(l.streams()).toEqual(['sensor-data']);
    expect(l.name('sensor-data-dlq', 0)).toBe('sensor-data-dlq:{sensor-data}');
    expect(slotOf(l.name('sensor-data-dlq', 0))).toBe(slotOf('sensor-data'));
    expect(slotOf(`${l.dedupePrefix(0)}123`)).toBe(slotOf('sensor-data'));
    expect(l.global('api-keys')).toBe('{api-keys}');
    expect(slotOf(`${l.global('api-keys')}:by-id`)).toBe(slotOf(`${l.global('api-keys')}:revoked`));
    expect(l.alongside('alerts-dlq', 'alerts')).toBe('alerts-dlq:{alerts}');
    expect(hashTagOf('a:{b}:c')).toBe('b');
    expect(hashTagOf('a:{}:c')).toBe('a:{}:c');
  });

  test('key layout - N shards: a shard\'s stream, dedupe keys and other keys share one slot; shards differ', () => {
    for (const n of [2, 3, 6, 64, 1024]) {
      const l = new KeyLayout({ stream: 'sensor-data', shards: n, cluster: true });
      const slots = new Set<number>();
      for (const i of l.all()) {
        const slot = slotOf(l.stream(i));
        slots.add(slot);
        expect(slotOf(`${l.dedupePrefix(i)}29347`)).toBe(slot);
        expect(slotOf(`${l.name('device-state', i)}:d:esp32-1`)).toBe(slot);
        expect(slotOf(l.name('rate', i))).toBe(slot);
      }
      expect(slots.size).toBe(n);
    }
    expect(new KeyLayout({ stream: 'sensor-data', shards: 6 }).streams()).toEqual(['sensor-data:{0-0}', 'sensor-data:{1-2}', 'sensor-data:{2-3}', 'sensor-data:{3-3}', 'sensor-data:{4-3}', 'sensor-data:{5-1}']);
  });

  test('key layout - shard tags spread evenly: shard i in the i-th Nth of the slots, N/P shards per primary of a redis-cli cluster', () => {
    for (const n of [2, 3, 4, 6, 12, 100, 1024]) {
      const tags = tagsFor(n);
      tags.forEach((t, i) => {
        const slot = slotOf(t);
        expect(slot).toBeGreaterThanOrEqual(Math.floor((i * CLUSTER_SLOTS) / n));
        expect(slot).toBeLessThan(Math.floor(((i + 1) * CLUSTER_SLOTS) / n));
      });
      expect(tagsFor(n)).toBe(tags); // computed once per N
    }
    for (const [p, n] of [[3, 3], [3, 6], [3, 12], [6, 6], [6, 24], [5, 10]] as const) {
      const perPrimary = Array<number>(p).fill(0);
      for (const t of tagsFor(n)) perPrimary[primaryOf(slotOf(t), p)]!++;
      expect(perPrimary).toEqual(Array<number>(p).fill(n / p));
    }
  });

  test('key layout - a device\'s shard: crc32(device_id) mod N, spread evenly over 60,000 ids', () => {
    const l = new KeyLayout({ stream: 'sensor-data', shards: 6 });
    expect(l.shardOf('esp32-001')).toBe(crc32('esp32-001') % 6);
    const counts = Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) counts[l.shardOf(`esp32-${i}`)]!++;
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });

  test('key layout - a shard count that is not a positive integer is refused; an unknown shard is an error', () => {
    expect(() => new KeyLayout({ stream: 's', shards: 0 })).toThrow(/positive integer/);
    expect(() => new KeyLayout({ stream: 's', shards: 1.5 })).toThrow(/positive integer/);
    expect(() => new KeyLayout({ stream: 's', shards: 2 }).name('x', 2)).toThrow(/no shard 2/);
  });
});
