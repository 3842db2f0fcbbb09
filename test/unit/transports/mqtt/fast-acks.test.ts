import { describe, expect, test } from 'bun:test';
import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { parseAck } from '../../../../src/transports/mqtt/fast-acks.ts';

function viaMqttPacket(frame: Buffer, protocolVersion: number): Packet {
  const parser = mqtt.parser({ protocolVersion });
  let out: Packet | undefined;
  parser.on('packet', (p) => (out = p));
  parser.parse(frame);
  return out!;
}

describe('mqtt fast acknowledgements', () => {
  test('fast acks - agree with mqtt-packet on PUBACK, PUBREC, PUBCOMP (v3.1.1, v5 with and without a reason code) and PINGREQ', () => {
    for (const cmd of ['puback', 'pubrec', 'pubcomp'] as const) {
      for (const version of [4, 5]) {
        for (const reasonCode of version === 5 ? (cmd === 'pubcomp' ? [0, 0x92] : [0, 0x10, 0x80, 0x99]) : [undefined]) {
          for (const messageId of [1, 300, 65_535]) {
            const frame = mqtt.generate({ cmd, messageId, ...(reasonCode !== undefined ? { reasonCode } : {}) } as Packet, { protocolVersion: version });
            const slow = viaMqttPacket(frame, version) as { cmd: string; messageId: number; reasonCode?: number };
            expect(parseAck(frame, version)).toEqual({ cmd: slow.cmd, messageId: slow.messageId, ...(version === 5 ? { reasonCode: slow.reasonCode ?? 0 } : {}) } as never);
          }
        }
      }
    }
    expect(parseAck(Buffer.from([0xc0, 0x00]), 4)).toEqual({ cmd: 'pingreq' });
  });
  test('fast acks - anything else goes to mqtt-packet: properties, wrong flags, wrong lengths, other packets', () => {
    const withProps = mqtt.generate({ cmd: 'puback', messageId: 1, reasonCode: 0x80, properties: { reasonString: 'no' } }, { protocolVersion: 5 });
    expect(parseAck(withProps, 5)).toBeUndefined();
    expect(parseAck(Buffer.from([0x41, 0x02, 0x00, 0x01]), 4)).toBeUndefined(); // flags set
    expect(parseAck(Buffer.from([0x40, 0x03, 0x00, 0x01, 0x00]), 4)).toBeUndefined(); // v3.1.1 has no reason code
    expect(parseAck(Buffer.from([0x62, 0x02, 0x00, 0x01]), 4)).toBeUndefined(); // PUBREL
    expect(parseAck(Buffer.from([0xc0, 0x01, 0x00]), 4)).toBeUndefined();
    expect(parseAck(Buffer.from([0x70, 0x03, 0x00, 0x01, 0x10]), 5)).toBeUndefined(); // 0x10 is no PUBCOMP reason code
  });
});
