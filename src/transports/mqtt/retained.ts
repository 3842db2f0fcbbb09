/**
 * Retained messages: one per topic [MQTT-3.3.1-5], found for a new subscription by walking a
 * tree of topic levels with its filter (as mosquitto's retain tree does), so a SUBSCRIBE costs
 * the levels and matches of its filter, not one test per retained message. Expired messages are
 * dropped when met [MQTT-3.3.2-5]. Bounded by count and bytes, in all (MQTT_MAX_RETAINED,
 * MQTT_MAX_RETAINED_BYTES) and per authenticated identity (MQTT_MAX_RETAINED_PER_IDENTITY,
 * MQTT_MAX_RETAINED_BYTES_PER_IDENTITY); an identity's retained messages can be removed at once
 * (revocation).
 * @module
 */
import { accountedBytes, expired, type Message } from './message.ts';

export interface RetainedLimits {
  max: number;
  maxBytes: number;
  /** Per authenticated identity (a message without an owner counts only in the totals). */
  maxPerOwner: number;
  maxBytesPerOwner: number;
}

/** Why a retained message was not kept: the bound it would pass. */
export type RetainRefusal = 'retained' | 'retained_bytes' | 'identity_retained';

interface Usage {
  count: number;
  bytes: number;
  topics: Set<string>;
}

interface Node {
  children: Map<string, Node> | undefined;
  message: Message | undefined;
}

const node = (): Node => ({ children: undefined, message: undefined });

export class RetainedStore {
  readonly #root = node();
  readonly #limits: RetainedLimits;
  #count = 0;
  #bytes = 0;
  readonly #owners = new Map<string, Usage>();

  /** @param expiredDropped told of each message dropped because its expiry passed */
  constructor(limits: RetainedLimits, expiredDropped: (topic: string) => void = () => {}) {
    this.#limits = limits;
    this.#expiredDropped = expiredDropped;
  }

  readonly #expiredDropped: (topic: string) => void;

  /** Forgets every message. */
  clear(): void {
    for (const topic of [...this.#topics()]) this.#remove(this.#root, topic.split('/'), 0);
  }

  *#topics(n: Node = this.#root): Generator<string> {
    if (n.message !== undefined) yield n.message.topic;
    if (n.children !== undefined) for (const child of n.children.values()) yield* this.#topics(child);
  }

  get size(): number {
    return this.#count;
  }

  /** Bytes held (payload, topic and properties of each message, as accountedBytes counts them). */
  get bytes(): number {
    return this.#bytes;
  }

  /** What `owner`'s retained messages hold. */
  usageOf(owner: string): { count: number; bytes: number } {
    const u = this.#owners.get(owner);
    return { count: u?.count ?? 0, bytes: u?.bytes ?? 0 };
  }

  /**
   * Keeps `m` as the retained message of its topic (replacing the one before, whoever set it), or
   * with an empty payload removes it [MQTT-3.3.1-6], [MQTT-3.3.1-7]. Returns the bound that
   * refuses it, if one does (the message before stays). `force`: no bound is checked (a message
   * another instance set, checked there).
   */
  set(m: Message, force = false): RetainRefusal | undefined {
    const levels = m.topic.split('/');
    if (m.payload.length === 0) {
      this.#remove(this.#root, levels, 0);
      return undefined;
    }
    const old = this.#get(levels);
    const size = accountedBytes(m);
    const oldSize = old === undefined ? 0 : accountedBytes(old);
    const owner = m.owner ?? '';
    if (!force && old === undefined && this.#count >= this.#limits.max) return 'retained';
    if (!force && this.#bytes - oldSize + size > this.#limits.maxBytes) return 'retained_bytes';
    if (!force && owner !== '') {
      const u = this.#owners.get(owner);
      const mine = old !== undefined && (old.owner ?? '') === owner;
      const count = (u?.count ?? 0) + (mine ? 0 : 1);
      const bytes = (u?.bytes ?? 0) - (mine ? oldSize : 0) + size;
      if (count > this.#limits.maxPerOwner || bytes > this.#limits.maxBytesPerOwner) return 'identity_retained';
    }
    if (old !== undefined) this.#forget(old);
    let n = this.#root;
    for (const level of levels) {
      n.children ??= new Map();
      let child = n.children.get(level);
      if (child === undefined) {
        child = node();
        n.children.set(level, child);
      }
      n = child;
    }
    n.message = m;
    this.#count++;
    this.#bytes += size;
    if (owner !== '') {
      let u = this.#owners.get(owner);
      if (u === undefined) this.#owners.set(owner, (u = { count: 0, bytes: 0, topics: new Set() }));
      u.count++;
      u.bytes += size;
      u.topics.add(m.topic);
    }
    return undefined;
  }

  /** Removes every retained message `owner` set (its identity was revoked); returns their topics. */
  removeOwnedBy(owner: string): string[] {
    const u = this.#owners.get(owner);
    if (u === undefined) return [];
    const topics = [...u.topics];
    for (const topic of topics) this.#remove(this.#root, topic.split('/'), 0);
    return topics;
  }

  /** Takes `m` (being removed or replaced) off the totals. */
  #forget(m: Message): void {
    const size = accountedBytes(m);
    this.#count--;
    this.#bytes -= size;
    const owner = m.owner;
    if (owner === undefined) return;
    const u = this.#owners.get(owner);
    if (u === undefined) return;
    u.count--;
    u.bytes -= size;
    u.topics.delete(m.topic);
    if (u.count === 0) this.#owners.delete(owner);
  }

  /** Calls `visit` with every live retained message whose topic `filter` matches. */
  forEachMatch(filter: string, visit: (m: Message) => void): void {
    const now = Date.now();
    const levels = filter.split('/');
    const dropped: string[] = [];
    this.#walk(this.#root, levels, 0, (m) => {
      if (expired(m, now)) dropped.push(m.topic);
      else visit(m);
    });
    for (const topic of dropped) {
      this.#remove(this.#root, topic.split('/'), 0);
      this.#expiredDropped(topic);
    }
  }

  #walk(n: Node, levels: string[], i: number, visit: (m: Message) => void): void {
    if (i === levels.length) {
      if (n.message !== undefined) visit(n.message);
      return;
    }
    const level = levels[i]!;
    const children = n.children;
    if (level === '#') {
      // `a/#` matches `a` itself [MQTT-4.7.1-2], and everything below
      if (n.message !== undefined && i > 0) visit(n.message);
      if (children !== undefined) for (const [name, child] of children) if (!(i === 0 && name.startsWith('$'))) this.#all(child, visit);
      return;
    }
    if (children === undefined) return;
    if (level === '+') {
      // [MQTT-4.7.2-1] a wildcard in the first level does not match topic names starting with "$"
      for (const [name, child] of children) if (!(i === 0 && name.startsWith('$'))) this.#walk(child, levels, i + 1, visit);
      return;
    }
    const child = children.get(level);
    if (child !== undefined) this.#walk(child, levels, i + 1, visit);
  }

  #all(n: Node, visit: (m: Message) => void): void {
    if (n.message !== undefined) visit(n.message);
    if (n.children !== undefined) for (const child of n.children.values()) this.#all(child, visit);
  }

  #get(levels: string[]): Message | undefined {
    let n: Node | undefined = this.#root;
    for (const level of levels) {
      n = n.children?.get(level);
      if (n === undefined) return undefined;
    }
    return n.message;
  }

  /** Removes the message at `levels` and the nodes left empty; true when `n` itself is now empty. */
  #remove(n: Node, levels: string[], i: number): boolean {
    if (i === levels.length) {
      if (n.message !== undefined) {
        this.#forget(n.message);
        n.message = undefined;
      }
    } else {
      const child = n.children?.get(levels[i]!);
      if (child !== undefined && this.#remove(child, levels, i + 1)) {
        n.children!.delete(levels[i]!);
        if (n.children!.size === 0) n.children = undefined;
      }
    }
    return n.message === undefined && n.children === undefined;
  }
}
