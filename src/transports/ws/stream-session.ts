/**
 * One connection of the live readings protocol: greets, answers subscribe / unsubscribe /
 * ping, and answers anything else with an `error` frame while staying open.
 * @module
 */
import type { WebSocket } from 'uWebSockets.js';
import { isoNow } from '../../core/clock.ts';
import { type Identity, mayWatch } from '../../auth/identity.ts';
import type { Metrics } from '../../metrics/registry.ts';
import { type Fanout, type Frame, Subscriber, type SubscriberSocket } from './fanout.ts';
import { parseFilter } from './filters.ts';
import { controlFrame, type Format, type Mode, parseClientMessage } from './protocol.ts';

/** After a close frame, a client that does not finish the close handshake is cut off after this. */
const CLOSE_GRACE_MS = 2000;

export class StreamSession implements SubscriberSocket {
  readonly subscriber: Subscriber;
  #open = true;
  /** A `subscribed` waiting for the readings to flow: the replies after it wait too, in order. */
  #waiting: Promise<void> | undefined;

  constructor(
    private readonly ws: WebSocket<unknown>,
    private readonly format: Format,
    private readonly defaultMode: Mode | undefined,
    readonly identity: Identity,
    private readonly fanout: Fanout,
    private readonly sensorNames: readonly string[],
    private readonly metrics: Metrics,
  ) {
    this.subscriber = new Subscriber(this, format);
  }

  greet(): void {
    this.#control('connected', { message: 'Connected to sensor data stream', timestamp: isoNow() });
  }

  onMessage(data: ArrayBuffer, isBinary: boolean): void {
    const msg = parseClientMessage(data, isBinary);
    if (typeof msg === 'string') return this.#error(msg);
    switch (msg.type) {
      case 'subscribe': {
        const filter = parseFilter(msg.filters, this.sensorNames);
        if (typeof filter === 'string') return this.#error(filter);
        // a device watches only itself; a subscriber (or anyone with AUTH_MODE=none) watches anything
        const devices = filter.devices ? [...filter.devices] : [undefined];
        const denied = devices.find((d) => !mayWatch(this.identity, d));
        if (denied !== undefined || (devices[0] === undefined && !mayWatch(this.identity, undefined))) {
          this.metrics.error('forbidden');
          return this.#error(`forbidden: ${this.identity.id} may watch only its own readings (filters.device_id "${this.identity.id}")`);
        }
        const mode = msg.mode ?? this.defaultMode ?? 'stream';
        this.fanout.subscribe(this.subscriber, filter, mode);
        // confirmed once readings flow to this instance: every reading stored after it reaches the client
        const fed = this.fanout.fed;
        if (fed !== undefined) {
          const waiting = (this.#waiting = Promise.all([this.#waiting, fed]).then(() => {
            if (this.#waiting === waiting) this.#waiting = undefined;
          }));
        }
        return this.#control('subscribed', { filters: filter.echo, mode, timestamp: isoNow() });
      }
      case 'unsubscribe':
        this.fanout.unsubscribe(this.subscriber);
        return this.#control('unsubscribed', { timestamp: isoNow() });
      case 'ping':
        return this.#control('pong', { timestamp: isoNow() });
    }
  }

  #control(type: string, fields: Record<string, unknown>): void {
    const frame = controlFrame(this.format, type, fields);
    if (this.#waiting === undefined) return this.send(frame);
    void this.#waiting.then(() => this.send(frame));
  }

  #error(message: string): void {
    this.metrics.error('ws_invalid_message');
    this.#control('error', { message });
  }

  /** uWS closed the connection. */
  closed(): void {
    this.#open = false;
    this.fanout.unsubscribe(this.subscriber);
  }

  // SubscriberSocket
  subscribe(topic: string): void {
    if (this.#open) this.ws.subscribe(topic);
  }
  unsubscribe(topic: string): void {
    if (this.#open) this.ws.unsubscribe(topic);
  }
  send(frame: Frame): void {
    if (this.#open) this.ws.send(frame, typeof frame !== 'string');
  }
  bufferedAmount(): number {
    return this.#open ? this.ws.getBufferedAmount() : 0;
  }
  end(code: number, reason: string): void {
    if (!this.#open) return;
    this.ws.end(code, reason);
    setTimeout(() => {
      if (this.#open) this.ws.close();
    }, CLOSE_GRACE_MS).unref();
  }
}
