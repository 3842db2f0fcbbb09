/**
 * Live readings to WebSocket subscribers without a loop over clients per reading.
 *
 * Subscribers with equal filters form one group, and a group is one pub/sub topic per frame
 * format: a reading is matched once per group (indexed by device), encoded once per format,
 * and published once per topic; uWS copies it to the members. Readings are gathered and
 * published together every `flushMs` (or event-loop turn), so each subscriber gets one
 * write with many frames instead of one write per reading.
 *
 * Latest-value mode: a subscriber in `latest` mode that falls behind (more than `latestHighWater`
 * bytes buffered) leaves its topic; the newest frame per device and sensor type is kept for
 * it and sent once it has drained, so it sees fresh data instead of a growing backlog.
 * Stream-mode subscribers past `maxBackpressure` have frames skipped by uWS and are reported
 * by `sweep` once they stay there for `slowTimeoutMs`.
 *
 * Independent of uWS (the sockets and the publisher are interfaces) so it is unit-tested.
 * @module
 */
import { isoNow } from '../../core/clock.ts';
import { type Filter, matches } from './filters.ts';
import { type Format, jsonDataFrame, type Mode, msgpackDataFrame } from './protocol.ts';

export type Frame = string | Buffer;

export interface SubscriberSocket {
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  send(frame: Frame): void;
  bufferedAmount(): number;
  /** Closes the connection with a WebSocket close code. */
  end(code: number, reason: string): void;
}

export interface Publisher {
  publish(topic: string, frame: Frame): void;
}

export interface FanoutOptions {
  flushMs: number;
  maxBackpressure: number;
  slowTimeoutMs: number;
}

/** One connection's subscription state. */
export class Subscriber {
  group: Group | undefined;
  mode: Mode = 'stream';
  /** Latest mode, fallen behind: off its topic, collecting the newest frames. */
  lagging = false;
  readonly pending = new Map<string, Frame>();
  /** Since when a stream-mode subscriber has been past maxBackpressure. */
  slowSince: number | undefined;
  constructor(
    readonly socket: SubscriberSocket,
    readonly format: Format,
  ) {}
}

class Group {
  readonly members = new Set<Subscriber>();
  readonly lagging = new Set<Subscriber>();
  readonly counts: Record<Format, number> = { json: 0, msgpack: 0 };
  constructor(readonly filter: Filter) {}
  topic(format: Format): string {
    return `${format}:${this.filter.key}`;
  }
}

interface Decoded {
  deviceId: string;
  sensorTypes: string[];
  reading: unknown;
}

export class Fanout {
  readonly #groups = new Map<string, Group>();
  readonly #byDevice = new Map<string, Set<Group>>();
  readonly #anyDevice = new Set<Group>();
  readonly #latest = new Set<Subscriber>();
  readonly #subscribers = new Set<Subscriber>();
  #queue: string[] = [];
  #scheduled = false;
  readonly #latestHighWater: number;

  constructor(
    readonly publisher: Publisher,
    readonly opts: FanoutOptions,
  ) {
    this.#latestHighWater = Math.min(64 * 1024, Math.floor(opts.maxBackpressure / 2));
  }

  /** Subscribers with a subscription, and distinct filters among them. */
  get size(): { subscribers: number; groups: number } {
    return { subscribers: this.#subscribers.size, groups: this.#groups.size };
  }

  /** Replaces `sub`'s subscription. */
  subscribe(sub: Subscriber, filter: Filter, mode: Mode): void {
    this.unsubscribe(sub);
    let g = this.#groups.get(filter.key);
    if (!g) {
      g = new Group(filter);
      this.#groups.set(filter.key, g);
      if (filter.devices) for (const d of filter.devices) this.#index(d).add(g);
      else this.#anyDevice.add(g);
    }
    g.members.add(sub);
    g.counts[sub.format]++;
    sub.group = g;
    sub.mode = mode;
    if (mode === 'latest') this.#latest.add(sub);
    this.#subscribers.add(sub);
    sub.socket.subscribe(g.topic(sub.format));
  }

  unsubscribe(sub: Subscriber): void {
    const g = sub.group;
    if (!g) return;
    if (!sub.lagging) sub.socket.unsubscribe(g.topic(sub.format));
    g.members.delete(sub);
    g.lagging.delete(sub);
    g.counts[sub.format]--;
    sub.group = undefined;
    sub.lagging = false;
    sub.pending.clear();
    sub.slowSince = undefined;
    this.#latest.delete(sub);
    this.#subscribers.delete(sub);
    if (g.members.size === 0) {
      this.#groups.delete(g.filter.key);
      if (g.filter.devices) {
        for (const d of g.filter.devices) {
          const set = this.#byDevice.get(d)!;
          set.delete(g);
          if (set.size === 0) this.#byDevice.delete(d);
        }
      } else this.#anyDevice.delete(g);
    }
  }

  /** One accepted reading (its enriched JSON) from the queue's events. */
  push(readingJson: string): void {
    if (this.#groups.size === 0) return;
    this.#queue.push(readingJson);
    if (!this.#scheduled) {
      this.#scheduled = true;
      if (this.opts.flushMs > 0) setTimeout(this.flush, this.opts.flushMs);
      else setImmediate(this.flush);
    }
  }

  readonly flush = (): void => {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    this.#checkLatest();
    const timestamp = isoNow();
    for (const json of queue) {
      const r = decode(json);
      if (!r) continue;
      let jsonFrame: string | undefined;
      let packed: Buffer | undefined;
      const deliver = (g: Group): void => {
        if (!matches(g.filter, r.deviceId, r.sensorTypes)) return;
        if (g.counts.json > 0) this.publisher.publish(g.topic('json'), (jsonFrame ??= jsonDataFrame(json, timestamp)));
        if (g.counts.msgpack > 0) this.publisher.publish(g.topic('msgpack'), (packed ??= msgpackDataFrame(r.reading, timestamp)));
        for (const sub of g.lagging) {
          const frame = sub.format === 'json' ? (jsonFrame ??= jsonDataFrame(json, timestamp)) : (packed ??= msgpackDataFrame(r.reading, timestamp));
          for (const s of r.sensorTypes) sub.pending.set(`${r.deviceId}\u0000${s}`, frame);
        }
      };
      const byDevice = this.#byDevice.get(r.deviceId);
      if (byDevice) for (const g of byDevice) deliver(g);
      for (const g of this.#anyDevice) deliver(g);
    }
  };

  /** Latest-mode subscribers that fell behind leave their topic until they drain. */
  #checkLatest(): void {
    for (const sub of this.#latest) {
      if (!sub.lagging && sub.socket.bufferedAmount() > this.#latestHighWater) {
        sub.lagging = true;
        sub.group!.lagging.add(sub);
        sub.socket.unsubscribe(sub.group!.topic(sub.format));
      }
    }
  }

  /** The socket of `sub` drained: a lagging latest-mode subscriber gets the newest frames, then its topic again. */
  drained(sub: Subscriber): void {
    if (!sub.lagging || sub.socket.bufferedAmount() > this.#latestHighWater / 4) return;
    const frames = new Set(sub.pending.values());
    sub.pending.clear();
    for (const f of frames) sub.socket.send(f);
    if (sub.socket.bufferedAmount() <= this.#latestHighWater) {
      sub.lagging = false;
      sub.group!.lagging.delete(sub);
      sub.socket.subscribe(sub.group!.topic(sub.format));
    }
  }

  /** Once a second: lagging subscribers whose drain event was missed, and stream-mode subscribers too slow for too long (returned, to be closed). */
  sweep(now: number): Subscriber[] {
    const tooSlow: Subscriber[] = [];
    for (const sub of this.#subscribers) {
      if (sub.lagging) {
        this.drained(sub);
        continue;
      }
      if (sub.mode === 'latest') continue;
      if (sub.socket.bufferedAmount() >= this.opts.maxBackpressure) {
        sub.slowSince ??= now;
        if (now - sub.slowSince >= this.opts.slowTimeoutMs) tooSlow.push(sub);
      } else sub.slowSince = undefined;
    }
    return tooSlow;
  }

  #index(deviceId: string): Set<Group> {
    let set = this.#byDevice.get(deviceId);
    if (!set) this.#byDevice.set(deviceId, (set = new Set()));
    return set;
  }
}

function decode(json: string): Decoded | undefined {
  try {
    const reading = JSON.parse(json) as { device_id?: unknown; sensors?: unknown };
    if (typeof reading.device_id !== 'string' || typeof reading.sensors !== 'object' || reading.sensors === null) return undefined;
    return { deviceId: reading.device_id, sensorTypes: Object.keys(reading.sensors), reading };
  } catch {
    return undefined;
  }
}
