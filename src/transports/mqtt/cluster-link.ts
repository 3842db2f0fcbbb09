/**
 * MQTT across instances (DESIGN §7): what one instance's router and session registry share with
 * the others through the shared state (queue/mqtt-share.ts, Redis).
 *
 * Routing: each instance tells the others which route keys it holds (a topic filter some local
 * subscription uses, or a shared group), changes batched per event-loop turn; every instance
 * keeps the others' routes in a SubscriptionIndex (exact filters in a hash, wildcards in
 * qlobber). A message published here is matched against it once and sent to each instance with
 * a matching route, one copy per instance, batched per turn into one inbox entry per instance;
 * the receiving instance delivers it to its own subscribers as if published there (one delivery
 * per session, its subscription options), and never forwards it again. So an instance receives
 * only what its subscribers need, and a publish costs O(topic levels + matching instances).
 * A shared group with members on several instances gets one copy per message: the publishing
 * instance picks one of the instances holding the group (round robin), whose router picks the
 * member.
 *
 * Client ids: a CONNECT claims its client id (one Redis script); the instance that held it is
 * told in its inbox, disconnects its connection with 0x8E (session taken over) and answers
 * with its persistent session's state (subscriptions, unacknowledged and queued messages),
 * which the CONNECT resumes here.
 *
 * Wills: kept in Redis while their connection lives; when an instance dies, the one instance
 * that cleans up after it publishes them (after their delay, unless the client is back).
 *
 * Retained messages: written through to Redis and the control log; every instance keeps the
 * whole set in its RetainedStore (bounded by MQTT_MAX_RETAINED*), so SUBSCRIBE reads memory.
 * Every instance applies the log's retained entries in log order, its own included: all copies
 * end in the same state whatever the interleaving.
 *
 * Readings are not routed here: they reach every instance through the queue's events channel.
 * $SYS topics stay per instance.
 * @module
 */
import { randomBytes } from 'node:crypto';
import { Packr } from 'msgpackr';
import type { Logger } from 'pino';
import type { ThrottledLog } from '../../log/throttled.ts';
import type { MqttShareStore, ShareLogEntry, ShareSnapshot } from '../../queue/mqtt-share.ts';
import { expired, type Message, type MessageProperties } from './message.ts';
import type { RouteShare } from './router.ts';
import { delivery, type Delivery, type SessionRecord, type SessionState } from './session.ts';
import { MOVE_WINDOW_MS, type Handover, type Will } from './sessions.ts';
import { SubscriptionIndex } from './subscription-index.ts';

/** What the link drives on this instance. */
export interface LinkTargets {
  /** Delivers a message routed from another instance: to plain subscriptions if `plain`, to the named shared groups. */
  deliverRouted(m: Message, plain: boolean, groups: readonly string[]): void;
  /** Applies a retained message (or its removal) from the shared log, bounds not checked. */
  applyRetained(topic: string, m: Message | undefined): void;
  /** Forgets every retained message (before a snapshot replaces them). */
  clearRetained(): void;
  /**
   * Another instance took over `clientId`: end this instance's connection and session of it; a
   * persistent session's state, to hand over (what still reaches it here goes to `forward`).
   */
  takenOver(clientId: string, forward: (d: Delivery) => void): SessionState | undefined;
  /** A persistent session handed over by another instance: kept here for its client (a will still waiting goes on waiting). */
  adopt(clientId: string, state: SessionState, remainingMs?: number, will?: { will: Will; remainingMs: number }): void;
  /** A message the instance a session moved from forwarded to it. */
  deliverForwarded(clientId: string, d: Delivery): void;
  /** Client ids of the persistent sessions this instance holds the claim of. */
  claimedPersistent(): string[];
  /** This instance stops: the session of `clientId` leaves it (its claim moved to another instance). */
  handOver(clientId: string, forward: (d: Delivery) => void): Handover | undefined;
  /** Publishes the will of a connection another instance lost (it died). */
  fireWill(w: Will): void;
}

/** A route of other instances: a filter (or shared group) and the instances that hold it. */
interface Route {
  readonly key: string;
  readonly filter: string;
  readonly group: boolean;
  instances: string[];
  /** Round robin over the instances of a shared group. */
  next: number;
}

/** Messages waiting to be sent to one instance. */
type Outbox = unknown[];

/**
 * Inbox entry kinds: a batch of routed messages (and messages forwarded to a session that moved),
 * a takeover (client id, the instance taking it), a session handed over in answer (client id,
 * state or null), sessions handed over by an instance that stops.
 */
const ROUTED = 0;
const TAKEOVER = 1;
const HANDOFF = 2;
const ADOPT = 3;
/** The answer to ADOPT once the adopted sessions' routes are announced: the stopping instance need not wait longer. */
const ADOPTED = 4;

/** After the adopters' routes are announced, what a stopping instance still forwards for (the others read the log a moment later). */
const ADOPT_GRACE_MS = 200;

/** In a ROUTED batch: a message for the subscribers of an instance, or for one session that moved there. */
const PLAIN = 1;
const FORWARDED = 2;

/** Sessions handed over in one inbox entry at most. */
const ADOPT_BATCH = 200;
/** Claims moved in one round trip at most when handing sessions over. */
const MOVE_BATCH = 1000;

/** How long a CONNECT waits for the instance that held its client id to hand its session over. */
const HANDOFF_WAIT_MS = 2000;

/** How long a SUBACK waits at most for its routes to be announced (Redis unavailable). */
const ANNOUNCE_WAIT_MS = 1000;

/** Messages sent to one instance in one inbox entry at most (a bigger batch is split). */
const MAX_BATCH = 1000;

const packr = new Packr({ useRecords: false, variableMapSize: true });

export class ClusterLink implements RouteShare {
  readonly #store: MqttShareStore;
  readonly #log: Logger;
  readonly #refusals: ThrottledLog;
  #targets: LinkTargets | undefined;
  /** Routes of the other instances. */
  readonly #routes = new Map<string, Route>();
  readonly #index: SubscriptionIndex<Route>;
  readonly #byInstance = new Map<string, Set<string>>();
  /** This instance's route keys and how many local subscriptions (or groups) use each. */
  readonly #held = new Map<string, number>();
  #adding = new Set<string>();
  #removing = new Set<string>();
  #routeWrite: Promise<void> = Promise.resolve();
  /** Route writes not finished yet. */
  #routeWrites = 0;
  readonly #outboxes = new Map<string, Outbox>();
  /** CONNECTs waiting for the session of their client id from the instance that held it. */
  readonly #handoffs = new Map<string, (state: SessionState | undefined) => void>();
  /** Sessions this instance handed over as it stops, and where they went (a takeover of one is passed on there). */
  readonly #moved = new Map<string, string>();
  /** Instances handing their sessions over as they stop: not given any. */
  readonly #leaving = new Set<string>();
  #leavingSeen: (() => void) | undefined;
  /** ADOPT entries sent as this instance stops and not yet answered; `#allAdopted` is called when none is left. */
  #adoptsPending = 0;
  #allAdopted: (() => void) | undefined;
  /** Messages to append to the kept queues of sessions whose client is away (batched per turn), and the sessions they go with. */
  readonly #awayAppends = new Map<string, { entries: Buffer[]; expiresAt: number | undefined }>();
  /** Ids of messages published here: this prefix (unique per process start) and a counter. */
  readonly #ridPrefix = randomBytes(6).toString('base64url') + '.';
  #ridSeq = 0;
  #flushScheduled = false;
  /** Messages that could not be handed to another instance (Redis unavailable), for the metric. */
  readonly #lost: (n: number) => void;

  constructor(o: { store: MqttShareStore; log: Logger; refusals: ThrottledLog; maxTopicLevels: number; lost: (n: number) => void }) {
    this.#store = o.store;
    this.#log = o.log;
    this.#refusals = o.refusals;
    this.#lost = o.lost;
    this.#index = new SubscriptionIndex<Route>(o.maxTopicLevels);
  }

  get instance(): string {
    return this.#store.instance;
  }

  /** Instances seen alive, this one included. */
  get liveInstances(): number {
    return this.#store.live.size;
  }

  /** Routes of other instances held (for the memory report). */
  get remoteRoutes(): number {
    return this.#routes.size;
  }

  async start(targets: LinkTargets): Promise<void> {
    this.#targets = targets;
    await this.#store.start({
      snapshot: (s) => this.#snapshot(s),
      log: (e) => this.#onLog(e),
      inbox: (d) => this.#onInbox(d),
      gone: (i) => this.#dropInstance(i),
      rejoined: () => this.#resync(),
      orphanedWills: (instance, wills) => this.#orphanedWills(instance, wills),
      orphanedSessions: (instance, clientIds) => void this.#orphanedSessions(instance, clientIds),
    });
  }

  async stop(): Promise<void> {
    this.#flush();
    await this.#routeWrite;
    await this.#store.stop();
  }

  // ---- routes this instance holds

  held(key: string): void {
    const n = this.#held.get(key) ?? 0;
    this.#held.set(key, n + 1);
    if (n > 0) return;
    if (!this.#removing.delete(key)) this.#adding.add(key);
    this.#schedule();
  }

  released(key: string): void {
    const n = this.#held.get(key) ?? 0;
    if (n > 1) {
      this.#held.set(key, n - 1);
      return;
    }
    if (n === 0) return;
    this.#held.delete(key);
    if (!this.#adding.delete(key)) this.#removing.add(key);
    this.#schedule();
  }

  /**
   * Settles once the route changes made so far are in the shared log (the other instances read
   * it within about a millisecond), or after ANNOUNCE_WAIT_MS with Redis unavailable (they are
   * announced when it is back); undefined when nothing is pending.
   */
  announced(): Promise<void> | undefined {
    if (this.#adding.size === 0 && this.#removing.size === 0 && this.#routeWrites === 0) return undefined;
    this.#writeRoutes();
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, ANNOUNCE_WAIT_MS)));
    return Promise.race([this.#routeWrite, late]).finally(() => clearTimeout(timer));
  }

  #writeRoutes(): void {
    if (this.#adding.size === 0 && this.#removing.size === 0) return;
    const add = [...this.#adding];
    const remove = [...this.#removing];
    this.#adding = new Set();
    this.#removing = new Set();
    // one write at a time, in order: the others apply them in the log's order
    this.#routeWrites++;
    this.#routeWrite = this.#routeWrite
      .then(() =>
        this.#store.changeRoutes(add, remove).catch((err: unknown) => {
          this.#log.warn({ err }, 'announcing MQTT routes failed: announcing all of them again');
          this.#resync();
        }),
      )
      .finally(() => this.#routeWrites--);
  }

  /** Announces the whole route set again (after a lapse, or a failed change). */
  #resync(): void {
    this.#adding.clear();
    this.#removing.clear();
    this.#routeWrite = this.#routeWrite.then(async () => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await this.#store.resyncRoutes([...this.#held.keys()]);
        } catch (err) {
          if (attempt === 1) this.#log.warn({ err }, 'announcing MQTT routes failed: retrying');
          await new Promise((r) => setTimeout(r, Math.min(2000, 100 * 2 ** attempt)));
        }
      }
    });
  }

  // ---- routes of the others

  #snapshot(s: ShareSnapshot): void {
    for (const i of [...this.#byInstance.keys()]) this.#dropInstance(i);
    for (const [i, keys] of s.routes) for (const k of keys) this.#addRoute(i, k);
    const t = this.#targets!;
    t.clearRetained();
    const now = Date.now();
    for (const blob of s.retained) {
      const m = this.#decodeMessage(blob);
      if (m !== undefined && !expired(m, now)) t.applyRetained(m.topic, m);
    }
  }

  #onLog(e: ShareLogEntry): void {
    switch (e.kind) {
      case 'hello':
        return;
      case 'leaving':
        this.#leaving.add(e.instance);
        if (e.instance === this.instance) this.#leavingSeen?.();
        return;
      case 'bye':
        return this.#dropInstance(e.instance);
      case 'routes':
        if (e.instance === this.instance) return;
        for (const k of e.add) this.#addRoute(e.instance, k);
        for (const k of e.remove) this.#removeRoute(e.instance, k);
        return;
      case 'resync':
        if (e.instance === this.instance) return;
        this.#dropInstance(e.instance);
        for (const k of e.keys) this.#addRoute(e.instance, k);
        return;
      case 'retained': {
        const m = e.message === undefined ? undefined : this.#decodeMessage(e.message);
        this.#targets!.applyRetained(e.topic, m);
        return;
      }
    }
  }

  #addRoute(instance: string, key: string): void {
    let mine = this.#byInstance.get(instance);
    if (mine === undefined) this.#byInstance.set(instance, (mine = new Set()));
    if (mine.has(key)) return;
    mine.add(key);
    let r = this.#routes.get(key);
    if (r === undefined) {
      const group = key.includes('\u0000');
      r = { key, filter: group ? key.slice(key.lastIndexOf('\u0000') + 1) : key, group, instances: [], next: 0 };
      this.#routes.set(key, r);
      this.#index.add(r);
    }
    r.instances.push(instance);
  }

  #removeRoute(instance: string, key: string): void {
    if (!this.#byInstance.get(instance)?.delete(key)) return;
    const r = this.#routes.get(key)!;
    r.instances.splice(r.instances.indexOf(instance), 1);
    if (r.instances.length > 0) return;
    this.#routes.delete(key);
    this.#index.remove(r);
  }

  #dropInstance(instance: string): void {
    this.#leaving.delete(instance);
    const keys = this.#byInstance.get(instance);
    if (keys === undefined) return;
    for (const k of [...keys]) this.#removeRoute(instance, k);
    this.#byInstance.delete(instance);
    this.#outboxes.delete(instance);
    this.#leaving.delete(instance);
  }

  // ---- messages

  /**
   * Sends `m` to the other instances whose routes match it. Returns the keys of this instance's
   * shared groups that must not take it (another instance's members were picked), if any.
   */
  forward(m: Message, hasLocalGroup: (key: string) => boolean): ReadonlySet<string> | undefined {
    // every copy of it, here and elsewhere, carries one id (a session that moves drops a second copy)
    m.rid ??= this.#ridPrefix + (this.#ridSeq++).toString(36);
    const routes = this.#index.match(m.topic);
    if (routes.length === 0) return undefined;
    let skip: Set<string> | undefined;
    // per instance: whether plain subscriptions there take it, and which of its groups do
    const to = new Map<string, { plain: boolean; groups: string[] | undefined }>();
    const at = (i: string) => {
      let t = to.get(i);
      if (t === undefined) to.set(i, (t = { plain: false, groups: undefined }));
      return t;
    };
    for (const r of routes) {
      if (!r.group) {
        for (const i of r.instances) at(i).plain = true;
        continue;
      }
      const local = hasLocalGroup(r.key);
      const n = r.instances.length + (local ? 1 : 0);
      const pick = r.next++ % n;
      if (pick === r.instances.length) continue; // this instance's members take it
      if (local) (skip ??= new Set()).add(r.key);
      (at(r.instances[pick]!).groups ??= []).push(r.key);
    }
    const encoded = encodeMessage(m);
    for (const [i, t] of to) this.#enqueue(i, [encoded, t.plain ? PLAIN : 0, t.groups ?? null]);
    return skip;
  }

  /** What still reaches a session that moved to `instance`: sent on there, after its state. */
  #forwarder(instance: string, clientId: string): (d: Delivery) => void {
    return (d) => {
      // readings (no id) reach every instance through the events channel: not forwarded
      if (d.m.rid === undefined) return;
      this.#enqueue(instance, [encodeMessage(d.m), FORWARDED, clientId, d.qos, d.retain ? 1 : 0, d.subscriptionIds ?? null]);
    };
  }

  #enqueue(instance: string, envelope: unknown): void {
    let box = this.#outboxes.get(instance);
    if (box === undefined) this.#outboxes.set(instance, (box = []));
    box.push(envelope);
    if (box.length >= MAX_BATCH) this.#send(instance, box.splice(0));
    this.#schedule();
  }

  #schedule(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#flushScheduled = false;
    this.#writeRoutes();
    for (const [clientId, a] of this.#awayAppends) {
      this.#store.appendAway(clientId, a.entries, a.expiresAt).catch((err: unknown) => {
        this.#refusals.note('mqtt_away_keep_failed', { client_id: clientId, err: String(err) }, 'keeping queued MQTT messages in Redis failed: they are lost if this instance dies');
      });
    }
    this.#awayAppends.clear();
    for (const [i, box] of this.#outboxes) if (box.length > 0) this.#send(i, box.splice(0));
  }

  #send(instance: string, box: unknown[]): void {
    this.#store.send(instance, packr.pack([ROUTED, box])).catch((err: unknown) => {
      this.#lost(box.length);
      this.#refusals.note('mqtt_route_failed', { instance, messages: box.length, err: String(err) }, 'routing MQTT messages to another instance failed');
    });
  }

  #onInbox(data: Buffer): void {
    let entry: [number, unknown];
    try {
      entry = packr.unpack(data) as [number, unknown];
    } catch (err) {
      this.#log.warn({ err }, 'unreadable entry in this instance\'s MQTT inbox: skipped');
      return;
    }
    const t = this.#targets!;
    switch (entry[0]) {
      case TAKEOVER: {
        const [, clientId, to] = entry as unknown as [number, string, string];
        if (to === this.instance) {
          // passed back by the instance that handed the session here: it is here now
          this.#handoffs.get(clientId)?.(undefined);
          return;
        }
        const movedTo = this.#moved.get(clientId);
        if (movedTo !== undefined && this.#store.live.has(movedTo)) {
          // handed over as this instance stops: the takeover goes on there, after the session
          this.#store.send(movedTo, packr.pack([TAKEOVER, clientId, to])).catch((err: unknown) => this.#handoffFailed(clientId, err));
          return;
        }
        const state = t.takenOver(clientId, this.#forwarder(to, clientId));
        // the instance taking it over waits for the answer (a session, or nothing to hand over)
        this.#store.send(to, packr.pack([HANDOFF, clientId, state === undefined ? null : encodeState(state)])).catch((err: unknown) => this.#handoffFailed(clientId, err));
        return;
      }
      case HANDOFF: {
        const [, clientId, state] = entry as unknown as [number, string, unknown];
        this.#handoffs.get(clientId)?.(state === null ? undefined : decodeState(state));
        return;
      }
      case ADOPT: {
        const [, list, from] = entry as unknown as [number, [string, unknown, number, [unknown, number] | null][], string];
        for (const [clientId, state, remainingMs, will] of list) {
          const s = decodeState(state);
          if (s === undefined) continue;
          const w = will === null ? undefined : decodeWill(will[0]);
          t.adopt(clientId, s, remainingMs, w === undefined ? undefined : { will: w, remainingMs: will![1] });
        }
        // once a takeover of them comes here directly and their routes are in the log, the
        // stopping instance may stop forwarding
        const routes = this.announced();
        void this.#store
          .settle(list.map((e) => e[0]))
          .then(() => routes)
          .then(() => this.#store.send(from, packr.pack([ADOPTED])))
          .catch(() => {});
        return;
      }
      case ADOPTED:
        if (this.#adoptsPending > 0 && --this.#adoptsPending === 0) this.#allAdopted?.();
        return;
      case ROUTED:
        for (const e of entry[1] as unknown[][]) {
          const m = decodeMessage(e[0]);
          if (m === undefined) continue;
          if (e[1] === FORWARDED) t.deliverForwarded(e[2] as string, delivery(m, e[3] as 0 | 1 | 2, e[4] === 1, (e[5] as number[] | null) ?? undefined));
          else t.deliverRouted(m, e[1] === PLAIN, (e[2] as string[] | null) ?? []);
        }
        return;
    }
  }

  // ---- client ids

  /**
   * Claims `clientId` for a CONNECT authenticated as `owner`: 'owner' when a session of another
   * identity holds it (on a live instance). The instance that held it is told to let it go and
   * answers with its persistent session's state, if any (waited for up to HANDOFF_WAIT_MS),
   * which is adopted here at once (before anything that instance forwards to it) when `resume`
   * (not a clean start) and `owner` created it. With Redis unavailable the CONNECT goes on
   * (client ids are then unique per instance only).
   */
  async claim(clientId: string, owner: string, resume: boolean): Promise<'owner' | 'claimed'> {
    try {
      let r = await this.#store.claim(clientId, owner);
      if (!r.claimed) {
        if (r.instance === this.instance || this.#store.live.has(r.instance)) return 'owner';
        // held by an instance that is gone: its session went with it
        r = await this.#store.claim(clientId, owner, true);
      }
      if (!r.claimed) return 'claimed';
      const { previous, from } = r;
      const live = this.#store.live;
      // a stopping instance (`from`) was handing the session to `previous`: the takeover goes
      // through it, so that it reaches `previous` after the session does
      const via = from !== undefined && from !== this.instance && live.has(from) ? from : undefined;
      const held = previous !== undefined && previous !== this.instance && live.has(previous);
      if (held || (previous === this.instance && via !== undefined)) {
        const onState = (state: SessionState | undefined) => {
          if (state !== undefined && resume && state.owner === owner) this.#targets!.adopt(clientId, state);
        };
        let answered = await this.#takeOver(via ?? previous!, clientId, onState);
        // the stopping instance stopped reading before it could pass the takeover on: ask where the session went
        if (!answered && via !== undefined && held) answered = await this.#takeOver(previous!, clientId, onState);
        // no answer: the instance is dead (not yet noticed) or stuck; its record of the session is taken up here
        if (!answered && held) await this.#takeRecord(clientId, previous!, resume, owner);
      } else if (previous !== undefined && previous !== this.instance) {
        // held by an instance that is gone: its record of the session, unless the one cleaning up after it took it first
        await this.#takeRecord(clientId, previous, resume, owner);
      }
    } catch (err) {
      this.#refusals.note('mqtt_claim_failed', { client_id: clientId, err: String(err) }, 'claiming an MQTT client id in Redis failed: accepted on this instance only');
    }
    return 'claimed';
  }

  /** Asks `previous` for the session of `clientId`; false when no answer came within HANDOFF_WAIT_MS. */
  async #takeOver(previous: string, clientId: string, onState: (state: SessionState | undefined) => void): Promise<boolean> {
    // a second CONNECT of the same id while one waits: the first gives up waiting
    this.#handoffs.get(clientId)?.(undefined);
    let timer: NodeJS.Timeout | undefined;
    let answered = false;
    const answer = new Promise<void>((resolve) => {
      this.#handoffs.set(clientId, (state) => {
        if (answered) return;
        answered = true;
        onState(state);
        resolve();
      });
      timer = setTimeout(() => {
        answered = true;
        timedOut = true;
        resolve();
      }, HANDOFF_WAIT_MS);
    });
    let timedOut = false;
    const mine = this.#handoffs.get(clientId);
    try {
      await this.#store.send(previous, packr.pack([TAKEOVER, clientId, this.instance]));
      await answer;
      return !timedOut;
    } finally {
      clearTimeout(timer);
      if (this.#handoffs.get(clientId) === mine) this.#handoffs.delete(clientId);
    }
  }

  /** Takes the record of `clientId`'s session from `from` and, when `resume` by its owner, adopts it (its messages are not in it). */
  async #takeRecord(clientId: string, from: string, resume: boolean, owner: string): Promise<void> {
    const taken = await this.#store.takeSession(clientId, from);
    if (taken === null) return;
    const r = this.#decodeRecord(taken);
    if (r === undefined || !resume || r.state.owner !== owner) return;
    await this.#readAway(clientId, r.state).catch((err: unknown) => this.#handoffFailed(clientId, err));
    this.#log.info({ client_id: clientId, instance: from, messages: r.state.inflight.length + r.state.queue.length }, 'MQTT session taken up from the record of an instance that did not answer');
    this.#targets!.adopt(clientId, r.state, r.remainingMs);
  }

  // ---- persistent sessions' records

  /** Keeps what another instance needs to take up the session of `clientId` should this one die. */
  saveSession(clientId: string, r: SessionRecord, index: boolean): void {
    const blob = packr.pack([r.owner, r.expiryMs === Number.POSITIVE_INFINITY ? null : r.expiryMs, r.subscriptions]);
    this.#store.saveSession(clientId, blob, r.expiresAt, index).catch((err: unknown) => this.#recordFailed(clientId, err));
  }

  /** The record of `clientId`'s session is as it was; when it ends changed (its client came or went). */
  touchSession(clientId: string, expiresAt: number | undefined): void {
    this.#store.touchSession(clientId, expiresAt).catch((err: unknown) => this.#recordFailed(clientId, err));
  }

  /** A session's messages could not be handed over (Redis unavailable): it resumes without them; said, not swallowed. */
  #handoffFailed(clientId: string, err: unknown): void {
    this.#refusals.note('mqtt_handoff_failed', { client_id: clientId, err: String(err) }, 'handing an MQTT session\'s messages to another instance failed: it resumes without them');
  }

  #recordFailed(clientId: string, err: unknown): void {
    this.#refusals.note('mqtt_session_record_failed', { client_id: clientId, err: String(err) }, 'recording a persistent MQTT session in Redis failed: it is lost if this instance dies');
  }

  dropSession(clientId: string, forget: boolean): void {
    this.#store.dropSession(clientId, forget).catch(() => {});
  }

  /**
   * The client of `clientId`'s recorded session left (or it arrived here with its client away):
   * its unacknowledged and queued messages are kept in Redis from now on, replacing what was
   * kept (nothing: deleted), so that whoever takes the session up should this instance die has
   * them. What is queued for it later is appended (`queued`).
   */
  keepAway(clientId: string, s: Pick<SessionState, 'inflight' | 'queue'>, expiresAt: number | undefined): void {
    this.#awayAppends.delete(clientId);
    const entries: Buffer[] = [];
    for (const [id, m, qos, retain, ids, released] of s.inflight) entries.push(packr.pack([1, encodeMessage(m), qos, retain ? 1 : 0, ids, released ? 1 : 0, id]));
    for (const [m, qos, retain, ids] of s.queue) entries.push(packr.pack([0, encodeMessage(m), qos, retain ? 1 : 0, ids]));
    this.#store.replaceAway(clientId, entries, expiresAt).catch((err: unknown) => {
      this.#refusals.note('mqtt_away_keep_failed', { client_id: clientId, err: String(err) }, 'keeping queued MQTT messages in Redis failed: they are lost if this instance dies');
    });
  }

  /** A message queued for a session whose client is away (kept, see keepAway). */
  queued(clientId: string, d: Delivery, expiresAt: number | undefined): void {
    let a = this.#awayAppends.get(clientId);
    if (a === undefined) this.#awayAppends.set(clientId, (a = { entries: [], expiresAt }));
    a.entries.push(packr.pack([0, encodeMessage(d.m), d.qos, d.retain ? 1 : 0, d.subscriptionIds ?? null]));
    this.#schedule();
  }

  /** The client is back (or the session ended): what was kept for it while away is not needed any more. */
  dropAway(clientId: string): void {
    this.#awayAppends.delete(clientId);
    this.#store.replaceAway(clientId, [], undefined).catch(() => {});
  }

  /** The messages kept for a session taken up from a dead (or silent) instance, into its state. */
  async #readAway(clientId: string, state: SessionState): Promise<void> {
    for (const blob of await this.#store.readAway(clientId)) {
      try {
        const e = packr.unpack(blob) as unknown[];
        const m = decodeMessage(e[1]);
        if (m === undefined) continue;
        const qos = e[2] as 0 | 1 | 2;
        const ids = (e[4] as number[] | null) ?? null;
        if (e[0] === 1) state.inflight.push([e[6] as number, m, qos, e[3] === 1, ids, e[5] === 1]);
        else state.queue.push([m, qos, e[3] === 1, ids]);
      } catch {
        // an unreadable entry: skipped
      }
    }
  }

  /** A record as taken: its encoding and the milliseconds its key had left (-1: none, its client was connected). */
  #decodeRecord(taken: [Buffer, number]): { state: SessionState; remainingMs: number } | undefined {
    try {
      const [owner, expiryMs, subscriptions] = packr.unpack(taken[0]) as [string, number | null, SessionState['subscriptions']];
      const expiry = expiryMs ?? Number.POSITIVE_INFINITY;
      const remainingMs = taken[1] > 0 ? taken[1] : expiry;
      return { state: { expiryMs: expiry, owner, subscriptions, qos2: [], inflight: [], queue: [] }, remainingMs };
    } catch (err) {
      this.#log.warn({ err }, 'unreadable MQTT session record: skipped');
      return undefined;
    }
  }

  /**
   * The persistent sessions of an instance that died: each adopted here (its subscriptions; its
   * messages died with the instance) once its client-id claim moved here from the dead
   * instance, then its record taken. A client already back elsewhere keeps its claim, and its
   * instance takes the record itself (claim: no answer to its takeover).
   */
  async #orphanedSessions(instance: string, clientIds: string[]): Promise<void> {
    let adopted = 0;
    for (let i = 0; i < clientIds.length; i += MOVE_BATCH) {
      const chunk = clientIds.slice(i, i + MOVE_BATCH);
      try {
        const moved = await this.#store.move(
          chunk,
          chunk.map(() => this.instance),
          instance,
        );
        const ids = chunk.filter((_, k) => moved[k]);
        const records = await Promise.all(ids.map((id) => this.#store.takeSession(id, instance).catch(() => null)));
        const taken = ids.map((id, k) => ({ id, r: records[k] === null ? undefined : this.#decodeRecord(records[k]!) }));
        await Promise.all(taken.map((t) => (t.r === undefined ? undefined : this.#readAway(t.id, t.r.state).catch((err: unknown) => this.#handoffFailed(t.id, err)))));
        for (const { id, r } of taken) {
          if (r === undefined) continue;
          this.#targets!.adopt(id, r.state, r.remainingMs);
          adopted++;
        }
      } catch (err) {
        this.#log.warn({ err, sessions: clientIds.length - i }, 'taking up the MQTT sessions of an instance that died failed');
        return;
      }
    }
    this.#log.warn({ instance, sessions: adopted }, 'took up the persistent MQTT sessions of an instance that died (their queued messages died with it)');
  }

  // ---- sessions of an instance that stops

  /**
   * This instance stops (its connections already closed): each persistent session whose client
   * id it holds goes to another live instance that is not leaving too, round robin. Per batch of
   * sessions, one script per claim moves it there (noting this instance, so that a takeover in
   * the meantime comes through here and reaches the new instance after the session), then one
   * inbox entry per instance carries the sessions' state. Then what still reaches the sessions
   * here is forwarded until each adopter answers that their routes are announced (at most
   * MOVE_WINDOW_MS) and ADOPT_GRACE_MS more, while the others read those routes.
   * Returns how many sessions went.
   */
  async handOver(): Promise<number> {
    const seen = new Promise<void>((resolve) => (this.#leavingSeen = resolve));
    let timer: NodeJS.Timeout | undefined;
    try {
      await this.#store.leaving();
      // once our own entry is read, every instance that said it leaves before us is known
      await Promise.race([seen, new Promise((resolve) => (timer = setTimeout(resolve, ANNOUNCE_WAIT_MS)))]);
    } catch (err) {
      this.#log.warn({ err }, 'announcing that this instance leaves failed');
    } finally {
      clearTimeout(timer);
    }
    const others = [...this.#store.live].filter((i) => i !== this.instance && !this.#leaving.has(i));
    const t = this.#targets!;
    const ids = t.claimedPersistent();
    if (ids.length === 0) return 0;
    if (others.length === 0) {
      this.#log.warn({ sessions: ids.length }, 'no other instance to hand the persistent MQTT sessions to: they end with this one');
      return 0;
    }
    let n = 0;
    let moved = 0;
    for (let i = 0; i < ids.length; i += MOVE_BATCH) {
      const chunk = ids.slice(i, i + MOVE_BATCH);
      const to = chunk.map(() => others[n++ % others.length]!);
      let ok: boolean[];
      try {
        ok = await this.#store.move(chunk, to);
      } catch (err) {
        this.#log.warn({ err, sessions: ids.length - i }, 'handing MQTT sessions to other instances failed: they end with this one');
        break;
      }
      const batches = new Map<string, unknown[]>();
      for (let k = 0; k < chunk.length; k++) {
        if (!ok[k]) continue;
        const clientId = chunk[k]!;
        const dest = to[k]!;
        const h = t.handOver(clientId, this.#forwarder(dest, clientId));
        if (h === undefined) continue;
        this.#moved.set(clientId, dest);
        let list = batches.get(dest);
        if (list === undefined) batches.set(dest, (list = []));
        list.push([clientId, encodeState(h.state), h.remainingMs, h.will === undefined ? null : [encodeWill(h.will.will), h.will.remainingMs]]);
        moved++;
      }
      // every entry written in this turn, before anything forwarded to those sessions (next turn)
      const sends: Promise<void>[] = [];
      for (const [dest, list] of batches) {
        for (let j = 0; j < list.length; j += ADOPT_BATCH) sends.push(this.#store.send(dest, packr.pack([ADOPT, list.slice(j, j + ADOPT_BATCH), this.instance])));
      }
      this.#adoptsPending += sends.length;
      const failed = (await Promise.allSettled(sends)).filter((r) => r.status === 'rejected').length;
      this.#adoptsPending -= failed;
      if (failed > 0) this.#log.warn({ entries: failed }, 'handing MQTT sessions to other instances failed for some: those sessions are lost');
    }
    this.#log.info({ sessions: moved, instances: others.length }, 'persistent MQTT sessions handed to the other instances');
    // forwarding until every adopter has announced the sessions' routes (at most MOVE_WINDOW_MS), and a moment more
    if (this.#adoptsPending > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([new Promise<void>((resolve) => (this.#allAdopted = resolve)), new Promise((resolve) => (t = setTimeout(resolve, MOVE_WINDOW_MS)))]);
      clearTimeout(t);
    }
    await new Promise((resolve) => setTimeout(resolve, ADOPT_GRACE_MS));
    return moved;
  }

  /** The session of `clientId` ended here. */
  release(clientId: string): void {
    this.#store.release(clientId).catch(() => {});
  }

  // ---- wills

  /** Keeps `w`, the will of this instance's connection of `clientId`, where the others find it should this instance die. */
  saveWill(clientId: string, w: Will): void {
    const blob = packr.pack(encodeWill(w));
    this.#store.saveWill(clientId, blob).catch((err: unknown) => {
      this.#refusals.note('mqtt_will_share_failed', { client_id: clientId, err: String(err) }, 'sharing a will failed: it fires only if this instance lives to see the connection end');
    });
  }

  /** The connection of `clientId` here ended (its will, if any, is this instance's to handle). */
  dropWill(clientId: string): void {
    this.#store.dropWill(clientId).catch(() => {});
  }

  /**
   * Wills of the connections of an instance that died, taken out of Redis by this instance only:
   * published now, or after their delay unless the client is back on a live instance by then
   * [MQTT-3.1.3-9].
   */
  #orphanedWills(instance: string, wills: { clientId: string; will: Buffer }[]): void {
    this.#log.warn({ instance, wills: wills.length }, 'publishing the wills of the connections of an instance that died');
    for (const { clientId, will } of wills) {
      let w: Will | undefined;
      try {
        w = decodeWill(packr.unpack(will));
      } catch {
        w = undefined;
      }
      if (w === undefined) continue;
      const pending = w;
      if (pending.delayMs <= 0) {
        this.#targets!.fireWill(pending);
        continue;
      }
      setTimeout(() => {
        this.#store.holderOf(clientId).then(
          (holder) => {
            // back on a live instance within the delay: no will
            if (holder !== undefined && holder !== instance && this.#store.live.has(holder)) return;
            this.#targets!.fireWill(pending);
          },
          () => this.#targets!.fireWill(pending),
        );
      }, pending.delayMs).unref();
    }
  }

  // ---- retained

  retained(m: Message): void {
    this.#store.setRetained(m.topic, m.payload.length === 0 ? undefined : packr.pack(encodeMessage(m))).catch((err: unknown) => {
      this.#refusals.note('mqtt_retained_share_failed', { topic: m.topic, err: String(err) }, 'sharing a retained message failed: it is retained on this instance only');
    });
  }

  /** A retained message removed here (expired, its owner revoked): removed for the others too. */
  retainedRemoved(topic: string): void {
    this.#store.setRetained(topic, undefined).catch(() => {});
  }

  #decodeMessage(blob: Buffer): Message | undefined {
    try {
      return decodeMessage(packr.unpack(blob));
    } catch (err) {
      this.#log.warn({ err }, 'unreadable retained message in the shared MQTT state: skipped');
      return undefined;
    }
  }
}

/** A will as it travels: its message encoded like routed ones. */
function encodeWill(w: Will): unknown[] {
  return [encodeMessage(w.message), w.delayMs, w.expirySeconds ?? null];
}

function decodeWill(e: unknown): Will | undefined {
  if (!Array.isArray(e)) return undefined;
  const [m, delayMs, expirySeconds] = e as [unknown, number, number | null];
  const message = decodeMessage(m);
  return message === undefined ? undefined : { message, delayMs, ...(expirySeconds !== null ? { expirySeconds } : {}) };
}

/** A session's state as it travels: its messages encoded like routed ones. */
function encodeState(s: SessionState): unknown[] {
  return [
    s.expiryMs,
    s.owner,
    s.subscriptions,
    s.qos2,
    s.inflight.map(([id, m, qos, retain, ids, released]) => [id, encodeMessage(m), qos, retain, ids, released]),
    s.queue.map(([m, qos, retain, ids]) => [encodeMessage(m), qos, retain, ids]),
  ];
}

function decodeState(e: unknown): SessionState | undefined {
  if (!Array.isArray(e) || e.length !== 6) return undefined;
  const [expiryMs, owner, subscriptions, qos2, inflight, queue] = e as [number, string, SessionState['subscriptions'], number[], unknown[][], unknown[][]];
  const out: SessionState = { expiryMs, owner, subscriptions, qos2, inflight: [], queue: [] };
  for (const [id, m, qos, retain, ids, released] of inflight) {
    const message = decodeMessage(m);
    if (message !== undefined) out.inflight.push([id as number, message, qos as 0 | 1 | 2, retain as boolean, ids as number[] | null, released as boolean]);
  }
  for (const [m, qos, retain, ids] of queue) {
    const message = decodeMessage(m);
    if (message !== undefined) out.queue.push([message, qos as 0 | 1 | 2, retain as boolean, ids as number[] | null]);
  }
  return out;
}

/** A message as it travels between instances: an array, properties as they are. */
function encodeMessage(m: Message): unknown[] {
  return [m.topic, m.payload, m.qos, m.retain ? 1 : 0, m.expiresAt ?? null, m.properties ?? null, m.origin ?? null, m.owner ?? null, m.rid ?? null];
}

function decodeMessage(e: unknown): Message | undefined {
  if (!Array.isArray(e) || typeof e[0] !== 'string' || !(e[1] instanceof Uint8Array)) return undefined;
  const [topic, payload, qos, retain, expiresAt, properties, origin, owner, rid] = e as [string, Uint8Array, 0 | 1 | 2, number, number | null, MessageProperties | null, string | null, string | null, string | null | undefined];
  const p = properties ?? undefined;
  if (p?.correlationData !== undefined && !Buffer.isBuffer(p.correlationData)) p.correlationData = Buffer.from(p.correlationData);
  return {
    topic,
    payload: Buffer.isBuffer(payload) ? payload : Buffer.from(payload),
    qos,
    retain: retain === 1,
    ...(expiresAt !== null ? { expiresAt } : {}),
    ...(p !== undefined ? { properties: p } : {}),
    ...(origin !== null ? { origin } : {}),
    ...(owner !== null ? { owner } : {}),
    ...(rid !== null && rid !== undefined ? { rid } : {}),
  };
}
