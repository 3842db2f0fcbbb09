/**
 * The MQTT state that instances share through Redis (DESIGN §7): which instances are alive,
 * the route table (the topic filters each instance's subscribers hold), each instance's inbox
 * (messages routed to it, control messages such as a client-id takeover), client-id claims and
 * retained messages. This is the storage side only: it moves opaque bytes and route keys;
 * what they mean for MQTT is transports/mqtt/cluster-link.ts's business.
 * @module
 */

/** One entry of the shared control log, in the order every instance applies them. */
export type ShareLogEntry =
  /** An instance joined, left, or is leaving (handing its sessions over before it says bye). */
  | { kind: 'hello' | 'bye' | 'leaving'; instance: string }
  /** Route keys an instance now holds (`add`) or no longer holds (`remove`). */
  | { kind: 'routes'; instance: string; add: string[]; remove: string[] }
  /** The whole route set of an instance (it re-registered after its registration had lapsed). */
  | { kind: 'resync'; instance: string; keys: string[] }
  /** A retained message set (`message`: its encoding) or removed (`message` undefined). */
  | { kind: 'retained'; instance: string; topic: string; message: Buffer | undefined };

/** What an instance learns when it joins: the live instances' routes and the retained messages. */
export interface ShareSnapshot {
  routes: Map<string, string[]>;
  retained: Buffer[];
}

export interface ShareHandlers {
  snapshot(s: ShareSnapshot): void;
  log(e: ShareLogEntry): void;
  /** An entry of this instance's inbox (what another instance sent it with `send`). */
  inbox(data: Buffer): void;
  /** An instance stopped (said bye) or missed its heartbeats: forget what it held. */
  gone(instance: string): void;
  /** This instance's own registration had lapsed (a long pause, Redis lost): announce everything again. */
  rejoined(): void;
  /**
   * `instance` died and this instance is the one cleaning up after it (exactly one is): the
   * wills its connections had left, each taken out of Redis (so fired once).
   */
  orphanedWills(instance: string, wills: { clientId: string; will: Buffer }[]): void;
  /** `instance` died and this instance cleans up after it (exactly one does): the client ids of the persistent sessions it recorded. */
  orphanedSessions(instance: string, clientIds: string[]): void;
}

/** The answer to a client-id claim. */
export type ClaimResult =
  /**
   * Claimed; `previous` is the instance that held it (maybe this one, maybe gone), if any;
   * `from`, the stopping instance that was handing its session to `previous` (see `move`).
   */
  | { claimed: true; previous: string | undefined; from?: string }
  /** Held by a session of another identity, on `instance`. */
  | { claimed: false; instance: string };

export interface MqttShareStore {
  /** This instance's id (unique per process start). */
  readonly instance: string;
  /** Instances seen alive (this one included). */
  readonly live: ReadonlySet<string>;
  start(h: ShareHandlers): Promise<void>;
  /** Records route changes of this instance and logs them for the others. */
  changeRoutes(add: readonly string[], remove: readonly string[]): Promise<void>;
  /** Replaces this instance's whole route set (after `rejoined`). */
  resyncRoutes(keys: readonly string[]): Promise<void>;
  /** Appends `data` to `instance`'s inbox (bounded; an inbox of an instance that is gone is dropped with it). */
  send(instance: string, data: Buffer): Promise<void>;
  /** Claims `clientId` for this instance and `owner`; `force` takes it whatever identity held it (that instance is gone). */
  claim(clientId: string, owner: string, force?: boolean): Promise<ClaimResult>;
  /**
   * Moves this instance's claims on `clientIds` to the instances `to` (same order), each noting
   * this one as where it comes from until claimed again; per id, whether it was still this
   * instance's (and so moved).
   */
  move(clientIds: readonly string[], to: readonly string[], holder?: string): Promise<boolean[]>;
  /** Claims moved to this instance (`move`) that it now holds: they forget where they came from. */
  settle(clientIds: readonly string[]): Promise<void>;
  /**
   * Keeps the record of this instance's persistent session of `clientId` (owner, expiry,
   * subscriptions), expiring at `expiresAt` (undefined: its client is connected), for whoever
   * outlives this instance; `index`: lists it among this instance's recorded sessions too.
   */
  saveSession(clientId: string, record: Buffer, expiresAt: number | undefined, index: boolean): Promise<void>;
  /** Sets only when the record expires (undefined: never, its client is connected). */
  touchSession(clientId: string, expiresAt: number | undefined): Promise<void>;
  /** The session ended here (the record deleted if still this instance's), or moved (`forget`: only this instance's index forgets it). */
  dropSession(clientId: string, forget: boolean): Promise<void>;
  /** Takes the record of `clientId`'s session from instance `from` (gone, or not answering): now this instance's; null if `from` does not hold it. */
  takeSession(clientId: string, from: string): Promise<[record: Buffer, ttlMs: number] | null>;
  /** Replaces the messages kept for `clientId`'s session while its client is away (none: deleted), expiring with the session. */
  replaceAway(clientId: string, entries: readonly Buffer[], expiresAt: number | undefined): Promise<void>;
  /** Appends to them. */
  appendAway(clientId: string, entries: readonly Buffer[], expiresAt: number | undefined): Promise<void>;
  /** The messages kept for `clientId`'s session, in order. */
  readAway(clientId: string): Promise<Buffer[]>;
  /** Gives up this instance's claim on `clientId` (left alone if another instance holds it now). */
  release(clientId: string): Promise<void>;
  /** Keeps the will of this instance's connection of `clientId`, for whoever outlives this instance. */
  saveWill(clientId: string, will: Buffer): Promise<void>;
  /** Forgets the will of `clientId` if it is still this instance's. */
  dropWill(clientId: string): Promise<void>;
  /** The instance holding `clientId` now, if any. */
  holderOf(clientId: string): Promise<string | undefined>;
  /** Sets (`message` given) or removes the retained message of `topic`, and logs it. */
  setRetained(topic: string, message: Buffer | undefined): Promise<void>;
  /** Tells the others this instance is leaving (it hands its sessions over, then stops): they are not handed any. */
  leaving(): Promise<void>;
  stop(): Promise<void>;
}
