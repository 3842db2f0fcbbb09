import { describe, expect, test } from 'bun:test';
import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { connectLevel, illFormedString } from '../../../../src/transports/mqtt/utf8.ts';

/** The packet's bytes with the marker "ZZ" replaced by `bytes` (C3 28: a lead byte without its continuation). */
function corrupt(p: Packet, version: 4 | 5, bytes = [0xc3, 0x28]): Buffer {
  const b = mqtt.generate(p, { protocolVersion: version });
  const i = b.indexOf('ZZ');
  if (i < 0) throw new Error('no marker');
  b[i] = bytes[0]!;
  b[i + 1] = bytes[1]!;
  return b;
}
const connect = (v: 4 | 5, extra: object = {}): Packet =>
  ({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: v, clean: true, clientId: 'dev-1', keepalive: 30, ...extra }) as Packet;
const props5 = { properties: { sessionExpiryInterval: 10, userProperties: { a: 'b' } } };

describe('mqtt utf-8 strings', () => {
  for (const v of [4, 5] as const) {
    const name = v === 4 ? 'v3.1.1' : 'v5';
    test(`utf-8 - ${name} CONNECT: well-formed strings pass, each ill-formed field is named`, () => {
      const will = { will: { topic: 'wZZ', payload: Buffer.from('gone'), qos: 0, retain: false, ...(v === 5 ? { properties: { willDelayInterval: 1 } } : {}) } };
      const extra = v === 5 ? props5 : {};
      // "é" (C3 A9) and U+FFFD sent as such (EF BF BD) are well-formed
      expect(illFormedString(mqtt.generate(connect(v, { clientId: 'é\ufffd', username: 'ü', password: Buffer.from([0xff]), ...extra }), { protocolVersion: v }), v)).toBeUndefined();
      expect(illFormedString(corrupt(connect(v, { clientId: 'idZZ', ...extra }), v), 4)).toBe('client identifier');
      expect(illFormedString(corrupt(connect(v, { username: 'uZZ', password: Buffer.from('p'), ...extra }), v), 4)).toBe('user name');
      expect(illFormedString(corrupt(connect(v, { ...will, ...extra }), v), 4)).toBe('will topic');
      // U+0000 is refused too [MQTT-1.5.4-2]
      expect(illFormedString(corrupt(connect(v, { clientId: 'idZZ' }), v, [0x00, 0x41]), 4)).toBe('client identifier');
      // the password is binary: any bytes
      expect(illFormedString(corrupt(connect(v, { username: 'u', password: Buffer.from('ZZ'), ...extra }), v), 4)).toBeUndefined();
      expect(connectLevel(mqtt.generate(connect(v), { protocolVersion: v }))).toBe(v);
      // a bridge's CONNECT (level | 0x80, mosquitto's try_private) is read with its level's layout
      const bridged = mqtt.generate(connect(v, { clientId: 'idZZ', ...extra }), { protocolVersion: v });
      bridged[8] = 0x80 | v;
      expect(connectLevel(bridged)).toBe(v);
      expect(illFormedString(Buffer.from(bridged), 4)).toBeUndefined();
      expect(illFormedString(corrupt({ ...connect(v, { clientId: 'idZZ', ...extra }) } as Packet, v).fill(0x80 | v, 8, 9), 4)).toBe('client identifier');
    });

    test(`utf-8 - ${name} SUBSCRIBE and UNSUBSCRIBE topic filters`, () => {
      const sub = (topic: string) => ({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ok/#', qos: 1 }, { topic, qos: 0 }] }) as Packet;
      const unsub = (topic: string) => ({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['ok/+', topic] }) as Packet;
      expect(illFormedString(mqtt.generate(sub('é/#'), { protocolVersion: v }), v)).toBeUndefined();
      expect(illFormedString(corrupt(sub('aZZ/#'), v), v)).toBe('topic filter');
      expect(illFormedString(mqtt.generate(unsub('é/#'), { protocolVersion: v }), v)).toBeUndefined();
      expect(illFormedString(corrupt(unsub('aZZ/#'), v), v)).toBe('topic filter');
    });
  }

  test('utf-8 - PUBLISH topic names, and other packets pass untouched', () => {
    const pub = { cmd: 'publish', topic: 'tZZ', payload: Buffer.from('ZZ'), qos: 0, retain: false, dup: false } as Packet;
    expect(illFormedString(corrupt(pub, 4), 4)).toBe('topic name');
    expect(illFormedString(Buffer.from([0xc0, 0x00]), 4)).toBeUndefined();
  });

  test('utf-8 - truncated and random frames never throw (left to the parser)', () => {
    const whole = mqtt.generate(connect(5, { username: 'u', password: Buffer.from('p'), will: { topic: 'w', payload: Buffer.from('x') }, ...props5 }), { protocolVersion: 5 });
    for (let n = 1; n <= whole.length; n++) expect(() => illFormedString(whole.subarray(0, n), 5)).not.toThrow();
    for (let i = 0; i < 20_000; i++) {
      const frame = Buffer.from(Array.from({ length: 1 + (i % 40) }, () => Math.floor(Math.random() * 256)));
      frame[0] = [0x10, 0x82, 0xa2, 0x30][i % 4]!;
      expect(() => illFormedString(frame, i % 2 ? 5 : 4)).not.toThrow();
    }
  });
});
