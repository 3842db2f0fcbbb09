/**
 * Delivery to MQTT subscribers on this instance: subscriptions (with wildcards, v5 options and
 * shared groups), retained messages, relayed publishes, wills, and every accepted reading (from
 * any transport and, through the queue backend's events, any instance) on
 * `{prefix}/{device_id}/data` and, with MQTT_SENSOR_TOPICS=on, on `{prefix}/{device_id}/{sensor}`
 * for each sensor it carries (the reading restricted to that sensor).
 *
 * Routing a message costs O(topic levels + matching subscriptions) (subscription-index.ts),
 * never one test per subscription; a reading event costs a topic lookup and nothing more
 * when nobody here subscribed to it (one more lookup per sensor type while some subscription
 * here could match a sensor topic, and a JSON parse only when one does), and the event channel
 * is listened to only while some subscription could match a reading topic at all.
 * @module
 */
import type { Logger } from 'pino';
import type { Metrics } from '../../metrics/registry.ts';
import { expired, withoutRid, type Message } from './message.ts';
import { LiveFeed, type ReadingFeed } from '../live-feed.ts';
import { readingDeviceId } from './reading-topic.ts';
import { RetainedStore, type RetainedLimits, type RetainRefusal } from './retained.ts';
import { delivery, type Delivery, type Session } from './session.ts';
import { SharedGroup } from './shared-group.ts';
import { SubscriptionIndex, type Target } from './subscription-index.ts';
import { parseShared, Subscription, type SubscriptionOptions } from './subscription.ts';

/**
 * What the router shares with other instances (cluster-link.ts): the route keys it holds (a
 * topic filter, or a shared group's key), messages for their subscribers, retained messages.
 */
export interface RouteShare {
  held(key: string): void;
  released(key: string): void;
  /** Sends `m` to the other instances that want it; returns the keys of local shared groups that must not take it. */
  forward(m: Message, hasLocalGroup: (key: string) => boolean): ReadonlySet<string> | undefined;
  retained(m: Message): void;
  retainedRemoved(topic: string): void;
}

/** Which targets a delivery reaches: plain subscriptions or not, and which shared groups. */
interface Reach {
  plain: boolean;
  group(g: SharedGroup): boolean;
}

const EVERYWHERE: Reach = { plain: true, group: () => true };


export interface RouterOptions {
  feed: ReadingFeed;
  prefix: string;
  retained: RetainedLimits;
  /** A retained message was refused by a bound (counted and reported by the caller's BoundNotifier). */
  retainRefused: (why: RetainRefusal) => void;
  /** Topic names and filters have at most this many levels (checked before they reach the router). */
  maxTopicLevels: number;
  /** MQTT_SENSOR_TOPICS=on: the sensor types whose topics relay readings too (empty: /data only). */
  sensorTopics?: readonly string[];
  metrics: Metrics;
  log: Logger;
}

export class MqttRouter {
  readonly #index: SubscriptionIndex;
  readonly #groups = new Map<string, SharedGroup>();
  readonly #retained: RetainedStore;
  readonly #live: LiveFeed;
  readonly #prefix: string;
  readonly #readingPattern: string[];
  /** Per relayed sensor type: its name and the pattern of its topics. */
  readonly #sensorPatterns: { sensor: string; pattern: string[] }[];
  readonly #metrics: Metrics;
  readonly #retainRefused: (why: RetainRefusal) => void;
  /** Subscriptions whose filter can match some reading topic: the event channel is listened to while > 0. */
  #readingSubscriptions = 0;
  /** Of those, subscriptions whose filter can match some `{prefix}/{device_id}/{sensor}` topic. */
  #sensorSubscriptions = 0;
  #subscriptions = 0;
  #share: RouteShare | undefined;
  readonly #hasGroup = (key: string): boolean => this.#groups.has(key);

  constructor(o: RouterOptions) {
    this.#live = new LiveFeed(o.feed, this.#onReading);
    this.#prefix = o.prefix.endsWith('/') ? o.prefix : o.prefix + '/';
    const base = this.#prefix.slice(0, -1).split('/');
    this.#readingPattern = [...base, '+', 'data'];
    this.#sensorPatterns = (o.sensorTopics ?? []).map((sensor) => ({ sensor, pattern: [...base, '+', sensor] }));
    this.#retained = new RetainedStore(o.retained, (topic) => this.#share?.retainedRemoved(topic));
    this.#retainRefused = o.retainRefused;
    this.#index = new SubscriptionIndex(o.maxTopicLevels);
    this.#metrics = o.metrics;
  }

  /** Shares routes, messages and retained messages with other instances from now on (before any subscription). */
  share(s: RouteShare): void {
    this.#share = s;
  }

  /** Subscriptions held by sessions on this instance (a shared subscription counts per member). */
  get subscriptionCount(): number {
    return this.#subscriptions;
  }

  get retainedCount(): number {
    return this.#retained.size;
  }

  /** Whether the readings' event channel is listened to (some subscription could match a reading topic). */
  get listeningToReadings(): boolean {
    return this.#live.listening;
  }

  /**
   * While the readings' event channel is listened to: resolves once readings flow here (a
   * SUBACK waits for it, so that every reading stored after it reaches the subscriber).
   */
  get fed(): Promise<void> | undefined {
    return this.#live.fed;
  }

  /**
   * Adds, or replaces [MQTT-3.8.4-3], the subscription `key` (a topic filter, or
   * `$share/{name}/{filter}`) of `session`, then sends the retained messages it asks for
   * [MQTT-3.3.1-9..11] (none for a shared subscription, MQTT 5 §4.8.2). The key must be valid.
   */
  subscribe(session: Session, key: string, options: Readonly<SubscriptionOptions>): void {
    this.register(session, key, options)?.();
  }

  /**
   * subscribe() in two steps: adds the subscription now and returns what sends its retained
   * messages (undefined when there are none to send), for the caller to run after its SUBACK.
   */
  register(session: Session, key: string, options: Readonly<SubscriptionOptions>): (() => void) | undefined {
    const existing = session.subscriptions.get(key);
    if (existing !== undefined) existing.options = options;
    else {
      const shared = parseShared(key);
      const filter = typeof shared === 'object' ? shared.filter : key;
      let group: SharedGroup | undefined;
      if (typeof shared === 'object') {
        // groups are per identity: another identity's "$share/analytics/..." is a group of its own,
        // so joining a group cannot divert a share of someone else's messages
        const groupKey = SharedGroup.key(session.owner, shared.group, shared.filter);
        group = this.#groups.get(groupKey);
        if (group === undefined) {
          group = new SharedGroup(session.owner, shared.group, shared.filter);
          this.#groups.set(groupKey, group);
          this.#index.add(group);
          this.#share?.held(groupKey);
        }
      }
      const sub = new Subscription(session, key, filter, options, group);
      session.subscriptions.set(key, sub);
      if (group !== undefined) group.add(sub);
      else {
        this.#index.add(sub);
        this.#share?.held(filter);
      }
      this.#subscriptions++;
      this.#readingSubscriptionsChanged(filter, +1);
    }
    const shared = existing !== undefined ? existing.group !== undefined : parseShared(key) !== undefined;
    const rh = options.retainHandling;
    if (shared || rh === 2 || (rh === 1 && existing !== undefined)) return undefined;
    return () =>
      this.#retained.forEachMatch(key, (m) => {
        // a retained message sent for a new subscription keeps RETAIN = 1 [MQTT-3.3.1-9]
        session.deliver(delivery(withoutRid(m), minQos(m.qos, options.qos), true, options.identifier === undefined ? undefined : [options.identifier]));
      });
  }

  /** Removes the subscription `key` of `session`; false when it had none [MQTT-3.10.4-5]. */
  unsubscribe(session: Session, key: string): boolean {
    const sub = session.subscriptions.get(key);
    if (sub === undefined) return false;
    session.subscriptions.delete(key);
    this.#remove(sub);
    return true;
  }

  /** Forgets every subscription of an ended session. */
  dropSession(session: Session): void {
    for (const sub of [...session.subscriptions.values()]) this.#remove(sub);
    session.subscriptions.clear();
  }

  /**
   * A message published by a client, a will or the server ($SYS): retained if asked, then
   * routed. `strict`: a retained message a bound refuses is not routed either (false returned),
   * so that a v5 publisher can be told (PUBACK 0x97); otherwise it is delivered, not kept.
   */
  publish(m: Message, strict = false): boolean {
    if (m.retain && !this.retain(m) && strict) return false;
    this.#route(m);
    return true;
  }

  /**
   * Keeps (or with an empty payload removes) the retained message of `m.topic`, without
   * delivering it [MQTT-3.3.1-5], [MQTT-3.3.1-6]. False when a bound refused it (counted).
   */
  retain(m: Message): boolean {
    const refused = this.#retained.set(m);
    if (refused === undefined) {
      this.#share?.retained(m);
      return true;
    }
    this.#metrics.error('mqtt_retained_full');
    this.#retainRefused(refused);
    return false;
  }

  /** Bytes of the retained messages held. */
  get retainedBytes(): number {
    return this.#retained.bytes;
  }

  /** Removes the retained messages `owner` set (its identity was revoked). */
  removeRetainedOf(owner: string): void {
    for (const topic of this.#retained.removeOwnedBy(owner)) this.#share?.retainedRemoved(topic);
  }

  /** A retained message set or removed on some instance, in the shared log's order (bounds were checked where it was set). */
  applyRetained(topic: string, m: Message | undefined): void {
    if (m === undefined) this.#retained.set({ topic, payload: EMPTY, qos: 0, retain: true });
    else this.#retained.set(m, true);
  }

  /** Forgets every retained message (a snapshot of the shared ones replaces them). */
  clearRetained(): void {
    this.#retained.clear();
  }

  /** A message another instance routed here: to this instance's subscribers only, never further. */
  deliverRouted(m: Message, plain: boolean, groups: readonly string[]): void {
    if (expired(m)) return;
    const targets = this.#index.match(m.topic);
    if (targets.length === 0) return;
    this.#deliver(m, targets, { plain, group: (g) => groups.includes(SharedGroup.key(g.owner, g.name, g.filter)) });
  }

  /**
   * Deliveries a session gave back when its client left (shared subscriptions): each goes to
   * another member of its group; with none left, back to `keeper` (the persistent session that
   * gave it up, which sends it when its client returns) or, without one, it is dropped and counted.
   */
  redistribute(ds: readonly Delivery[], from: Session, keeper: Session | undefined, dropped: () => void): void {
    for (const d of ds) {
      const member = d.group!.pick(from);
      if (member !== undefined) member.session.deliver(this.#sharedDelivery(d.m, member));
      else if (keeper !== undefined) keeper.deliver(d);
      else dropped();
    }
  }

  readonly #onReading = (json: string): void => {
    const deviceId = readingDeviceId(json);
    if (deviceId === undefined) return;
    const topic = `${this.#prefix}${deviceId}/data`;
    const targets = this.#index.match(topic);
    if (targets.length > 0) this.#deliver({ topic, payload: Buffer.from(json), qos: 1, retain: false }, targets);
    if (this.#sensorSubscriptions > 0) this.#relaySensors(json, deviceId);
  };

  /**
   * `{prefix}/{device_id}/{sensor}` for each sensor of the reading that some subscription here
   * matches: the reading with `sensors` restricted to that one. Parsed only when one matches.
   */
  #relaySensors(json: string, deviceId: string): void {
    let reading: { sensors?: Record<string, unknown> } | undefined;
    for (const { sensor } of this.#sensorPatterns) {
      const topic = `${this.#prefix}${deviceId}/${sensor}`;
      const targets = this.#index.match(topic);
      if (targets.length === 0) continue;
      if (reading === undefined) {
        try {
          reading = JSON.parse(json) as { sensors?: Record<string, unknown> };
        } catch {
          return;
        }
      }
      const value = reading.sensors?.[sensor];
      if (value === undefined) continue;
      const payload = Buffer.from(JSON.stringify({ ...reading, sensors: { [sensor]: value } }));
      this.#deliver({ topic, payload, qos: 1, retain: false }, targets);
    }
  }

  #route(m: Message): void {
    if (expired(m)) return;
    // $SYS and other "$" topics are this instance's own
    const skip = this.#share !== undefined && m.topic.charCodeAt(0) !== 36 ? this.#share.forward(m, this.#hasGroup) : undefined;
    const targets = this.#index.match(m.topic);
    if (targets.length > 0) this.#deliver(m, targets, skip === undefined ? EVERYWHERE : { plain: true, group: (g) => !skip.has(SharedGroup.key(g.owner, g.name, g.filter)) });
  }

  /** One delivery per session even when several of its filters match: at the highest QoS, with every identifier [MQTT-3.3.4-2], [MQTT-3.3.4-3]. */
  #deliver(m: Message, targets: readonly Target[], reach: Reach = EVERYWHERE): void {
    if (targets.length === 1) {
      const t = targets[0]!;
      if (t.kind === 'shared') {
        if (reach.group(t)) this.#deliverShared(m, t);
      } else if (reach.plain && !(t.options.noLocal && m.origin === t.session.clientId)) t.session.deliver(this.#ownDelivery(m, t.options));
      return;
    }
    const perSession = new Map<Session, { qos: 0 | 1 | 2; rap: boolean; ids: number[] | undefined }>();
    for (const t of targets) {
      if (t.kind === 'shared') {
        if (reach.group(t)) this.#deliverShared(m, t);
        continue;
      }
      if (!reach.plain) continue;
      // [MQTT-3.8.3-3] No Local: not back to the client that published it
      if (t.options.noLocal && m.origin === t.session.clientId) continue;
      const o = t.options;
      const seen = perSession.get(t.session);
      if (seen === undefined) perSession.set(t.session, { qos: o.qos, rap: o.retainAsPublished, ids: o.identifier === undefined ? undefined : [o.identifier] });
      else {
        if (o.qos > seen.qos) seen.qos = o.qos;
        seen.rap ||= o.retainAsPublished;
        if (o.identifier !== undefined) (seen.ids ??= []).push(o.identifier);
      }
    }
    for (const [session, s] of perSession) session.deliver(delivery(m, minQos(m.qos, s.qos), s.rap && m.retain, s.ids));
  }

  #deliverShared(m: Message, group: SharedGroup): void {
    const member = group.pick();
    if (member !== undefined) member.session.deliver(this.#sharedDelivery(m, member));
  }

  #sharedDelivery(m: Message, member: Subscription): Delivery {
    const o = member.options;
    return delivery(m, minQos(m.qos, o.qos), o.retainAsPublished && m.retain, o.identifier === undefined ? undefined : [o.identifier], member.group);
  }

  /** [MQTT-3.3.1-12], [MQTT-3.3.1-13]: RETAIN is kept only with Retain As Published. */
  #ownDelivery(m: Message, o: Readonly<SubscriptionOptions>): Delivery {
    return delivery(m, minQos(m.qos, o.qos), o.retainAsPublished && m.retain, o.identifier === undefined ? undefined : [o.identifier]);
  }

  #remove(sub: Subscription): void {
    this.#subscriptions--;
    const group = sub.group;
    if (group !== undefined) {
      if (group.remove(sub)) {
        const key = SharedGroup.key(group.owner, group.name, group.filter);
        this.#groups.delete(key);
        this.#index.remove(group);
        this.#share?.released(key);
      }
    } else {
      this.#index.remove(sub);
      this.#share?.released(sub.filter);
    }
    this.#readingSubscriptionsChanged(sub.filter, -1);
  }

  /** Counts a subscription that comes or goes, if it can match a reading topic; listens to the events while any does. */
  #readingSubscriptionsChanged(filter: string, by: 1 | -1): void {
    const sensors = this.#sensorPatterns.some((s) => couldMatch(filter, s.pattern));
    if (sensors) this.#sensorSubscriptions += by;
    if (!sensors && !couldMatch(filter, this.#readingPattern)) return;
    this.#readingSubscriptions += by;
    this.#live.want(this.#readingSubscriptions > 0);
  }

}

/** Whether some topic of `pattern` (levels, `+` for any one) matches `filter`. */
function couldMatch(filter: string, p: readonly string[]): boolean {
  const f = filter.split('/');
  if (p[0]!.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= p.length) return false;
    if (f[i] !== '+' && p[i] !== '+' && f[i] !== p[i]) return false;
  }
  return f.length === p.length;
}

const EMPTY = Buffer.alloc(0);

function minQos(a: 0 | 1 | 2, b: 0 | 1 | 2): 0 | 1 | 2 {
  return a < b ? a : b;
}
