/**
 * Retained messages: one per topic [MQTT-3.3.1-5], found for a new subscription by walking a
 * tree of topic levels with its filter (as mosquitto's retain tree does), so a SUBSCRIBE costs
 * the levels and matches of its filter, not one test per retained message. Expired messages are
 * dropped when met [MQTT-3.3.2-5]. Bounded by count (MQTT_MAX_RETAINED).
 * @module
 */
import { expired, type Message } from './message.ts';

interface Node {
  children: Map<string, Node> | undefined;
  message: Message | undefined;
}

const node = (): Node => ({ children: undefined, message: undefined });

export class RetainedStore {
  readonly #root = node();
  #count = 0;

  constructor(readonly max: number) {}

  get size(): number {
    return this.#count;
  }

  /**
   * Keeps `m` as the retained message of its topic, or with an empty payload removes it
   * [MQTT-3.3.1-6], [MQTT-3.3.1-7]. False: refused because MQTT_MAX_RETAINED topics are held.
   */
  set(m: Message): boolean {
    const levels = m.topic.split('/');
    if (m.payload.length === 0) {
      this.#remove(this.#root, levels, 0);
      return true;
    }
    if (this.#count >= this.max && !this.#has(levels)) return false;
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
    if (n.message === undefined) this.#count++;
    n.message = m;
    return true;
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
    for (const topic of dropped) this.#remove(this.#root, topic.split('/'), 0);
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

  #has(levels: string[]): boolean {
    let n: Node | undefined = this.#root;
    for (const level of levels) {
      n = n.children?.get(level);
      if (n === undefined) return false;
    }
    return n.message !== undefined;
  }

  /** Removes the message at `levels` and the nodes left empty; true when `n` itself is now empty. */
  #remove(n: Node, levels: string[], i: number): boolean {
    if (i === levels.length) {
      if (n.message !== undefined) {
        n.message = undefined;
        this.#count--;
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
