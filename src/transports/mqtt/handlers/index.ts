/**
 * Packet dispatcher: CONNECT first and only once, then one handler per packet type.
 * @module
 */
import type { Packet } from 'mqtt-packet';
import type { MqttConnection } from '../connection.ts';
import { Reason } from '../reason-codes.ts';
import { handleConnect } from './connect.ts';
import { handleDisconnect } from './disconnect.ts';
import { handlePingreq } from './pingreq.ts';
import { handlePublish } from './publish.ts';
import { handlePubrel } from './pubrel.ts';
import { handleSubscribe, handleUnsubscribe } from './subscribe.ts';

export function dispatch(c: MqttConnection, p: Packet): void {
  if (c.state === 'awaiting-connect') {
    // [MQTT-3.1.0-1] the first packet from the client MUST be CONNECT
    if (p.cmd === 'connect') handleConnect(c, p);
    else c.protocolError(Reason.protocolError, `${p.cmd} before CONNECT`);
    return;
  }
  if (c.state !== 'connected') return;
  const id = packetIdentifier(p);
  if (id !== undefined && !(id >= 1 && id <= 0xffff)) {
    // mqtt-packet reads a missing identifier (a body too short for it) as -1, which would reach
    // the answer and throw in its encoder; 0 is not an identifier either [MQTT-2.3.1-1]
    return id === 0 ? c.protocolError(Reason.protocolError, `${p.cmd} with packet identifier 0`) : c.protocolError(Reason.malformedPacket, `${p.cmd} without a packet identifier`);
  }
  switch (p.cmd) {
    case 'publish':
      return handlePublish(c, p);
    case 'pubrel':
      return handlePubrel(c, p);
    case 'pingreq':
      return handlePingreq(c);
    case 'subscribe':
      return handleSubscribe(c, p);
    case 'unsubscribe':
      return handleUnsubscribe(c, p);
    case 'disconnect':
      return handleDisconnect(c, p);
    case 'puback':
    case 'pubrec':
    case 'pubcomp':
      return c.session!.acknowledged(p.cmd, p.messageId!, c.protocolVersion === 5 ? (p.reasonCode ?? 0) : 0);
    case 'connect':
      // [MQTT-3.1.0-2] a second CONNECT is a protocol violation
      return c.protocolError(Reason.protocolError, 'second CONNECT');
    default:
      return c.protocolError(Reason.protocolError, `unexpected ${p.cmd} from a client`);
  }
}

/** The packet identifier a packet must carry (PUBLISH QoS 1/2, the acks, SUBSCRIBE, UNSUBSCRIBE), or undefined. */
function packetIdentifier(p: Packet): number | undefined {
  switch (p.cmd) {
    case 'publish':
      return p.qos > 0 ? (p.messageId ?? -1) : undefined;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'subscribe':
    case 'unsubscribe':
      return p.messageId ?? -1;
    default:
      return undefined;
  }
}
