/**
 * PUBLISH from a client. Sensor topics go through the ingest pipeline and are acknowledged
 * (PUBACK for QoS 1, PUBREC for QoS 2) only once the queue confirmed the append; other
 * topics are relay topics (nothing is stored). A QoS 2 packet id seen before is answered
 * again without a second append [MQTT-4.3.3-9].
 * @module
 */
import type { IPublishPacket, Packet } from 'mqtt-packet';
import { ErrorCode, errorType, type RateLimitedError } from '../../../core/errors.ts';
import type { IngestItem, Outcome } from '../../../core/item.ts';
import { Buckets } from '../../../auth/rate/setup.ts';
import { admission } from '../../admission.ts';
import type { MqttConnection } from '../connection.ts';
import { hold } from '../hold.ts';
import { NO_ACK, publishAnswer, Reason } from '../reason-codes.ts';
import { Bound } from '../bounds.ts';
import { messageOf } from '../message.ts';
import { topicLevels, validTopicName } from '../topics.ts';

export function handlePublish(c: MqttConnection, p: IPublishPacket): void {
  c.ctx.stats.messagesReceived++;
  if (p.properties?.topicAlias !== undefined && !resolveTopicAlias(c, p, p.properties.topicAlias)) return;
  const { topic, qos, messageId } = p;
  const session = c.session!;
  // [MQTT-3.3.2-2] no wildcards in a topic name
  if (!validTopicName(topic)) return c.protocolError(Reason.topicNameInvalid, 'topic name must not be empty or contain wildcards');
  if (topicLevels(topic) > c.ctx.limits.maxTopicLevels) {
    c.ctx.bounds.hit(Bound.topicLevels, 'MQTT_MAX_TOPIC_LEVELS');
    return c.protocolError(Reason.topicNameInvalid, `topic name has more than ${c.ctx.limits.maxTopicLevels} levels`);
  }
  // $SYS topics are the server's own (MQTT 5 §4.7.2)
  if (topic.startsWith('$SYS')) return notAuthorized(c, p, 'clients may not publish to $SYS topics');
  if (c.identity.via !== 'none' && !c.ctx.acl.mayPublish(c.identity, topic)) return notAuthorized(c, p, `${c.identity.id} may not publish to ${topic}`);

  if (qos === 2) {
    const seen = session.qos2(messageId!);
    if (seen === 'stored') return ack(c, 'pubrec', messageId!, Reason.success);
    // still awaiting the queue: its PUBREC follows when the append is confirmed
    if (seen === 'pending') return;
  }
  // a v5 client may not have more QoS 1/2 publishes unacknowledged than the Receive Maximum it
  // was given (QoS 2: until PUBCOMP) [MQTT-3.3.4-7]; the server answers 0x93 (MQTT 5 §4.9)
  if (qos > 0 && c.protocolVersion === 5 && c.unackedQos1 + session.qos2Count >= c.ctx.limits.receiveMaximum) {
    return c.protocolError(Reason.receiveMaximumExceeded, `more than ${c.ctx.limits.receiveMaximum} QoS 1/2 publishes unacknowledged`);
  }

  const sensor = c.ctx.topics.parse(topic);
  if (sensor === undefined || sensor.kind === 'status') {
    // a relay topic (status included): nothing to store, delivered to subscribers here; a retained
    // one a bound refuses is refused to a v5 client (0x97, not delivered), delivered unretained to 3.1.1
    if (!c.ctx.router.publish(messageOf(p, c.clientId, session.owner), c.protocolVersion === 5)) {
      if (qos > 0) ack(c, qos === 1 ? 'puback' : 'pubrec', messageId!, Reason.quotaExceeded, 'retained messages bound reached');
      return;
    }
    if (qos === 2) session.setQos2(messageId!, 'stored');
    if (qos > 0) ack(c, qos === 1 ? 'puback' : 'pubrec', messageId!, Reason.success);
    return;
  }
  // a reading reaches subscribers enriched, through the queue's events, once it is stored; a
  // retained flag keeps the device's own payload for late subscribers of this topic, once the
  // reading was accepted (a refused reading retained would be served to every new subscriber)

  const item: IngestItem = {
    source: 'mqtt',
    topic,
    payload: p.payload as Buffer,
    contentType: p.properties?.contentType,
    expect: sensor.kind === 'sensor' ? { deviceId: sensor.deviceId, sensor: sensor.sensor } : { deviceId: sensor.deviceId },
    identity: c.identity.via === 'none' ? undefined : c.identity.id,
  };
  if (qos === 2) session.setQos2(messageId!, 'pending');
  const limiter = c.ctx.limiter;
  // admission is asked by the pipeline once it knows whether the reading is live or backfill
  if (limiter) item.admit = admission(limiter, Buckets.single, c.identity.via === 'none' ? `mqtt-client:${c.clientId}` : c.identity.id, false);
  ingest(c, p, item);
}

/**
 * Without authentication, a connection counts as its device's MQTT connection in the fleet
 * state from the first reading it stores (a client id names a client, not necessarily a device;
 * a gateway publishing for several devices counts for the first).
 */
function trackDevice(c: MqttConnection, deviceId: string): void {
  if (c.trackedDevice !== undefined || c.ctx.devices === undefined || c.state === 'closed') return;
  c.trackedDevice = deviceId;
  c.ctx.devices.mqttConnected(deviceId, Date.now());
}

/** Counts rate-limit strikes (reset by an admitted publish); true when `o` was refused for the rate, and answered. */
function strikes(c: MqttConnection, p: IPublishPacket, o: Outcome): boolean {
  if (o.ok || o.error.code !== ErrorCode.RATE_LIMITED) {
    c.rateStrikes = 0;
    return false;
  }
  if (c.state !== 'closed') rateLimited(c, p, (o.error as RateLimitedError).retryAfterSeconds, o.error.details);
  return true;
}

/** Publishes refused in a row by the rate limit after which the client is disconnected. */
const SUSTAINED_ABUSE = 20;

/**
 * Over the device's rate: v5 QoS 1/2 get PUBACK/PUBREC 0x97 "quota exceeded" (nothing stored;
 * MQTT 5 allows 0x96 "message rate too high" only on DISCONNECT); QoS 0 and v3.1.1 (no reason
 * codes, and no ack for what is not stored) are only counted. A client that keeps going is
 * disconnected (v5: DISCONNECT 0x96).
 */
function rateLimited(c: MqttConnection, p: IPublishPacket, retryAfterSeconds: number, details?: string): void {
  // (the pipeline counted it in sensor_data_errors_total)
  const why = details ?? `rate limit: retry in ${retryAfterSeconds} s`;
  if (c.protocolVersion === 5 && p.qos > 0) ack(c, p.qos === 1 ? 'puback' : 'pubrec', p.messageId!, Reason.quotaExceeded, why);
  if (++c.rateStrikes >= SUSTAINED_ABUSE) {
    c.ctx.refusals.note('mqtt_rate_limited', { client_id: c.clientId, identity: c.identity.id }, 'mqtt client keeps publishing over its rate limit: disconnected');
    c.disconnect(Reason.messageRateTooHigh, why);
  }
}

/**
 * Through the pipeline; QoS 1/2 acknowledged once stored (held while the queue is down). By
 * callback from the queue's batch to the acknowledgement: no promise per publish.
 */
function ingest(c: MqttConnection, p: IPublishPacket, item: IngestItem): void {
  const qos = p.qos;
  const bytes = item.payload.length;
  c.begin(bytes);
  if (qos === 0) {
    // at most once: a reading the queue cannot take now is counted and gone
    c.ctx.pipeline.submit(item, (o) => {
      try {
        if (o.ok) stored(c, p, o.reading.device_id);
        if (item.admit) strikes(c, p, o);
      } catch (err) {
        failed(c, err);
      }
      c.settled(bytes);
    });
    return;
  }
  if (qos === 1) c.unackedQos1++;
  hold(c.ctx.pipeline, item, c.alive, c.ctx.limits.retryMaxDelayMs, (o) => {
    if (qos === 1) c.unackedQos1--;
    try {
      answer(c, p, item, o);
    } catch (err) {
      failed(c, err);
    }
    // last: room again may resume reading this connection at once
    c.settled(bytes);
  });
}

/** A QoS 1/2 publish's outcome answered: PUBACK / PUBREC with its reason, or none (the device sends it again). */
function answer(c: MqttConnection, p: IPublishPacket, item: IngestItem, o: Outcome): void {
  const { qos, messageId } = p;
  const session = c.session!;
  if (item.admit && strikes(c, p, o)) {
    if (qos === 2) session.deleteQos2(messageId!);
    return;
  }
  if (o.ok) stored(c, p, o.reading.device_id);
  const reason = o.ok ? Reason.success : publishAnswer[o.error.code];
  if (reason === NO_ACK) {
    // not stored: no acknowledgement, the device keeps the message and sends it again
    if (qos === 2) session.deleteQos2(messageId!);
    return;
  }
  // [MQTT-4.3.3] a PUBREC with a failure reason ends the exchange and frees the id
  if (qos === 2) {
    if (reason >= 0x80) session.deleteQos2(messageId!);
    else session.setQos2(messageId!, 'stored');
  }
  ack(c, qos === 1 ? 'puback' : 'pubrec', messageId!, reason, o.ok ? undefined : o.error.details);
}

/** A reading was stored: its device is tracked, and a retained publish is kept for the topic. */
function stored(c: MqttConnection, p: IPublishPacket, deviceId: string): void {
  trackDevice(c, deviceId);
  if (p.retain) c.ctx.router.retain(messageOf(p, c.clientId, c.session?.owner));
}

/** The ack continuation threw (a bug): this connection is closed, the process carries on. */
function failed(c: MqttConnection, err: unknown): void {
  c.ctx.log.error({ err, client_id: c.clientId }, 'mqtt publish handling failed: connection closed');
  c.ctx.metrics.error('internal');
  c.disconnect(Reason.implementationSpecificError, 'internal error');
}

/**
 * v5 topic alias (client → server, per network connection): a PUBLISH with a topic and an
 * alias sets the alias, one with an empty topic uses it [MQTT-3.3.2-8..12]. The packet's topic
 * is filled in so that everything after this sees a plain PUBLISH. False: the connection was closed.
 */
function resolveTopicAlias(c: MqttConnection, p: IPublishPacket, alias: number): boolean {
  if (alias === 0 || alias > c.ctx.limits.topicAliasMaximum) {
    c.protocolError(Reason.topicAliasInvalid, `topic alias ${alias} outside 1..${c.ctx.limits.topicAliasMaximum}`);
    return false;
  }
  if (p.topic === '') {
    const topic = c.topicAliases?.get(alias);
    if (topic === undefined) {
      c.protocolError(Reason.protocolError, `topic alias ${alias} was never set on this connection`);
      return false;
    }
    p.topic = topic;
  } else if (validTopicName(p.topic)) (c.topicAliases ??= new Map()).set(alias, p.topic);
  return true;
}

/**
 * A publish this identity may not make: v5 QoS 1/2 get PUBACK/PUBREC 0x87 and the connection
 * stays; v5 QoS 0 (nothing to answer) and v3.1.1 (no reason codes) are disconnected.
 */
function notAuthorized(c: MqttConnection, p: IPublishPacket, why: string): void {
  c.ctx.metrics.error(errorType[ErrorCode.FORBIDDEN]);
  if (c.protocolVersion === 5 && p.qos > 0) return ack(c, p.qos === 1 ? 'puback' : 'pubrec', p.messageId!, Reason.notAuthorized, why);
  c.ctx.refusals.note('mqtt_publish_forbidden', { client_id: c.clientId, identity: c.identity.id, topic: p.topic }, 'mqtt publish not authorized: disconnected');
  c.disconnect(Reason.notAuthorized, why);
}

function ack(c: MqttConnection, cmd: 'puback' | 'pubrec', messageId: number, reason: Reason, reasonString?: string): void {
  // success without a reason string: 4 bytes in either version, without a packet object
  if (reason === Reason.success && reasonString === undefined) return c.sendShortAck(cmd === 'puback' ? 0x40 : 0x50, messageId);
  if (c.protocolVersion === 5) {
    const properties = reasonString ? { reasonString: reasonString.slice(0, 200) } : undefined;
    c.send({ cmd, messageId, reasonCode: reason, ...(properties ? { properties } : {}) } as Packet);
  } else c.send({ cmd, messageId } as Packet);
}
