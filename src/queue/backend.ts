/**
 * The seam between the core and where readings go. `redis/` and `memory/` implement it;
 * test/contract/queue-backend.contract.ts holds both to the same behaviour.
 * @module
 */
import type { FleetStore } from './fleet.ts';

/**
 * What is known about a device beside its readings (location, room, zone, firmware), kept by the
 * metadata store and copied into each enriched reading as `device_metadata`.
 */
export interface DeviceMetadata {
  location?: string;
  room?: string;
  zone?: string;
  firmware_version?: string;
  [key: string]: string | number | boolean | undefined;
}

/** One accepted reading to append. `json` is the enriched reading, encoded once. */
export interface AppendEntry {
  /** Dedupe key; the entry is a duplicate when it was seen within the window. Empty: no dedupe. */
  dedupeKey: string;
  /** The reading's own time (ms since epoch); backends may group dedupe keys by it. */
  timestampMs: number;
  deviceId: string;
  messageId: string;
  json: string;
}

/** Per entry: stored, a duplicate (nothing appended), or the entry's own failure. */
export type AppendResult = 'stored' | 'duplicate' | Error;

/** A payload the pipeline refused, kept with its reason (DESIGN §1: nothing silently dropped). */
export interface RejectEntry {
  reason: string;
  code: string;
  source: string;
  /** The payload as received (UTF-8 or base64 for binary), possibly truncated. */
  payload: string;
  deviceId?: string;
  /** Who sent it (the authenticated identity), when someone was authenticated: replay checks it may write the reading's device. */
  identity?: string;
  receivedAt: string;
}

/** A rejects-stream entry as stored, with its stream id (`<ms>-<seq>`, as Redis streams number them). */
export interface StoredReject extends RejectEntry {
  id: string;
}

/** Which rejects to list; every given field must match. */
export interface RejectFilter {
  deviceId?: string;
  /** The full code, e.g. INGEST_ERR_INVALID_READING. */
  code?: string;
  /** Only entries added at or after this time (ms since epoch; the stream id's time part). */
  sinceMs?: number;
}

export interface RejectPageRequest {
  /** newest: newest first (the listing); oldest: oldest first (replay). */
  order: 'newest' | 'oldest';
  /** Most entries returned. */
  limit: number;
  /** Exclusive: continue after this id (in `order`). */
  after?: string;
  /** Most entries examined in this call, so a filter matching little cannot scan without bound. @default 10000 */
  scanMax?: number;
}

export interface RejectPage {
  entries: StoredReject[];
  /** Pass as `after` to continue; null: the end of the stream was reached. */
  next: string | null;
}

export interface ConsumerGroupStatus {
  name: string;
  consumers: number;
  pending: number;
  /** Entries not yet delivered to the group; null when it cannot be told. */
  lag: number | null;
  /** Set when `lag` was counted and reached the count cap: the real lag is at least that. */
  lagCapped?: boolean;
}

/** One readings stream of a sharded deployment (STREAM_SHARDS), with its own DLQ. */
export interface ShardStatus {
  shard: number;
  stream: string;
  /** The slowest group's lag + pending on this stream, or its length without groups. */
  queueSize: number;
  streamLength: number;
  dlq: string;
  dlqSize: number;
  groups: ConsumerGroupStatus[];
}

export interface QueueStatus {
  /** Work waiting downstream: the slowest consumer group's lag + pending, or the stream length without groups (summed over the shards). */
  queueSize: number;
  /** Summed over the shards. */
  streamLength: number;
  /** Summed over the shards. */
  dlqSize: number;
  rejectsSize: number;
  /** The groups of shard 0's stream (the only one with STREAM_SHARDS=1); every shard's in `shards`. */
  groups: ConsumerGroupStatus[];
  /** Per readings stream: one entry with STREAM_SHARDS=1. */
  shards: ShardStatus[];
}

/** Device metadata shared by all instances; `get` is synchronous (a local copy) for the hot path. */
export interface MetadataStore {
  get(deviceId: string): DeviceMetadata | undefined;
  set(deviceId: string, metadata: DeviceMetadata): Promise<void>;
}

export interface QueueBackend {
  readonly kind: 'redis' | 'memory';
  readonly metadata: MetadataStore;
  /** The fleet state: per-device facts shared by every instance (docs/fleet-state.md). */
  readonly fleet: FleetStore;
  /** Connects and loads shared state. Resolves even if the queue is down at start (it reconnects). */
  start(): Promise<void>;
  /** Whether appends can currently succeed. */
  healthy(): boolean;
  /**
   * Dedupes and appends `entries` in order in one round trip, publishing each appended
   * entry's JSON on the events channel. Rejects only when the whole batch failed.
   */
  appendBatch(entries: readonly AppendEntry[]): Promise<AppendResult[]>;
  appendRejects(entries: readonly RejectEntry[]): Promise<void>;
  /** Rejects matching `filter`, a page at a time (quarantine inspection and replay). */
  listRejects(filter: RejectFilter, page: RejectPageRequest): Promise<RejectPage>;
  /** One rejects entry by id; undefined when there is none. */
  getReject(id: string): Promise<StoredReject | undefined>;
  /** Removes rejects entries by id (XDEL); resolves to how many were there. */
  deleteRejects(ids: readonly string[]): Promise<number>;
  /**
   * Live readings from every instance (the events channel); returns an unsubscribe function.
   * `listening` is called once readings stored from now on will reach `listener` (the channel's
   * subscription confirmed).
   */
  onEvent(listener: (json: string) => void, listening?: () => void): () => void;
  status(): Promise<QueueStatus>;
  /** Settles what is pending, then closes. */
  close(): Promise<void>;
}
