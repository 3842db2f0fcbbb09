/**
 * SUBSCRIBE → SUBACK (then the retained messages that match), UNSUBSCRIBE → UNSUBACK.
 * Shared subscriptions and v5 subscription options are not supported yet.
 * @module
 */
import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet';
import type { MqttConnection } from '../connection.ts';
import { Reason } from '../reason-codes.ts';
import { validFilter } from '../topic-filter.ts';

/** MQTT 3.1.1 SUBACK failure return code [MQTT-3.9.3]. */
const V3_FAILURE = 0x80;
const TOPIC_FILTER_INVALID = 0x8f;
const SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9e;
const NO_SUBSCRIPTION_EXISTED = 0x11;

export function handleSubscribe(c: MqttConnection, p: ISubscribePacket): void {
  const v5 = c.protocolVersion === 5;
  const accepted: { topic: string; qos: 0 | 1 | 2 }[] = [];
  const granted = p.subscriptions.map(({ topic, qos }) => {
    if (topic.startsWith('$share/')) return v5 ? SHARED_SUBSCRIPTIONS_NOT_SUPPORTED : V3_FAILURE;
    if (!validFilter(topic)) return v5 ? TOPIC_FILTER_INVALID : V3_FAILURE;
    if (!c.ctx.acl.maySubscribe(c.identity, topic)) {
      c.ctx.metrics.error('forbidden');
      return v5 ? Reason.notAuthorized : V3_FAILURE;
    }
    accepted.push({ topic, qos });
    return qos;
  });
  // [MQTT-3.8.4-1] SUBACK first; retained messages follow it
  c.send({ cmd: 'suback', messageId: p.messageId!, granted });
  for (const s of accepted) c.ctx.router.subscribe(c.session!, s.topic, s.qos);
}

export function handleUnsubscribe(c: MqttConnection, p: IUnsubscribePacket): void {
  const results = p.unsubscriptions.map((filter) => (c.ctx.router.unsubscribe(c.session!, filter) ? Reason.success : NO_SUBSCRIPTION_EXISTED));
  c.send({ cmd: 'unsuback', messageId: p.messageId!, granted: c.protocolVersion === 5 ? results : [] });
}
