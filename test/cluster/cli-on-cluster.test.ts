/**
 * The commands beside the server on a real Redis Cluster (3 primaries, 3 replicas) with
 * STREAM_SHARDS=6: `healthcheck`, `rejects list`, and `consume postgres` reading every shard,
 * whole or split between two processes by CONSUMER_SHARDS (one reader per shard each).
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { reading } from '../fixtures/readings.ts';
import { ConsumeProcess } from '../helpers/consume-process.ts';
import { ADMIN } from '../helpers/identities.ts';
import { PostgresServer, postgresUnavailable } from '../helpers/postgres-server.ts';
import { BUNDLE } from '../helpers/spawn-server.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const SHARDS = 6;

describe('commands on Redis Cluster, 6 shards', () => {
  const stack = useStack({ ADMIN_TOKEN: ADMIN }, { cluster: { shards: SHARDS } });
  const env = (extra: Record<string, string> = {}) => ({ PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', REDIS_CLUSTER_NODES: stack.cluster.seeds, STREAM_SHARDS: String(SHARDS), ...extra });
  const cli = (args: string[], extra: Record<string, string> = {}) => spawnSync('node', [BUNDLE, ...args], { env: env(extra), encoding: 'utf8', timeout: 20_000 });

  async function post(items: Record<string, unknown>[]): Promise<void> {
    for (let i = 0; i < items.length; i += 100) {
      const res = await stack.server.post('/api/v1/sensor-data/batch', items.slice(i, i + 100));
      expect(res.status).toBe(202);
    }
  }

  test('cli on cluster - healthcheck answers 0 for the server on the cluster', () => {
    const r = cli(['healthcheck'], { PORT: String(stack.server.port) });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' });
  });

  test('cli on cluster - rejects list reads the quarantine on the cluster', async () => {
    const bad = ['cl-rej-1', 'cl-rej-2', 'cl-rej-3'].map((device_id) => reading({ device_id, sensors: { ld2410: { presence: true, distance: 9999, energy: 1 } } }));
    for (const b of bad) expect((await stack.server.post('/api/v1/sensor-data', b)).status).toBe(400);
    const entries = await waitFor(() => {
      const r = cli(['rejects', 'list', '--json']);
      expect(r.status).toBe(0);
      const lines = r.stdout.trim() ? r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { device_id: string }) : [];
      return lines.length >= 3 ? lines : undefined;
    }, 10_000, 'three rejects listed');
    expect(entries!.map((e) => e.device_id).sort()).toEqual(['cl-rej-1', 'cl-rej-2', 'cl-rej-3']);
  });

  const why = postgresUnavailable();
  describe.skipIf(why !== undefined)('consume postgres on cluster', () => {
    let db: PostgresServer;
    const running: ConsumeProcess[] = [];
    beforeAll(async () => {
      db = await PostgresServer.start();
    });
    afterEach(async () => {
      await Promise.all(running.splice(0).map((c) => c.stop('SIGKILL')));
    });
    afterAll(async () => {
      await db?.dispose();
    });
    const rows = async () => Number((await db.query<{ n: string }>('SELECT count(DISTINCT message_id) AS n FROM sensor_readings'))[0]!.n);

    test('cli on cluster - consume postgres: one process reads all six shards; two split them by CONSUMER_SHARDS; every reading once', async () => {
      const consumer = async (extra: Record<string, string>) => {
        const c = await ConsumeProcess.start('postgres', { ...env(extra), LOG_LEVEL: 'info', DATABASE_URL: db.url(), CONSUMER_CLAIM_IDLE_MS: '1000' });
        running.push(c);
        return c;
      };
      const whole = await consumer({});
      expect(whole.logged((m) => m === 'consuming shards 0,1,2,3,4,5 of 6 into postgres')).toBeDefined();
      const first = Array.from({ length: 120 }, (_, i) => reading({ device_id: `cl-pg-${i % 40}` }));
      await post(first);
      await waitFor(async () => (await rows()) === 120, 20_000, '120 readings stored');
      await whole.stop();

      // scaled per shard: two processes, three shards each, the same group
      const a = await consumer({ CONSUMER_SHARDS: '0-2', CONSUMER_NAME: 'pg-a' });
      const b = await consumer({ CONSUMER_SHARDS: '3,4,5', CONSUMER_NAME: 'pg-b' });
      expect(a.logged((m) => m === 'consuming shards 0,1,2 of 6 into postgres')).toBeDefined();
      expect(b.logged((m) => m === 'consuming shards 3,4,5 of 6 into postgres')).toBeDefined();
      await post(Array.from({ length: 120 }, (_, i) => reading({ device_id: `cl-pg-${i % 40}` })));
      await waitFor(async () => (await rows()) === 240, 20_000, '240 readings stored');
      // each reading once: one row per (message_id, sensor) and no more
      const per = await db.query<{ n: string }>('SELECT count(*) AS n FROM sensor_readings GROUP BY message_id, sensor_type HAVING count(*) > 1');
      expect(per).toEqual([]);
    }, 90_000);
  });
});
