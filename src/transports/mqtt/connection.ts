/**
 * One MQTT network connection: socket ⇄ framer ⇄ decoder (fast path or mqtt-packet) ⇄ handlers.
 * Reads only while there is room for more publishes in flight (pull, not push), so a slow
 * or saturated queue turns into TCP backpressure instead of memory or dropped readings. Writes
 * honour the socket's backpressure: messages to a subscriber wait in its session's bounded
 * queue while the socket has not taken what was written, and a client that takes nothing for
 * MQTT_DRAIN_TIMEOUT_MS is dropped.
 * @module
 */
import type { Duplex } from 'node:stream';
import * as mqtt from 'mqtt-packet';
import type { Packet } from 'mqtt-packet';
import { ANONYMOUS, type Identity, type IssuedIdentity } from '../../auth/identity.ts';
import type { MqttContext } from './context.ts';
import { parseAck } from './fast-acks.ts';
import { parsePublish } from './fast-publish.ts';
import { FrameError, Framer } from './framer.ts';
import { dispatch } from './handlers/index.ts';
import { decodeFrame } from './packet-decoder.ts';
import { encodePublish, publishSize, type PublishDelivery } from './publish-encoder.ts';
import { Reason } from './reason-codes.ts';
import type { Delivery, Session } from './session.ts';
import type { Will } from './sessions.ts';
import { connectLevel, illFormedString } from './utf8.ts';

/** Frames of a connection with none pending (shared; replaced, never written to). */
const NO_FRAMES: Buffer[] = [];
/** Bytes read ahead while publishes wait for room, to answer PINGREQs behind them; past it, TCP backpressure. */
const READ_AHEAD_BYTES = 64 * 1024;
/** The Maximum Packet Size of a client that announces none: the protocol's limit [MQTT-3.1.2-24]. */
const PROTOCOL_MAX_PACKET = 268_435_460;

export type ConnectionState = 'awaiting-connect' | 'connected' | 'closed';

/**
 * Socket events reach their connection through this map and shared listener functions, not
 * through closures per connection: four closures and their contexts were a tenth of an idle
 * connection's memory.
 */
const bySocket = new WeakMap<Duplex, MqttConnection>();
function onReadable(this: Duplex): void {
  bySocket.get(this)?.socketReadable();
}
function onDrain(this: Duplex): void {
  bySocket.get(this)?.socketDrained();
}
function onError(this: Duplex): void {
  bySocket.get(this)?.destroy();
}
function onClose(this: Duplex): void {
  bySocket.get(this)?.socketClosed();
}
/** Bytes of short acknowledgements gathered per write: 64 of them. */
const ACKS_BYTES = 256;

function uncork(c: MqttConnection): void {
  c.socketUncork();
}

/**
 * Deliveries to subscribers are written out together every MQTT_FLUSH_MS: with 1,000
 * subscribers and readings arriving one by one, writing each at once made the write syscalls
 * half of the server's CPU (profiled). One timer for all connections; acknowledgements and
 * other answers still leave at the end of the event-loop turn.
 */
const delayed = new Set<MqttConnection>();
let flushTimer: NodeJS.Timeout | undefined;
function flushDelayed(): void {
  flushTimer = undefined;
  const due = [...delayed];
  delayed.clear();
  for (const c of due) c.socketUncork();
}

/** Told when a connection's socket closed (the set that tracks it). */
export interface ConnectionOwner {
  closed(c: MqttConnection): void;
}

export class MqttConnection {
  state: ConnectionState = 'awaiting-connect';
  protocolVersion = 4;
  clientId = '';
  /** The device this connection counts for in the fleet state (set at CONNECT when DEVICE_STATE=on). */
  trackedDevice: string | undefined;
  /** Seconds, from CONNECT (or the Server Keep Alive sent back); 0 = no keep-alive. */
  keepAlive = 0;
  /** The device a verified TLS client certificate names (mTLS), and when it was issued, if any. */
  certificate: IssuedIdentity | undefined;
  /** Publishes refused in a row by the rate limit (see handlers/publish.ts). */
  rateStrikes = 0;
  /** Who the client proved to be at CONNECT (ANONYMOUS with AUTH_MODE=none). */
  identity: Identity = ANONYMOUS;
  /** v5 topic aliases the client set on this network connection (not kept in the session). */
  topicAliases: Map<number, string> | undefined;
  /** Set by CONNECT; outlives the connection when persistent. */
  session: Session | undefined;
  /** QoS 1 publishes from the client not yet acknowledged (for its Receive Maximum, v5). */
  unackedQos1 = 0;
  /** Whether the connection is still connected (a held publish's retries stop when not): one function per connection, not per publish. */
  readonly alive = (): boolean => this.state === 'connected';
  /** v5: the largest packet the client accepts [MQTT-3.1.2-24]. */
  maxPacketToClient = PROTOCOL_MAX_PACKET;
  /** v5: the highest topic alias the client accepts from the server (0: none) [MQTT-3.3.2-11]. */
  topicAliasMaxToClient = 0;
  /** A TCP or TLS socket, or the byte stream of an MQTT-over-WebSocket connection. */
  readonly socket: Duplex;
  readonly ctx: MqttContext;
  readonly openedAt = Date.now();
  /**
   * When the last whole packet arrived from the client (read off the socket, handled or not):
   * keep-alive is measured from here [MQTT-3.1.2-22]. Not from the last packet *handled*: a
   * connection the server stopped reading (queue down) would otherwise time out by our doing.
   * Not from any byte either: a packet trickled a byte at a time must not hold a connection.
   */
  lastPacketAt = Date.now();
  /** The will to publish if the connection ends without a normal DISCONNECT [MQTT-3.1.2-8]. */
  will: Will | undefined;
  /** Its will is kept in the shared state too (for an instance that outlives this one). */
  willShared = false;
  #framer: Framer;
  #inFlight = 0;
  #waitingForRoom = false;
  /** Reading stopped by the server (a publish waits for room): the keep-alive clock does not run against the client. */
  #paused = false;
  #readAhead = 0;
  #drainTimer: NodeJS.Timeout | undefined;
  /** Corked until the end of this event-loop turn ('turn') or the next delivery flush ('flush'). */
  #corked: 'no' | 'turn' | 'flush' = 'no';
  /** Short acknowledgements of this turn not yet written (sendShortAck). */
  #acks: Buffer | undefined;
  #acksLen = 0;
  /** Counted in the connected clients ($SYS, sessions) since its CONNACK. */
  #counted = false;
  /** Frames read and not yet handled (a PUBLISH waiting for room stops the loop). */
  #frames: Buffer[] = NO_FRAMES;
  #next = 0;
  /** Set while CONNECT is being authenticated: no further packet is handled until it is settled. */
  #holding = false;
  /** Server → client topic aliases; they live as long as this network connection. */
  #aliasesOut: Map<string, number> | undefined;
  /** Registered with the in-flight budget or the pipeline while waiting for room (made on first need). */
  #resume: (() => void) | undefined;
  readonly #owner: ConnectionOwner | undefined;
  /** The source address counted in MAX_CONNECTIONS_PER_IP, released when the socket closes. */
  readonly #address: string | undefined;
  /** Counted in ctx.preConnect (MAX_UNAUTHENTICATED_CONNECTIONS) until its CONNECT is accepted or it closes. */
  #preConnect: boolean;

  /** @param preConnect the caller counted it in ctx.preConnect */
  constructor(socket: Duplex, ctx: MqttContext, owner?: ConnectionOwner, address?: string, preConnect = false) {
    this.#preConnect = preConnect;
    this.socket = socket;
    this.ctx = ctx;
    this.#owner = owner;
    this.#address = address;
    // until its CONNECT is accepted a connection is nobody's: a smaller packet limit
    this.#framer = new Framer(Math.min(ctx.limits.maxConnectBytes, ctx.limits.maxPacketBytes));
    bySocket.set(socket, this);
    socket.on('readable', onReadable);
    socket.on('drain', onDrain);
    socket.on('error', onError);
    socket.on('close', onClose);
  }

  /** Publishes awaiting the queue on this connection. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** The socket has not taken what was written: messages wait in the session's queue until it drains. */
  get congested(): boolean {
    return this.socket.writableNeedDrain;
  }

  /** Whether the keep-alive has run out: 1.5 × the keep-alive without a packet from the client [MQTT-3.1.2-22], never while the server itself stopped reading. */
  keepAliveExpired(now: number): boolean {
    return this.keepAlive > 0 && !this.#paused && now - this.lastPacketAt > this.keepAlive * 1500;
  }

  /** Counts a publish of `bytes` as in flight until `settled(bytes)`. */
  begin(bytes: number): void {
    this.#inFlight++;
    this.ctx.budget.take(bytes);
  }

  /** A publish counted by `begin` settled; reading resumes (at once, here) when there is room again. */
  settled(bytes: number): void {
    this.#inFlight--;
    this.ctx.budget.give(bytes);
    if (this.#waitingForRoom && this.#inFlight < this.ctx.limits.receiveMaximum) {
      this.#waitingForRoom = false;
      this.#read();
    }
  }

  /** The socket has bytes to read (its 'readable' event). */
  socketReadable(): void {
    this.#read();
  }

  #read(): void {
    while (this.state !== 'closed') {
      if (!this.#handleFrames()) {
        if (this.#paused && (this.state as ConnectionState) !== 'closed') this.#readAheadForPings();
        return;
      }
      const chunk = this.socket.read() as Buffer | null;
      if (chunk === null) return;
      if (!this.#take(chunk)) return;
    }
  }

  /** Frames `chunk`; false when the stream is broken (the connection is then closed). */
  #take(chunk: Buffer): boolean {
    this.ctx.stats.bytesReceived += chunk.length;
    const frames = this.#framer.push(chunk);
    if (!Array.isArray(frames)) {
      if (frames.error === FrameError.tooLarge) {
        this.protocolError(Reason.packetTooLarge, `packet of ${frames.size} bytes exceeds the maximum of ${this.#framer.maxPacketBytes}`);
      } else this.protocolError(Reason.malformedPacket, 'malformed remaining length');
      return false;
    }
    if (frames.length > 0) this.lastPacketAt = Date.now();
    if (this.#next >= this.#frames.length) {
      this.#frames = frames;
      this.#next = 0;
    } else for (const f of frames) this.#frames.push(f);
    return true;
  }

  /**
   * While a publish waits for room, the client's PINGREQs behind it are answered (up to
   * READ_AHEAD_BYTES read ahead), so that a client held back by the server does not give up on
   * a keep-alive it kept; everything else stays in order behind the publish.
   */
  #readAheadForPings(): void {
    this.#answerPings();
    while (this.#readAhead < READ_AHEAD_BYTES && this.state !== 'closed') {
      const chunk = this.socket.read() as Buffer | null;
      if (chunk === null) return;
      const before = this.#frames.length;
      if (!this.#take(chunk)) return;
      for (let i = before; i < this.#frames.length; i++) this.#readAhead += this.#frames[i]!.length;
      this.#answerPings();
    }
  }

  #answerPings(): void {
    const frames = this.#frames;
    let kept = this.#next + 1;
    for (let i = this.#next + 1; i < frames.length; i++) {
      const f = frames[i]!;
      // PINGREQ: type 12, no flags, remaining length 0 [MQTT-3.12.4-1]
      if (f.length === 2 && f[0] === 0xc0 && f[1] === 0) this.send({ cmd: 'pingresp' });
      else frames[kept++] = f;
    }
    if (kept < frames.length) frames.length = kept;
  }

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
      if (frame[0]! >> 4 === 3 && !this.#roomForPublish()) {
        this.#paused = true;
        return false;
      }
      this.#paused = false;
      this.#next++;
      try {
        const illFormed = illFormedString(frame, this.protocolVersion);
        if (illFormed !== undefined) {
          // [MQTT-1.5.4-1] ill-formed UTF-8 closes the connection (mqtt-packet would decode it with U+FFFD)
          this.#malformedString(frame, illFormed);
          return false;
        }
        const fast = this.state === 'connected' ? (parsePublish(frame, this.protocolVersion) ?? parseAck(frame, this.protocolVersion)) : undefined;
        if (fast !== undefined) dispatch(this, fast);
        else {
          const packet = decodeFrame(frame, this.protocolVersion);
          if (packet instanceof Error) {
            this.protocolError(Reason.malformedPacket, packet.message);
            return false;
          }
          dispatch(this, packet);
        }
      } catch (err) {
        this.#failed(err);
        return false;
      }
    }
    this.#frames = NO_FRAMES;
    this.#next = 0;
    this.#readAhead = 0;
    this.#paused = false;
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
      this.ctx.budget.whenRoom((this.#resume ??= () => this.#read()));
      return false;
    }
    if (this.ctx.pipeline.saturated) {
      // QoS 0 included: a busy queue slows the sender down instead of dropping its readings
      this.ctx.pipeline.whenRoom((this.#resume ??= () => this.#read()));
      return false;
    }
    return true;
  }

  /** Handles no further packet until `work` settles (CONNECT awaiting its credentials check). */
  hold(work: Promise<unknown>): void {
    this.#holding = true;
    work.then(
      () => this.#unhold(),
      (err: unknown) => {
        this.#unhold();
        this.#failed(err);
      },
    );
  }

  #unhold(): void {
    this.#holding = false;
    this.#read();
  }

  /** The CONNECT was accepted (CONNACK sent): the client counts as connected until the socket closes. */
  accepted(): void {
    this.state = 'connected';
    this.#counted = true;
    this.ctx.stats.connected++;
    this.#framer.maxPacketBytes = this.ctx.limits.maxPacketBytes;
    this.#releasePreConnect();
  }

  /** No longer counted among the connections without an accepted CONNECT (once). */
  #releasePreConnect(): void {
    if (!this.#preConnect) return;
    this.#preConnect = false;
    this.ctx.preConnect.remove();
  }

  /** Called by the CONNECT handler once the protocol version is known. */
  setProtocolVersion(v: number): void {
    this.protocolVersion = v;
  }

  /**
   * Writes a packet (not PUBLISH to subscribers: sendPublish). A v5 packet larger than the
   * client accepts [MQTT-3.1.2-24] loses its reason string and user properties; one still too
   * large is not sent.
   */
  send(packet: Packet): void {
    if (this.state === 'closed') return;
    let bytes = mqtt.generate(packet, { protocolVersion: this.protocolVersion });
    if (bytes.length > this.maxPacketToClient) {
      const props = (packet as { properties?: Record<string, unknown> }).properties;
      if (props === undefined) return;
      const { reasonString: _r, userProperties: _u, ...rest } = props;
      bytes = mqtt.generate({ ...packet, properties: rest } as Packet, { protocolVersion: this.protocolVersion });
      if (bytes.length > this.maxPacketToClient) return;
    }
    this.#write(bytes);
  }

  /**
   * Writes the PUBLISH of `d` with packet identifier `packetId` (QoS 1/2). False when the client's
   * Maximum Packet Size does not allow it: discarded, as the specification asks [MQTT-3.1.2-25].
   */
  sendPublish(d: Delivery, packetId: number | undefined, dup: boolean): boolean {
    if (this.state === 'closed') return true;
    const v5 = this.protocolVersion === 5;
    const m = d.m;
    const p: PublishDelivery = { qos: d.qos, retain: d.retain, dup };
    if (packetId !== undefined) p.packetId = packetId;
    let newAlias = false;
    if (v5) {
      // the expiry sent is what is left of it [MQTT-3.3.2-6]
      if (m.expiresAt !== undefined) p.expirySeconds = Math.max(1, Math.ceil((m.expiresAt - Date.now()) / 1000));
      if (d.subscriptionIds !== undefined) p.subscriptionIds = d.subscriptionIds;
      if (this.topicAliasMaxToClient > 0) newAlias = this.#alias(m.topic, p);
    }
    if (this.maxPacketToClient < PROTOCOL_MAX_PACKET && publishSize(m, p, v5) > this.maxPacketToClient) {
      if (newAlias) this.#unalias(m.topic);
      this.ctx.sessions.dropped('packet_too_large');
      return false;
    }
    this.ctx.stats.messagesSent++;
    this.#write(encodePublish(m, p, v5), true);
    return true;
  }

  /** Server → client topic alias: the topic's alias if it has one (topic omitted), else a new one while any is left. True when a new alias was set. */
  #alias(topic: string, p: PublishDelivery): boolean {
    const aliases = (this.#aliasesOut ??= new Map());
    const known = aliases.get(topic);
    if (known !== undefined) {
      p.topicAlias = known;
      p.topicOmitted = true;
      return false;
    }
    // [MQTT-3.3.2-11] never above the client's Topic Alias Maximum
    if (aliases.size >= this.topicAliasMaxToClient) return false;
    const alias = aliases.size + 1;
    aliases.set(topic, alias);
    p.topicAlias = alias;
    return true;
  }

  #unalias(topic: string): void {
    this.#aliasesOut?.delete(topic);
  }

  #write(bytes: Buffer, delivery = false): void {
    this.#cork(delivery);
    // acknowledgements gathered before this packet go before it
    if (this.#acksLen > 0) this.#flushAcks();
    this.#socketWrite(bytes);
  }

  /**
   * Corks the socket until the end of this event-loop turn (an answer) or the next deliveries'
   * flush (a delivery): the acks of one queue batch settle in one run of callbacks, one writev for
   * all of them; deliveries to subscribers wait for the next flush (MQTT_FLUSH_MS).
   */
  #cork(delivery: boolean): void {
    const flushMs = this.ctx.limits.flushMs;
    if (this.#corked === 'no') {
      this.socket.cork();
      if (delivery && flushMs > 0) {
        this.#corked = 'flush';
        delayed.add(this);
        flushTimer ??= setTimeout(flushDelayed, flushMs);
      } else {
        this.#corked = 'turn';
        process.nextTick(uncork, this);
      }
    } else if (this.#corked === 'flush' && !delivery) {
      // an answer does not wait for the deliveries' flush
      delayed.delete(this);
      this.#corked = 'turn';
      process.nextTick(uncork, this);
    }
  }

  #socketWrite(bytes: Buffer): void {
    this.ctx.stats.bytesSent += bytes.length;
    const ok = this.socket.write(bytes);
    if (!ok && this.#drainTimer === undefined) {
      this.#drainTimer = setTimeout(() => {
        this.ctx.refusals.note('mqtt_not_reading', { client_id: this.clientId }, 'mqtt client not reading its answers: disconnected');
        this.destroy();
      }, this.ctx.limits.drainTimeoutMs);
    }
  }

  /**
   * A successful acknowledgement without properties (PUBACK, PUBREC, ...: 4 bytes, the same in
   * 3.1.1 and 5 [MQTT-3.4.2-1]) written without building a packet object: gathered with the
   * others of this turn into one buffer, written before any other packet and at the turn's end.
   * Under QoS 1 load one write per connection and batch instead of one buffer per PUBACK.
   */
  sendShortAck(firstByte: number, messageId: number): void {
    if (this.state === 'closed') return;
    let b = this.#acks;
    if (b === undefined || this.#acksLen + 4 > b.length) {
      if (b !== undefined) this.#flushAcks();
      b = this.#acks = Buffer.allocUnsafe(ACKS_BYTES);
    }
    this.#cork(false);
    const at = this.#acksLen;
    b[at] = firstByte;
    b[at + 1] = 2;
    b[at + 2] = messageId >> 8;
    b[at + 3] = messageId & 0xff;
    this.#acksLen = at + 4;
  }

  #flushAcks(): void {
    const b = this.#acks!;
    const n = this.#acksLen;
    // the buffer goes to the socket: the next acks get a new one
    this.#acks = undefined;
    this.#acksLen = 0;
    if (this.state !== 'closed') this.#socketWrite(b.subarray(0, n));
  }

  /** The client ended the connection with DISCONNECT: no will (unless v5 asked for it with 0x04). */
  disconnectedByClient(keepWill: boolean): void {
    if (!keepWill) this.will = undefined;
    this.#end();
  }

  socketUncork(): void {
    if (this.#corked === 'no') return;
    this.#corked = 'no';
    if (this.#acksLen > 0) this.#flushAcks();
    this.socket.uncork();
  }

  /** The socket took what was written (its 'drain' event): the session's queue may go on. */
  socketDrained(): void {
    clearTimeout(this.#drainTimer);
    this.#drainTimer = undefined;
    if (this.session?.connection === this) this.session.pump();
  }

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

  /** The socket closed (its 'close' event). */
  socketClosed(): void {
    bySocket.delete(this.socket);
    delayed.delete(this);
    this.state = 'closed';
    if (this.trackedDevice !== undefined) {
      this.ctx.devices?.mqttDisconnected(this.trackedDevice);
      this.trackedDevice = undefined;
    }
    if (this.#resume !== undefined) this.ctx.budget.forget(this.#resume);
    if (this.#address !== undefined) this.ctx.perAddress.remove(this.#address);
    this.#releasePreConnect();
    this.#owner?.closed(this);
    clearTimeout(this.#drainTimer);
    if (this.#counted) {
      this.#counted = false;
      this.ctx.stats.connected--;
    }
    const will = this.will;
    this.will = undefined;
    this.ctx.sessions.connectionClosed(this, will);
  }
}
