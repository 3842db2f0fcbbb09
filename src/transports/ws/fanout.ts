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
 * Stream-mode subscribers past `maxBackpressure` have frames skipped (by uWS at first, then by
 * `sweep` taking them off their topic until they drain, so a stalled subscriber costs no
 * publish at all), counted through `onSkipped`, and are reported by `sweep` once they stay
 * there for `slowTimeoutMs`.
 *
 * A reading is parsed only when something needs more than its text: a device-filtered
 * group, a sensor-type filter, a MessagePack subscriber or a lagging latest-mode subscriber.
 * JSON subscribers without filters get the text as it came.
 *
 * Independent of uWS (the sockets and the publisher are interfaces) so it is unit-tested.
 * @module
 */
import { isoNow } from '../../core/clock.ts';
import type { LiveFeed } from '../live-feed.ts';
import { type Filter, passesSensors } from './filters.ts';
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
  /** Frames not sent to stream-mode subscribers off their topic (called once per flush). */
  onSkipped?: (frames: number) => void;
}

/** One connection's subscription state. */
export class Subscriber {
  group: Group | undefined;
  mode: Mode = 'stream';
  /** Fallen behind, off its topic: in latest mode collecting the newest frames, in stream mode skipping them. */
  lagging = false;
  readonly pending = new Map<string, Frame>();
  /** Since when a stream-mode subscriber has been past maxBackpressure (off its topic since the sweep that saw it). */
  slowSince: number | undefined;
  constructor(
    readonly socket: SubscriberSocket,
    readonly format: Format,
  ) {}
}

class Group {
  readonly members = new Set<Subscriber>();
  /** Latest-mode members off the topic, collecting the newest frames. */
  readonly lagging = new Set<Subscriber>();
  /** Stream-mode members off the topic: frames to them are skipped. */
  skipping = 0;
  /** Members on the topic, per format. */
  readonly counts: Record<Format, number> = { json: 0, msgpack: 0 };
  constructor(readonly filter: Filter) {}
  topic(format: Format): string {
    return `${format}:${this.filter.key}`;
  }
}

/** One event, parsed on first need; undefined fields when it is not a reading. */
class Event {
  #parsed = false;
  #reading: { device_id?: unknown; sensors?: unknown } | undefined;
  #sensorTypes: string[] | undefined;
  #json: string | undefined;
  constructor(readonly text: string) {}
  get reading(): { device_id: string; sensors: object } | undefined {
    if (!this.#parsed) {
      this.#parsed = true;
      try {
        const r = JSON.parse(this.text) as { device_id?: unknown; sensors?: unknown };
        if (typeof r.device_id === 'string' && typeof r.sensors === 'object' && r.sensors !== null) this.#reading = r;
      } catch {
        // not JSON: dropped
      }
    }
    return this.#reading as { device_id: string; sensors: object } | undefined;
  }
  get sensorTypes(): string[] {
    return (this.#sensorTypes ??= this.reading ? Object.keys(this.reading.sensors) : []);
  }
  jsonFrame(timestamp: string): string {
    return (this.#json ??= jsonDataFrame(this.text, timestamp));
  }
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

  /**
   * The queue's readings (set by the server): wanted from the first subscription to the end of
   * the last one, so that they are taken only while someone here watches.
   */
  live: LiveFeed | undefined;

  /** While a subscription is open: resolves once the queue's readings flow here (undefined: they do). */
  get fed(): Promise<void> | undefined {
    return this.live?.fed;
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
    if (this.#subscribers.size === 1) this.live?.want(true);
  }

  unsubscribe(sub: Subscriber): void {
    const g = sub.group;
    if (!g) return;
    if (sub.lagging) this.#onTopic(sub);
    sub.socket.unsubscribe(g.topic(sub.format));
    g.members.delete(sub);
    g.counts[sub.format]--;
    sub.group = undefined;
    sub.lagging = false;
    sub.pending.clear();
    sub.slowSince = undefined;
    this.#latest.delete(sub);
    this.#subscribers.delete(sub);
    if (this.#subscribers.size === 0) this.live?.want(false);
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
    let skipped = 0;
    for (const text of queue) {
      // an event text that is not a JSON object is never framed, parsed or not
      if (text.charCodeAt(0) !== 123 /* { */ || text.charCodeAt(text.length - 1) !== 125 /* } */) continue;
      const e = new Event(text);
      let packed: Buffer | undefined;
      const deliver = (g: Group): void => {
        if (g.filter.sensors && !passesSensors(g.filter, e.sensorTypes)) return;
        if (g.counts.json > 0) this.publisher.publish(g.topic('json'), e.jsonFrame(timestamp));
        if (g.counts.msgpack > 0 && e.reading) this.publisher.publish(g.topic('msgpack'), (packed ??= msgpackDataFrame(e.reading, timestamp)));
        skipped += g.skipping;
        if (g.lagging.size === 0 || !e.reading) return;
        for (const sub of g.lagging) {
          const frame = sub.format === 'json' ? e.jsonFrame(timestamp) : (packed ??= msgpackDataFrame(e.reading, timestamp));
          for (const s of e.sensorTypes) sub.pending.set(`${e.reading.device_id}\u0000${s}`, frame);
        }
      };
      if (this.#byDevice.size > 0) {
        const r = e.reading;
        if (!r) continue;
        const byDevice = this.#byDevice.get(r.device_id);
        if (byDevice) for (const g of byDevice) deliver(g);
      }
      for (const g of this.#anyDevice) deliver(g);
    }
    if (skipped > 0) this.opts.onSkipped?.(skipped);
  };

  /** Latest-mode subscribers that fell behind leave their topic until they drain. */
  #checkLatest(): void {
    for (const sub of this.#latest) {
      if (!sub.lagging && sub.socket.bufferedAmount() > this.#latestHighWater) this.#offTopic(sub);
    }
  }

  /** The socket of `sub` drained: a lagging subscriber gets its topic again (in latest mode after the newest frames). */
  drained(sub: Subscriber): void {
    if (!sub.lagging) return;
    if (sub.mode === 'stream') {
      if (sub.socket.bufferedAmount() > this.opts.maxBackpressure / 2) return;
      sub.slowSince = undefined;
      this.#onTopic(sub);
      return;
    }
    if (sub.socket.bufferedAmount() > this.#latestHighWater / 4) return;
    const frames = new Set(sub.pending.values());
    sub.pending.clear();
    for (const f of frames) sub.socket.send(f);
    if (sub.socket.bufferedAmount() <= this.#latestHighWater) this.#onTopic(sub);
  }

  /**
   * Once a second: lagging subscribers whose drain event was missed; stream-mode subscribers
   * past maxBackpressure leave their topic (uWS skipped their frames until now; from here on
   * they cost no publish), and those behind for slowTimeoutMs are returned, to be closed.
   */
  sweep(now: number): Subscriber[] {
    const tooSlow: Subscriber[] = [];
    for (const sub of this.#subscribers) {
      if (sub.lagging) {
        this.drained(sub);
        if (sub.lagging && sub.slowSince !== undefined && now - sub.slowSince >= this.opts.slowTimeoutMs) tooSlow.push(sub);
        continue;
      }
      if (sub.mode === 'latest') continue;
      if (sub.socket.bufferedAmount() >= this.opts.maxBackpressure) {
        sub.slowSince = now;
        this.#offTopic(sub);
      }
    }
    return tooSlow;
  }

  #offTopic(sub: Subscriber): void {
    const g = sub.group!;
    sub.lagging = true;
    sub.socket.unsubscribe(g.topic(sub.format));
    g.counts[sub.format]--;
    if (sub.mode === 'latest') g.lagging.add(sub);
    else g.skipping++;
  }

  #onTopic(sub: Subscriber): void {
    const g = sub.group!;
    sub.lagging = false;
    sub.socket.subscribe(g.topic(sub.format));
    g.counts[sub.format]++;
    if (sub.mode === 'latest') g.lagging.delete(sub);
    else g.skipping--;
  }

  #index(deviceId: string): Set<Group> {
    let set = this.#byDevice.get(deviceId);
    if (!set) this.#byDevice.set(deviceId, (set = new Set()));
    return set;
  }
}
