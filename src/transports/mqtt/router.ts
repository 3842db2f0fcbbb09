/**
 * Delivery to MQTT subscribers on this instance: subscriptions with wildcards, retained
 * messages, relayed publishes, and every accepted reading (from any transport and, through
 * the queue backend's events, any instance) on `{prefix}/{device_id}/data`, exactly once.
 * @module
 */
import type { Logger } from 'pino';
import type { Metrics } from '../../metrics/registry.ts';
import { matches } from './topic-filter.ts';

export interface Message {
  topic: string;
  payload: Buffer;
  qos: 0 | 1 | 2;
  retain: boolean;
  /** v5 Message Expiry: not delivered after this time (ms since epoch) [MQTT-3.3.2-5]. */
  expiresAt?: number;
  /** v5 properties forwarded to v5 subscribers. */
  contentType?: string;
  payloadFormatIndicator?: boolean;
}

/** Whether `m` has outlived its v5 Message Expiry Interval. */
export function expired(m: Message, now = Date.now()): boolean {
  return m.expiresAt !== undefined && now >= m.expiresAt;
}

/** Who receives messages: a session (connected, or persistent and away). */
export interface Subscriber {
  deliver(m: Message, subscriptionQos: 0 | 1 | 2): void;
  readonly subscriptions: Map<string, 0 | 1 | 2>;
}

/** Subscribes to accepted readings (JSON, one per reading); returns the unsubscribe function. */
export type ReadingFeed = (listener: (json: string) => void) => () => void;

export class MqttRouter {
  readonly #subs = new Set<Subscriber>();
  readonly #retained = new Map<string, Message>();
  readonly #feed: ReadingFeed;
  readonly #prefix: string;
  readonly #maxRetained: number;
  readonly #metrics: Metrics;
  readonly #log: Logger;
  #unfeed: (() => void) | undefined;

  constructor(o: { feed: ReadingFeed; prefix: string; maxRetained: number; metrics: Metrics; log: Logger }) {
    this.#feed = o.feed;
    this.#prefix = o.prefix.endsWith('/') ? o.prefix : o.prefix + '/';
    this.#maxRetained = o.maxRetained;
    this.#metrics = o.metrics;
    this.#log = o.log;
  }

  get subscriberCount(): number {
    return this.#subs.size;
  }

  get retainedCount(): number {
    return this.#retained.size;
  }

  /** Adds or replaces a subscription and sends the retained messages it matches [MQTT-3.3.1-6]. */
  subscribe(c: Subscriber, filter: string, qos: 0 | 1 | 2): void {
    c.subscriptions.set(filter, qos);
    this.#subs.add(c);
    // readings cross the queue's event channel only while someone here listens
    this.#unfeed ??= this.#feed(this.#onReading);
    const now = Date.now();
    for (const m of this.#retained.values()) {
      if (expired(m, now)) this.#retained.delete(m.topic);
      else if (matches(filter, m.topic)) c.deliver(m, qos);
    }
  }

  unsubscribe(c: Subscriber, filter: string): boolean {
    const existed = c.subscriptions.delete(filter);
    if (c.subscriptions.size === 0) this.drop(c);
    return existed;
  }

  /** Forgets every subscription of an ended session. */
  drop(c: Subscriber): void {
    this.#subs.delete(c);
    if (this.#subs.size === 0 && this.#unfeed) {
      this.#unfeed();
      this.#unfeed = undefined;
    }
  }

  /** A message published by a client (relay topics, status topics, wills): retained if asked, delivered once per subscriber. */
  publish(m: Message): void {
    if (m.retain) this.#retain(m);
    this.#deliver({ ...m, retain: false });
  }

  /** Keeps (or with an empty payload removes) the retained message of `m.topic`, without delivering it. */
  retain(m: Message): void {
    this.#retain(m);
  }

  #retain(m: Message): void {
    // [MQTT-3.3.1-10] an empty retained payload removes the retained message
    if (m.payload.length === 0) {
      this.#retained.delete(m.topic);
      return;
    }
    if (!this.#retained.has(m.topic) && this.#retained.size >= this.#maxRetained) {
      this.#metrics.error('mqtt_retained_full');
      return;
    }
    this.#retained.set(m.topic, m);
  }

  readonly #onReading = (json: string): void => {
    let deviceId: unknown;
    try {
      deviceId = (JSON.parse(json) as { device_id?: unknown }).device_id;
    } catch {
      this.#log.warn('ignored an event that is not a JSON reading');
      return;
    }
    if (typeof deviceId !== 'string') return;
    this.#deliver({ topic: `${this.#prefix}${deviceId}/data`, payload: Buffer.from(json), qos: 1, retain: false });
  };

  #deliver(m: Message): void {
    for (const c of this.#subs) {
      // one delivery per subscriber even when several of its filters match, at the highest QoS
      let best = -1;
      for (const [filter, qos] of c.subscriptions) if (qos > best && matches(filter, m.topic)) best = qos;
      if (best >= 0) c.deliver(m, best as 0 | 1 | 2);
    }
  }
}
