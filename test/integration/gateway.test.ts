/**
 * Behind Debian's nginx running deploy/gateway/nginx.conf: HTTP, WebSocket (live and MQTT over
 * WebSocket) and MQTT over TCP and TLS (stream proxy with proxy_protocol) work, and clients
 * behind the proxy are told apart by the address it forwards (X-Forwarded-For, the PROXY header):
 * each gets its own MAX_CONNECTIONS_PER_IP=1 and its own rate budget, while what a client claims
 * (its own X-Forwarded-For, a PROXY header sent straight to the server) changes nothing. The
 * PROXY refusals (untrusted peer, missing, malformed) each close the connection with a log line
 * and a metric.
 *
 * Addresses: nginx connects to the server from 127.0.0.2 (proxy_bind), the only other trusted
 * proxy is 127.0.0.3 (a hop in front of nginx, which may set X-Forwarded-For). Clients connect
 * from their own 127.0.0.x (under Node: Bun ignores a socket's local address), each test its own.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test';
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { reading } from '../fixtures/readings.ts';
import { freePort } from '../helpers/free-port.ts';
import { onLines } from '../helpers/lines.ts';
import { Nginx, nginxMissing } from '../helpers/nginx.ts';
import { useStack } from '../helpers/stack.ts';
import { selfSignedCert } from '../helpers/tls-cert.ts';
import { waitFor } from '../helpers/wait.ts';

const CLIENT = resolve(import.meta.dir, '../helpers/bound-client.mjs');
const NGINX_FROM = '127.0.0.2';
const why = nginxMissing();
if (why) console.warn(`gateway tests skipped: ${why}`);

type Event = { event: string; code?: number; status?: number };

/** One client connection from a chosen source address (test/helpers/bound-client.mjs under Node). */
class Client {
  readonly events: Event[] = [];
  readonly #proc: ChildProcess;

  constructor(spec: Record<string, unknown>) {
    this.#proc = spawn(process.env.NODE_BINARY ?? 'node', [CLIENT, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
    onLines(this.#proc.stdout!, (line) => this.events.push(JSON.parse(line) as Event));
  }

  /** The first of `names` to happen. */
  async first(...names: string[]): Promise<Event> {
    return (await waitFor<Event | undefined>(() => this.events.find((e) => names.includes(e.event)), 15_000, `one of ${names.join(', ')} (seen: ${JSON.stringify(this.events)})`))!;
  }

  close(): void {
    this.#proc.kill('SIGKILL');
  }
}

describe.skipIf(why !== undefined)('gateway', () => {
  const cert = selfSignedCert();
  let tlsPort = 0;
  const stack = useStack(async () => {
    tlsPort = await freePort();
    return {
      TRUSTED_PROXIES: `${NGINX_FROM}, 127.0.0.3`,
      MAX_CONNECTIONS_PER_IP: '1',
      RATE_LIMIT: 'on',
      RATE_LIMIT_PER_MINUTE: '1',
      MQTT_TLS_PORT: String(tlsPort),
      MQTT_TLS_CERT_FILE: cert.cert,
      MQTT_TLS_KEY_FILE: cert.key,
    };
  });
  let nginx: Nginx;
  const clients: Client[] = [];
  const client = (spec: Record<string, unknown>) => {
    const c = new Client(spec);
    clients.push(c);
    return c;
  };

  beforeAll(async () => {
    const s = stack.server;
    nginx = await Nginx.start({ http: s.port, ws: s.wsPort, mqtt: s.mqttPort, mqtts: tlsPort }, NGINX_FROM);
  });
  afterAll(async () => {
    for (const c of clients) c.close();
    await nginx?.stop();
    rmSync(cert.dir, { recursive: true, force: true });
  });

  const errors = async (type: string) => (await stack.server.metric(`sensor_data_errors_total{error_type="${type}"}`)) ?? 0;
  const post = (from: string, port: number, headers: Record<string, string | string[]> = {}) =>
    client({ kind: 'http', port, from, path: '/api/v1/sensor-data', headers, body: JSON.stringify(reading({ timestamp: new Date().toISOString() })) }).first('status');

  test('gateway - HTTP through nginx: each forwarded address has its own rate budget; a client\'s own X-Forwarded-For is ignored', async () => {
    const via = nginx.http;
    // RATE_LIMIT_PER_MINUTE=1 per address: the first reading from an address is accepted, the second refused
    expect((await post('127.0.0.10', via)).status).toBe(202);
    expect((await post('127.0.0.10', via)).status).toBe(429);
    expect((await post('127.0.0.11', via)).status).toBe(202);
    // a trusted hop in front of nginx names its clients: each its own budget
    expect((await post('127.0.0.3', via, { 'x-forwarded-for': '10.9.0.1' })).status).toBe(202);
    expect((await post('127.0.0.3', via, { 'x-forwarded-for': '10.9.0.1' })).status).toBe(429);
    expect((await post('127.0.0.3', via, { 'x-forwarded-for': '10.9.0.2' })).status).toBe(202);
    // a client naming another address through nginx: nginx appends the real one, which counts
    expect((await post('127.0.0.12', via, { 'x-forwarded-for': '10.9.0.3' })).status).toBe(202);
    expect((await post('127.0.0.12', via, { 'x-forwarded-for': '10.9.0.4' })).status).toBe(429);
    // straight to the server from an untrusted peer: the header is not read at all
    expect((await post('127.0.0.13', stack.server.port, { 'x-forwarded-for': '10.9.0.5' })).status).toBe(202);
    expect((await post('127.0.0.13', stack.server.port, { 'x-forwarded-for': '10.9.0.6' })).status).toBe(429);
    // a trusted proxy that adds its own header line: every line is read, in order, and the last address counts
    expect((await post('127.0.0.3', stack.server.port, { 'x-forwarded-for': ['10.9.0.7', '10.9.0.8'] })).status).toBe(202);
    expect((await post('127.0.0.3', stack.server.port, { 'x-forwarded-for': '10.9.0.8' })).status).toBe(429);
    expect((await post('127.0.0.3', stack.server.port, { 'x-forwarded-for': '10.9.0.7' })).status).toBe(202);
    const health = await fetch(`http://127.0.0.1:${nginx.http}/health`);
    expect(health.status).toBe(200);
  });

  test('gateway - WebSocket through nginx: live and MQTT over WebSocket work; MAX_CONNECTIONS_PER_IP=1 counts the forwarded address', async () => {
    const via = nginx.http;
    const live = (from: string, port: number, headers: Record<string, string> = {}, path = '/ws') => client({ kind: 'ws', port, from, path, headers });
    expect((await live('127.0.0.20', via).first('open', 'refused')).event).toBe('open');
    expect(await live('127.0.0.20', via).first('open', 'refused')).toEqual({ event: 'refused', status: 503 });
    expect((await live('127.0.0.21', via).first('open', 'refused')).event).toBe('open');
    expect((await live('127.0.0.3', via, { 'x-forwarded-for': '10.9.1.1' }).first('open', 'refused')).event).toBe('open');
    expect((await live('127.0.0.3', via, { 'x-forwarded-for': '10.9.1.2' }).first('open', 'refused')).event).toBe('open');
    expect(await live('127.0.0.3', via, { 'x-forwarded-for': '10.9.1.1' }).first('open', 'refused')).toEqual({ event: 'refused', status: 503 });
    // forged through nginx, and straight to the server: the peer's address counts
    expect((await live('127.0.0.22', via, { 'x-forwarded-for': '10.9.1.3' }).first('open', 'refused')).event).toBe('open');
    expect(await live('127.0.0.22', via, { 'x-forwarded-for': '10.9.1.4' }).first('open', 'refused')).toEqual({ event: 'refused', status: 503 });
    expect((await live('127.0.0.23', stack.server.wsPort, { 'x-forwarded-for': '10.9.1.5' }, '/').first('open', 'refused')).event).toBe('open');
    expect(await live('127.0.0.23', stack.server.wsPort, { 'x-forwarded-for': '10.9.1.6' }, '/').first('open', 'refused')).toEqual({ event: 'refused', status: 503 });
    // MQTT over WebSocket through nginx: CONNACK 0, and the same per-address count
    const mqttWs = (from: string, clientId: string) => client({ kind: 'ws-mqtt', port: via, from, path: '/mqtt', clientId });
    expect(await mqttWs('127.0.0.24', 'gw-ws-1').first('connack', 'refused')).toEqual({ event: 'connack', code: 0 });
    expect(await mqttWs('127.0.0.24', 'gw-ws-2').first('connack', 'refused')).toEqual({ event: 'refused', status: 503 });
    expect(await mqttWs('127.0.0.25', 'gw-ws-3').first('connack', 'refused')).toEqual({ event: 'connack', code: 0 });
  });

  test('gateway - MQTT through nginx\'s stream proxy (PROXY protocol v1): readings accepted; each device address its own MAX_CONNECTIONS_PER_IP', async () => {
    const mqtt = (from: string, clientId: string, publish?: { topic: string; payload: string }) => client({ kind: 'mqtt', port: nginx.mqtt, from, clientId, publish });
    const one = reading({ device_id: 'gw-mqtt-1', timestamp: new Date().toISOString() });
    const first = mqtt('127.0.0.30', 'gw-mqtt-1', { topic: 'neurobuild/sensors/gw-mqtt-1/data', payload: JSON.stringify(one) });
    expect(await first.first('connack', 'closed')).toEqual({ event: 'connack', code: 0 });
    await first.first('puback');
    await waitFor(async () => ((await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][]).some(([, f]) => f.includes('gw-mqtt-1')), 10_000, 'the reading in the stream');
    // the same device address again: refused (closed), though nginx's own address is the same for both
    expect(await mqtt('127.0.0.30', 'gw-mqtt-2').first('connack', 'closed')).toEqual({ event: 'closed' });
    expect(await mqtt('127.0.0.31', 'gw-mqtt-3').first('connack', 'closed')).toEqual({ event: 'connack', code: 0 });
    expect(await mqtt('127.0.0.32', 'gw-mqtt-4').first('connack', 'closed')).toEqual({ event: 'connack', code: 0 });
  });

  test('gateway - MQTT over TLS through nginx (passed through, PROXY header before the handshake): each device address its own limit', async () => {
    const mqtts = (from: string, clientId: string) => client({ kind: 'mqtts', port: nginx.mqtts, from, clientId });
    expect(await mqtts('127.0.0.40', 'gw-tls-1').first('connack', 'closed')).toEqual({ event: 'connack', code: 0 });
    expect(await mqtts('127.0.0.40', 'gw-tls-2').first('connack', 'closed')).toEqual({ event: 'closed' });
    expect(await mqtts('127.0.0.41', 'gw-tls-3').first('connack', 'closed')).toEqual({ event: 'connack', code: 0 });
  });

  test('gateway - a PROXY v2 header from a trusted proxy names the client (IPv4 and IPv6)', async () => {
    const v2 = (family: number, addresses: Buffer) => Buffer.concat([Buffer.from('0d0a0d0a000d0a515549540a', 'hex'), Buffer.from([0x21, family, 0, addresses.length]), addresses]).toString('base64');
    const v4 = v2(0x11, Buffer.from([10, 8, 0, 1, 127, 0, 0, 1, 0x30, 0x39, 0x07, 0x5b]));
    const v6 = v2(0x21, Buffer.concat([Buffer.from('20010db8000000000000000000000009', 'hex'), Buffer.alloc(16), Buffer.from([0x30, 0x39, 0x07, 0x5b])]));
    const direct = (prefix: string, clientId: string) => client({ kind: 'mqtt', port: stack.server.mqttPort, from: NGINX_FROM, prefix, clientId });
    expect(await direct(v4, 'gw-v2-1').first('connack', 'closed')).toEqual({ event: 'connack', code: 0 });
    // the same source in a second header: the limit of 10.8.0.1, not of the proxy
    expect(await direct(v4, 'gw-v2-2').first('connack', 'closed')).toEqual({ event: 'closed' });
    expect(await direct(v6, 'gw-v2-3').first('connack', 'closed')).toEqual({ event: 'connack', code: 0 });
    expect(await direct(v6, 'gw-v2-4').first('connack', 'closed')).toEqual({ event: 'closed' });
  });

  /** Sends `bytes` to the server's MQTT port (TCP or TLS port) from `from`; resolves when the server closes it. */
  const refusedBy = (port: number, from: string, prefix: Buffer, tls = false) =>
    client({ kind: tls ? 'mqtts' : 'mqtt', port, from, prefix: prefix.toString('base64'), clientId: 'gw-refused' }).first('connack', 'closed');
  const logged = async (text: string) => (await waitFor(() => stack.server.logs.find((l) => String(l.msg).includes(text)), 10_000, `a log line with "${text}"`))!;

  test('gateway - a PROXY header from a peer that is not a trusted proxy: closed, logged, counted (TCP and TLS)', async () => {
    const before = await errors('proxy_protocol_untrusted');
    // plain TCP, straight from the test (127.0.0.1)
    const closed = await new Promise<Buffer>((done) => {
      const got: Buffer[] = [];
      const s = connect(stack.server.mqttPort, '127.0.0.1', () => s.write('PROXY TCP4 10.7.0.1 127.0.0.1 1 1883\r\n\x10\x0c\x00\x04MQTT\x04\x02\x00\x3c\x00\x00'));
      s.on('data', (d) => got.push(d));
      s.on('error', () => {});
      s.on('close', () => done(Buffer.concat(got)));
    });
    expect(closed.length).toBe(0);
    const line = await logged('mqtt: connection from 127.0.0.1 closed: PROXY protocol untrusted');
    expect(line).toMatchObject({ listener: 'mqtt', peer: '127.0.0.1', level: 40 });
    // before the TLS handshake on the TLS port
    expect(await refusedBy(tlsPort, '127.0.0.50', Buffer.from('PROXY TCP4 10.7.0.2 127.0.0.1 1 8883\r\n'))).toEqual({ event: 'closed' });
    await logged('mqtts: connection from 127.0.0.50 closed: PROXY protocol untrusted');
    expect(await errors('proxy_protocol_untrusted')).toBe(before + 2);
  });

  test('gateway - a trusted proxy\'s connection without a PROXY header (MQTT_PROXY_PROTOCOL=required): closed, logged, counted', async () => {
    const before = await errors('proxy_protocol_missing');
    expect(await refusedBy(stack.server.mqttPort, NGINX_FROM, Buffer.alloc(0))).toEqual({ event: 'closed' });
    const line = await logged(`mqtt: connection from ${NGINX_FROM} closed: PROXY protocol missing`);
    expect(String(line.hint)).toContain('MQTT_PROXY_PROTOCOL=optional');
    expect(await errors('proxy_protocol_missing')).toBe(before + 1);
  });

  test('gateway - a malformed PROXY header from a trusted proxy: closed, logged, counted (bad line, oversized, bad v2; TCP and TLS)', async () => {
    const before = await errors('proxy_protocol_malformed');
    expect(await refusedBy(stack.server.mqttPort, NGINX_FROM, Buffer.from('PROXY TCP4 10.7.0.1 nowhere 1 1883\r\n'))).toEqual({ event: 'closed' });
    const line = await logged(`mqtt: connection from ${NGINX_FROM} closed: PROXY protocol malformed`);
    expect(String(line.reason)).toContain('are not IPv4');
    expect(await refusedBy(stack.server.mqttPort, NGINX_FROM, Buffer.from('PROXY UNKNOWN ' + 'x'.repeat(300) + '\r\n'))).toEqual({ event: 'closed' });
    expect(await refusedBy(stack.server.mqttPort, NGINX_FROM, Buffer.from('0d0a0d0a000d0a515549540a2111ffff', 'hex'))).toEqual({ event: 'closed' });
    expect(await refusedBy(tlsPort, NGINX_FROM, Buffer.from('PROXY TCP6 10.7.0.1 ::1 1 1883\r\n'))).toEqual({ event: 'closed' });
    await logged(`mqtts: connection from ${NGINX_FROM} closed: PROXY protocol malformed`);
    expect(await errors('proxy_protocol_malformed')).toBe(before + 4);
  });
});
