/**
 * The embedded queue backend: used when no Redis is configured. Same interface and
 * semantics as the Redis one (dedupe window, rejects, events, status), bounded in memory,
 * and not durable: readings are lost when the process exits.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { DeviceMetadata } from '../backend.ts';
import type {
  AppendEntry,
  AppendResult,
  MetadataStore,
  QueueBackend,
  QueueStatus,
  RejectEntry,
  RejectFilter,
  RejectPage,
  RejectPageRequest,
  StoredReject,
} from '../backend.ts';
import { compareIds, rejectFields, rejectFromFields, rejectMatches } from '../reject-fields.ts';
import { CappedStream, type StreamEntry } from './capped-stream.ts';
import { DedupeWindow } from './dedupe-window.ts';
import { MemoryFleetStore } from './fleet-store.ts';

export interface MemoryBackendOptions {
  maxLen: number;
  dedupeWindowMs: number;
  /** @default 1_000_000 */
  maxDedupeKeys?: number;
  /** A device's fleet state is dropped this long after its last fact. @default 30 days */
  deviceStateKeepMs?: number;
  /** The names the status reports for the embedded streams. @default sensor-data, sensor-data-dlq */
  streamName?: string;
  dlqName?: string;
}

class MemoryMetadata implements MetadataStore {
  #map = new Map<string, DeviceMetadata>();
  get(deviceId: string): DeviceMetadata | undefined {
    return this.#map.get(deviceId);
  }
  async set(deviceId: string, metadata: DeviceMetadata): Promise<void> {
    this.#map.set(deviceId, metadata);
  }
}

export class MemoryBackend implements QueueBackend {
  readonly kind = 'memory' as const;
  readonly metadata = new MemoryMetadata();
  readonly fleet: MemoryFleetStore;
  readonly #data: CappedStream;
  readonly #rejects: CappedStream;
  readonly #dlq: CappedStream;
  readonly #dedupe: DedupeWindow;
  readonly #events = new EventEmitter();
  #closed = false;

  readonly #streamName: string;
  readonly #dlqName: string;

  constructor(opts: MemoryBackendOptions) {
    this.#streamName = opts.streamName ?? 'sensor-data';
    this.#dlqName = opts.dlqName ?? 'sensor-data-dlq';
    this.fleet = new MemoryFleetStore(opts.deviceStateKeepMs);
    this.#data = new CappedStream(opts.maxLen);
    this.#rejects = new CappedStream(opts.maxLen);
    this.#dlq = new CappedStream(opts.maxLen);
    this.#dedupe = new DedupeWindow(opts.dedupeWindowMs, opts.maxDedupeKeys ?? 1_000_000);
    this.#events.setMaxListeners(0);
  }

  async start(): Promise<void> {}

  healthy(): boolean {
    return !this.#closed;
  }

  async appendBatch(entries: readonly AppendEntry[]): Promise<AppendResult[]> {
    if (this.#closed) throw new Error('queue backend is closed');
    const now = Date.now();
    const results: AppendResult[] = [];
    for (const e of entries) {
      if (e.dedupeKey !== '' && !this.#dedupe.claim(e.dedupeKey, e.timestampMs, now)) {
        results.push('duplicate');
        continue;
      }
      this.#data.add({ data: e.json, device_id: e.deviceId, message_id: e.messageId });
      results.push('stored');
      this.#events.emit('event', e.json);
    }
    return results;
  }

  async appendRejects(entries: readonly RejectEntry[]): Promise<void> {
    if (this.#closed) throw new Error('queue backend is closed');
    for (const r of entries) this.#rejects.add(rejectFields(r));
  }

  async listRejects(filter: RejectFilter, page: RejectPageRequest): Promise<RejectPage> {
    const all = this.#rejects.view();
    const newest = page.order === 'newest';
    const scanMax = page.scanMax ?? 10_000;
    const entries: StoredReject[] = [];
    let examined = 0;
    let last: string | null = null;
    for (let k = 0; k < all.length; k++) {
      const e = all[newest ? all.length - 1 - k : k]!;
      if (page.after !== undefined && (newest ? compareIds(e.id, page.after) >= 0 : compareIds(e.id, page.after) <= 0)) continue;
      // ids grow with time: past `since` in newest-first order, nothing older can match
      if (newest && filter.sinceMs !== undefined && !rejectMatches(e.id, {}, { sinceMs: filter.sinceMs })) break;
      if (examined === scanMax) return { entries, next: last };
      examined++;
      last = e.id;
      if (rejectMatches(e.id, e.fields, filter)) entries.push(rejectFromFields(e.id, e.fields));
      if (entries.length === page.limit) return { entries, next: e.id };
    }
    return { entries, next: null };
  }

  async getReject(id: string): Promise<StoredReject | undefined> {
    const e = this.#rejects.view().find((x) => x.id === id);
    return e && rejectFromFields(e.id, e.fields);
  }

  async deleteRejects(ids: readonly string[]): Promise<number> {
    return ids.length === 0 ? 0 : this.#rejects.delete(ids);
  }

  onEvent(listener: (json: string) => void, listening?: () => void): () => void {
    this.#events.on('event', listener);
    if (listening) queueMicrotask(listening);
    return () => this.#events.off('event', listener);
  }

  async status(): Promise<QueueStatus> {
    return {
      queueSize: this.#data.length,
      streamLength: this.#data.length,
      dlqSize: this.#dlq.length,
      rejectsSize: this.#rejects.length,
      groups: [],
      shards: [{ shard: 0, stream: this.#streamName, queueSize: this.#data.length, streamLength: this.#data.length, dlq: this.#dlqName, dlqSize: this.#dlq.length, groups: [] }],
    };
  }

  /** Entries of the readings stream, oldest first (for tests and a future consumer). */
  entries(): StreamEntry[] {
    return this.#data.range();
  }

  rejectEntries(): StreamEntry[] {
    return this.#rejects.range();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#events.removeAllListeners();
  }
}
