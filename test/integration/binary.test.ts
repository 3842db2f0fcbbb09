/**
 * The single executable (npm run build → dist/neurobuild-ingest) on its own: copied to an
 * empty directory with no node_modules anywhere above it, started on free ports with the
 * embedded queue and with Redis; a reading POSTed, one published over MQTT, /metrics read,
 * stopped with SIGTERM.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import mqtt from 'mqtt';
import { reading } from '../fixtures/readings.ts';
import { freePort } from '../helpers/free-port.ts';
import { RedisServer } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait.ts';

const BINARY = resolve(import.meta.dir, '../../dist/neurobuild-ingest');
let dir: string;
let exe: string;
let redis: RedisServer;

beforeAll(async () => {
  if (!existsSync(BINARY)) throw new Error(`${BINARY} missing: run npm run build (npm test does)`);
  dir = mkdtempSync(join(tmpdir(), 'nb-binary-'));
  exe = join(dir, 'neurobuild-ingest');
  copyFileSync(BINARY, exe);
  spawnSync('chmod', ['+x', exe]);
  redis = await RedisServer.start();
});
afterAll(async () => {
  await redis?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function start(env: Record<string, string>): Promise<{ proc: ChildProcess; out: () => string; ports: Record<string, number>; exit: Promise<number | null> }> {
  const ports = { PORT: await freePort(), METRICS_PORT: await freePort(), MQTT_PORT: await freePort(), WS_PORT: await freePort() };
  // PATH without node: the binary needs nothing from the machine
  const proc = spawn(exe, [], { cwd: dir, env: { PATH: dir, ...env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d));
  proc.stderr!.on('data', (d: Buffer) => (out += d));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`binary exited with ${proc.exitCode}: ${out}`);
    return out.includes('"msg":"listening');
  }, 15_000, 'binary to listen');
  return { proc, out: () => out, ports, exit };
}

describe('binary', () => {
  test('binary - --version and --help answer without node_modules or node on PATH', () => {
    const v = spawnSync(exe, ['--version'], { cwd: dir, env: { PATH: dir }, encoding: 'utf8' });
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const h = spawnSync(exe, ['--help'], { cwd: dir, env: { PATH: dir }, encoding: 'utf8' });
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('Usage: neurobuild-ingest');
    expect(h.stderr).not.toContain('Warning');
  });

  for (const backend of ['embedded', 'redis'] as const) {
    test(`binary - ${backend}: POST, MQTT publish, /metrics, SIGTERM`, async () => {
      const s = await start(backend === 'redis' ? { REDIS_URL: redis.url } : {});
      const one = reading();
      const res = await fetch(`http://127.0.0.1:${s.ports.PORT}/api/v1/sensor-data`, { method: 'POST', body: JSON.stringify(one), headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(202);
      const c = await mqtt.connectAsync(`mqtt://127.0.0.1:${s.ports.MQTT_PORT}`, { reconnectPeriod: 0 });
      const two = reading();
      await c.publishAsync(`neurobuild/sensors/${two.device_id}/data`, JSON.stringify(two), { qos: 1 });
      await c.endAsync();
      const metrics = await (await fetch(`http://127.0.0.1:${s.ports.METRICS_PORT}/metrics`)).text();
      expect(metrics).toMatch(/sensor_data_ingested_total\{sensor_type="pir",transport="http"\} 1/);
      expect(metrics).toMatch(/sensor_data_ingested_total\{sensor_type="pir",transport="mqtt"\} 1/);
      expect((await fetch(`http://127.0.0.1:${s.ports.PORT}/live`)).status).toBe(200);
      // the container HEALTHCHECK: the binary asks its own /health
      const hc = spawnSync(exe, ['healthcheck'], { cwd: dir, env: { PATH: dir, PORT: String(s.ports.PORT) }, encoding: 'utf8' });
      expect(hc.status).toBe(0);
      expect(hc.stdout).toContain('"status":"healthy"');
      if (backend === 'redis') {
        const r = redis.client();
        expect(await r.xlen('sensor-data')).toBeGreaterThanOrEqual(2);
      }
      s.proc.kill('SIGTERM');
      expect(await s.exit).toBe(0);
      expect(s.out()).toContain('drained, exiting');
      expect(s.out()).not.toContain('Warning');
      const down = spawnSync(exe, ['healthcheck'], { cwd: dir, env: { PATH: dir, PORT: String(s.ports.PORT) }, encoding: 'utf8' });
      expect(down.status).toBe(1);
    });
  }
});
