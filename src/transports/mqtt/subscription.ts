/**
 * One subscription of a session: its topic filter and the MQTT 5 subscription options
 * [MQTT-3.8.3]. A shared subscription (`$share/{ShareName}/{filter}`) also names the group
 * it belongs to [MQTT-4.8.2].
 * @module
 */
import type { Session } from './session.ts';
import type { SharedGroup } from './shared-group.ts';

export interface SubscriptionOptions {
  /** Maximum QoS of what is sent through this subscription [MQTT-3.8.3-1]. */
  qos: 0 | 1 | 2;
  /** Messages this client published are not sent back to it through this subscription [MQTT-3.8.3-3]. */
  noLocal: boolean;
  /** Forwarded messages keep their RETAIN flag [MQTT-3.3.1-12], [MQTT-3.3.1-13]. */
  retainAsPublished: boolean;
  /** 0: retained messages at every SUBSCRIBE; 1: only when the subscription is new; 2: never [MQTT-3.3.1-9..11]. */
  retainHandling: 0 | 1 | 2;
  /** The v5 Subscription Identifier, sent back with each message this subscription matched [MQTT-3.3.4-3]. */
  identifier?: number;
}

export class Subscription {
  readonly kind = 'subscription' as const;

  constructor(
    readonly session: Session,
    /** The filter as subscribed (with `$share/{name}/` for a shared subscription): the session's key for it. */
    readonly key: string,
    /** The topic filter proper, matched against topic names. */
    readonly filter: string,
    public options: Readonly<SubscriptionOptions>,
    readonly group?: SharedGroup,
  ) {}
}

const SHARE = '$share/';

/** `$share/{ShareName}/{filter}` split, undefined when `key` is not a shared subscription, 'invalid' when it is a malformed one [MQTT-4.8.2-1], [MQTT-4.8.2-2]. */
export function parseShared(key: string): { group: string; filter: string } | 'invalid' | undefined {
  if (!key.startsWith(SHARE)) return undefined;
  const slash = key.indexOf('/', SHARE.length);
  if (slash < 0) return 'invalid';
  const group = key.slice(SHARE.length, slash);
  const filter = key.slice(slash + 1);
  // [MQTT-4.8.2-1] the ShareName is at least one character, without "/", "+" or "#"; a filter follows
  if (group.length === 0 || group.includes('+') || group.includes('#') || filter.length === 0) return 'invalid';
  return { group, filter };
}

const sharedOptions = new Map<number, Readonly<SubscriptionOptions>>();

/**
 * Subscription options, one frozen object per combination when there is no identifier: a fleet's
 * subscriptions mostly share the same few, and an object per subscription was memory per client.
 */
export function subscriptionOptions(o: SubscriptionOptions): Readonly<SubscriptionOptions> {
  if (o.identifier !== undefined) return Object.freeze(o);
  const key = o.qos | (o.noLocal ? 4 : 0) | (o.retainAsPublished ? 8 : 0) | (o.retainHandling << 4);
  let shared = sharedOptions.get(key);
  if (shared === undefined) {
    shared = Object.freeze({ qos: o.qos, noLocal: o.noLocal, retainAsPublished: o.retainAsPublished, retainHandling: o.retainHandling });
    sharedOptions.set(key, shared);
  }
  return shared;
}

/** A session's subscriptions by key: most sessions of a fleet hold one, which needs no Map. */
export class SubscriptionTable {
  #one: Subscription | undefined;
  #many: Map<string, Subscription> | undefined;
  /** UTF-16 length of all keys (≈ bytes for topic filters, which are mostly ASCII): per-identity budgets. */
  bytes = 0;

  get size(): number {
    return this.#many !== undefined ? this.#many.size : this.#one !== undefined ? 1 : 0;
  }

  get(key: string): Subscription | undefined {
    if (this.#many !== undefined) return this.#many.get(key);
    return this.#one?.key === key ? this.#one : undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  set(key: string, sub: Subscription): void {
    if (!this.has(key)) this.bytes += key.length;
    if (this.#many !== undefined) this.#many.set(key, sub);
    else if (this.#one === undefined || this.#one.key === key) this.#one = sub;
    else {
      this.#many = new Map([[this.#one.key, this.#one], [key, sub]]);
      this.#one = undefined;
    }
  }

  delete(key: string): boolean {
    if (!this.has(key)) return false;
    this.bytes -= key.length;
    if (this.#many !== undefined) return this.#many.delete(key);
    this.#one = undefined;
    return true;
  }

  values(): Iterable<Subscription> {
    if (this.#many !== undefined) return this.#many.values();
    return this.#one !== undefined ? [this.#one] : [];
  }

  clear(): void {
    this.#one = undefined;
    this.#many = undefined;
    this.bytes = 0;
  }
}
