/**
 * Which subscriptions match a topic name, in O(topic levels + matches) whatever the number of
 * subscriptions (a linear scan made every publish cost O(subscriptions): 5,000 clients each
 * subscribed to its own command topic took QoS 1 ingest from 32,480 to 358 msg/s).
 *
 * Filters without wildcards (a device's own command topic: most of a fleet's subscriptions)
 * are one hash lookup; filters with `+` or `#` live in a topic trie, qlobber's (the one Aedes
 * uses). Measured with 50,000 `fleet/dev-N/cmd` filters: qlobber alone holds ~645 bytes per
 * subscription and matches one in ~700 ns; the hash ~150 bytes and ~100 ns.
 * Values are subscriptions, or shared groups (one entry for all members of a group); the same
 * index holds the routes of other instances (cluster-link.ts).
 * @module
 */
import { Qlobber } from 'qlobber';
import type { SharedGroup } from './shared-group.ts';
import type { Subscription } from './subscription.ts';

export type Target = Subscription | SharedGroup;

/** What the index holds: anything with a topic filter (the router's targets; cluster-link.ts's routes of other instances). */
export interface Filtered {
  readonly filter: string;
}

const NONE: readonly never[] = Object.freeze([]);

export class SubscriptionIndex<T extends Filtered = Target> {
  readonly #exact = new Map<string, T | T[]>();
  readonly #wildcards: Qlobber<T>;
  #wildcardCount = 0;
  #size = 0;

  /** @param maxLevels topic names and filters are refused past this many levels before they get here */
  constructor(maxLevels: number) {
    // match_empty_levels: `+` matches an empty level too (`a/+/b` matches `a//b`) [MQTT-4.7.1-3]
    this.#wildcards = new Qlobber<T>({ separator: '/', wildcard_one: '+', wildcard_some: '#', match_empty_levels: true, max_words: maxLevels + 1, max_wildcard_somes: 1 });
  }

  /** Filters held (a shared group counts once). */
  get size(): number {
    return this.#size;
  }

  add(t: T): void {
    this.#size++;
    if (hasWildcard(t.filter)) {
      this.#wildcards.add(t.filter, t);
      this.#wildcardCount++;
      return;
    }
    const had = this.#exact.get(t.filter);
    if (had === undefined) this.#exact.set(t.filter, t);
    else if (Array.isArray(had)) had.push(t);
    else this.#exact.set(t.filter, [had, t]);
  }

  remove(t: T): void {
    if (hasWildcard(t.filter)) {
      this.#wildcards.remove(t.filter, t);
      this.#wildcardCount--;
      this.#size--;
      return;
    }
    const had = this.#exact.get(t.filter);
    if (had === undefined) return;
    if (had === t) {
      this.#exact.delete(t.filter);
      this.#size--;
    } else if (Array.isArray(had)) {
      const i = had.indexOf(t);
      if (i < 0) return;
      had.splice(i, 1);
      if (had.length === 1) this.#exact.set(t.filter, had[0]!);
      this.#size--;
    }
  }

  /** The targets whose filter matches `topic` (do not keep or change the array). */
  match(topic: string): readonly T[] {
    const exact = this.#exact.get(topic);
    if (this.#wildcardCount === 0) return exact === undefined ? NONE : Array.isArray(exact) ? exact : [exact];
    // qlobber may hand back a trie node's own array: never change what it returns
    let found: readonly T[] = this.#wildcards.match(topic);
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a topic name starting with "$"
    if (topic.charCodeAt(0) === 36 && found.length > 0) found = found.filter((t) => !startsWithWildcard(t.filter));
    if (exact === undefined) return found;
    return found.length === 0 ? (Array.isArray(exact) ? exact : [exact]) : found.concat(exact);
  }
}

export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

function startsWithWildcard(filter: string): boolean {
  const c = filter.charCodeAt(0);
  return c === 43 || c === 35; // "+" or "#"
}
