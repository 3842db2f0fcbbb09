/**
 * SUBSCRIBE / UNSUBSCRIBE. Live delivery to MQTT subscribers is not built yet (issue 3,
 * point 4): every subscription is refused with a failure code, never silently accepted.
 * @module
 */
import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.ts';
import { Reason } from '../reason-codes.ts';

/** MQTT 3.1.1 SUBACK failure return code [MQTT-3.9.3]. */
const V3_FAILURE = 0x80;

export function handleSubscribe(c: MqttConnection, p: ISubscribePacket): void {
  const code = c.protocolVersion === 5 ? Reason.implementationSpecificError : V3_FAILURE;
  c.send({ cmd: 'suback', messageId: p.messageId!, granted: p.subscriptions.map(() => code) });
}

export function handleUnsubscribe(c: MqttConnection, p: IUnsubscribePacket): void {
  // v5: 0x11 "No subscription existed" for each topic
  const granted = c.protocolVersion === 5 ? p.unsubscriptions.map(() => 0x11) : [];
  c.send({ cmd: 'unsuback', messageId: p.messageId!, granted });
}
