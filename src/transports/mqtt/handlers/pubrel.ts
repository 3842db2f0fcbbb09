/** PUBREL → PUBCOMP: releases a QoS 2 packet id [MQTT-4.3.3-11]. */
import type { IPubrelPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.ts';
import { Reason } from '../reason-codes.ts';

export function handlePubrel(c: MqttConnection, p: IPubrelPacket): void {
  const known = c.session!.deleteQos2(p.messageId!);
  if (c.protocolVersion === 5) {
    c.send({ cmd: 'pubcomp', messageId: p.messageId!, reasonCode: known ? Reason.success : Reason.packetIdentifierNotFound });
  } else c.send({ cmd: 'pubcomp', messageId: p.messageId! });
}
