/**
 * Per-sensor relay topics (MQTT_SENSOR_TOPICS=on): what the previous ingest service's MQTT.md
 * tells dashboard authors, `mosquitto_sub -t 'neurobuild/sensors/+/pir'`, receives the PIR part
 * of every accepted reading, whatever transport brought it; /data subscribers are unchanged;
 * with the default (off) a sensor topic relays nothing.
 */
import { describe, expect, test } from 'bun:test';
import { spawn } from 'node:child_process';
import type { IPublishPacket } from 'mqtt-packet';
import { reading } from '../fixtures/readings.ts';
import { onLines } from '../helpers/lines.ts';
import { publishes, rawConnect, rawSubscribe } from '../helpers/mqtt5.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

const PIR_ONLY = { pir: { motion_detected: true } };
const LD_ONLY = { ld2410: { presence: true, distance: 120, energy: 60 } };

describe('sensor topics - MQTT_SENSOR_TOPICS=on', () => {
  const stack = useStack({ MQTT_SENSOR_TOPICS: 'on' });

  test("sensor topics - mosquitto_sub -t 'neurobuild/sensors/+/pir' receives each reading's PIR part (HTTP and MQTT), nothing of readings without PIR", async () => {
    const s = stack.server;
    // stdbuf: mosquitto_sub's debug lines are block-buffered on a pipe; line buffering shows the SUBACK when it comes
    const sub = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-h', '127.0.0.1', '-p', String(s.mqttPort), '-t', 'neurobuild/sensors/+/pir', '-v', '-d', '-q', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    stack.cleanup(() => sub.kill());
    const lines: string[] = [];
    onLines(sub.stdout!, (l) => lines.push(l));
    // -d prints the SUBACK: the subscription is active from then on
    await waitFor(() => lines.some((l) => l.includes('received SUBACK')), 10_000, 'mosquitto_sub SUBACK');
    const full = reading({ device_id: 'sensor-topics-1' });
    const ldOnly = reading({ device_id: 'sensor-topics-2', sensors: LD_ONLY });
    const pirOnly = reading({ device_id: 'sensor-topics-3', sensors: PIR_ONLY });
    expect((await s.post('/api/v1/sensor-data', full)).status).toBe(202);
    expect((await s.post('/api/v1/sensor-data', ldOnly)).status).toBe(202);
    const pub = stack.track(await RawMqtt.connected(s.mqttPort, 4));
    pub.send({ cmd: 'publish', topic: 'neurobuild/sensors/sensor-topics-3/pir', payload: Buffer.from(JSON.stringify(pirOnly)), qos: 1, messageId: 1, retain: false, dup: false });
    await pub.next('puback');
    const messages = () => lines.filter((l) => l.startsWith('neurobuild/')).map((l) => ({ topic: l.slice(0, l.indexOf(' ')), body: JSON.parse(l.slice(l.indexOf(' ') + 1)) as Record<string, unknown> }));
    // the last one sent is the marker: what arrives has arrived once it has (one connection, in order)
    await waitFor(() => messages().some((m) => m.topic.includes('sensor-topics-3')), 10_000, 'the PIR reading published over MQTT');
    const got = messages();
    expect(got.map((m) => m.topic)).toEqual(['neurobuild/sensors/sensor-topics-1/pir', 'neurobuild/sensors/sensor-topics-3/pir']);
    // the enriched reading with only its PIR sensor
    const first = got[0]!.body;
    expect(first.device_id).toBe('sensor-topics-1');
    expect(first.timestamp).toBe(full.timestamp);
    expect(first.sensors).toEqual({ pir: { motion_detected: true } });
    expect(typeof first.message_id).toBe('string');
    expect(got[1]!.body.sensors).toEqual(PIR_ONLY);
  });

  test('sensor topics - one client on /data and on two sensor topics gets the reading once per topic; its ld2410 part carries only ld2410', async () => {
    const s = stack.server;
    const { c } = await rawConnect(s.mqttPort, { clientId: 'sensor-topics-watcher' });
    stack.track(c);
    await rawSubscribe(c, [{ topic: 'neurobuild/sensors/+/data', qos: 1 }, { topic: 'neurobuild/sensors/+/ld2410', qos: 1 }, { topic: 'neurobuild/sensors/sensor-topics-4/mq134', qos: 0 }]);
    const one = reading({ device_id: 'sensor-topics-4' });
    expect((await s.post('/api/v1/sensor-data', one)).status).toBe(202);
    await waitFor(() => publishes(c).length >= 3, 10_000, 'three deliveries');
    const got = publishes(c).map((p: IPublishPacket) => ({ topic: p.topic, qos: p.qos, sensors: Object.keys((JSON.parse(String(p.payload)) as { sensors: object }).sensors) }));
    expect(got).toEqual([
      { topic: 'neurobuild/sensors/sensor-topics-4/data', qos: 1, sensors: ['ld2410', 'pir', 'mq134'] },
      { topic: 'neurobuild/sensors/sensor-topics-4/ld2410', qos: 1, sensors: ['ld2410'] },
      { topic: 'neurobuild/sensors/sensor-topics-4/mq134', qos: 0, sensors: ['mq134'] },
    ]);
  });
});

describe('sensor topics - default (off)', () => {
  const stack = useStack();

  test('sensor topics - off: a sensor topic subscriber gets nothing of accepted readings; /data still relays', async () => {
    const s = stack.server;
    const { c } = await rawConnect(s.mqttPort, { clientId: 'sensor-topics-off' });
    stack.track(c);
    await rawSubscribe(c, [{ topic: 'neurobuild/sensors/+/pir', qos: 1 }, { topic: 'neurobuild/sensors/sensor-topics-off-2/data', qos: 1 }]);
    expect((await s.post('/api/v1/sensor-data', reading({ device_id: 'sensor-topics-off-1' }))).status).toBe(202);
    // a later reading's /data delivery is the marker: a PIR relay of the first would have come before it
    expect((await s.post('/api/v1/sensor-data', reading({ device_id: 'sensor-topics-off-2' }))).status).toBe(202);
    await waitFor(() => publishes(c).length >= 1, 10_000, 'the marker on /data');
    expect(publishes(c).map((p) => p.topic)).toEqual(['neurobuild/sensors/sensor-topics-off-2/data']);
  });
});
