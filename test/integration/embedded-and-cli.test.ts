/**
 * The embedded default (no Redis), and the command line: --help, --version, bad config
 * (exit 2), and the refusal to run on uWebSockets.js' slow fallback.
 */
import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reading } from '../fixtures/readings.ts';
import { BUNDLE } from '../helpers/spawn-server.ts';
import { useStack } from '../helpers/stack.ts';

describe('embedded - no Redis configured', () => {
  const stack = useStack({}, { redis: false });

  test('embedded - says so at start and accepts, dedupes and reports readings', async () => {
    expect(stack.server.logs.some((l) => String(l.msg).startsWith('no Redis configured'))).toBe(true);
    const one = reading();
    expect((await stack.server.post('/api/v1/sensor-data', one)).status).toBe(202);
    expect((await stack.server.post('/api/v1/sensor-data', one)).status).toBe(409);
    const batch = await stack.server.post('/api/v1/sensor-data/batch', [reading(), reading()]);
    expect(batch.status).toBe(202);
    expect(await (await fetch(stack.server.base + '/health')).json()).toMatchObject({ status: 'healthy', queue_backend: 'memory', services: { queue: 'up' } });
    expect(await (await fetch(stack.server.base + '/api/v1/queue/status')).json()).toMatchObject({ queue_size: 3, queue_backend: 'memory' });
    const metrics = await (await fetch(`http://127.0.0.1:${stack.server.metricsPort}/metrics`)).text();
    expect(metrics).toContain('sensor_data_ingested_total{sensor_type="pir",transport="http"} 3');
  });
});

describe('cli', () => {
  const run = (args: string[], env: Record<string, string> = {}) =>
    spawnSync('node', [BUNDLE, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 10_000 });

  test('cli - --version and --help', () => {
    const v = run(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    const h = run(['--help']);
    expect(h.status).toBe(0);
    expect(h.stdout).toContain('--redis-url, REDIS_URL');
    expect(h.stdout).toContain('--port, PORT (default: 3000)');
  });

  test('cli - a bad value exits 2 with one line naming variable, value and what is allowed', () => {
    const r = run([], { PORT: '99999' });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('neurobuild-ingest: invalid configuration: PORT="99999" must be an integer from 0 to 65535');
    const f = run(['--log-format', 'xml']);
    expect(f.status).toBe(2);
    expect(f.stderr).toContain('--log-format="xml" must be one of json|pretty');
  });

  test('cli - unknown flags and commands exit 2', () => {
    expect(run(['--bogus']).status).toBe(2);
    expect(run(['frobnicate']).status).toBe(2);
  });

  test('cli - refuses to start when the native uWebSockets.js addon cannot load', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nb-uws-'));
    try {
      mkdirSync(join(dir, 'dist'));
      copyFileSync(BUNDLE, join(dir, 'dist', 'neurobuild-ingest.cjs'));
      const pkg = join(dir, 'node_modules', 'uWebSockets.js');
      mkdirSync(join(pkg, 'binaries'), { recursive: true });
      writeFileSync(join(pkg, 'package.json'), '{"name":"uWebSockets.js","version":"0.0.0"}');
      writeFileSync(join(pkg, 'binaries', `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`), 'not a shared object');
      const r = spawnSync('node', [join(dir, 'dist', 'neurobuild-ingest.cjs')], { env: { PATH: process.env.PATH ?? '', PORT: '0', METRICS_PORT: '0' }, encoding: 'utf8', timeout: 10_000 });
      expect(r.status).toBe(1);
      expect(r.stdout).toContain('refusing to run on its slow JavaScript fallback');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
