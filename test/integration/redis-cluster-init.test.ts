/**
 * deploy/redis-cluster/init-cluster.sh (what docker-compose.cluster.yml and the Kubernetes Job
 * run) against six real redis-server nodes in cluster mode on free loopback ports: it makes 3
 * primaries with one replica each, a second run leaves the cluster alone, bad usage exits 2,
 * and the server, given every node as REDIS_CLUSTER_NODES and six shards, ingests a reading.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { reading } from '../fixtures/readings.ts';
import { freeClusterPort, releaseClusterPort } from '../helpers/free-port.ts';
import { processGone } from '../helpers/process-gone.ts';
import { runCommand } from '../helpers/run-command.ts';
import { ServerProcess } from '../helpers/spawn-server.ts';
import { waitFor } from '../helpers/wait.ts';

const SCRIPT = resolve(import.meta.dir, '../../deploy/redis-cluster/init-cluster.sh');

describe('deploy: init-cluster.sh', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nb-init-cluster-'));
  const nodes: { port: number; proc: ChildProcess }[] = [];
  let server: ServerProcess | undefined;

  beforeAll(async () => {
    for (let i = 0; i < 6; i++) {
      const port = await freeClusterPort();
      const args = ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir, '--save', '', '--appendonly', 'no'];
      const proc = spawn('redis-server', args, { stdio: 'ignore' });
      process.once('exit', () => proc.kill('SIGKILL'));
      nodes.push({ port, proc });
    }
  });
  afterAll(async () => {
    await server?.stop();
    for (const n of nodes) {
      n.proc.kill('SIGKILL');
      await processGone(n.proc);
      releaseClusterPort(n.port);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  const info = async (port: number) => {
    const r = new Redis({ port, lazyConnect: true });
    await r.connect();
    try {
      return { info: String(await r.cluster('INFO')), nodes: String(await r.cluster('NODES')) };
    } finally {
      r.disconnect();
    }
  };

  test('init-cluster - bad usage exits 2 and says how to call it', async () => {
    const r = await runCommand('sh', [SCRIPT, '127.0.0.1:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('usage: init-cluster.sh host:port host:port host:port');
  });

  test('init-cluster - a node that never answers: exit 1 after WAIT_SECONDS, naming it', async () => {
    const silent = await freeClusterPort(); // nothing listens there
    const r = await runCommand('sh', ['-c', `WAIT_SECONDS=1 sh ${SCRIPT} 127.0.0.1:${silent} 127.0.0.1:${silent} 127.0.0.1:${silent}`], 20_000);
    releaseClusterPort(silent);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`init-cluster: 127.0.0.1:${silent} does not answer PING after 1 s`);
  });

  test('init-cluster - waits for the nodes, makes 3 primaries with a replica each; run again, it changes nothing', async () => {
    // "localhost" for one node: names are resolved to addresses (redis-cli --cluster create wants them)
    const args = nodes.map((n, i) => `${i === 0 ? 'localhost' : '127.0.0.1'}:${n.port}`);
    const first = await runCommand('sh', [SCRIPT, ...args], 60_000);
    expect({ code: first.code, stderr: first.stderr.trim() }).toEqual({ code: 0, stderr: '' });
    expect(first.stdout).toContain('init-cluster: cluster of 6 nodes ready (1 replica(s) per primary)');
    for (const n of nodes) expect((await info(n.port)).info).toContain('cluster_state:ok');
    // the replicas' roles reach every node by gossip, a moment after cluster_state:ok
    const roles = (lines: string[], role: string) => lines.filter((l) => l.split(' ')[2]!.includes(role)).length;
    const view = (await waitFor(async () => {
      const lines = (await info(nodes[0]!.port)).nodes.trim().split('\n');
      return roles(lines, 'master') === 3 && roles(lines, 'slave') === 3 ? lines : undefined;
    }, 10_000, '3 primaries and 3 replicas in CLUSTER NODES'))!;

    const again = await runCommand('sh', [SCRIPT, ...args], 60_000);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already knows a cluster of 6 nodes; nothing to do');
    expect((await info(nodes[0]!.port)).nodes.trim().split('\n').map((l) => l.split(' ')[0]).sort()).toEqual(view.map((l) => l.split(' ')[0]).sort());
  }, 90_000);

  test('init-cluster - the server on the cluster it made, six shards: a reading is accepted and stored in its shard', async () => {
    server = await ServerProcess.start({ REDIS_CLUSTER_NODES: nodes.map((n) => `127.0.0.1:${n.port}`).join(','), STREAM_SHARDS: '6' });
    const r = reading({ device_id: 'init-cluster-1' });
    expect((await server.post('/api/v1/sensor-data', r)).status).toBe(202);
    const status = await waitFor(async () => {
      const s = (await (await fetch(`${server!.base}/api/v1/queue/status`)).json()) as { shards: { stream: string; stream_length: number }[] };
      return s.shards.reduce((n, x) => n + x.stream_length, 0) === 1 ? s : undefined;
    }, 10_000, 'the reading in a shard stream');
    expect(status!.shards).toHaveLength(6);
  }, 60_000);
});
