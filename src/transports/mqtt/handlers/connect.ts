/**
 * CONNECT → CONNACK: credentials (AUTH_MODE), protocol version, client id rules, session
 * takeover, keep-alive. While the credentials are checked, no later packet is handled.
 */
import { randomUUID } from 'node:crypto';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.ts';
import { ErrorCode, errorType } from '../../../core/errors.ts';
import { Reason } from '../reason-codes.ts';
import { attachSession } from '../sessions.ts';

const MAX_CLIENT_ID = 256;
/** MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2.3]. */
const V3_IDENTIFIER_REJECTED = 2;
const V3_SERVER_UNAVAILABLE = 3;
const V3_BAD_USERNAME_OR_PASSWORD = 4;
const V3_NOT_AUTHORIZED = 5;

export function handleConnect(c: MqttConnection, p: IConnectPacket): void {
  const v = p.protocolVersion ?? 4;
  c.setProtocolVersion(v);
  // a verified client certificate is the identity; a username, if given, must be its CN
  if (c.certificate) {
    if (p.username && p.username !== c.certificate.id) return refuse(c, V3_BAD_USERNAME_OR_PASSWORD, Reason.badUserNameOrPassword);
    if (p.will && !c.ctx.acl.mayPublish(c.certificate, p.will.topic)) return refuse(c, V3_NOT_AUTHORIZED, Reason.notAuthorized);
    c.identity = c.certificate;
    return accept(c, p, v);
  }
  if (!c.ctx.auth.enabled) return accept(c, p, v);
  c.hold(
    c.ctx.auth.authenticateMqtt(p.username, p.password).then((who) => {
      if (c.state !== 'awaiting-connect') return;
      if (!('role' in who)) {
        c.ctx.metrics.error(errorType[who.code]);
        c.ctx.log.info({ client_id: p.clientId, username: p.username, reason: who.details }, 'mqtt connect refused');
        if (who.code === ErrorCode.UNAUTHENTICATED) return refuse(c, V3_BAD_USERNAME_OR_PASSWORD, Reason.badUserNameOrPassword);
        return refuse(c, V3_SERVER_UNAVAILABLE, Reason.serverUnavailable);
      }
      if (p.will && !c.ctx.acl.mayPublish(who, p.will.topic)) {
        c.ctx.metrics.error(errorType[ErrorCode.FORBIDDEN]);
        return refuse(c, V3_NOT_AUTHORIZED, Reason.notAuthorized);
      }
      c.identity = who;
      accept(c, p, v);
    }),
  );
}

function accept(c: MqttConnection, p: IConnectPacket, v: number): void {
  let clientId = p.clientId ?? '';
  let assigned = false;
  if (clientId === '') {
    // [MQTT-3.1.3-8] an empty id with a persistent session is refused (v3.1.1); v5 assigns one
    if (v < 5 && p.clean === false) return refuse(c, V3_IDENTIFIER_REJECTED, Reason.clientIdentifierNotValid);
    clientId = `nb-${randomUUID()}`;
    assigned = true;
  }
  if (clientId.length > MAX_CLIENT_ID) return refuse(c, V3_IDENTIFIER_REJECTED, Reason.clientIdentifierNotValid);

  // v3.1.1: clean session 0 keeps the session for good; v5: Session Expiry Interval (s), 0xFFFFFFFF = never
  const expirySeconds = v === 5 ? (p.properties?.sessionExpiryInterval ?? 0) : p.clean === false ? Number.POSITIVE_INFINITY : 0;
  const expiryMs = expirySeconds >= 0xffffffff ? Number.POSITIVE_INFINITY : expirySeconds * 1000;
  const sessionPresent = attachSession(c.ctx, c, clientId, p.clean !== false, expiryMs);
  c.clientId = clientId;
  c.session!.maxOutgoing = Math.min(1024, p.properties?.receiveMaximum ?? 1024);
  c.keepAlive = p.keepalive ?? 0;
  if (p.will) c.will = { topic: p.will.topic, payload: Buffer.from(p.will.payload ?? ''), qos: p.will.qos ?? 0, retain: p.will.retain ?? false };
  c.state = 'connected';
  // the fleet state's "connected over MQTT": the authenticated device from here on (without
  // auth, the device of the first reading the connection stores: handlers/publish.ts)
  if (c.ctx.devices && c.identity.via !== 'none') {
    c.trackedDevice = c.identity.id;
    c.ctx.devices.mqttConnected(c.trackedDevice, Date.now());
  }

  const connack: IConnackPacket =
    v === 5
      ? {
          cmd: 'connack',
          reasonCode: Reason.success,
          sessionPresent,
          properties: {
            receiveMaximum: c.ctx.limits.receiveMaximum,
            maximumPacketSize: c.ctx.limits.maxPacketBytes,
            topicAliasMaximum: c.ctx.limits.topicAliasMaximum,
            retainAvailable: true,
            wildcardSubscriptionAvailable: true,
            subscriptionIdentifiersAvailable: false,
            sharedSubscriptionAvailable: false,
            ...(assigned ? { assignedClientIdentifier: clientId } : {}),
          },
        }
      : { cmd: 'connack', returnCode: 0, sessionPresent };
  c.send(connack);
  // [MQTT-4.4.0-1] a resumed session resends what the client had not acknowledged
  if (sessionPresent) c.session!.resume(c);
}

function refuse(c: MqttConnection, v3Code: number, v5Reason: Reason): void {
  const connack: IConnackPacket =
    c.protocolVersion === 5 ? { cmd: 'connack', reasonCode: v5Reason, sessionPresent: false } : { cmd: 'connack', returnCode: v3Code, sessionPresent: false };
  c.send(connack);
  c.disconnect(v5Reason);
}
