/**
 * One MQTT network connection: socket ⇄ framer ⇄ parser (fast path or mqtt-packet) ⇄ handlers.
 * Reads only while there is room for more publishes in flight (pull, not push), so a slow
 * or saturated queue turns into TCP backpressure instead of memory or dropped readings. Writes honour the socket's
 * backpressure and drop clients that stop reading.
 * @module
 */
import type { Duplex } from 'node:stream';
import * as mqtt from 'mqtt-packet';
import type { Packet, Parser } from 'mqtt-packet';
import { ANONYMOUS, type Identity } from '../../auth/identity.ts';
import type { MqttContext } from './context.ts';
import { parsePublish } from './fast-publish.ts';
import { FrameError, Framer } from './framer.ts';
import { endSession } from './sessions.ts';
import { dispatch } from './handlers/index.ts';
import { Reason } from './reason-codes.ts';
import type { Message } from './router.ts';
import type { Session } from './session.ts';
import { connectLevel, illFormedString } from './utf8.ts';

/** Bytes queued to a subscriber past which messages to it are dropped (counted) instead of buffered. */
const SLOW_SUBSCRIBER_BYTES = 4 * 1024 * 1024;

export type ConnectionState = 'awaiting-connect' | 'connected' | 'closed';

export class MqttConnection {
  state: ConnectionState = 'awaiting-connect';
  protocolVersion = 4;
  clientId = '';
  /** The device this connection counts for in the fleet state (set at CONNECT when DEVICE_STATE=on). */
  trackedDevice: string | undefined;
  /** Seconds, from CONNECT; 0 = no keep-alive. */
  keepAlive = 0;
  /** The device a verified TLS client certificate names (mTLS), if any. */
  certificate: Identity | undefined;
  /** Publishes refused in a row by the rate limit (see handlers/publish.ts). */
  rateStrikes = 0;
  /** Who the client proved to be at CONNECT (ANONYMOUS with AUTH_MODE=none). */
  identity: Identity = ANONYMOUS;
  /** v5 topic aliases the client set on this network connection (not kept in the session). */
  readonly topicAliases = new Map<number, string>();
  /** Set by CONNECT; outlives the connection when persistent. */
  session: Session | undefined;
  /** A TCP or TLS socket, or the byte stream of an MQTT-over-WebSocket connection. */
  readonly socket: Duplex;
  readonly ctx: MqttContext;
  readonly openedAt = Date.now();
  lastPacketAt = Date.now();
  /** The will to publish if the connection ends without a normal DISCONNECT [MQTT-3.1.2-8]. */
  will: Message | undefined;
  #framer: Framer;
  #parser: Parser;
  #inFlight = 0;
  #waitingForRoom = false;
  #drainTimer: NodeJS.Timeout | undefined;
  #corked = false;
  /** Frames read and not yet handled (a PUBLISH waiting for room stops the loop). */
  #frames: Buffer[] = [];
  #next = 0;
  /** Set while CONNECT is being authenticated: no further packet is handled until it is settled. */
  #holding = false;

  constructor(socket: Duplex, ctx: MqttContext) {
    this.socket = socket;
    this.ctx = ctx;
    this.#framer = new Framer(ctx.limits.maxPacketBytes);
    this.#parser = mqtt.parser({ protocolVersion: 4 });
    this.#parser.on('packet', (p: Packet) => {
      this.lastPacketAt = Date.now();
      dispatch(this, p);
    });
    this.#parser.on('error', (err: Error) => this.protocolError(Reason.malformedPacket, err.message));
    socket.on('readable', this.#read);
    socket.on('drain', this.#drained);
    socket.on('error', () => this.destroy());
    socket.on('close', () => this.#closed());
  }

  /** Publishes awaiting the queue on this connection. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Counts a publish of `bytes` until `work` settles; reading resumes when there is room again. */
  track<T>(work: Promise<T>, bytes: number): Promise<T> {
    this.#inFlight++;
    this.ctx.budget.take(bytes);
    return work.finally(() => {
      this.#inFlight--;
      this.ctx.budget.give(bytes);
      if (this.#waitingForRoom && this.#inFlight < this.ctx.limits.receiveMaximum) {
        this.#waitingForRoom = false;
        this.#read();
      }
    });
  }

  readonly #read = (): void => {
    while (this.state !== 'closed') {
      if (!this.#handleFrames()) return;
      const chunk = this.socket.read() as Buffer | null;
      if (chunk === null) return;
      const frames = this.#framer.push(chunk);
      if (!Array.isArray(frames)) {
        if (frames.error === FrameError.tooLarge) {
          this.protocolError(Reason.packetTooLarge, `packet of ${frames.size} bytes exceeds the maximum of ${this.ctx.limits.maxPacketBytes}`);
        } else this.protocolError(Reason.malformedPacket, 'malformed remaining length');
        return;
      }
      this.#frames = frames;
      this.#next = 0;
    }
  };

  /**
   * Handles the frames already read, one by one, while there is room: a PUBLISH waits (and with
   * it the socket, so TCP backpressure reaches the device) when this connection has
   * MQTT_RECEIVE_MAXIMUM publishes in flight, when all connections hold MQTT_MAX_IN_FLIGHT_BYTES,
   * or when the queue is saturated. Returns false when it stopped for room or the connection closed.
   */
  #handleFrames(): boolean {
    while (this.#next < this.#frames.length) {
      if (this.state === 'closed' || this.#holding) return false;
      const frame = this.#frames[this.#next]!;
      if (frame[0]! >> 4 === 3 && !this.#roomForPublish()) return false;
      this.#next++;
      try {
        const illFormed = illFormedString(frame, this.protocolVersion);
        if (illFormed !== undefined) {
          // [MQTT-1.5.4-1] ill-formed UTF-8 closes the connection (mqtt-packet would decode it with U+FFFD)
          this.#malformedString(frame, illFormed);
          return false;
        }
        const publish = this.state === 'connected' ? parsePublish(frame, this.protocolVersion) : undefined;
        if (publish !== undefined) {
          this.lastPacketAt = Date.now();
          dispatch(this, publish);
        } else this.#parser.parse(frame);
      } catch (err) {
        this.#failed(err);
        return false;
      }
    }
    this.#frames = [];
    this.#next = 0;
    return this.state !== 'closed';
  }

  /** Handling a packet threw (a bug): this connection is closed; the process and the other connections carry on. */
  #failed(err: unknown): void {
    this.ctx.log.error({ err, client_id: this.clientId }, 'mqtt packet handling failed: connection closed');
    this.ctx.metrics.error('internal');
    this.disconnect(Reason.implementationSpecificError, 'internal error');
  }

  /** A string field of `frame` is not well-formed UTF-8: a v5 CONNECT is answered CONNACK 0x81, anything else as a protocol error. */
  #malformedString(frame: Buffer, field: string): void {
    if (this.state === 'awaiting-connect' && frame[0]! >> 4 === 1 && connectLevel(frame) === 5) {
      this.setProtocolVersion(5);
      this.send({ cmd: 'connack', reasonCode: Reason.malformedPacket, sessionPresent: false, properties: { reasonString: `${field}: ill-formed UTF-8 or U+0000` } });
    }
    this.protocolError(Reason.malformedPacket, `${field}: ill-formed UTF-8 or U+0000`);
  }

  /** Whether a PUBLISH may be handled now; if not, arranges to be read again when there is room. */
  #roomForPublish(): boolean {
    if (this.#inFlight >= this.ctx.limits.receiveMaximum) {
      this.#waitingForRoom = true;
      return false;
    }
    if (this.ctx.budget.exhausted) {
      this.ctx.budget.whenRoom(this.#read);
      return false;
    }
    if (this.ctx.pipeline.saturated) {
      // QoS 0 included: a busy queue slows the sender down instead of dropping its readings
      this.ctx.pipeline.whenRoom(this.#read);
      return false;
    }
    return true;
  }

  /** Handles no further packet until `work` settles (CONNECT awaiting its credentials check). */
  hold(work: Promise<unknown>): void {
    this.#holding = true;
    work.finally(() => {
      this.#holding = false;
      this.#read();
    });
  }

  /** Called by the CONNECT handler once the protocol version is known. */
  setProtocolVersion(v: number): void {
    this.protocolVersion = v;
    (this.#parser as Parser & { settings: { protocolVersion: number } }).settings.protocolVersion = v;
  }

  /** Writes a packet; a client that does not take its bytes within drainTimeoutMs is dropped. */
  send(packet: Packet): void {
    if (this.state === 'closed') return;
    // coalesce: the acks of one queue batch settle in one microtask run; one writev for all of them
    if (!this.#corked) {
      this.#corked = true;
      this.socket.cork();
      process.nextTick(this.#uncork);
    }
    const ok = mqtt.writeToStream(packet, this.socket, { protocolVersion: this.protocolVersion });
    if (!ok && this.#drainTimer === undefined) {
      this.#drainTimer = setTimeout(() => {
        this.ctx.log.info({ client_id: this.clientId }, 'mqtt client not reading its answers: disconnected');
        this.destroy();
      }, this.ctx.limits.drainTimeoutMs);
    }
  }

  /** True while the client is not taking its bytes: messages to it are dropped, not buffered. */
  get slow(): boolean {
    return this.socket.writableLength > SLOW_SUBSCRIBER_BYTES;
  }

  /** The client ended the connection with DISCONNECT: no will (unless v5 asked for it with 0x04). */
  disconnectedByClient(keepWill: boolean): void {
    if (!keepWill) this.will = undefined;
    this.#end();
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    this.socket.uncork();
  };

  readonly #drained = (): void => {
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
  };

  /** A protocol violation: v5 clients are told why (DISCONNECT with a reason code), then the connection closes. */
  protocolError(reason: Reason, message: string): void {
    if (this.state === 'closed') return;
    this.ctx.metrics.error('mqtt_protocol_error');
    this.ctx.log.debug({ client_id: this.clientId, reason, message }, 'mqtt protocol error');
    this.disconnect(reason, message);
  }

  /** Ends the connection; v5 clients that completed CONNECT get a DISCONNECT with `reason` [MQTT-3.14]. */
  disconnect(reason: Reason, message?: string): void {
    if (this.state === 'closed') return;
    if (this.protocolVersion === 5 && this.state === 'connected') {
      this.send({ cmd: 'disconnect', reasonCode: reason, properties: message ? { reasonString: message.slice(0, 200) } : {} } as Packet);
    }
    this.#end();
  }

  /**
   * Closes from this side: nothing more is read, so neither a client that never reads the FIN
   * nor one whose unread bytes keep its own FIN from being seen (more bytes after its
   * DISCONNECT: the socket was never closed, found by fuzzing) may hold the socket.
   */
  #end(): void {
    this.state = 'closed';
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  destroy(): void {
    this.state = 'closed';
    this.socket.destroy();
  }

  #closed(): void {
    this.state = 'closed';
    if (this.trackedDevice !== undefined) {
      this.ctx.devices?.mqttDisconnected(this.trackedDevice);
      this.trackedDevice = undefined;
    }
    this.ctx.budget.forget(this.#read);
    clearTimeout(this.#drainTimer);
    const session = this.session;
    if (session && session.connection === this) {
      session.connection = undefined;
      if (session.persistent) session.expiresAt = Date.now() + session.expiryMs;
      else endSession(this.ctx, session);
    }
    if (this.will) {
      const will = this.will;
      this.will = undefined;
      this.ctx.router.publish(will);
    }
  }
}
