/**
 * SUBSCRIBE → SUBACK (then the retained messages that match), UNSUBSCRIBE → UNSUBACK. Each
 * filter is checked on its own (valid, within MQTT_MAX_FILTER_BYTES and MQTT_MAX_TOPIC_LEVELS,
 * within the session's MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT, allowed by the ACL); the v5
 * subscription options and Subscription Identifier are kept with it; `$share/{name}/{filter}`
 * joins a shared subscription (v5, and 3.1.1 as mosquitto allows).
 * @module
 */
import type { ISubscribePacket, IUnsubscribePacket } from 'mqtt-packet';
import { Bound } from '../bounds.ts';
import type { MqttConnection } from '../connection.ts';
import { Reason } from '../reason-codes.ts';
import { parseShared, subscriptionOptions, type SubscriptionOptions } from '../subscription.ts';
import { validFilter } from '../topic-filter.ts';
import { topicLevels } from '../topics.ts';

/** MQTT 3.1.1 SUBACK failure return code [MQTT-3.9.3]. */
const V3_FAILURE = 0x80;
/** The largest Subscription Identifier (a Variable Byte Integer) [MQTT-3.8.2.1.2]. */
const MAX_SUBSCRIPTION_ID = 268_435_455;

export function handleSubscribe(c: MqttConnection, p: ISubscribePacket): void {
  const v5 = c.protocolVersion === 5;
  const session = c.session!;
  const { limits } = c.ctx;
  const rawId = p.properties?.subscriptionIdentifier as number | number[] | undefined;
  if (Array.isArray(rawId)) return c.protocolError(Reason.protocolError, 'more than one Subscription Identifier');
  // 0 is not a Subscription Identifier: a Protocol Error (MQTT 5 §3.8.2.1.2)
  if (rawId !== undefined && (rawId < 1 || rawId > MAX_SUBSCRIPTION_ID)) return c.protocolError(Reason.protocolError, 'Subscription Identifier 0');
  // [MQTT-3.8.3-2] at least one topic filter (mqtt-packet refuses an empty payload already)
  if (p.subscriptions.length === 0) return c.protocolError(Reason.protocolError, 'SUBSCRIBE without a topic filter');
  const accepted: { key: string; options: Readonly<SubscriptionOptions> }[] = [];
  let added = 0;
  // an authenticated identity's subscriptions over all its sessions (MQTT_MAX_*_PER_IDENTITY)
  const owner = session.owner;
  const identity = owner === '' ? undefined : c.ctx.sessions.subscriptionsOf(owner);
  const granted: number[] = [];
  for (const s of p.subscriptions) {
    const refuse = (v5Reason: number) => granted.push(v5 ? v5Reason : V3_FAILURE);
    const shared = parseShared(s.topic);
    if (shared === 'invalid') {
      refuse(Reason.topicFilterInvalid);
      continue;
    }
    // [MQTT-3.8.3-4] No Local on a shared subscription is a Protocol Error
    if (shared !== undefined && v5 && s.nl) return c.protocolError(Reason.protocolError, 'No Local on a shared subscription');
    const filter = shared?.filter ?? s.topic;
    if (!validFilter(filter)) {
      refuse(Reason.topicFilterInvalid);
      continue;
    }
    if (Buffer.byteLength(s.topic) > limits.maxFilterBytes) {
      c.ctx.bounds.hit(Bound.filterBytes, 'MQTT_MAX_FILTER_BYTES');
      refuse(Reason.topicFilterInvalid);
      continue;
    }
    if (topicLevels(filter) > limits.maxTopicLevels) {
      c.ctx.bounds.hit(Bound.topicLevels, 'MQTT_MAX_TOPIC_LEVELS');
      refuse(Reason.topicFilterInvalid);
      continue;
    }
    const isNew = !session.subscriptions.has(s.topic) && !accepted.some((a) => a.key === s.topic);
    if (isNew && session.subscriptions.size + added >= limits.maxSubscriptionsPerClient) {
      c.ctx.bounds.hit(Bound.subscriptions, 'MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT');
      refuse(Reason.quotaExceeded);
      continue;
    }
    if (isNew && identity !== undefined && (identity.count + 1 > limits.maxSubscriptionsPerIdentity || identity.bytes + s.topic.length > limits.maxFilterBytesPerIdentity)) {
      c.ctx.bounds.hit(Bound.identitySubscriptions, identity.count + 1 > limits.maxSubscriptionsPerIdentity ? 'MQTT_MAX_SUBSCRIPTIONS_PER_IDENTITY' : 'MQTT_MAX_FILTER_BYTES_PER_IDENTITY');
      refuse(Reason.quotaExceeded);
      continue;
    }
    if (!mayWatch(c, filter)) {
      c.ctx.metrics.error('forbidden');
      refuse(Reason.notAuthorized);
      continue;
    }
    if (isNew) {
      added++;
      if (identity !== undefined) {
        identity.count++;
        identity.bytes += s.topic.length;
      }
    }
    const options: SubscriptionOptions = { qos: s.qos, noLocal: v5 && s.nl === true, retainAsPublished: v5 && s.rap === true, retainHandling: v5 ? ((s.rh ?? 0) as 0 | 1 | 2) : 0 };
    if (rawId !== undefined) options.identifier = rawId;
    accepted.push({ key: s.topic, options: subscriptionOptions(options) });
    granted.push(s.qos);
  }
  const retained = accepted.map((a) => c.ctx.router.register(session, a.key, a.options));
  c.ctx.sessions.recordChanged(session, true);
  // [MQTT-3.8.4-1] SUBACK first; retained messages follow it
  const ack = (): void => {
    if (c.state !== 'connected') return;
    c.send({ cmd: 'suback', messageId: p.messageId!, granted });
    for (const send of retained) send?.();
  };
  // with other instances: SUBACK once they can know the new routes (bounded wait), the client's
  // next packets after it; and once the readings' events flow here when this subscription listens to them
  const announced = c.ctx.link?.announced();
  const fed = c.ctx.router.fed;
  if (announced === undefined && fed === undefined) ack();
  else c.hold(Promise.all([announced, fed]).then(ack));
}

/** $SYS is open without authentication; with it, only to identities the ACL file grants it. */
function mayWatch(c: MqttConnection, filter: string): boolean {
  if (filter.startsWith('$SYS') && c.identity.via !== 'none') return c.ctx.acl.mayWatchSystem(c.identity, filter);
  return c.ctx.acl.maySubscribe(c.identity, filter);
}

export function handleUnsubscribe(c: MqttConnection, p: IUnsubscribePacket): void {
  // [MQTT-3.10.3-2] at least one topic filter
  if (p.unsubscriptions.length === 0) return c.protocolError(Reason.protocolError, 'UNSUBSCRIBE without a topic filter');
  const results = p.unsubscriptions.map((key) => (c.ctx.router.unsubscribe(c.session!, key) ? Reason.success : Reason.noSubscriptionExisted));
  c.ctx.sessions.recordChanged(c.session!, true);
  c.send({ cmd: 'unsuback', messageId: p.messageId!, granted: c.protocolVersion === 5 ? results : [] });
}
