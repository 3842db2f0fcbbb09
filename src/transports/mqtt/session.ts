/**
 * MQTT session state, which outlives a connection when the client asked for a persistent
 * session (v3.1.1 clean session 0, v5 Session Expiry Interval > 0) [MQTT-3.1.2-4]:
 * subscriptions, QoS 2 packet ids received, messages sent and not yet acknowledged, and the
 * queue of messages waiting to be sent [MQTT-3.1.2-5].
 *
 * Outbound flow: a QoS 1/2 message is sent only while fewer than the client's Receive Maximum
 * are unacknowledged [MQTT-3.3.4-9], and nothing is written while the socket has not taken
 * what was already written; everything else waits in the session's queue, in order, and is
 * sent as acknowledgements and drains make room. The queue is bounded per session (messages
 * and bytes) and over all sessions (OfflineBudget); past a bound the oldest queued QoS 0
 * message goes first, then the new message is refused, each counted by reason. Nothing is
 * dropped silently.
 * @module
 */
import type { MqttConnection } from './connection.ts';
import { accountedBytes, expired, type Message } from './message.ts';
import type { OfflineBudget } from './offline-budget.ts';
import type { Will } from './sessions.ts';
import type { SharedGroup } from './shared-group.ts';
import { SubscriptionTable, type SubscriptionOptions } from './subscription.ts';

/** Why a message to a subscriber was not delivered (the label of mqtt_messages_dropped_total). */
export type DropReason = 'session_queue_full' | 'offline_budget' | 'qos0_offline' | 'expired' | 'packet_too_large' | 'session_ended' | 'relay_failed';

/** What a session needs from the server around it. */
export interface SessionEnv {
  limits: {
    /** Messages a session's queue holds at most (MQTT_MAX_OFFLINE_MESSAGES). */
    maxQueuedMessages: number;
    /** Bytes a session's queue holds at most (MQTT_MAX_OFFLINE_BYTES). */
    maxQueuedBytes: number;
  };
  budget: OfflineBudget;
  dropped(reason: DropReason): void;
  /** With other instances: a message queued for a recorded session whose client is away, kept in Redis too (cluster-link.ts). */
  away?: { queued(s: Session, d: Delivery): void };
}

/** One message on its way to this session's client. */
export interface Delivery {
  readonly m: Message;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  readonly subscriptionIds?: readonly number[];
  /** The shared subscription it came through: given to another member if this client leaves. */
  readonly group?: SharedGroup;
  readonly bytes: number;
  /** QoS 2: PUBREC received and PUBREL sent, only PUBCOMP awaited. */
  released?: boolean;
  /** Taken out of the queue (evicted) while it was not at its head. */
  dropped?: boolean;
}

export function delivery(m: Message, qos: 0 | 1 | 2, retain: boolean, subscriptionIds?: readonly number[], group?: SharedGroup): Delivery {
  const d: { -readonly [K in keyof Delivery]: Delivery[K] } = { m, qos, retain, bytes: accountedBytes(m) };
  if (subscriptionIds !== undefined && subscriptionIds.length > 0) d.subscriptionIds = subscriptionIds;
  if (group !== undefined) d.group = group;
  return d;
}

/**
 * What a persistent session hands to another instance when its client comes back there
 * (cluster-link.ts): its subscriptions, the QoS 2 ids received, the messages sent and not
 * acknowledged with their packet ids, and the queue, in order.
 */
export interface SessionState {
  expiryMs: number;
  owner: string;
  subscriptions: [key: string, options: SubscriptionOptions][];
  qos2: number[];
  inflight: [id: number, m: Message, qos: 0 | 1 | 2, retain: boolean, ids: readonly number[] | null, released: boolean][];
  queue: [m: Message, qos: 0 | 1 | 2, retain: boolean, ids: readonly number[] | null][];
}

/**
 * What is kept in Redis of a persistent session while it lives (cluster-link.ts): enough for
 * another instance to take it up, with its subscriptions, should this instance die (its
 * messages are not kept there).
 */
export interface SessionRecord {
  owner: string;
  expiryMs: number;
  /** When it ends unless its client comes back (ms since epoch); undefined while connected. */
  expiresAt: number | undefined;
  subscriptions: [key: string, options: SubscriptionOptions][];
}

/** The queue of a session with nothing queued (shared: most sessions never queue anything). */
const NO_DELIVERIES: Delivery[] = [];

/** Message ids a session that just moved remembers at most (against copies it gets twice). */
const MAX_SEEN = 10_000;

/** The Receive Maximum of a client that announces none: 65,535 (MQTT 5 §3.1.2.11.3). */
const DEFAULT_RECEIVE_MAXIMUM = 65_535;

export class Session {
  readonly subscriptions = new SubscriptionTable();
  connection: MqttConnection | undefined;
  /** QoS 1/2 messages to the client unacknowledged at most: its v5 Receive Maximum [MQTT-3.3.4-9]. */
  maxInflight = DEFAULT_RECEIVE_MAXIMUM;
  /** When the session ends after its connection closed (ms since epoch); undefined while connected. */
  expiresAt: number | undefined;
  /** The timer that ends this session once its client stayed away past its expiry. */
  expiryTimer: NodeJS.Timeout | undefined;
  /** Its client id is claimed in the shared state (given up when the session ends here). */
  claimed = false;
  /** Its record is in the shared state (deleted when the session ends here). */
  recorded = false;
  /** What its record says is out of date (new, subscriptions changed, arrived from another instance): written whole at the end of the turn. */
  recordStale = true;
  /** The Session Expiry Interval its record says. */
  recordedExpiryMs = -1;
  /** Listed in this instance's index of recorded sessions. */
  indexed = false;
  /** Its client is away and its messages are kept in the shared state too (deleted when the client is back). */
  awayKept = false;
  /** Some were written there (so there is something to delete). */
  awayWritten = false;
  /** A will waiting for its Will Delay Interval (cancelled if the client comes back) [MQTT-3.1.3-9]. */
  pendingWill: { will: Will; timer: NodeJS.Timeout | undefined; dueAt?: number } | undefined;
  /**
   * This session moved to another instance (cluster-link.ts): for a short while what is still
   * delivered to it here is sent on there instead.
   */
  forward: ((d: Delivery) => void) | undefined;
  /** Just moved here from another instance: ids of the messages it got, to drop a second copy (until `#seenUntil`). */
  #seen: Set<string> | undefined;
  #seenUntil = 0;
  // created on first use: most sessions of a fleet never receive a QoS 2 message or more than one at a time
  /** QoS 2 ids received: 'pending' while the reading awaits the queue, 'stored' once PUBREC was sent. */
  #qos2: Map<number, 'pending' | 'stored'> | undefined;
  #inflight: Map<number, Delivery> | undefined;
  #queue: Delivery[] = NO_DELIVERIES;
  #head = 0;
  #queuedCount = 0;
  #queuedBytes = 0;
  #queuedQos0 = 0;
  #lastId = 0;

  constructor(
    readonly clientId: string,
    /** 0 = the session ends with its connection. */
    public expiryMs: number,
    readonly env: SessionEnv,
    /** The identity that created it (auth/identity.ts ownerOf): the only one that may resume or take it over. */
    readonly owner = '',
  ) {}

  get persistent(): boolean {
    return this.expiryMs > 0;
  }

  /** Messages waiting in the queue (not yet sent). */
  get queued(): number {
    return this.#queuedCount;
  }

  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** QoS 1/2 messages sent and not yet acknowledged. */
  get inflight(): number {
    return this.#inflight?.size ?? 0;
  }

  /** A QoS 2 packet id received from the client: 'pending' (awaiting the queue), 'stored' (PUBREC sent), or unknown. */
  qos2(id: number): 'pending' | 'stored' | undefined {
    return this.#qos2?.get(id);
  }

  setQos2(id: number, state: 'pending' | 'stored'): void {
    (this.#qos2 ??= new Map()).set(id, state);
  }

  /** Forgets a QoS 2 packet id (PUBREL, or a refusal); false when it was not known. */
  deleteQos2(id: number): boolean {
    return this.#qos2?.delete(id) ?? false;
  }

  /** QoS 2 publishes from the client not yet completed (PUBCOMP not sent). */
  get qos2Count(): number {
    return this.#qos2?.size ?? 0;
  }

  /** Whether a message of `qos` would be written at once (connected, socket taking bytes, room in the window). */
  readyFor(qos: 0 | 1 | 2): boolean {
    const c = this.connection;
    return c !== undefined && c.state === 'connected' && !c.congested && this.#queuedCount === 0 && (qos === 0 || this.inflight < this.maxInflight);
  }

  /** Sends `d` now if it can go, else queues it (QoS 0 is not kept for a client that is away). */
  deliver(d: Delivery): void {
    if (this.forward !== undefined) return this.forward(d);
    if (this.#seen !== undefined && d.m.rid !== undefined && this.#seenBefore(d.m.rid)) return;
    if (expired(d.m)) return this.env.dropped('expired');
    const c = this.connection;
    if (c === undefined || c.state !== 'connected') {
      // QoS 0 messages are not kept for a client that is away (mosquitto's default as well)
      if (d.qos === 0) return this.env.dropped('qos0_offline');
    } else if (this.#queuedCount === 0 && !c.congested && (d.qos === 0 || this.inflight < this.maxInflight)) {
      this.#send(c, d);
      return;
    }
    this.#enqueue(d);
  }

  /**
   * For `ms` from now, a message (by its id) delivered a second time is dropped: while a
   * session moves, the instance it left forwards what still reaches it there, and the others
   * may already route the same message here. The messages it came with count as seen.
   */
  watchDuplicates(ms: number): void {
    this.#seen = new Set();
    this.#seenUntil = Date.now() + ms;
    for (const d of this.#inflight?.values() ?? []) if (d.m.rid !== undefined) this.#seen.add(d.m.rid);
    for (let i = this.#head; i < this.#queue.length; i++) {
      const rid = this.#queue[i]!.m.rid;
      if (rid !== undefined) this.#seen.add(rid);
    }
  }

  /** Moved here from another instance moments ago (what that instance forwards is taken). */
  get moving(): boolean {
    return this.#seen !== undefined && Date.now() <= this.#seenUntil;
  }

  #seenBefore(rid: string): boolean {
    const seen = this.#seen!;
    if (Date.now() > this.#seenUntil) {
      this.#seen = undefined;
      return false;
    }
    if (seen.has(rid)) return true;
    seen.add(rid);
    if (seen.size > MAX_SEEN) seen.delete(seen.values().next().value!);
    return false;
  }

  /** The client's PUBACK / PUBREC / PUBCOMP [MQTT-4.3.2], [MQTT-4.3.3]. */
  acknowledged(cmd: 'puback' | 'pubrec' | 'pubcomp', packetId: number, reasonCode = 0): void {
    const d = this.#inflight?.get(packetId);
    if (d === undefined) return;
    // a PUBREC with a failure reason code ends the exchange [MQTT-4.3.3-4]
    if (cmd === 'pubrec' && d.qos === 2 && reasonCode < 0x80) {
      d.released = true;
      this.connection?.send({ cmd: 'pubrel', messageId: packetId });
      return;
    }
    this.#inflight!.delete(packetId);
    this.pump();
  }

  /**
   * A connection took this session: what was unacknowledged is sent again (PUBLISH with DUP,
   * or PUBREL) [MQTT-4.4.0-1], [MQTT-4.4.0-2], then the queue.
   */
  resume(c: MqttConnection): void {
    this.connection = c;
    this.expiresAt = undefined;
    const inflight = this.#inflight;
    if (inflight !== undefined) {
      for (const [id, d] of inflight) {
        if (d.released) c.send({ cmd: 'pubrel', messageId: id });
        else if (!c.sendPublish(d, id, true)) inflight.delete(id);
      }
    }
    this.pump();
  }

  /** Sends from the queue while the client can take it (called on acknowledgements, drains, resumption). */
  pump(): void {
    const c = this.connection;
    if (c === undefined || c.state !== 'connected') return;
    const queue = this.#queue;
    const now = Date.now();
    while (this.#head < queue.length) {
      const d = queue[this.#head]!;
      if (!d.dropped && (c.congested || (d.qos > 0 && this.inflight >= this.maxInflight))) break;
      queue[this.#head++] = undefined as unknown as Delivery;
      if (d.dropped) continue;
      this.#release(d);
      if (expired(d.m, now)) this.env.dropped('expired');
      else this.#send(c, d);
      if (c.state !== 'connected') break;
    }
    this.#compact();
  }

  /**
   * The connection closed. What came through a shared subscription and is not in the middle of
   * a QoS 2 exchange is handed back for another member: queued messages, and QoS 1 messages
   * sent but not acknowledged (MQTT 5 §4.8.2 allows it as soon as the connection is lost; a QoS 2
   * delivery under way stays with this client). Queued QoS 0 messages are dropped (not kept for a
   * client that is away).
   */
  detach(): Delivery[] {
    this.connection = undefined;
    const handBack: Delivery[] = [];
    const inflight = this.#inflight;
    if (inflight !== undefined) {
      for (const [id, d] of inflight) {
        if (d.group !== undefined && d.qos === 1) {
          handBack.push(d);
          inflight.delete(id);
        }
      }
    }
    if (this.#queuedCount > 0) {
      const kept: Delivery[] = [];
      for (let i = this.#head; i < this.#queue.length; i++) {
        const d = this.#queue[i]!;
        if (d.dropped) continue;
        if (d.group === undefined && d.qos > 0) {
          kept.push(d);
          continue;
        }
        this.#release(d);
        if (d.group !== undefined) handBack.push(d);
        else this.env.dropped('qos0_offline');
      }
      this.#queue = kept;
      this.#head = 0;
    }
    return handBack;
  }

  /**
   * The state another instance resumes this session from. What came through a shared
   * subscription is not in it (the caller hands it to another member of its group).
   */
  exportState(): SessionState {
    const inflight: SessionState['inflight'] = [];
    for (const [id, d] of this.#inflight ?? []) if (d.group === undefined) inflight.push([id, d.m, d.qos, d.retain, d.subscriptionIds ?? null, d.released === true]);
    const queue: SessionState['queue'] = [];
    for (let i = this.#head; i < this.#queue.length; i++) {
      const d = this.#queue[i]!;
      if (!d.dropped && d.group === undefined) queue.push([d.m, d.qos, d.retain, d.subscriptionIds ?? null]);
    }
    return { expiryMs: this.expiryMs, owner: this.owner, subscriptions: this.#subscriptionList(), qos2: [...(this.#qos2?.keys() ?? [])], inflight, queue };
  }

  /** The record kept in the shared state. */
  record(): SessionRecord {
    return { owner: this.owner, expiryMs: this.expiryMs, expiresAt: this.expiresAt, subscriptions: this.#subscriptionList() };
  }

  /** Its subscriptions as they travel: key and a copy of the options. */
  #subscriptionList(): [key: string, options: SubscriptionOptions][] {
    const out: [string, SubscriptionOptions][] = [];
    for (const sub of this.subscriptions.values()) out.push([sub.key, { ...sub.options }]);
    return out;
  }

  /** Takes over the messages of a session resumed from another instance (before its connection resumes it). */
  importMessages(s: SessionState): void {
    for (const id of s.qos2) this.setQos2(id, 'stored');
    for (const [id, m, qos, retain, ids, released] of s.inflight) {
      const d = delivery(m, qos, retain, ids ?? undefined);
      if (released) d.released = true;
      (this.#inflight ??= new Map()).set(id, d);
      this.#lastId = Math.max(this.#lastId, id);
    }
    for (const [m, qos, retain, ids] of s.queue) this.#enqueue(delivery(m, qos, retain, ids ?? undefined));
  }

  /** The session ends: its queue's bytes go back to the budget; what it held is forgotten. */
  clear(): Delivery[] {
    const handBack = this.detach();
    for (let i = this.#head; i < this.#queue.length; i++) {
      const d = this.#queue[i]!;
      if (!d.dropped) this.#release(d);
    }
    this.#queue = NO_DELIVERIES;
    this.#head = 0;
    this.#inflight = undefined;
    this.#qos2 = undefined;
    return handBack;
  }

  #send(c: MqttConnection, d: Delivery): void {
    if (d.qos === 0) {
      c.sendPublish(d, undefined, false);
      return;
    }
    const inflight = (this.#inflight ??= new Map());
    const id = this.#allocateId(inflight);
    inflight.set(id, d);
    // too large for the client [MQTT-3.1.2-25]: discarded, and done as if it had been sent
    if (!c.sendPublish(d, id, false)) inflight.delete(id);
  }

  #enqueue(d: Delivery): void {
    const { maxQueuedMessages, maxQueuedBytes } = this.env.limits;
    const budget = this.env.budget;
    for (;;) {
      const sessionFull = this.#queuedCount >= maxQueuedMessages || this.#queuedBytes + d.bytes > maxQueuedBytes;
      const budgetFull = !budget.fits(d.bytes);
      if (!sessionFull && !budgetFull) break;
      // past a bound: the oldest queued QoS 0 message goes first, then the newcomer is refused
      if (!this.#evictOldestQos0()) return this.env.dropped(sessionFull ? 'session_queue_full' : 'offline_budget');
      this.env.dropped(sessionFull ? 'session_queue_full' : 'offline_budget');
    }
    if (this.#queue === NO_DELIVERIES) this.#queue = [];
    this.#queue.push(d);
    this.#queuedCount++;
    this.#queuedBytes += d.bytes;
    if (d.qos === 0) this.#queuedQos0++;
    budget.take(d.bytes);
    if (this.connection === undefined && this.awayKept && this.env.away !== undefined) {
      this.awayWritten = true;
      this.env.away.queued(this, d);
    }
  }

  #evictOldestQos0(): boolean {
    if (this.#queuedQos0 === 0) return false;
    for (let i = this.#head; i < this.#queue.length; i++) {
      const d = this.#queue[i]!;
      if (!d.dropped && d.qos === 0) {
        this.#release(d);
        d.dropped = true;
        return true;
      }
    }
    return false;
  }

  /** Takes `d`'s bytes off the queue's accounts. */
  #release(d: Delivery): void {
    this.#queuedCount--;
    this.#queuedBytes -= d.bytes;
    this.env.budget.give(d.bytes);
    if (d.qos === 0) this.#queuedQos0--;
  }

  #compact(): void {
    if (this.#head === this.#queue.length) {
      this.#queue = NO_DELIVERIES;
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }

  #allocateId(inflight: Map<number, Delivery>): number {
    do this.#lastId = (this.#lastId % 65_535) + 1;
    while (inflight.has(this.#lastId));
    return this.#lastId;
  }
}
