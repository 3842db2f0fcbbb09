/**
 * MQTT over TLS with client certificates (MQTT_TLS_CLIENT_CERT=required, AUTH_MODE=api-key):
 * a certificate the CA signed is the device identity (no password needed), others fail the
 * handshake; SIGHUP reloads the server certificate without dropping connections.
 */
import { expect, test } from 'bun:test';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import mqtt from 'mqtt';
import * as mqttPacket from 'mqtt-packet';
import { reading } from '../fixtures/readings.ts';
import { freePort } from '../helpers/free-port.ts';
import { useStack } from '../helpers/stack.ts';
import { testCa } from '../helpers/tls-cert.ts';
import { waitFor } from '../helpers/wait.ts';

const ca = testCa();
const rogue = testCa('rogue-ca');
const server = ca.issue('localhost', 'server', 'server');
const device = ca.issue('mtls-dev', 'client');
const stranger = rogue.issue('mtls-dev', 'client');
let tlsPort: number;
const stack = useStack(async () => {
  tlsPort = await freePort();
  return {
    AUTH_MODE: 'api-key',
    MQTT_TLS_PORT: String(tlsPort),
    MQTT_TLS_CERT_FILE: server.cert,
    MQTT_TLS_KEY_FILE: server.key,
    MQTT_TLS_CA_FILE: ca.ca,
    MQTT_TLS_CLIENT_CERT: 'required',
  };
});
stack.cleanup(() => {
  rmSync(ca.dir, { recursive: true, force: true });
  rmSync(rogue.dir, { recursive: true, force: true });
});

const tlsOpts = (client?: { cert: string; key: string }) => ({
  ca: [readFileSync(ca.ca)],
  servername: 'localhost',
  rejectUnauthorized: true,
  reconnectPeriod: 0,
  connectTimeout: 3000,
  ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
});

test('mtls - the certificate is the identity: publishes its own readings without a password, not others\'', async () => {
  const c = stack.track(await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { protocolVersion: 5, ...tlsOpts(device) }));
  const one = reading({ device_id: 'mtls-dev' });
  await c.publishAsync('neurobuild/sensors/mtls-dev/data', JSON.stringify(one), { qos: 1 });
  const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
  expect(rows.some(([, f]) => f[f.indexOf('device_id') + 1] === 'mtls-dev')).toBe(true);
  const err = await c.publishAsync('neurobuild/sensors/other-dev/data', JSON.stringify(reading({ device_id: 'other-dev' })), { qos: 1 }).then(
    () => undefined,
    (e: { code?: number }) => e.code,
  );
  expect(err).toBe(0x87);
});

function serverSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ port: tlsPort, host: '127.0.0.1', servername: 'localhost', ca: [readFileSync(ca.ca)], cert: readFileSync(device.cert), key: readFileSync(device.key) }, () => {
      resolve(s.getPeerCertificate().serialNumber);
      s.end();
    });
    s.on('error', reject);
  });
}

test('mtls - SIGHUP reloads the server certificate; open connections stay', async () => {
  const c = stack.track(await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { protocolVersion: 5, ...tlsOpts(device) }));
  const before = await serverSerial();
  const next = ca.issue('localhost', 'server', 'server-2');
  copyFileSync(next.cert, server.cert);
  copyFileSync(next.key, server.key);
  stack.server.proc.kill('SIGHUP');
  await waitFor(() => stack.server.logs.some((l) => l.msg === 'TLS certificate reloaded'), 3000, 'reload logged');
  expect(await serverSerial()).not.toBe(before);
  await c.publishAsync('neurobuild/sensors/mtls-dev/data', JSON.stringify(reading({ device_id: 'mtls-dev' })), { qos: 1 });
});

/**
 * A TLS connection by hand (node:tls) that sends CONNECT once its side of the handshake is done
 * (with TLS 1.3 the server checks the client certificate after that). What came of it, once the
 * connection ends (at the CONNACK the client ends it); never waits more than 5 s.
 */
function mqttOverTls(client?: { cert: string; key: string }): Promise<{ error?: string; connack: boolean; timedOut: boolean }> {
  return new Promise((resolve) => {
    const out = { error: undefined as string | undefined, connack: false, timedOut: false };
    const s = tlsConnect({
      port: tlsPort,
      host: '127.0.0.1',
      servername: 'localhost',
      ca: [readFileSync(ca.ca)],
      ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
    });
    const timer = setTimeout(() => {
      out.timedOut = true;
      s.destroy();
    }, 5000);
    s.once('secureConnect', () => s.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'mtls-dev', keepalive: 30 })));
    s.on('data', (d: Buffer) => {
      if (d[0] !== 0x20) return;
      out.connack = true;
      s.destroy();
    });
    s.on('error', (err: NodeJS.ErrnoException) => (out.error ??= err.code ?? err.message));
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

test('mtls - required: no client certificate, or one from a foreign CA, fails the handshake; the server keeps serving', async () => {
  const failed = 'sensor_data_errors_total{error_type="mqtt_tls_handshake_failed"}';
  const before = (await stack.server.metric(failed)) ?? 0;
  // the server ends the connection at once, without a CONNACK; Node reports the TLS alert as an
  // error, Bun's node:tls only as the end of the connection: the server's count is the proof
  const none = await mqttOverTls();
  expect(none.timedOut).toBe(false);
  expect(none.connack).toBe(false);
  if (none.error !== undefined) expect(none.error).toMatch(/CERTIFICATE_REQUIRED|HANDSHAKE_FAILURE|ECONNRESET/);
  const foreign = await mqttOverTls(stranger);
  expect(foreign.timedOut).toBe(false);
  expect(foreign.connack).toBe(false);
  if (foreign.error !== undefined) expect(foreign.error).toMatch(/UNKNOWN_CA|BAD_CERTIFICATE|ECONNRESET/);
  await waitFor(async () => (await stack.server.metric(failed)) === before + 2, 3000, 'two failed handshakes counted');
  // the same client with a certificate the CA signed gets in
  const good = await mqttOverTls(device);
  expect(good.connack).toBe(true);
});
