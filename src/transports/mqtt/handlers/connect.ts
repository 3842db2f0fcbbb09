/**
 * CONNECT → CONNACK: credentials (AUTH_MODE), protocol version, client id rules, session
 * takeover and the session bounds, keep-alive (Server Keep Alive), the client's limits (Receive
 * Maximum, Maximum Packet Size, Topic Alias Maximum) and its will. While the credentials are
 * checked, no later packet is handled.
 */
import { randomUUID } from 'node:crypto';
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet';
import { ownerOf, type Identity } from '../../../auth/identity.ts';
import { ErrorCode, errorType, type IngestError } from '../../../core/errors.ts';
import { Bound } from '../bounds.ts';
import type { MqttConnection } from '../connection.ts';
import { messageOf } from '../message.ts';
import { Reason } from '../reason-codes.ts';
import { validTopicName } from '../topics.ts';

const MAX_CLIENT_ID = 256;
/** MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2.3]. */
const V3_IDENTIFIER_REJECTED = 2;
const V3_SERVER_UNAVAILABLE = 3;
const V3_BAD_USERNAME_OR_PASSWORD = 4;
const V3_NOT_AUTHORIZED = 5;
/** The largest keep-alive the protocol can express: MQTT_MAX_KEEP_ALIVE_S at it means no limit. */
const PROTOCOL_MAX_KEEP_ALIVE = 65_535;
const NEVER = 0xffff_ffff;
/** The bound and its setting that refused a session. */
const REFUSED_BY = {
  sessions: [Bound.sessions, 'MQTT_MAX_SESSIONS'],
  identity_sessions: [Bound.identitySessions, 'MQTT_MAX_SESSIONS_PER_IDENTITY'],
  offline_budget: [Bound.offlineBudget, 'MQTT_OFFLINE_BYTES_BUDGET'],
} as const;

export function handleConnect(c: MqttConnection, p: IConnectPacket): void {
  const v = p.protocolVersion ?? 4;
  c.setProtocolVersion(v);
  if (p.will && (!validTopicName(p.will.topic) || p.will.topic.startsWith('$SYS'))) return refuse(c, V3_NOT_AUTHORIZED, Reason.topicNameInvalid);
  // a verified client certificate is the identity (unless it was issued before its identity was
  // revoked); a username, if given, must be its CN
  const cert = c.certificate;
  if (cert) {
    if (p.username && p.username !== cert.identity.id) return refuse(c, V3_BAD_USERNAME_OR_PASSWORD, Reason.badUserNameOrPassword);
    c.hold(c.ctx.auth.checkIssued(cert, 'certificate').then((refused) => authenticated(c, p, v, refused ?? cert.identity)));
    return;
  }
  if (!c.ctx.auth.enabled) {
    const claiming = accept(c, p, v);
    if (claiming instanceof Promise) c.hold(claiming);
    return;
  }
  c.hold(c.ctx.auth.authenticateMqtt(p.username, p.password).then((who) => authenticated(c, p, v, who)));
}

/** The credentials were checked: refuse, or accept with the identity (whose will must be its to publish). */
function authenticated(c: MqttConnection, p: IConnectPacket, v: number, who: Identity | IngestError): Promise<void> | void {
  if (c.state !== 'awaiting-connect') return;
  if (!('role' in who)) {
    c.ctx.metrics.error(errorType[who.code]);
    c.ctx.refusals.note('mqtt_connect_refused', { client_id: p.clientId, username: p.username, reason: who.details }, 'mqtt connect refused');
    if (who.code === ErrorCode.UNAUTHENTICATED) return refuse(c, V3_BAD_USERNAME_OR_PASSWORD, Reason.badUserNameOrPassword);
    return refuse(c, V3_SERVER_UNAVAILABLE, Reason.serverUnavailable);
  }
  if (p.will && !c.ctx.acl.mayPublish(who, p.will.topic)) {
    c.ctx.metrics.error(errorType[ErrorCode.FORBIDDEN]);
    return refuse(c, V3_NOT_AUTHORIZED, Reason.notAuthorized);
  }
  c.identity = who;
  return accept(c, p, v);
}

/** Checks the CONNECT's settings, then claims its client id across instances (when shared) and attaches the session. */
function accept(c: MqttConnection, p: IConnectPacket, v: number): Promise<void> | void {
  const { ctx } = c;
  let clientId = p.clientId ?? '';
  let assigned = false;
  if (clientId === '') {
    // [MQTT-3.1.3-8] an empty id with a persistent session is refused (v3.1.1); v5 assigns one
    if (v < 5 && p.clean === false) return refuse(c, V3_IDENTIFIER_REJECTED, Reason.clientIdentifierNotValid);
    clientId = `nb-${randomUUID()}`;
    assigned = true;
  }
  if (clientId.length > MAX_CLIENT_ID) return refuse(c, V3_IDENTIFIER_REJECTED, Reason.clientIdentifierNotValid);

  // keep-alive: past MQTT_MAX_KEEP_ALIVE_S (or none, when a maximum is set) a v5 client is told the
  // Server Keep Alive it must use [MQTT-3.2.2-21]; a v3.1.1 client cannot be told, so it is refused
  // (mosquitto's max_keepalive does the same)
  const maxKeepAlive = ctx.limits.maxKeepAliveSeconds;
  let keepAlive = p.keepalive ?? 0;
  let serverKeepAlive: number | undefined;
  if (keepAlive > maxKeepAlive || (keepAlive === 0 && maxKeepAlive < PROTOCOL_MAX_KEEP_ALIVE)) {
    ctx.bounds.hit(Bound.keepAlive, 'MQTT_MAX_KEEP_ALIVE_S');
    if (v < 5) return refuse(c, V3_IDENTIFIER_REJECTED, Reason.clientIdentifierNotValid);
    keepAlive = serverKeepAlive = maxKeepAlive;
  }

  // v3.1.1: clean session 0 keeps the session (up to MQTT_MAX_SESSION_EXPIRY_S); v5: Session Expiry Interval (s)
  const requested = v === 5 ? (p.properties?.sessionExpiryInterval ?? 0) : p.clean === false ? NEVER : 0;
  const requestedMs = requested >= NEVER ? Number.POSITIVE_INFINITY : requested * 1000;
  const expiryMs = ctx.sessions.clampExpiry(requestedMs);
  const clamped = expiryMs < requestedMs;
  if (clamped) ctx.bounds.hit(Bound.sessionExpiry, 'MQTT_MAX_SESSION_EXPIRY_S');

  const owner = ownerOf(c.identity);
  const settings: Settled = { clientId, assigned, keepAlive, serverKeepAlive, expiryMs, clamped };
  // an id the server assigned is unique: nothing to claim
  if (ctx.share === undefined || assigned) return void attach(c, p, v, owner, settings);
  const share = ctx.share;
  // the session the instance that held the client id hands over is adopted here, unless this is a clean start
  return share.claim(clientId, owner, p.clean === false).then((claimed) => {
    // a session here holding the claim (resumed, or just handed over) keeps it
    const keep = () => ctx.sessions.get(clientId)?.claimed === true;
    if (claimed !== 'owner' && c.state !== 'awaiting-connect') {
      // the client left while its id was claimed: the claim would hold the id for nobody
      if (!keep()) share.release(clientId);
      return;
    }
    if (claimed === 'owner') {
      // another identity's session, on another instance: neither resumed nor taken over
      ctx.metrics.error(errorType[ErrorCode.FORBIDDEN]);
      return refuse(c, V3_NOT_AUTHORIZED, Reason.notAuthorized);
    }
    attach(c, p, v, owner, settings);
    if (c.session !== undefined) {
      c.session.claimed = true;
      ctx.sessions.recordChanged(c.session);
    }
    // refused by a bound: no session here holds the id
    else if (!keep()) share.release(clientId);
  });
}

/** What accept settled of the CONNECT. */
interface Settled {
  clientId: string;
  assigned: boolean;
  keepAlive: number;
  serverKeepAlive: number | undefined;
  expiryMs: number;
  clamped: boolean;
}

function attach(c: MqttConnection, p: IConnectPacket, v: number, owner: string, settings: Settled): void {
  const { ctx } = c;
  const { clientId, assigned, keepAlive, serverKeepAlive, expiryMs, clamped } = settings;
  const attached = ctx.sessions.attach(c, clientId, owner, p.clean !== false, expiryMs);
  if ('refused' in attached) {
    if (attached.refused === 'owner') {
      // another identity's session: neither resumed nor taken over, its connection stays
      ctx.metrics.error(errorType[ErrorCode.FORBIDDEN]);
      return refuse(c, V3_NOT_AUTHORIZED, Reason.notAuthorized);
    }
    const [bound, setting] = REFUSED_BY[attached.refused];
    ctx.bounds.hit(bound, setting);
    return refuse(c, V3_SERVER_UNAVAILABLE, Reason.quotaExceeded);
  }
  const session = c.session!;
  c.clientId = clientId;
  c.keepAlive = keepAlive;
  if (v === 5) {
    // the client's own limits on what the server sends it [MQTT-3.3.4-9], [MQTT-3.1.2-24], [MQTT-3.3.2-11]
    session.maxInflight = p.properties?.receiveMaximum ?? 65_535;
    c.maxPacketToClient = p.properties?.maximumPacketSize ?? c.maxPacketToClient;
    c.topicAliasMaxToClient = p.properties?.topicAliasMaximum ?? 0;
  } else session.maxInflight = 65_535;
  if (p.will) {
    const wp = p.will.properties;
    c.will = {
      message: messageOf({ topic: p.will.topic, payload: p.will.payload ?? Buffer.alloc(0), qos: p.will.qos ?? 0, retain: p.will.retain ?? false, properties: { ...wp, messageExpiryInterval: undefined } }, clientId, session.owner),
      delayMs: (wp?.willDelayInterval ?? 0) * 1000,
      ...(wp?.messageExpiryInterval !== undefined ? { expirySeconds: wp.messageExpiryInterval } : {}),
    };
  }
  if (c.will !== undefined && ctx.share !== undefined) {
    ctx.share.saveWill(clientId, c.will);
    c.willShared = true;
  }
  c.accepted();
  // the fleet state's "connected over MQTT": the authenticated device from here on (without
  // auth, the device of the first reading the connection stores: handlers/publish.ts)
  if (ctx.devices && c.identity.via !== 'none') {
    c.trackedDevice = c.identity.id;
    ctx.devices.mqttConnected(c.trackedDevice, Date.now());
  }

  const connack: IConnackPacket =
    v === 5
      ? {
          cmd: 'connack',
          reasonCode: Reason.success,
          sessionPresent: attached.present,
          properties: {
            receiveMaximum: ctx.limits.receiveMaximum,
            maximumPacketSize: ctx.limits.maxPacketBytes,
            topicAliasMaximum: ctx.limits.topicAliasMaximum,
            retainAvailable: true,
            wildcardSubscriptionAvailable: true,
            subscriptionIdentifiersAvailable: true,
            sharedSubscriptionAvailable: true,
            // the expiry the server uses when it is not the one asked for (MQTT 5 §3.2.2.3.2)
            ...(clamped ? { sessionExpiryInterval: Math.floor(expiryMs / 1000) } : {}),
            ...(serverKeepAlive !== undefined ? { serverKeepAlive } : {}),
            ...(assigned ? { assignedClientIdentifier: clientId } : {}),
          },
        }
      : { cmd: 'connack', returnCode: 0, sessionPresent: attached.present };
  c.send(connack);
  // [MQTT-4.4.0-1] a resumed session resends what the client had not acknowledged, then its queue
  if (attached.present) session.resume(c);
}

function refuse(c: MqttConnection, v3Code: number, v5Reason: Reason): void {
  const connack: IConnackPacket =
    c.protocolVersion === 5 ? { cmd: 'connack', reasonCode: v5Reason, sessionPresent: false } : { cmd: 'connack', returnCode: v3Code, sessionPresent: false };
  c.send(connack);
  c.disconnect(v5Reason);
}
