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
  test('fast publish - leaves v5 publishes with properties and other packets to mqtt-packet', () => {
    const withProps = mqtt.generate({ cmd: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false, properties: { contentType: 'application/json' } }, { protocolVersion: 5 });
    expect(parsePublish(withProps, 5)).toBeUndefined();
    expect(parsePublish(Buffer.from([0xc0, 0x00]), 4)).toBeUndefined();
    expect(parsePublish(Buffer.from([0x36, 0x03, 0x00, 0x01, 0x61]), 4)).toBeUndefined(); // QoS bits 11
    expect(parsePublish(Buffer.from([0x32, 0x03, 0x00, 0x05, 0x61]), 4)).toBeUndefined(); // topic longer than the frame
  });
});
