/**
 * MQTT session state, which outlives a connection when the client asked for a persistent
 * session (v3.1.1 clean session 0, v5 Session Expiry Interval > 0) [MQTT-3.1.2-4]:
 * subscriptions, QoS 2 packet ids received, messages sent and not yet acknowledged, and a
 * bounded queue of QoS 1/2 messages that arrived while the client was away [MQTT-3.1.2-5].
 * @module
 */
import type { IPublishPacket } from 'mqtt-packet';
import type { MqttConnection } from './connection.ts';
import { expired, type Message } from './router.ts';

/** QoS 1/2 messages to one client awaiting its acknowledgement, at most. */
const MAX_OUTGOING = 1024;

interface Pending {
  m: Message;
  qos: 1 | 2;
  /** PUBREC received and PUBREL sent: only PUBCOMP is awaited. */
  released: boolean;
}

export class Session {
  readonly subscriptions = new Map<string, 0 | 1 | 2>();
  /** QoS 2 ids received: 'pending' while the reading awaits the queue, 'stored' once PUBREC was sent. */
  readonly qos2Received = new Map<number, 'pending' | 'stored'>();
  readonly #outgoing = new Map<number, Pending>();
  readonly #offline: { m: Message; qos: 1 | 2 }[] = [];
  #lastId = 0;
  connection: MqttConnection | undefined;
  /** QoS 1/2 messages to the client unacknowledged at most: its v5 Receive Maximum, capped [MQTT-3.3.4-7]. */
  maxOutgoing = MAX_OUTGOING;
  /** When the session ends after its connection closed (ms since epoch); undefined while connected. */
  expiresAt: number | undefined;

  constructor(
    readonly clientId: string,
    /** 0 = the session ends with its connection; Infinity = never (v3.1.1 persistent). */
    public expiryMs: number,
    readonly maxOffline: number,
    readonly onDrop: () => void,
  ) {}

  get persistent(): boolean {
    return this.expiryMs > 0;
  }

  /** Sends `m` at the lower QoS of message and subscription, or keeps it while the client is away. */
  deliver(m: Message, subscriptionQos: 0 | 1 | 2): void {
    if (expired(m)) return;
    const qos = Math.min(m.qos, subscriptionQos) as 0 | 1 | 2;
    const c = this.connection;
    if (c === undefined || c.state !== 'connected') {
      if (qos === 0) return; // QoS 0 messages are not kept for an absent client
      if (this.#offline.length >= this.maxOffline) {
        this.#offline.shift();
        this.onDrop();
      }
      this.#offline.push({ m, qos });
      return;
    }
    if (c.slow) {
      this.onDrop();
      return;
    }
    if (qos === 0) {
      c.send(publishPacket(m, 0));
      return;
    }
    const id = this.#allocateId();
    if (id === undefined) {
      this.onDrop();
      return;
    }
    this.#outgoing.set(id, { m, qos, released: false });
    c.send({ ...publishPacket(m, qos), messageId: id });
  }

  /** The client's PUBACK / PUBREC / PUBCOMP [MQTT-4.3.2, 4.3.3]. */
  acknowledged(cmd: 'puback' | 'pubrec' | 'pubcomp', messageId: number): void {
    const p = this.#outgoing.get(messageId);
    if (cmd === 'pubrec' && p?.qos === 2) {
      p.released = true;
      this.connection?.send({ cmd: 'pubrel', messageId });
    } else this.#outgoing.delete(messageId);
  }

  /** A connection took this session: resend what was unacknowledged [MQTT-4.4.0-1], then what queued meanwhile. */
  resume(c: MqttConnection): void {
    this.connection = c;
    this.expiresAt = undefined;
    for (const [id, p] of this.#outgoing) {
      if (p.released) c.send({ cmd: 'pubrel', messageId: id });
      else c.send({ ...publishPacket(p.m, p.qos), messageId: id, dup: true });
    }
    // deliver() skips what expired while the client was away
    const queued = this.#offline.splice(0);
    for (const q of queued) this.deliver(q.m, q.qos);
  }

  #allocateId(): number | undefined {
    if (this.#outgoing.size >= this.maxOutgoing) return undefined;
    do this.#lastId = (this.#lastId % 65_535) + 1;
    while (this.#outgoing.has(this.#lastId));
    return this.#lastId;
  }
}

function publishPacket(m: Message, qos: 0 | 1 | 2): IPublishPacket {
  const packet: IPublishPacket = { cmd: 'publish', topic: m.topic, payload: m.payload, qos, retain: m.retain, dup: false };
  // v5 properties (ignored when encoding for v3.1.1); the expiry sent is what is left of it [MQTT-3.3.2-6]
  const properties: NonNullable<IPublishPacket['properties']> = {};
  if (m.expiresAt !== undefined) properties.messageExpiryInterval = Math.max(1, Math.ceil((m.expiresAt - Date.now()) / 1000));
  if (m.contentType !== undefined) properties.contentType = m.contentType;
  if (m.payloadFormatIndicator !== undefined) properties.payloadFormatIndicator = m.payloadFormatIndicator;
  if (Object.keys(properties).length > 0) packet.properties = properties;
  return packet;
}
