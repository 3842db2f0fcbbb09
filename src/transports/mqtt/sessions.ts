/**
 * The registry of sessions by client id: take over, start clean, resume, end, expire, and the
 * wills of connections that ended. Bounded: MQTT_MAX_SESSIONS sessions (connected and kept),
 * no session kept longer than MQTT_MAX_SESSION_EXPIRY_S after its client left (v3.1.1
 * persistent sessions included), and no new persistent session while the process-wide queue
 * budget is spent. Sessions end on their own timer, never by a sweep over all of them.
 * @module
 */
import type { MqttConnection } from './connection.ts';
import type { Message } from './message.ts';
import type { OfflineBudget } from './offline-budget.ts';
import type { MqttRouter } from './router.ts';
import { Session, type Delivery, type DropReason, type SessionEnv, type SessionRecord, type SessionState } from './session.ts';

/** Which bound refused a CONNECT. */
export type SessionRefusal = 'sessions' | 'identity_sessions' | 'offline_budget' | 'owner';

/** A will as kept for a connection: the message, its Message Expiry and its Will Delay Interval [MQTT-3.1.3-9]. */
export interface Will {
  message: Message;
  /** v5 Message Expiry Interval of the will, counted from when it is published. */
  expirySeconds?: number;
  delayMs: number;
}

/**
 * How long a session that moved to another instance keeps forwarding what still reaches it
 * here (the others learn its new routes within milliseconds; this covers a slow reader).
 */
export const MOVE_WINDOW_MS = 2000;

/** A session leaving this instance: its state, what is left of its expiry, and a will still waiting for its delay. */
export interface Handover {
  state: SessionState;
  remainingMs: number;
  will?: { will: Will; remainingMs: number };
}

/** The will's message as published now. */
export function willMessage(w: Will): Message {
  return w.expirySeconds === undefined ? w.message : { ...w.message, expiresAt: Date.now() + w.expirySeconds * 1000 };
}

/** What the registry shares with other instances (cluster-link.ts). */
export interface SharedSessions {
  release(clientId: string): void;
  dropWill(clientId: string): void;
  /** The whole record (`index`: list it in this instance's index too). */
  saveSession(clientId: string, record: SessionRecord, index: boolean): void;
  /** Only when it ends changed (its client came or went): the record's expiry. */
  touchSession(clientId: string, expiresAt: number | undefined): void;
  /** `forget`: the session moved to another instance (only this instance's index forgets it). */
  dropSession(clientId: string, forget: boolean): void;
  /** Its client is away: its unacknowledged and queued messages kept in Redis from now on (replacing what was). */
  keepAway(clientId: string, s: Pick<SessionState, 'inflight' | 'queue'>, expiresAt: number | undefined): void;
  queued(clientId: string, d: Delivery, expiresAt: number | undefined): void;
  dropAway(clientId: string): void;
}

export interface SessionLimits {
  maxSessions: number;
  /** Sessions one authenticated identity may hold (MQTT_MAX_SESSIONS_PER_IDENTITY). */
  maxSessionsPerIdentity: number;
  maxExpiryMs: number;
}

export class SessionRegistry {
  readonly #sessions = new Map<string, Session>();
  /** The sessions of each authenticated identity (none without auth): its budget and its revocation. */
  readonly #byOwner = new Map<string, Set<Session>>();
  readonly #env: SessionEnv;
  readonly #router: MqttRouter;
  readonly #limits: SessionLimits;
  readonly #budget: OfflineBudget;
  /** With other instances: claims are given up when a session that made one ends; persistent sessions are recorded. */
  #claims: SharedSessions | undefined;
  /** Sessions that left for another instance in the last MOVE_WINDOW_MS, forwarding there what still reaches them. */
  readonly #movedOut = new Map<string, Session>();
  /** Sessions whose record is to be written (batched per turn). */
  #dirty = new Set<Session>();

  constructor(o: { env: SessionEnv; router: MqttRouter; limits: SessionLimits }) {
    this.#env = o.env;
    this.#router = o.router;
    this.#limits = o.limits;
    this.#budget = o.env.budget;
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Client ids are claimed across instances from now on (cluster-link.ts). */
  share(claims: SharedSessions): void {
    this.#claims = claims;
    this.#env.away = { queued: (s, d) => claims.queued(s.clientId, d, s.expiresAt) };
  }

  /** The client of recorded persistent session `s` is away: its messages are kept in Redis while it is. */
  #keepAway(s: Session): void {
    if (this.#claims === undefined || !s.recorded) return;
    s.awayKept = true;
    if (s.inflight === 0 && s.queued === 0 && !s.awayWritten) return;
    const { inflight, queue } = s.exportState();
    this.#claims.keepAway(s.clientId, { inflight, queue }, s.expiresAt);
    s.awayWritten = inflight.length > 0 || queue.length > 0;
  }

  #dropAway(s: Session): void {
    s.awayKept = false;
    if (!s.awayWritten) return;
    s.awayWritten = false;
    this.#claims?.dropAway(s.clientId);
  }

  /**
   * What is recorded of `s` in the shared state changed (it attached, subscribed, unsubscribed,
   * its client left, it arrived from another instance): written at the end of the turn, for a
   * persistent session whose client id this instance holds (or deleted if it no longer is one).
   */
  recordChanged(s: Session, subscriptions = false): void {
    if (this.#claims === undefined) return;
    if (subscriptions) s.recordStale = true;
    if (this.#dirty.size === 0) setImmediate(() => this.#writeRecords());
    this.#dirty.add(s);
  }

  #writeRecords(): void {
    const claims = this.#claims!;
    for (const s of this.#dirty) {
      if (this.#sessions.get(s.clientId) !== s) continue;
      if (s.persistent && s.claimed) {
        if (!s.recorded || s.recordStale || s.recordedExpiryMs !== s.expiryMs) {
          claims.saveSession(s.clientId, s.record(), !s.indexed);
          s.recorded = s.indexed = true;
          s.recordStale = false;
          s.recordedExpiryMs = s.expiryMs;
        } else claims.touchSession(s.clientId, s.expiresAt);
      } else if (s.recorded) {
        s.recorded = false;
        claims.dropSession(s.clientId, false);
      }
    }
    this.#dirty.clear();
  }

  /**
   * A CONNECT on another instance took over `clientId`: its connection here is disconnected with
   * 0x8E and its session ends here; a persistent one goes on there, from the state returned,
   * and for MOVE_WINDOW_MS what still reaches it here goes to `forward` (the other instance).
   * A will goes as for a takeover here: now, unless it has a delay (the client is back,
   * elsewhere) [MQTT-3.1.3-9].
   */
  takenOverElsewhere(clientId: string, forward: (d: Delivery) => void): SessionState | undefined {
    const s = this.#sessions.get(clientId);
    if (s === undefined) return undefined;
    // the claim is the other instance's now: nothing to give up
    s.claimed = false;
    if (s.persistent) return this.#moveOut(s, forward).state;
    const c = s.connection;
    if (c === undefined) {
      this.#stopTimers(s, false);
      this.end(s);
      return undefined;
    }
    if (c.will !== undefined && c.will.delayMs > 0) c.will = undefined;
    c.disconnect(0x8e, 'another connection took over this client id');
    return undefined;
  }

  /** Client ids of the persistent sessions whose client id this instance has claimed (to hand over when it stops). */
  claimedPersistent(): string[] {
    const out: string[] = [];
    for (const s of this.#sessions.values()) if (s.persistent && s.claimed) out.push(s.clientId);
    return out;
  }

  /**
   * This instance stops: the session of `clientId` goes to another instance (its claim already
   * moved there). Its state, what is left of its expiry and of a will's delay, undefined if it
   * is gone meanwhile; for MOVE_WINDOW_MS what still reaches it here goes to `forward`.
   */
  handOver(clientId: string, forward: (d: Delivery) => void): Handover | undefined {
    const s = this.#sessions.get(clientId);
    if (s === undefined || !s.persistent) return undefined;
    s.claimed = false;
    return this.#moveOut(s, forward);
  }

  /**
   * The session leaves this instance: its state exported, its connection (if any) disconnected
   * with 0x8E, its queue's bytes given back; it stays subscribed here as a forwarder for
   * MOVE_WINDOW_MS, until the other instances have learnt the routes of where it went.
   */
  #moveOut(s: Session, forward: (d: Delivery) => void): Handover {
    const state = s.exportState();
    const now = Date.now();
    const out: Handover = { state, remainingMs: s.expiresAt === undefined ? s.expiryMs : Math.max(1, s.expiresAt - now) };
    const pending = s.pendingWill;
    if (pending !== undefined) {
      s.pendingWill = undefined;
      clearTimeout(pending.timer);
      // the will goes with the session, with what is left of its delay
      out.will = { will: pending.will, remainingMs: Math.max(0, (pending.dueAt ?? now) - now) };
    }
    if (this.#sessions.get(s.clientId) === s) this.#sessions.delete(s.clientId);
    const own = this.#byOwner.get(s.owner);
    if (own !== undefined && own.delete(s) && own.size === 0) this.#byOwner.delete(s.owner);
    if (s.recorded) {
      // the record and the messages kept are the new instance's to write now: this instance only stops listing it
      s.recorded = false;
      this.#claims?.dropSession(s.clientId, true);
    }
    s.awayKept = false;
    s.awayWritten = false;
    this.#stopTimers(s, false);
    const c = s.connection;
    // a delayed will is not published: the client is back, elsewhere [MQTT-3.1.3-9]
    if (c?.will !== undefined && c.will.delayMs > 0) c.will = undefined;
    const handBack = s.clear();
    this.#router.redistribute(handBack, s, undefined, () => this.#env.dropped('session_ended'));
    s.forward = forward;
    this.#movedOut.set(s.clientId, s);
    c?.disconnect(0x8e, 'another connection took over this client id');
    const timer = setTimeout(() => {
      s.forward = undefined;
      if (this.#movedOut.get(s.clientId) === s) this.#movedOut.delete(s.clientId);
      this.#router.dropSession(s);
    }, MOVE_WINDOW_MS);
    timer.unref();
    return out;
  }

  /**
   * A persistent session another instance handed over, kept here as if its client had just
   * left (for `remainingMs`, default its whole expiry), for its client to resume on any
   * instance: its subscriptions registered, its unacknowledged and queued messages taken over,
   * its client id claimed by this instance; a copy of a message it already has is dropped for
   * MOVE_WINDOW_MS. A will still waiting for its delay (`will`) goes on waiting here.
   */
  adopt(clientId: string, state: SessionState, remainingMs = state.expiryMs, will?: { will: Will; remainingMs: number }): void {
    const stale = this.#sessions.get(clientId);
    if (stale !== undefined) {
      // a client is connected to it here: the state is not this instance's to take
      if (stale.connection !== undefined) return;
      // kept here while its claim went elsewhere (a takeover this instance never heard of): the state handed over is newer
      stale.claimed = false;
      this.#stopTimers(stale, false);
      this.end(stale);
    }
    const s = new Session(clientId, state.expiryMs, this.#env, state.owner);
    this.#sessions.set(clientId, s);
    if (s.owner !== '') {
      let own = this.#byOwner.get(s.owner);
      if (own === undefined) this.#byOwner.set(s.owner, (own = new Set()));
      own.add(s);
    }
    s.claimed = true;
    // a resumed session gets no retained messages: the register step only
    for (const [key, options] of state.subscriptions) this.#router.register(s, key, options);
    s.importMessages(state);
    s.watchDuplicates(MOVE_WINDOW_MS * 2);
    this.#startExpiry(s, remainingMs);
    if (will !== undefined) this.#pendWill(s, will.will, will.remainingMs);
    this.recordChanged(s);
    // its client is away: what it came with is kept in Redis under this instance now (replacing
    // whatever the instance it came from had kept)
    if (this.#claims !== undefined) {
      s.recorded = true;
      s.awayWritten = true;
      this.#keepAway(s);
    }
  }

  /**
   * A message the instance a session moved from forwarded to it: delivered to the session that
   * just arrived here, or, if it has moved on again meanwhile, forwarded after it (two moves in
   * a row: the first instance's forward can reach the second after the session left it).
   */
  deliverForwarded(clientId: string, d: Delivery): void {
    const s = this.#sessions.get(clientId);
    if (s !== undefined && s.moving) return s.deliver(d);
    const gone = this.#movedOut.get(clientId);
    if (gone?.forward !== undefined) return gone.forward(d);
    this.#env.dropped('session_ended');
  }

  /** Bytes waiting in all session queues. */
  get queuedBytes(): number {
    return this.#budget.bytes;
  }

  /** Counts a message to a subscriber that was not delivered. */
  dropped(reason: DropReason): void {
    this.#env.dropped(reason);
  }

  values(): IterableIterator<Session> {
    return this.#sessions.values();
  }

  get(clientId: string): Session | undefined {
    return this.#sessions.get(clientId);
  }

  /** `requestedMs` (v5 Session Expiry Interval, or v3.1.1 persistent: Infinity) within MQTT_MAX_SESSION_EXPIRY_S. */
  clampExpiry(requestedMs: number): number {
    return Math.min(requestedMs, this.#limits.maxExpiryMs);
  }

  /**
   * Attaches `c`, authenticated as `owner`, to the session of `clientId`: the previous
   * connection with that id is closed [MQTT-3.1.4-3]; a clean start discards the old state
   * [MQTT-3.1.2-4]. Returns whether a session was present (for CONNACK), or why it is refused:
   * a bound, or a session of that client id that another identity holds (connected or kept),
   * which stays as it is: a client id is not a credential.
   */
  attach(c: MqttConnection, clientId: string, owner: string, cleanStart: boolean, expiryMs: number): { present: boolean } | { refused: SessionRefusal } {
    const old = this.#sessions.get(clientId);
    if (old !== undefined && old.owner !== owner) return { refused: 'owner' };
    const present = old !== undefined && !cleanStart;
    if (!present) {
      if (old === undefined && this.#sessions.size >= this.#limits.maxSessions) return { refused: 'sessions' };
      if (old === undefined && owner !== '' && this.ownedBy(owner) >= this.#limits.maxSessionsPerIdentity) return { refused: 'identity_sessions' };
      if (expiryMs > 0 && this.#budget.exhausted) return { refused: 'offline_budget' };
    }
    if (old?.connection !== undefined && old.connection !== c) {
      const previous = old.connection;
      const handBack = old.detach();
      this.#router.redistribute(handBack, old, old, () => this.#env.dropped('session_ended'));
      previous.disconnect(0x8e, 'another connection took over this client id');
    }
    let session: Session;
    if (present) {
      session = old;
      session.expiryMs = expiryMs;
      this.#stopTimers(session, false);
      this.#dropAway(session);
    } else {
      if (old !== undefined) {
        // the claim on the client id passes to the new session
        old.claimed = false;
        this.end(old);
      }
      session = new Session(clientId, expiryMs, this.#env, owner);
      this.#sessions.set(clientId, session);
      if (owner !== '') {
        let own = this.#byOwner.get(owner);
        if (own === undefined) this.#byOwner.set(owner, (own = new Set()));
        own.add(session);
      }
    }
    c.session = session;
    session.connection = c;
    return { present };
  }

  /**
   * `c` closed. A persistent session stays until its expiry; a will is published now, or after
   * its delay unless the client comes back first [MQTT-3.1.3-9], and at the latest when the
   * session ends [MQTT-3.1.2-8].
   */
  connectionClosed(c: MqttConnection, will: Will | undefined): void {
    const session = c.session;
    // this instance saw the connection end: the shared copy of its will is not needed
    if (c.willShared) this.#claims?.dropWill(c.clientId);
    if (session === undefined || session.connection !== c) {
      // never attached, or taken over: the will goes unless the session lives on with a delayed will
      if (will !== undefined && !(will.delayMs > 0 && session !== undefined && this.#sessions.get(session.clientId) === session)) this.#router.publish(willMessage(will));
      return;
    }
    const handBack = session.detach();
    this.#router.redistribute(handBack, session, session.persistent ? session : undefined, () => this.#env.dropped('session_ended'));
    if (!session.persistent) {
      this.end(session);
      if (will !== undefined) this.#router.publish(willMessage(will));
      return;
    }
    this.#startExpiry(session, session.expiryMs);
    this.recordChanged(session);
    this.#keepAway(session);
    if (will === undefined) return;
    if (will.delayMs <= 0) this.#router.publish(willMessage(will));
    else this.#pendWill(session, will, will.delayMs);
  }

  /** The session of a client that is away ends in `ms` unless it comes back. */
  #startExpiry(session: Session, ms: number): void {
    session.expiresAt = Date.now() + ms;
    session.expiryTimer = setTimeout(() => this.end(session), ms);
    session.expiryTimer.unref();
  }

  /** The will goes at the end of its delay (`ms` from now) or of the session, whichever comes first [MQTT-3.1.3-9]. */
  #pendWill(session: Session, will: Will, ms: number): void {
    let timer: NodeJS.Timeout | undefined;
    if (session.expiresAt === undefined || Date.now() + ms < session.expiresAt) {
      timer = setTimeout(() => {
        session.pendingWill = undefined;
        this.#router.publish(willMessage(will));
      }, ms);
      timer.unref();
    }
    session.pendingWill = { will, timer, dueAt: Date.now() + ms };
  }

  /** Forgets a session, its subscriptions and its queue; a will still waiting is published now [MQTT-3.1.3-9]. */
  end(s: Session): void {
    if (this.#sessions.get(s.clientId) === s) this.#sessions.delete(s.clientId);
    if (s.claimed) {
      s.claimed = false;
      this.#claims?.release(s.clientId);
    }
    if (s.recorded) {
      s.recorded = false;
      this.#claims?.dropSession(s.clientId, false);
    }
    this.#dropAway(s);
    const own = this.#byOwner.get(s.owner);
    if (own !== undefined && own.delete(s) && own.size === 0) this.#byOwner.delete(s.owner);
    this.#stopTimers(s, true);
    this.#router.dropSession(s);
    const handBack = s.clear();
    this.#router.redistribute(handBack, s, undefined, () => this.#env.dropped('session_ended'));
  }

  /** Calls `fn` with each live connection of `owner`'s sessions. */
  connectionsOf(owner: string, fn: (c: MqttConnection) => void): void {
    const own = this.#byOwner.get(owner);
    if (own === undefined) return;
    for (const s of [...own]) if (s.connection !== undefined) fn(s.connection);
  }

  /** What `owner`'s sessions here subscribe to: how many subscriptions, how many filter bytes. */
  subscriptionsOf(owner: string): { count: number; bytes: number } {
    let count = 0;
    let bytes = 0;
    for (const s of this.#byOwner.get(owner) ?? []) {
      count += s.subscriptions.size;
      bytes += s.subscriptions.bytes;
    }
    return { count, bytes };
  }

  /** How many sessions `owner` holds here (connected and kept). */
  ownedBy(owner: string): number {
    return this.#byOwner.get(owner)?.size ?? 0;
  }

  /**
   * `owner` was revoked: every session it holds ends now, with its subscriptions and queue; no
   * will is published (the identity has no rights left). A connected one is disconnected with
   * `reason` and ends when its connection closes.
   */
  endOwnedBy(owner: string, disconnect: (c: MqttConnection) => void): void {
    const own = this.#byOwner.get(owner);
    if (own === undefined) return;
    for (const s of [...own]) {
      this.#stopTimers(s, false);
      const c = s.connection;
      if (c === undefined) this.end(s);
      else {
        s.expiryMs = 0;
        c.will = undefined;
        disconnect(c);
      }
    }
  }

  /** Clears the expiry timer and the pending will (published when `publishWill`, else cancelled). */
  #stopTimers(s: Session, publishWill: boolean): void {
    clearTimeout(s.expiryTimer);
    s.expiryTimer = undefined;
    s.expiresAt = undefined;
    const pending = s.pendingWill;
    if (pending === undefined) return;
    s.pendingWill = undefined;
    clearTimeout(pending.timer);
    if (publishWill) this.#router.publish(willMessage(pending.will));
  }
}
