/**
 * MQTT over TLS: MQTT.js and mosquitto_pub publish over TLS and the readings are stored;
 * a client speaking plain TCP to the TLS port is refused without harm.
 */
import { expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import mqtt from 'mqtt';
import { reading } from '../fixtures/readings.ts';
import { freePort } from '../helpers/free-port.ts';
import { useStack } from '../helpers/stack.ts';
import { selfSignedCert } from '../helpers/tls-cert.ts';

let tlsPort: number;
const cert = selfSignedCert();
const stack = useStack(async () => {
  tlsPort = await freePort();
  return { MQTT_TLS_PORT: String(tlsPort), MQTT_TLS_CERT_FILE: cert.cert, MQTT_TLS_KEY_FILE: cert.key };
});
stack.cleanup(() => rmSync(cert.dir, { recursive: true, force: true }));

async function stored(deviceId: unknown): Promise<boolean> {
  const rows = (await stack.client.xrange('sensor-data', '-', '+')) as [string, string[]][];
  return rows.some(([, f]) => f.includes(deviceId as string));
}

test('mqtt tls - the server says where it listens for MQTT over TLS', () => {
  expect(stack.server.logs.some((l) => String(l.msg).includes(`MQTT/TLS on mqtts://127.0.0.1:${tlsPort}`))).toBe(true);
});

test('mqtt tls - MQTT.js v5 over TLS, QoS 1', async () => {
  const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { protocolVersion: 5, ca: [readFileSync(cert.cert)], rejectUnauthorized: true, servername: 'localhost', reconnectPeriod: 0 });
  const one = reading();
  await c.publishAsync(`neurobuild/sensors/${one.device_id}/data`, JSON.stringify(one), { qos: 1 });
  expect(await stored(one.device_id)).toBe(true);
  await c.endAsync();
});

test('mqtt tls - mosquitto_pub over TLS with the CA file, QoS 2', async () => {
  const one = reading();
  const r = spawnSync('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tlsPort), '--cafile', cert.cert, '-q', '2', '-t', `neurobuild/sensors/${one.device_id}/data`, '-m', JSON.stringify(one)], { encoding: 'utf8', timeout: 10_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(await stored(one.device_id)).toBe(true);
});

test('mqtt tls - plain MQTT bytes on the TLS port are refused and the server keeps serving', async () => {
  await new Promise<void>((resolve) => {
    const s = connect(tlsPort, '127.0.0.1', () => s.write(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x0a, 0x00, 0x00])));
    s.on('close', () => resolve());
    s.on('error', () => {});
  });
  // answered after the refused handshake was handled: a crash over it would have come first
  expect((await fetch(stack.server.base + '/health')).status).toBe(200);
  expect(stack.server.proc.exitCode).toBeNull();
});
