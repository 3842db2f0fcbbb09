/**
 * The built-in console's HTTP side (issue 10), against the built server: the page and its
 * files as embedded in the bundle (content types, ETag and 304, the Content-Security-Policy,
 * 404 for anything else), /console/config.json, the open /metrics it reads; with auth on,
 * the admin token on /api/v1/devices and as `?admin_token=` on the live WebSocket; and the
 * single binary serving the same files from an empty directory. The browser test is
 * test/e2e/console.test.ts.
 */
import { describe, expect, test } from 'bun:test';
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { reading } from '../fixtures/readings.ts';
import { freePort } from '../helpers/free-port.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';
import { LiveClient } from '../helpers/ws-client.ts';

const ROOT = resolve(import.meta.dir, '../..');
/** What each console file must be, byte for byte: the sources, and uPlot as published. */
const FILES: Record<string, { path: string; type: string }> = {
  'console.js': { path: 'src/console/console.js', type: 'text/javascript; charset=utf-8' },
  'prom.js': { path: 'src/console/prom.js', type: 'text/javascript; charset=utf-8' },
  'console.css': { path: 'src/console/console.css', type: 'text/css; charset=utf-8' },
  'uPlot.iife.min.js': { path: 'node_modules/uplot/dist/uPlot.iife.min.js', type: 'text/javascript; charset=utf-8' },
  'uPlot.min.css': { path: 'node_modules/uplot/dist/uPlot.min.css', type: 'text/css; charset=utf-8' },
};
const source = (path: string) => readFileSync(join(ROOT, path), 'utf8');

const ADMIN = 'console-admin-token-0123456789';

/** The raw answer to a WebSocket upgrade request (status line, headers, body), read until the server closes or 2 s pass. */
function upgradeStatus(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () =>
      socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`),
    );
    let text = '';
    const done = () => {
      socket.destroy();
      resolve(text);
    };
    socket.on('data', (d: Buffer) => {
      text += d;
      if (text.includes('}')) done();
    });
    socket.on('end', done);
    socket.on('error', reject);
    setTimeout(done, 2000);
  });
}

describe('console - auth off', () => {
  const stack = useStack({ DEVICE_STATE_FLUSH_MS: '200' });

  test('console - GET / is the page, with CSP (self, and the live WebSocket), ETag and no-cache', async () => {
    const res = await fetch(stack.server.base + '/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toBe(source('src/console/index.html'));
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self';");
    expect(csp).toContain("style-src 'self';");
    expect(csp).toContain(`connect-src 'self' ws://127.0.0.1:${stack.server.wsPort};`);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('etag')).toMatch(/^"[A-Za-z0-9_-]{22}"$/);
  });

  test('console - every file is served from the bundle with its type, byte for byte; 304 while unchanged', async () => {
    for (const [name, f] of Object.entries(FILES)) {
      const res = await fetch(`${stack.server.base}/console/${name}`);
      expect({ name, status: res.status, type: res.headers.get('content-type') }).toEqual({ name, status: 200, type: f.type });
      expect(await res.text()).toBe(source(f.path));
      const etag = res.headers.get('etag')!;
      const again = await fetch(`${stack.server.base}/console/${name}`, { headers: { 'if-none-match': etag } });
      expect(again.status).toBe(304);
      expect(await again.text()).toBe('');
      expect(again.headers.get('etag')).toBe(etag);
      const stale = await fetch(`${stack.server.base}/console/${name}`, { headers: { 'if-none-match': '"stale"' } });
      expect(stale.status).toBe(200);
      await stale.arrayBuffer();
    }
  });

  test('console - unknown console files and paths answer 404 JSON', async () => {
    for (const path of ['/console/nope.js', '/console/index.ts', '/console/%2e%2e%2fpackage.json', '/console/assets.ts', '/console/a/b.js', '/index.html']) {
      const res = await fetch(stack.server.base + path);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(((await res.json()) as { code: string }).code).toBe('INGEST_ERR_NOT_FOUND');
    }
    const post = await fetch(`${stack.server.base}/`, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET');
  });

  test('console - config.json tells the page the WebSocket port, auth, metrics path, sensor types and stream names', async () => {
    const res = await fetch(`${stack.server.base}/console/config.json`);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.json()).toEqual({
      auth: false,
      admin_api: false,
      ws: { port: stack.server.wsPort, scheme: 'ws' },
      metrics_path: '/metrics',
      fleet_state: true,
      sensor_types: ['ld2410', 'pir', 'mq134'],
      queues: { queue: 'sensor-data', dlq: 'sensor-data-dlq', rejects: 'sensor-data-invalid' },
    });
  });

  test('console - the families the page charts are in /metrics on the HTTP port', async () => {
    expect((await stack.server.post('/api/v1/sensor-data', reading({ device_id: 'console-metrics' }))).status).toBe(202);
    const text = await (await fetch(`${stack.server.base}/metrics`)).text();
    for (const family of ['sensor_data_ingested_total{', 'active_connections{', 'queue_size{queue_name="sensor-data"}', 'queue_size{queue_name="sensor-data-dlq"}', 'sensor_data_processing_latency_seconds_bucket{le="0.001",operation="ingest"}', 'ingest_queue_up ', 'ingest_in_flight '])
      expect({ family, found: text.includes(family) }).toEqual({ family, found: true });
  });
});

describe('console - auth on', () => {
  const stack = useStack({ AUTH_MODE: 'api-key', ADMIN_TOKEN: ADMIN, DEVICE_STATE_FLUSH_MS: '200' });

  test('console - the page, its files and config.json stay open; /metrics, the queue status and the device list need the admin token', async () => {
    expect((await fetch(stack.server.base + '/')).status).toBe(200);
    expect((await fetch(`${stack.server.base}/console/console.js`)).status).toBe(200);
    for (const path of ['/metrics', '/api/v1/queue/status']) {
      expect([path, (await fetch(stack.server.base + path)).status]).toEqual([path, 401]);
      expect([path, (await fetch(stack.server.base + path, { headers: { authorization: 'Bearer wrong-0123456789' } })).status]).toEqual([path, 403]);
      expect([path, (await fetch(stack.server.base + path, { headers: { authorization: `Bearer ${ADMIN}` } })).status]).toEqual([path, 200]);
    }
    const config = (await (await fetch(`${stack.server.base}/console/config.json`)).json()) as { auth: boolean; admin_api: boolean };
    expect(config).toMatchObject({ auth: true, admin_api: true });
    expect((await fetch(`${stack.server.base}/api/v1/devices`)).status).toBe(401);
    expect((await fetch(`${stack.server.base}/api/v1/devices`, { headers: { authorization: 'Bearer wrong-0123456789' } })).status).toBe(403);
    expect((await fetch(`${stack.server.base}/api/v1/devices`, { headers: { authorization: `Bearer ${ADMIN}` } })).status).toBe(200);
  });

  test('console - ?admin_token= on the live WebSocket: a subscriber that watches every device; a wrong one is refused 401', async () => {
    const wrong = await upgradeStatus(stack.server.wsPort, `/?admin_token=${encodeURIComponent(ADMIN + 'x')}`);
    expect(wrong).toMatch(/^HTTP\/1\.1 401 [^]*"details":"not the admin token"/);
    expect(await upgradeStatus(stack.server.wsPort, '/')).toMatch(/^HTTP\/1\.1 401 /);

    const admin = stack.track(await LiveClient.open(stack.server.wsUrl(`/?admin_token=${encodeURIComponent(ADMIN)}`)));
    expect((await admin.subscribe()).filters).toEqual({});
    const res = await fetch(`${stack.server.base}/api/v1/admin/devices`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` }, body: '{"device_id":"console-auth-dev"}' });
    expect(res.status).toBe(201);
    const key = ((await res.json()) as { api_key: string }).api_key;
    expect((await stack.server.post('/api/v1/sensor-data', reading({ device_id: 'console-auth-dev' }), { 'content-type': 'application/json', 'x-api-key': key })).status).toBe(202);
    const frame = await admin.next('sensor-data');
    expect((frame.data as { device_id: string }).device_id).toBe('console-auth-dev');
    // the admin token is not a device's key: it writes nothing
    expect((await stack.server.post('/api/v1/sensor-data', reading({ device_id: 'console-auth-dev' }), { 'content-type': 'application/json', 'x-api-key': ADMIN })).status).toBe(401);
  });
});

describe('console - the single binary', () => {
  const BINARY = join(ROOT, 'dist/neurobuild-ingest');

  test.skipIf(!existsSync(BINARY))('console - served by the binary alone, from an empty directory (built by npm test)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nb-console-'));
    const exe = join(dir, 'neurobuild-ingest');
    copyFileSync(BINARY, exe);
    const port = await freePort();
    const env: Record<string, string> = { PATH: dir, PORT: String(port), METRICS_PORT: '0', MQTT_PORT: '0', WS_PORT: String(await freePort()), API_KEYS_FILE: join(dir, 'keys.json') };
    const proc = spawn(exe, [], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    proc.stdout!.on('data', (d: Buffer) => (out += d));
    proc.stderr!.on('data', (d: Buffer) => (out += d));
    try {
      await waitFor(() => {
        if (proc.exitCode !== null) throw new Error(`binary exited with ${proc.exitCode}: ${out}`);
        return out.includes('"msg":"listening');
      }, 15_000, 'binary to listen');
      const page = await fetch(`http://127.0.0.1:${port}/`);
      expect(page.status).toBe(200);
      expect(await page.text()).toBe(source('src/console/index.html'));
      const uplot = await fetch(`http://127.0.0.1:${port}/console/uPlot.iife.min.js`);
      expect(await uplot.text()).toBe(source(FILES['uPlot.iife.min.js']!.path));
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => (proc.exitCode !== null ? r(null) : proc.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
