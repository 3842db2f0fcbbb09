/**
 * test/helpers/redis-cluster.ts against a real cluster of 6 redis-servers: the topology it promises,
 * 1,000 keys through an ioredis Cluster client, a primary SIGKILLed (its replica promoted, the key
 * writable again), the killed node back as a replica, and 100 slots resharded while a loop writes;
 * every acknowledged write readable at the end. The tests share the cluster and run in order.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import type { Cluster } from 'ioredis';
import { CLUSTER_SLOTS, RedisCluster, type ClusterPrimary } from '../helpers/redis-cluster.ts';
import { waitFor } from '../helpers/wait.ts';

const slotCount = (p: ClusterPrimary) => p.slots.reduce((n, [a, b]) => n + b - a + 1, 0);

describe('RedisCluster helper', () => {
  let cluster: RedisCluster;
  let client: Cluster;
  /** Every acknowledged write: key → value. */
  const written = new Map<string, string>();
  /** The slot of each of the 1,000 `k:` keys. */
  const slotOfKey = new Map<string, number>();

  beforeAll(async () => {
    const t0 = performance.now();
    cluster = await RedisCluster.start();
    console.log(`cluster started in ${Math.round(performance.now() - t0)} ms`);
    client = cluster.client();
  }, 60_000);

  afterAll(async () => {
    await cluster?.dispose();
  });

  async function readAll(): Promise<string[]> {
    const wrong: string[] = [];
    const entries = [...written];
    for (let i = 0; i < entries.length; i += 500) {
      await Promise.all(
        entries.slice(i, i + 500).map(async ([k, v]) => {
          const got = await client.get(k);
          if (got !== v) wrong.push(`${k}=${got} (wrote ${v})`);
        }),
      );
    }
    return wrong;
  }

  test('6 nodes: 3 primaries covering all 16384 slots, each with one replica', async () => {
    expect(cluster.nodes).toHaveLength(6);
    expect(cluster.nodes.every((n) => n.alive && n.pid! > 0 && n.port <= 55_535)).toBe(true);
    expect(cluster.seeds.split(',')).toEqual(cluster.nodes.map((n) => `127.0.0.1:${n.port}`));
    const primaries = await cluster.primaries();
    expect(primaries).toHaveLength(3);
    expect(primaries.reduce((n, p) => n + slotCount(p), 0)).toBe(CLUSTER_SLOTS);
    const replicas = new Set<number>();
    for (const p of primaries) {
      expect(p.replicas).toHaveLength(1);
      expect(await cluster.replicaOf(p.port)).toBe(p.replicas[0]!);
      replicas.add(p.replicas[0]!);
    }
    expect(replicas.size).toBe(3);
    const all = new Set([...primaries.map((p) => p.port), ...replicas]);
    expect(all).toEqual(new Set(cluster.nodes.map((n) => n.port)));
  });

  test('1,000 keys in different slots: written and read back through the Cluster client', async () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `k:${i}`);
    await Promise.all(keys.map((k) => client.set(k, `v-${k}`)));
    for (const k of keys) written.set(k, `v-${k}`);
    expect(await readAll()).toEqual([]);
    for (const k of keys) slotOfKey.set(k, await cluster.slotOf(k));
    expect(new Set(slotOfKey.values()).size).toBeGreaterThan(950);
    // spread over the three primaries, none elsewhere
    const sizes = await Promise.all(client.nodes('master').map((n) => n.dbsize()));
    expect(sizes).toHaveLength(3);
    expect(sizes.every((s) => s > 200)).toBe(true);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
  });

  let killed: Awaited<ReturnType<RedisCluster['killPrimary']>>;

  test('killPrimary: the primary of a key is SIGKILLed, its replica promoted, the key writable again', async () => {
    const key = 'k:42';
    const before = await cluster.primaryFor(key);
    const replica = await cluster.replicaOf(before);
    await cluster.waitReplicated(); // so that the SIGKILL loses none of the 1,000
    killed = await cluster.killPrimary({ key });
    console.log(`kill ${killed.killedPort}: ${killed.promotedPort} promoted after ${killed.promotedMs} ms, cluster stable after ${killed.recoveryMs} ms`);
    expect(killed.killedPort).toBe(before);
    expect(killed.promotedPort).toBe(replica!);
    expect(await cluster.primaryFor(key)).toBe(killed.promotedPort);
    expect(cluster.nodes.find((n) => n.port === before)?.alive).toBe(false);
    const primaries = await cluster.primaries();
    expect(primaries.map((p) => p.port)).not.toContain(before);
    expect(primaries.reduce((n, p) => n + slotCount(p), 0)).toBe(CLUSTER_SLOTS);

    // the client still has the dead node in its slot table until a refresh: retry until the write lands
    const t0 = performance.now();
    let attempts = 0;
    await waitFor(
      async () => {
        attempts++;
        await client.set(key, 'after-failover');
        return (await client.get(key)) === 'after-failover';
      },
      15_000,
      `a write to ${key} after the failover`,
    );
    console.log(`first write after failover: ${attempts} attempt(s), ${Math.round(performance.now() - t0)} ms`);
    written.set(key, 'after-failover');
    expect(await readAll()).toEqual([]);
  }, 45_000);

  test('restartNode: the killed primary comes back as the replica of the promoted one', async () => {
    const t0 = performance.now();
    await cluster.restartNode(killed.killedPort);
    console.log(`restart ${killed.killedPort}: replica again after ${Math.round(performance.now() - t0)} ms`);
    expect(await cluster.replicaOf(killed.promotedPort)).toBe(killed.killedPort);
    const primaries = await cluster.primaries();
    expect(primaries).toHaveLength(3);
    expect(primaries.every((p) => p.replicas.length === 1)).toBe(true);
  }, 45_000);

  test('reshard: 100 slots move between two primaries while a loop writes; every write readable', async () => {
    const [from, to] = await cluster.primaries();
    // redis-cli moves the source's lowest slots first: half the writes go to new keys there (hash
    // tags of the k: keys in the source's 5 lowest slots), half to keys anywhere
    const inFrom = (slot: number) => from!.slots.some(([a, b]) => slot >= a && slot <= b);
    const hotTags = [...slotOfKey]
      .filter(([, slot]) => inFrom(slot))
      .sort((a, b) => a[1] - b[1])
      .slice(0, 5)
      .map(([k]) => k);
    let done = false;
    let n = 0;
    let errors = 0;
    const writer = async () => {
      while (!done) {
        const i = n++;
        const key = i % 2 ? `w:${i}` : `{${hotTags[(i / 2) % hotTags.length]}}:w${i}`;
        try {
          await client.set(key, key);
          written.set(key, key);
        } catch {
          errors++;
          await new Promise((r) => setImmediate(r)); // a client that rejects at once must not starve the event loop
        }
      }
    };
    const resharding = cluster.reshard(from!.port, to!.port, 100).finally(() => (done = true));
    const writers = Array.from({ length: 4 }, writer);
    const { ms } = await resharding;
    await Promise.all(writers);
    console.log(`reshard of 100 slots: ${ms} ms, ${n} writes beside it, ${errors} failed`);

    const after = await cluster.primaries();
    const fromAfter = after.find((p) => p.port === from!.port)!;
    const toAfter = after.find((p) => p.port === to!.port)!;
    expect(slotCount(fromAfter)).toBe(slotCount(from!) - 100);
    expect(slotCount(toAfter)).toBe(slotCount(to!) + 100);
    expect(errors).toBe(0);
    expect(n).toBeGreaterThan(100);

    // keys written while the reshard ran are on the new owner of the slots that moved
    const moved: number[] = [];
    for (const [a, b] of toAfter.slots) for (let s = a; s <= b; s++) if (!to!.slots.some(([x, y]) => s >= x && s <= y)) moved.push(s);
    expect(moved).toHaveLength(100);
    const target = client.nodes('master').find((r) => r.options.port === to!.port)!;
    const inMoved = (await Promise.all(moved.map((s) => target.cluster('GETKEYSINSLOT', s, 10_000)))).flat() as string[];
    const writtenDuring = inMoved.filter((k) => k.includes(':w'));
    console.log(`keys in the moved slots on ${to!.port}: ${inMoved.length}, written during the reshard: ${writtenDuring.length}`);
    expect(writtenDuring.length).toBeGreaterThan(0);

    expect(await readAll()).toEqual([]);
  }, 60_000);
});
