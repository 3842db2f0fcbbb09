/**
 * HTTPS and WSS (TLS_CERT_FILE / TLS_KEY_FILE) with certificates the test makes with openssl:
 * readings posted over HTTPS are stored and reach a WSS subscriber; plain HTTP and WebSocket
 * on the TLS ports get nothing; SIGHUP serves new connections with the replaced certificate
 * while open ones stay (and keep receiving) and the server keeps running; a broken file at
 * reload keeps the previous certificate; bad TLS settings stop the start with exit 2.
 */
import { expect, test } from 'bun:test';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { resolve } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { reading } from '../fixtures/readings.ts';
import { onLines } from '../helpers/lines.ts';
import { BUNDLE } from '../helpers/spawn-server.ts';
import { useStack } from '../helpers/stack.ts';
import { testCa } from '../helpers/tls-cert.ts';
import { waitFor } from '../helpers/wait.ts';

const ca = testCa();
const server = ca.issue('localhost', 'server', 'server');
const caPem = readFileSync(ca.ca);
const stack = useStack(() => ({ TLS_CERT_FILE: server.cert, TLS_KEY_FILE: server.key }));
const children: ChildProcess[] = [];
stack.cleanup(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(ca.dir, { recursive: true, force: true });
});

const serialOf = (certFile: string) => new X509Certificate(readFileSync(certFile)).serialNumber.toUpperCase();

function httpsPost(body: unknown): Promise<Response> {
  return fetch(`https://127.0.0.1:${stack.server.port}/api/v1/sensor-data`, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'content-type': 'application/json' },
    signal: AbortSignal.timeout(5000),
    tls: { ca: [caPem] },
  } as RequestInit);
}

async function stored(deviceId: unknown): Promise<boolean> {
  const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
  return rows.some(([, f]) => f[f.indexOf('device_id') + 1] === deviceId);
}

/** The serial number of the certificate a new TLS connection to `port` is shown (verified against the test CA). */
function serverSerial(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port, host: '127.0.0.1', servername: 'localhost', ca: [caPem] }, () => {
      resolve(s.getPeerCertificate().serialNumber.toUpperCase());
      s.destroy();
    });
    s.setTimeout(5000, () => s.destroy(new Error('TLS handshake timed out')));
    s.on('error', reject);
  });
}

/** Plain-text bytes to a TLS port: what came back before the server closed (never waits more than 5 s). */
function plainRequest(port: number, request: string): Promise<{ closed: boolean; answer: string }> {
  return new Promise((resolve) => {
    let answer = '';
    const s = netConnect({ port, host: '127.0.0.1' }, () => s.write(request));
    const timer = setTimeout(() => {
      s.destroy();
      resolve({ closed: false, answer });
    }, 5000);
    s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve({ closed: true, answer });
    });
  });
}

/** A live-protocol subscriber over wss:// under Node (test/helpers/wss-client.mjs). */
class WssClient {
  readonly lines: string[] = [];
  private constructor(readonly proc: ChildProcess) {
    onLines(proc.stdout!, (line) => this.lines.push(line));
  }

  /** Connects, subscribes to every reading and waits for the confirmation. */
  static async open(): Promise<WssClient> {
    const proc = spawn(process.env.NODE_BINARY ?? 'node', [resolve(import.meta.dir, '../helpers/wss-client.mjs'), `wss://127.0.0.1:${stack.server.wsPort}/`, ca.ca, JSON.stringify({ type: 'subscribe' })], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(proc);
    const c = new WssClient(proc);
    await waitFor(() => c.frames().some((f) => f.type === 'subscribed'), 10_000, `WSS subscription (${c.lines.join(' | ')})`);
    return c;
  }

  /** The serial of the certificate this connection was shown. */
  get serial(): string {
    return (this.lines.find((l) => l.startsWith('open '))?.slice(5) ?? '').toUpperCase();
  }

  frames(): { type: string; data?: { device_id?: string } }[] {
    return this.lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  }

  received(deviceId: unknown): Promise<unknown> {
    return waitFor(() => this.frames().some((f) => f.type === 'sensor-data' && f.data?.device_id === deviceId), 5000, `reading ${deviceId} over WSS`);
  }

  close(): void {
    this.proc.kill('SIGTERM');
  }
}

test('https - the server says it listens with https:// and wss://', () => {
  const line = stack.server.logs.find((l) => String(l.msg).startsWith('listening'));
  expect(String(line?.msg)).toContain(`HTTP API on https://127.0.0.1:${stack.server.port}`);
  expect(String(line?.msg)).toContain(`WebSocket on wss://127.0.0.1:${stack.server.wsPort}`);
});

test('https - a reading POSTed over HTTPS is stored in the Redis stream', async () => {
  const one = reading();
  const res = await httpsPost(one);
  expect(res.status).toBe(202);
  expect(await stored(one.device_id)).toBe(true);
});

test('https - plain HTTP and WebSocket on the TLS ports get no answer and the connection is closed', async () => {
  const http = await plainRequest(stack.server.port, 'GET /live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  expect(http.closed).toBe(true);
  expect(http.answer).not.toContain('HTTP/1.1');
  const upgrade = await plainRequest(stack.server.wsPort, 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  expect(upgrade.closed).toBe(true);
  expect(upgrade.answer).not.toContain('HTTP/1.1');
  // and a client asking http:// fails (not by its timeout)
  const err = await fetch(`http://127.0.0.1:${stack.server.port}/live`, { signal: AbortSignal.timeout(5000) }).then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err).toBeDefined();
  expect(err!.name).not.toBe('TimeoutError');
  // the server is unharmed
  expect((await httpsPost(reading())).status).toBe(202);
});

test('https - a WSS subscriber receives a reading POSTed over HTTPS', async () => {
  const sub = await WssClient.open();
  expect(sub.serial).toBe(serialOf(server.cert));
  const one = reading();
  expect((await httpsPost(one)).status).toBe(202);
  await sub.received(one.device_id);
  sub.close();
});

/** Log lines from `from` on that say `msg` for the HTTP and the WebSocket listener. */
const reloadLogged = (from: number, msg: string) =>
  waitFor(() => {
    const lines = stack.server.logs.slice(from).filter((l) => l.msg === msg);
    return lines.some((l) => l.listener === 'http') && lines.some((l) => l.listener === 'ws');
  }, 5000, `"${msg}" for http and ws`);

test('https - SIGHUP: new connections get the replaced certificate, open ones stay and keep receiving, the server keeps running', async () => {
  const before = serialOf(server.cert);
  const old = await WssClient.open();
  expect(old.serial).toBe(before);
  expect(await serverSerial(stack.server.port)).toBe(before);

  const next = ca.issue('localhost', 'server', 'server-2');
  copyFileSync(next.cert, server.cert);
  copyFileSync(next.key, server.key);
  const from = stack.server.logs.length;
  stack.server.proc.kill('SIGHUP');
  await reloadLogged(from, 'TLS certificate reloaded');
  const after = serialOf(next.cert);
  expect(after).not.toBe(before);
  expect(stack.server.logs.slice(from).find((l) => l.listener === 'http' && l.msg === 'TLS certificate reloaded')?.serial).toBe(after);

  expect(await serverSerial(stack.server.port)).toBe(after);
  expect(await serverSerial(stack.server.wsPort)).toBe(after);
  const fresh = await WssClient.open();
  expect(fresh.serial).toBe(after);
  // the subscriber from before the reload still gets readings, as does the new one
  const one = reading();
  expect((await httpsPost(one)).status).toBe(202);
  expect(await stored(one.device_id)).toBe(true);
  await old.received(one.device_id);
  await fresh.received(one.device_id);
  expect(stack.server.proc.exitCode).toBeNull();
  old.close();
  fresh.close();
});

test('https - SIGHUP with a broken key file: the error is logged and the previous certificate stays; a later SIGHUP with good files works', async () => {
  const current = await serverSerial(stack.server.port);
  writeFileSync(server.key, 'not a key\n');
  let from = stack.server.logs.length;
  stack.server.proc.kill('SIGHUP');
  await reloadLogged(from, 'TLS reload failed; the previous certificate stays in use');
  expect(await serverSerial(stack.server.port)).toBe(current);
  expect(await serverSerial(stack.server.wsPort)).toBe(current);
  expect((await httpsPost(reading())).status).toBe(202);

  const third = ca.issue('localhost', 'server', 'server-3');
  copyFileSync(third.cert, server.cert);
  copyFileSync(third.key, server.key);
  from = stack.server.logs.length;
  stack.server.proc.kill('SIGHUP');
  await reloadLogged(from, 'TLS certificate reloaded');
  expect(await serverSerial(stack.server.port)).toBe(serialOf(third.cert));
  const sub = await WssClient.open();
  const one = reading();
  expect((await httpsPost(one)).status).toBe(202);
  await sub.received(one.device_id);
  sub.close();
});

test('https - the healthcheck command asks over HTTPS', () => {
  const r = spawnSync(process.env.NODE_BINARY ?? 'node', [BUNDLE, 'healthcheck'], {
    env: { PATH: process.env.PATH ?? '', PORT: String(stack.server.port), TLS_CERT_FILE: server.cert, TLS_KEY_FILE: server.key },
    encoding: 'utf8',
    timeout: 10_000,
  });
  expect(r.stdout).toContain('"status":"healthy"');
  expect(r.status).toBe(0);
});

test('https - bad TLS settings stop the start with exit 2 and one line', () => {
  const start = (env: Record<string, string>) => spawnSync(process.env.NODE_BINARY ?? 'node', [BUNDLE], { env: { PATH: process.env.PATH ?? '', PORT: '0', WS_PORT: '0', MQTT_PORT: '0', METRICS_PORT: '0', ...env }, encoding: 'utf8', timeout: 15_000 });
  const other = ca.issue('localhost', 'server', 'other');
  const cases: [Record<string, string>, string][] = [
    [{ TLS_CERT_FILE: server.cert }, 'TLS_CERT_FILE and TLS_KEY_FILE must be set together'],
    [{ TLS_KEY_FILE: server.key }, 'TLS_CERT_FILE and TLS_KEY_FILE must be set together'],
    [{ TLS_CERT_FILE: `${ca.dir}/missing.pem`, TLS_KEY_FILE: server.key }, `TLS_CERT_FILE: cannot read ${ca.dir}/missing.pem (ENOENT)`],
    [{ TLS_CERT_FILE: server.cert, TLS_KEY_FILE: ca.dir }, `TLS_KEY_FILE: cannot read ${ca.dir} (EISDIR)`],
    [{ TLS_CERT_FILE: server.key, TLS_KEY_FILE: server.key }, 'TLS_CERT_FILE: '],
    [{ TLS_CERT_FILE: server.cert, TLS_KEY_FILE: other.key }, 'TLS_KEY_FILE: '],
  ];
  for (const [env, message] of cases) {
    const r = start(env);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`invalid configuration: ${message}`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).not.toContain('BEGIN');
  }
});
