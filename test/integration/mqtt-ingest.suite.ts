/**
 * MQTT ingest end to end: the built server under Node, real redis-server (or a Redis Cluster,
 * with one or several streams), MQTT.js (v3.1.1 and v5), Debian's mosquitto_pub, and a raw
 * client for retransmissions. Run by mqtt-ingest.test.ts and test/cluster/.
 */
import { describe, expect, test } from 'bun:test';
import { spawnSync } from 'node:child_process';
import mqtt, { type MqttClient } from 'mqtt';
import { reading } from '../fixtures/readings.ts';
import { RawMqtt } from '../helpers/mqtt-raw.ts';
import { type StackOptions, useStack } from '../helpers/stack.ts';
import { waitFor } from '../helpers/wait.ts';

/** @param prefix put before every test name (e.g. "cluster, 6 shards - ") */
export function mqttIngestSuite(prefix = '', opts: StackOptions = {}): void {
  const stack = useStack({ MQTT_CONNECT_TIMEOUT_MS: '1000' }, opts);

  async function client(version: 4 | 5, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
    return stack.track(await mqtt.connectAsync(`mqtt://127.0.0.1:${stack.server.mqttPort}`, { protocolVersion: version, reconnectPeriod: 0, ...opts }));
  }

  async function storedDevices(): Promise<string[]> {
    const rows = await stack.xrange('sensor-data');
    return rows.map(([, f]) => f[f.indexOf('device_id') + 1]!);
  }

  const topic = (deviceId: unknown, kind = 'data') => `neurobuild/sensors/${deviceId}/${kind}`;

  describe(`${prefix}mqtt - publish and ingest`, () => {
    for (const version of [4, 5] as const) {
      for (const qos of [0, 1, 2] as const) {
        test(`${prefix}mqtt - MQTT.js v${version === 4 ? '3.1.1' : '5'} QoS ${qos}: the reading is in the stream${qos ? ' when the ack arrives' : ''}`, async () => {
          const c = await client(version);
          const one = reading();
          await c.publishAsync(topic(one.device_id), JSON.stringify(one), { qos });
          if (qos > 0) expect(await storedDevices()).toContain(one.device_id as string);
          else await waitFor(async () => (await storedDevices()).includes(one.device_id as string), 3000, 'QoS 0 reading stored');
        });
      }
    }

    test(`${prefix}mqtt - mosquitto_pub at QoS 1 and 2 (v3.1.1 and v5)`, async () => {
      const sent = [reading(), reading(), reading()];
      const runs: [string[], Record<string, unknown>][] = [
        [['-q', '1'], sent[0]!],
        [['-q', '2'], sent[1]!],
        [['-q', '1', '-V', 'mqttv5'], sent[2]!],
      ];
      for (const [args, one] of runs) {
        const res = spawnSync('mosquitto_pub', ['-p', String(stack.server.mqttPort), '-t', topic(one.device_id), '-m', JSON.stringify(one), ...args], { encoding: 'utf8', timeout: 10_000 });
        expect(res.status).toBe(0);
      }
      const stored = await storedDevices();
      for (const one of sent) expect(stored).toContain(one.device_id as string);
    });

    test(`${prefix}mqtt - a sensor topic accepts only its sensor; the topic device must be the payload device (v5 0x99 with a reason)`, async () => {
      const raw = await RawMqtt.connected(stack.server.mqttPort, 5);
      let id = 0;
      const publish = async (t: string, payload: unknown) => {
        raw.send({ cmd: 'publish', topic: t, payload: Buffer.from(JSON.stringify(payload)), qos: 1, messageId: ++id, retain: false, dup: false });
        return (await raw.next('puback')) as { reasonCode?: number; properties?: { reasonString?: string } };
      };
      const wrongSensor = reading({ sensors: { ld2410: { presence: true, distance: 1, energy: 1 } } });
      const res1 = await publish(topic(wrongSensor.device_id, 'pir'), wrongSensor);
      expect(res1.reasonCode).toBe(0x99);
      expect(res1.properties?.reasonString).toBe('this topic accepts only the pir sensor (got ld2410)');
      const res2 = await publish(topic('someone-else'), reading());
      expect(res2.reasonCode).toBe(0x99);
      expect(res2.properties?.reasonString).toContain('does not match the topic');
      const res3 = await publish(topic('x'), reading({ device_id: 'x', sensors: { ld2410: { presence: true, distance: 601, energy: 1 } } }));
      expect(res3.properties?.reasonString).toBe('sensors.ld2410.distance must be <= 600');
      const ok = reading({ sensors: { pir: { motion_detected: false } } });
      expect((await publish(topic(ok.device_id, 'pir'), ok)).reasonCode ?? 0).toBe(0);
      const stored = await storedDevices();
      expect(stored).toContain(ok.device_id as string);
      expect(stored).not.toContain(wrongSensor.device_id as string);
      raw.end();
    });

    test(`${prefix}mqtt - MQTT.js sees the refusal as a publish error with reason 0x99`, async () => {
      const c = await client(5);
      const bad = reading({ sensors: {} });
      const err = await c.publishAsync(topic(bad.device_id), JSON.stringify(bad), { qos: 1 }).catch((e: { code?: number }) => e);
      expect((err as { code?: number }).code).toBe(0x99);
    });

    test(`${prefix}mqtt - v3.1.1: an invalid payload is PUBACKed and kept in the rejects stream`, async () => {
      const c = await client(4);
      const bad = reading({ sensors: {} });
      await c.publishAsync(topic(bad.device_id), JSON.stringify(bad), { qos: 1 });
      // the rejects stream is written after the answer, in the next batch
      const mine = await waitFor(async () => {
        const rejects = await stack.xrange('sensor-data-invalid');
        return rejects.map(([, f]) => f.join(' ')).find((f) => f.includes(bad.device_id as string));
      }, 3000, 'reject entry');
      expect(mine).toContain('sensors must contain at least one sensor');
      expect(mine).toContain(`topic ${topic(bad.device_id)}`);
    });

    test(`${prefix}mqtt - MessagePack payloads with the v5 content type`, async () => {
      const { pack } = await import('msgpackr');
      const c = await client(5);
      const one = reading();
      await c.publishAsync(topic(one.device_id), pack(one), { qos: 1, properties: { contentType: 'application/msgpack' } });
      expect(await storedDevices()).toContain(one.device_id as string);
    });

    test(`${prefix}mqtt - v5 topic aliases: announced in CONNACK, set by a PUBLISH with a topic, used by one with an empty topic`, async () => {
      const raw = await RawMqtt.open(stack.server.mqttPort, 5);
      raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: 'alias-user', keepalive: 60 });
      const connack = (await raw.next('connack')) as { properties?: { topicAliasMaximum?: number } };
      expect(connack.properties?.topicAliasMaximum).toBe(64);
      const a = reading({ device_id: 'alias-raw' });
      const b = reading({ device_id: 'alias-raw' });
      raw.send({ cmd: 'publish', topic: topic(a.device_id), payload: Buffer.from(JSON.stringify(a)), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: 7 } });
      raw.send({ cmd: 'publish', topic: '', payload: Buffer.from(JSON.stringify(b)), qos: 1, messageId: 2, retain: false, dup: false, properties: { topicAlias: 7 } });
      expect(((await raw.next('puback')) as { reasonCode?: number }).reasonCode ?? 0).toBe(0);
      expect(((await raw.next('puback')) as { reasonCode?: number }).reasonCode ?? 0).toBe(0);
      expect((await storedDevices()).filter((d) => d === 'alias-raw').length).toBe(2);
      raw.end();

      // MQTT.js choosing aliases by itself
      const c = await client(5, { autoUseTopicAlias: true, autoAssignTopicAlias: true });
      const many = [1, 2, 3].map(() => reading({ device_id: 'alias-auto' }));
      for (const one of many) await c.publishAsync(topic('alias-auto'), JSON.stringify(one), { qos: 1 });
      expect((await storedDevices()).filter((d) => d === 'alias-auto').length).toBe(3);
    });

    test(`${prefix}mqtt - v5 topic alias errors: unknown alias 0x82, alias 0 or above the maximum 0x94`, async () => {
      const cases: [number, string, number][] = [[3, '', 0x82], [0, 'relay/x', 0x94], [65, 'relay/x', 0x94]];
      for (const [alias, t, reason] of cases) {
        const raw = await RawMqtt.connected(stack.server.mqttPort, 5);
        raw.send({ cmd: 'publish', topic: t, payload: Buffer.from('{}'), qos: 1, messageId: 1, retain: false, dup: false, properties: { topicAlias: alias } });
        expect(((await raw.next('disconnect')) as { reasonCode?: number }).reasonCode).toBe(reason);
        expect(await raw.waitClosed()).toBe(true);
      }
    });

    test(`${prefix}mqtt - a retransmitted QoS 2 packet id is appended once`, async () => {
      const raw = await RawMqtt.connected(stack.server.mqttPort, 4);
      const one = reading();
      const publish = { cmd: 'publish' as const, topic: topic(one.device_id), payload: Buffer.from(JSON.stringify(one)), qos: 2 as const, messageId: 42, retain: false, dup: false };
      raw.send(publish);
      await raw.next('pubrec');
      raw.send({ ...publish, dup: true });
      await raw.next('pubrec');
      raw.send({ cmd: 'pubrel', messageId: 42 });
      await raw.next('pubcomp');
      expect((await storedDevices()).filter((d) => d === one.device_id).length).toBe(1);
      raw.end();
    });

    test(`${prefix}mqtt - a QoS 1 retransmission (same reading) is acknowledged and stored once`, async () => {
      const c = await client(5);
      const one = JSON.stringify(reading());
      const device = JSON.parse(one).device_id;
      // both resolve: MQTT.js rejects a PUBACK with a failure reason code
      await c.publishAsync(topic(device), one, { qos: 1 });
      await c.publishAsync(topic(device), one, { qos: 1 });
      expect((await storedDevices()).filter((d) => d === device).length).toBe(1);
    });
  });

  describe(`${prefix}mqtt - session rules`, () => {
    test(`${prefix}mqtt - PINGREQ gets PINGRESP; keep-alive expiry closes a silent client`, async () => {
      const raw = await RawMqtt.connected(stack.server.mqttPort, 4, 'silent', 1);
      raw.send({ cmd: 'pingreq' });
      await raw.next('pingresp');
      const started = Date.now();
      await raw.waitClosed(5000);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    });

    test(`${prefix}mqtt - no CONNECT within the deadline: closed`, async () => {
      const raw = await RawMqtt.open(stack.server.mqttPort);
      expect(await raw.waitClosed(4000)).toBe(true);
    });

    test(`${prefix}mqtt - a second connection with the same client id takes over (v5: DISCONNECT 0x8E)`, async () => {
      const first = await RawMqtt.connected(stack.server.mqttPort, 5, 'takeover-me');
      const second = await RawMqtt.connected(stack.server.mqttPort, 5, 'takeover-me');
      const d = await first.next('disconnect');
      expect((d as { reasonCode?: number }).reasonCode).toBe(0x8e);
      await first.waitClosed();
      second.send({ cmd: 'pingreq' });
      await second.next('pingresp');
      second.end();
    });

    test(`${prefix}mqtt - v3.1.1 empty client id with a persistent session is refused (CONNACK 2)`, async () => {
      const raw = await RawMqtt.open(stack.server.mqttPort, 4);
      // mqtt-packet will not generate this CONNECT: fixed header, "MQTT", level 4, flags 0 (clean session off), keep-alive 10, client id of length 0
      raw.write(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x00, 0x00, 0x0a, 0x00, 0x00]));
      const ack = (await raw.next('connack')) as { returnCode?: number };
      expect(ack.returnCode).toBe(2);
      await raw.waitClosed();
    });

    test(`${prefix}mqtt - v5 empty client id gets one assigned`, async () => {
      const c = await client(5, { clientId: '' });
      expect(typeof c.options.clientId).toBe('string');
      const raw = await RawMqtt.open(stack.server.mqttPort, 5);
      raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, clientId: '', keepalive: 10 });
      const ack = (await raw.next('connack')) as { properties?: { assignedClientIdentifier?: string } };
      expect(ack.properties?.assignedClientIdentifier).toStartWith('nb-');
      raw.end();
    });

    test(`${prefix}mqtt - SUBACK grants valid filters and shared subscriptions, and refuses invalid ones (malformed share names included)`, async () => {
      const v3 = await RawMqtt.connected(stack.server.mqttPort, 4);
      v3.send({ cmd: 'subscribe', messageId: 7, subscriptions: [{ topic: 'neurobuild/sensors/#', qos: 1 }, { topic: 'a/#/b', qos: 0 }, { topic: 'x/+', qos: 2 }] });
      expect(((await v3.next('suback')) as { granted: number[] }).granted).toEqual([1, 0x80, 2]);
      v3.end();
      const v5 = await RawMqtt.connected(stack.server.mqttPort, 5);
      v5.send({ cmd: 'subscribe', messageId: 8, subscriptions: [{ topic: '$share/g/a', qos: 1 }, { topic: 'a+', qos: 1 }, { topic: '$share//a', qos: 1 }, { topic: '$share/g+/a', qos: 1 }, { topic: '$share/g', qos: 1 }] });
      expect(((await v5.next('suback')) as { granted: number[] }).granted).toEqual([1, 0x8f, 0x8f, 0x8f, 0x8f]);
      v5.end();
    });
  });

  describe(`${prefix}mqtt - hostile input`, () => {
    test(`${prefix}mqtt - PUBLISH before CONNECT, a second CONNECT, and a wildcard topic close the connection`, async () => {
      const early = await RawMqtt.open(stack.server.mqttPort, 4);
      early.send({ cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
      expect(await early.waitClosed()).toBe(true);

      const twice = await RawMqtt.connected(stack.server.mqttPort, 4);
      twice.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: 'again', keepalive: 10 });
      expect(await twice.waitClosed()).toBe(true);

      const wild = await RawMqtt.connected(stack.server.mqttPort, 5);
      wild.send({ cmd: 'publish', topic: 'neurobuild/sensors/+/data', payload: Buffer.from('{}'), qos: 1, messageId: 1, retain: false, dup: false });
      const d = (await wild.next('disconnect')) as { reasonCode?: number };
      expect(d.reasonCode).toBe(0x90);
      expect(await wild.waitClosed()).toBe(true);
    });

    test(`${prefix}mqtt - a huge remaining length is refused before any body arrives (v5: DISCONNECT 0x95)`, async () => {
      const raw = await RawMqtt.connected(stack.server.mqttPort, 5);
      raw.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f]));
      const d = (await raw.next('disconnect')) as { reasonCode?: number };
      expect(d.reasonCode).toBe(0x95);
      expect(await raw.waitClosed()).toBe(true);
    });

    test(`${prefix}mqtt - random bytes close the connection and the server keeps serving`, async () => {
      for (let i = 0; i < 50; i++) {
        const raw = await RawMqtt.open(stack.server.mqttPort);
        raw.write(Buffer.from(Array.from({ length: 64 }, () => Math.floor(Math.random() * 256))));
        raw.end();
      }
      const c = await client(4);
      const one = reading();
      await c.publishAsync(topic(one.device_id), JSON.stringify(one), { qos: 1 });
      expect(await storedDevices()).toContain(one.device_id as string);
      expect(stack.server.proc.exitCode).toBeNull();
    });

    test(`${prefix}mqtt - health reports the listener and the metrics count MQTT`, async () => {
      const h = (await (await fetch(stack.server.base + '/health')).json()) as { services: Record<string, string> };
      expect(h.services.mqtt).toBe('up');
      const text = await (await fetch(`http://127.0.0.1:${stack.server.metricsPort}/metrics`)).text();
      expect(text).toMatch(/sensor_data_ingested_total\{sensor_type="pir",transport="mqtt"\} \d+/);
      expect(text).toMatch(/active_connections\{connection_type="mqtt"\} \d+/);
    });
  });
}
