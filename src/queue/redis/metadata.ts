/**
 * Device metadata in one Redis hash shared by all instances, with a full local copy for
 * the hot path. Writers HSET then PUBLISH the change; every instance applies it, and
 * reloads the whole hash after a reconnect so a missed message heals.
 * @module
 */
import type { RedisClient } from './connection.ts';
import type { Logger } from 'pino';
import type { DeviceMetadata } from '../backend.ts';
import type { MetadataStore } from '../backend.ts';

export class RedisMetadata implements MetadataStore {
  #local = new Map<string, DeviceMetadata>();
  readonly #redis: RedisClient;
  readonly #key: string;
  readonly #log: Logger;

  constructor(redis: RedisClient, key: string, log: Logger) {
    this.#redis = redis;
    this.#key = key;
    this.#log = log;
  }

  /** Channel on which changes are announced. */
  get channel(): string {
    return this.#key + ':changes';
  }

  get(deviceId: string): DeviceMetadata | undefined {
    return this.#local.get(deviceId);
  }

  async set(deviceId: string, metadata: DeviceMetadata): Promise<void> {
    const json = JSON.stringify(metadata);
    await this.#redis.multi().hset(this.#key, deviceId, json).publish(this.channel, JSON.stringify({ device_id: deviceId, metadata })).exec();
    this.#local.set(deviceId, metadata);
  }

  /** Applies a change announced on `channel`. */
  applyChange(message: string): void {
    try {
      const { device_id, metadata } = JSON.parse(message) as { device_id: string; metadata: DeviceMetadata };
      this.#local.set(device_id, metadata);
    } catch (err) {
      this.#log.warn({ err }, 'ignored a malformed device metadata change message');
    }
  }

  /** Replaces the local copy with the whole hash (HSCAN, so a large fleet does not block RedisClient). */
  async reload(): Promise<void> {
    const next = new Map<string, DeviceMetadata>();
    let cursor = '0';
    do {
      const [c, flat] = await this.#redis.hscan(this.#key, cursor, 'COUNT', 1000);
      cursor = c;
      for (let i = 0; i + 1 < flat.length; i += 2) {
        try {
          next.set(flat[i]!, JSON.parse(flat[i + 1]!) as DeviceMetadata);
        } catch {
          this.#log.warn({ device_id: flat[i] }, 'skipped malformed device metadata in Redis');
        }
      }
    } while (cursor !== '0');
    this.#local = next;
  }
}
