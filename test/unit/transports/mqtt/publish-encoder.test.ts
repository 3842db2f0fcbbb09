/**
 * The hand-written PUBLISH encoder against mqtt-packet's parser: random messages, v3.1.1 and
 * v5, every QoS and flag, forwarded properties, topic aliases and subscription identifiers.
 */
import { describe, expect, test } from 'bun:test';
import * as mqtt from 'mqtt-packet';
import type { IPublishPacket } from 'mqtt-packet';
import type { Message } from '../../../../src/transports/mqtt/message.ts';
import { parsePublish } from '../../../../src/transports/mqtt/fast-publish.ts';
import { encodePublish, publishSize, type PublishDelivery } from '../../../../src/transports/mqtt/publish-encoder.ts';

function parse(frame: Buffer, protocolVersion: number): IPublishPacket {
  const parser = mqtt.parser({ protocolVersion });
  let out: IPublishPacket | undefined;
  let err: Error | undefined;
  parser.on('packet', (p) => (out = p as IPublishPacket));
  parser.on('error', (e) => (err = e));
  expect(parser.parse(frame)).toBe(0);
  if (err) throw err;
  return out!;
}

const random = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256)));

describe('mqtt PUBLISH encoder', () => {
  test('publish encoder - mqtt-packet reads back what was encoded, v3.1.1 and v5, 3,000 random deliveries', () => {
    for (let i = 0; i < 3000; i++) {
      const v5 = i % 2 === 1;
      const qos = (i % 3) as 0 | 1 | 2;
      const withProps = v5 && i % 4 === 1;
      const m: Message = {
        topic: `fleet/dev-${i}/${'é✓'.repeat(i % 3)}cmd`,
        payload: random(i % 5 === 0 ? 20_000 : i % 400),
        qos,
        retain: i % 7 === 0,
        ...(withProps
          ? {
              properties: {
                payloadFormatIndicator: i % 8 === 1,
                contentType: 'application/json',
                responseTopic: `resp/${i}`,
                correlationData: random(i % 30),
                userProperties: [
                  ['a', '1'],
                  ['b', 'x'],
                  ['a', '2'],
                  ['ünï', 'çødé'],
                  ['b', 'y'],
                ] as [string, string][],
              },
            }
          : {}),
      };
      const d: PublishDelivery = { qos, retain: m.retain, dup: qos > 0 && i % 5 === 0 };
      if (qos > 0) d.packetId = 1 + (i % 65_535);
      if (v5 && i % 3 === 0) d.expirySeconds = i;
      if (v5 && i % 6 === 3) d.subscriptionIds = [1, 200, 70_000, 268_435_455].slice(0, 1 + (i % 4));
      if (v5 && i % 10 === 1) d.topicAlias = 1 + (i % 100);
      if (v5 && i % 20 === 1) d.topicOmitted = true;
      const frame = encodePublish(m, d, v5);
      expect(frame.length).toBe(publishSize(m, d, v5));
      const p = parse(frame, v5 ? 5 : 4);
      expect({ topic: p.topic, qos: p.qos, dup: p.dup, retain: p.retain, id: p.messageId, payload: Buffer.from(p.payload as Buffer).equals(m.payload) }).toEqual({
        topic: d.topicOmitted ? '' : m.topic,
        qos,
        dup: d.dup,
        retain: m.retain,
        id: d.packetId,
        payload: true,
      });
      if (!v5) continue;
      const props = p.properties ?? {};
      const want: Record<string, unknown> = {};
      if (m.properties) {
        want.payloadFormatIndicator = m.properties.payloadFormatIndicator;
        want.contentType = m.properties.contentType;
        want.responseTopic = m.properties.responseTopic;
        want.correlationData = m.properties.correlationData;
        want.userProperties = { a: ['1', '2'], b: ['x', 'y'], ünï: 'çødé' };
      }
      if (d.expirySeconds !== undefined) want.messageExpiryInterval = d.expirySeconds;
      if (d.topicAlias !== undefined) want.topicAlias = d.topicAlias;
      if (d.subscriptionIds !== undefined) want.subscriptionIdentifier = d.subscriptionIds.length === 1 ? d.subscriptionIds[0] : [...d.subscriptionIds];
      expect({ ...props, userProperties: props.userProperties ? { ...props.userProperties } : undefined }).toEqual({ ...want, userProperties: want.userProperties } as never);
      // the pairs in wire order, as the fast path reads them [MQTT-3.3.2-18]
      if (m.properties && !d.topicOmitted && d.subscriptionIds === undefined) expect(parsePublish(frame, 5)?.properties?.userPropertyPairs).toEqual(m.properties.userProperties!);
    }
  });

  test('publish encoder - the topic and the forwarded properties are encoded once per message and reused', () => {
    const m: Message = { topic: 'a/b', payload: Buffer.from('x'), qos: 1, retain: false, properties: { contentType: 'text/plain' } };
    const one = encodePublish(m, { qos: 1, retain: false, dup: false, packetId: 1 }, true);
    const two = encodePublish(m, { qos: 1, retain: false, dup: false, packetId: 2 }, true);
    expect(one.subarray(0, 7).equals(two.subarray(0, 7))).toBe(true);
    expect(parse(two, 5).messageId).toBe(2);
  });
});
