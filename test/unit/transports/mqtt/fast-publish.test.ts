import { describe, expect, test } from 'bun:test';
import * as mqtt from 'mqtt-packet';
import type { IPublishPacket } from 'mqtt-packet';
import { parsePublish, publishTopicIsUtf8 } from '../../../../src/transports/mqtt/fast-publish.ts';
import { Framer } from '../../../../src/transports/mqtt/framer.ts';

function viaMqttPacket(frame: Buffer, protocolVersion: number): IPublishPacket {
  const parser = mqtt.parser({ protocolVersion });
  let out: IPublishPacket | undefined;
  parser.on('packet', (p) => (out = p as IPublishPacket));
  parser.parse(frame);
  return out!;
}

const pick = (p: IPublishPacket) => ({ topic: p.topic, payload: Buffer.from(p.payload as Buffer).toString('hex'), qos: p.qos, dup: p.dup, retain: p.retain, messageId: p.messageId });

describe('mqtt fast PUBLISH parse', () => {
  test('fast publish - agrees with mqtt-packet on random v3.1.1 and property-less v5 publishes', () => {
    for (let i = 0; i < 2000; i++) {
      const version = i % 2 ? 5 : 4;
      const qos = (i % 3) as 0 | 1 | 2;
      const packet: IPublishPacket = {
        cmd: 'publish',
        topic: `t/${'é✓'.repeat(i % 4)}/${i}`,
        payload: Buffer.from(Array.from({ length: i % 300 }, () => Math.floor(Math.random() * 256))),
        qos,
        dup: i % 5 === 0 && qos > 0,
        retain: i % 7 === 0,
        ...(qos > 0 ? { messageId: 1 + (i % 65_535) } : {}),
      };
      const frame = mqtt.generate(packet, { protocolVersion: version });
      expect(pick(parsePublish(frame, version)!)).toEqual(pick(viaMqttPacket(frame, version)));
    }
  });
  test('fast publish - agrees with mqtt-packet on random v5 publishes with the properties a client may send', () => {
    for (let i = 0; i < 2000; i++) {
      const properties: NonNullable<IPublishPacket['properties']> = {};
      if (i % 2) properties.payloadFormatIndicator = i % 4 === 1;
      if (i % 3) properties.messageExpiryInterval = i * 7;
      if (i % 5) properties.contentType = `type/${i}`;
      if (i % 7) properties.responseTopic = `r/${i}`;
      if (i % 11) properties.correlationData = Buffer.from(String(i));
      if (i % 13) properties.topicAlias = 1 + (i % 50);
      if (i % 17) properties.userProperties = { a: String(i), b: ['x', 'y'] };
      const packet: IPublishPacket = { cmd: 'publish', topic: `t/${i}`, payload: Buffer.from('p'), qos: 1, messageId: 1 + i, dup: false, retain: false, properties };
      const frame = mqtt.generate(packet, { protocolVersion: 5 });
      const fast = parsePublish(frame, 5)!;
      const slow = viaMqttPacket(frame, 5);
      expect(pick(fast)).toEqual(pick(slow));
      const { userPropertyPairs, ...fastProps } = fast.properties ?? {};
      expect({ ...fastProps, userProperties: fastProps.userProperties ? { ...fastProps.userProperties } : undefined }).toEqual({ ...(slow.properties ?? {}), userProperties: slow.properties?.userProperties ? { ...slow.properties.userProperties } : undefined } as never);
      if (properties.userProperties) expect(userPropertyPairs).toEqual([['a', String(i)], ['b', 'x'], ['b', 'y']]);
    }
  });
  test('fast publish - leaves malformed or unusual v5 properties and other packets to mqtt-packet', () => {
    const withSubscriptionId = mqtt.generate({ cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false, properties: { subscriptionIdentifier: 3 } }, { protocolVersion: 5 });
    expect(parsePublish(withSubscriptionId, 5)).toBeUndefined();
    // content type given twice
    const twice = Buffer.from([0x32, 0x0e, 0x00, 0x01, 0x61, 0x00, 0x01, 0x08, 0x03, 0x00, 0x01, 0x61, 0x03, 0x00, 0x01, 0x62]);
    expect(parsePublish(twice, 5)).toBeUndefined();
    expect(parsePublish(Buffer.from([0xc0, 0x00]), 4)).toBeUndefined();
    expect(parsePublish(Buffer.from([0x36, 0x03, 0x00, 0x01, 0x61]), 4)).toBeUndefined(); // QoS bits 11
    expect(parsePublish(Buffer.from([0x32, 0x03, 0x00, 0x05, 0x61]), 4)).toBeUndefined(); // topic longer than the frame
  });
  test('fast publish - fuzz: on random valid and corrupted frames, whatever the fast path accepts mqtt-packet parses the same way', () => {
    // seeded, so a failure replays: FUZZ_SEED=<seed>
    let seed = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
    const first = seed;
    const rnd = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
    const int = (n: number) => Math.floor(rnd() * n);
    let compared = 0;
    let accepted = 0;
    let refusedByBoth = 0;
    for (let i = 0; i < 6000; i++) {
      const version = int(2) ? 5 : 4;
      const qos = int(3) as 0 | 1 | 2;
      const properties: NonNullable<IPublishPacket['properties']> = {};
      if (version === 5) {
        if (int(2)) properties.contentType = `t/${int(100)}`;
        if (int(2)) properties.messageExpiryInterval = int(100_000);
        if (int(3) === 0) properties.userProperties = { k: String(int(10)) };
        if (int(3) === 0) properties.correlationData = Buffer.from([int(256), int(256)]);
      }
      const packet: IPublishPacket = { cmd: 'publish', topic: `d/${int(1000)}/data`, payload: Buffer.from(Array.from({ length: int(40) }, () => int(256))), qos, dup: false, retain: int(2) === 1, ...(qos > 0 ? { messageId: 1 + int(65_535) } : {}), ...(version === 5 ? { properties } : {}) };
      const bytes = Buffer.from(mqtt.generate(packet, { protocolVersion: version }));
      // corrupt 0-3 bytes anywhere (the type byte and the Remaining Length included)
      for (let k = int(4); k > 0; k--) bytes[int(bytes.length)] = int(4) === 0 ? 0xff : int(256);
      // and often the PUBLISH flags alone (DUP, QoS 3, RETAIN)
      if (int(5) === 0) bytes[0] = 0x30 | int(16);
      const frames = new Framer(1 << 20).push(bytes);
      if (!Array.isArray(frames) || frames.length !== 1) continue; // the framer's own tests cover these
      const frame = frames[0]!;
      compared++;
      const fast = parsePublish(frame, version);
      const parser = mqtt.parser({ protocolVersion: version });
      const slow: IPublishPacket[] = [];
      let error: Error | undefined;
      parser.on('packet', (p) => slow.push(p as IPublishPacket));
      parser.on('error', (e) => (error = e));
      parser.parse(frame);
      if (fast === undefined) {
        if (error !== undefined || slow.length === 0) refusedByBoth++;
        continue;
      }
      accepted++;
      // the connection takes the fast packet only with a well-formed UTF-8 topic; mqtt-packet decodes it the same way
      if (!publishTopicIsUtf8(frame)) continue;
      const where = `seed ${first}, case ${i}: ${frame.toString('hex')}`;
      expect([where, error?.message, slow.length]).toEqual([where, undefined, 1]);
      expect([where, pick(fast)]).toEqual([where, pick(slow[0]!)]);
      const { userPropertyPairs: _pairs, ...fastProps } = fast.properties ?? {};
      const slowProps = slow[0]!.properties ?? {};
      expect([where, fastProps.contentType, fastProps.messageExpiryInterval, fastProps.correlationData?.toString('hex')]).toEqual([where, slowProps.contentType, slowProps.messageExpiryInterval, (slowProps.correlationData as Buffer | undefined)?.toString('hex')]);
    }
    if (process.env.FUZZ_VERBOSE) console.log({ seed: first, compared, accepted, refusedByBoth });
    // the corpus reaches both sides: many frames accepted, many refused by both
    expect(compared).toBeGreaterThan(3000);
    expect(accepted).toBeGreaterThan(1000);
    expect(refusedByBoth).toBeGreaterThan(100);
  });
});
