import { describe, expect, test } from 'bun:test';
import * as mqtt from 'mqtt-packet';
import type { IPublishPacket } from 'mqtt-packet';
import { parsePublish } from '../../../../src/transports/mqtt/fast-publish.ts';

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
});
