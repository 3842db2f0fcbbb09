/**
 * The embedded queue backend: used when no Redis is configured. Same interface and
 * semantics as the Redis one (dedupe window, rejects, events, status), bounded in memory,
 * and not durable: readings are lost when the process exits.
 * @module
 */
import { EventEmitter } from 'node:events';
import type { DeviceMetadata } from '../../core/readings/reading.ts';
import type {
  AppendEntry,
  AppendResult,
  MetadataStore,
  QueueBackend,
  QueueStatus,
  RejectEntry,
} from '../backend.ts';
import { rejectFields } from '../reject-fields.ts';
import { CappedStream, type StreamEntry } from './capped-stream.ts';
import { DedupeWindow } from './dedupe-window.ts';

export interface MemoryBackendOptions {
  maxLen: number;
  dedupeWindowMs: number;
  /** @default 1_000_000 */
  maxDedupeKeys?: number;
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
  readonly #data: CappedStream;
  readonly #rejects: CappedStream;
  readonly #dlq: CappedStream;
  readonly #dedupe: DedupeWindow;
  readonly #events = new EventEmitter();
  #closed = false;

  constructor(opts: MemoryBackendOptions) {
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
      if (e.dedupeKey !== '' && !this.#dedupe.claim(e.dedupeKey, now)) {
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

  onEvent(listener: (json: string) => void): () => void {
    this.#events.on('event', listener);
    return () => this.#events.off('event', listener);
  }

  async status(): Promise<QueueStatus> {
    return {
      queueSize: this.#data.length,
      streamLength: this.#data.length,
      dlqSize: this.#dlq.length,
      rejectsSize: this.#rejects.length,
      groups: [],
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
