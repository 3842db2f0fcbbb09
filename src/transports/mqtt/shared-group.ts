/**
 * A shared subscription group (`$share/{ShareName}/{filter}`): every message matching the
 * filter goes to one member session, not to all of them [MQTT-4.8.2]. Members take turns
 * (round robin); a member that is connected and has room in its Receive Maximum window is
 * preferred, then one that is connected (its queue takes the message), then any member (a
 * persistent session away keeps it). The scan for a ready member looks at a bounded number of
 * members, so picking costs O(1) per message whatever the size of the group.
 * @module
 */
import type { Session } from './session.ts';
import type { Subscription } from './subscription.ts';

/** Members looked at for one with room before settling for the next connected one. */
const SCAN = 16;

export class SharedGroup {
  readonly kind = 'shared' as const;
  readonly members: Subscription[] = [];
  #next = 0;

  constructor(
    /** The identity whose sessions form the group (auth/identity.ts ownerOf; '' without auth). */
    readonly owner: string,
    readonly name: string,
    readonly filter: string,
  ) {}

  /** The group's key in the router: one group per (owner, ShareName, filter). */
  static key(owner: string, name: string, filter: string): string {
    return `${owner}\u0000${name}\u0000${filter}`;
  }

  add(s: Subscription): void {
    this.members.push(s);
  }

  /** Removes `s`; true when the group is now empty. */
  remove(s: Subscription): boolean {
    const i = this.members.indexOf(s);
    if (i >= 0) {
      this.members.splice(i, 1);
      if (this.#next > i) this.#next--;
    }
    return this.members.length === 0;
  }

  /** The member the next message goes to, skipping the sessions of `except` (a member that left with it). */
  pick(except?: Session): Subscription | undefined {
    const n = this.members.length;
    if (n === 0) return undefined;
    let connected = -1;
    let any = -1;
    for (let k = 0; k < n; k++) {
      const i = (this.#next + k) % n;
      const s = this.members[i]!;
      if (s.session === except) continue;
      if (any < 0) any = i;
      if (s.session.connection === undefined) continue;
      if (s.session.readyFor(s.options.qos)) return this.#take(i);
      if (connected < 0) connected = i;
      if (k >= SCAN && connected >= 0) break;
    }
    const i = connected >= 0 ? connected : any;
    return i < 0 ? undefined : this.#take(i);
  }

  #take(i: number): Subscription {
    this.#next = (i + 1) % this.members.length;
    return this.members[i]!;
  }
}
