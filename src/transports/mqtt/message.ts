/**
 * An application message as the router moves it between publishers and sessions: what was
 * published (or what the ingest pipeline stored), with the MQTT 5 properties the server must
 * forward unaltered [MQTT-3.3.2-15..20] and who published it (for No Local).
 * @module
 */

/** The v5 PUBLISH properties forwarded to subscribers as they were published. */
export interface MessageProperties {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  /** Request / response: where the receiver should publish its answer [MQTT-3.3.2-15]. */
  responseTopic?: string;
  /** Request / response: handed back with the answer [MQTT-3.3.2-16]. */
  correlationData?: Buffer;
  /** Name / value pairs, forwarded unchanged and in order [MQTT-3.3.2-17], [MQTT-3.3.2-18]. */
  userProperties?: [string, string][];
}

export interface Message {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  /** v5 Message Expiry: not delivered after this time (ms since epoch) [MQTT-3.3.2-5]. */
  readonly expiresAt?: number;
  readonly properties?: MessageProperties;
  /** Client id of the publisher: subscriptions with No Local skip it [MQTT-3.8.3-3]. */
  readonly origin?: string;
  /** The authenticated identity that published it (auth/identity.ts ownerOf; '' or absent: none): what its retained copy counts against. */
  readonly owner?: string;
  /**
   * With other instances (cluster-link.ts): an id unique across the fleet, given where it was
   * published, by which a session that just moved between instances knows a copy it already had.
   */
  rid?: string;
}

/** `m` without its fleet-wide id: a copy that is a delivery of its own (a retained message sent on SUBSCRIBE). */
export function withoutRid(m: Message): Message {
  if (m.rid === undefined) return m;
  const copy = { ...m };
  delete copy.rid;
  return copy;
}

/** Whether `m` has outlived its v5 Message Expiry Interval. */
export function expired(m: Message, now = Date.now()): boolean {
  return m.expiresAt !== undefined && now >= m.expiresAt;
}

/** Bytes a queued copy of `m` is accounted for against the queue bounds (payload, topic, properties). */
export function accountedBytes(m: Message): number {
  let n = m.payload.length + m.topic.length + 16;
  const p = m.properties;
  if (p !== undefined) {
    n += (p.contentType?.length ?? 0) + (p.responseTopic?.length ?? 0) + (p.correlationData?.length ?? 0);
    if (p.userProperties !== undefined) for (const [k, v] of p.userProperties) n += k.length + v.length + 4;
  }
  return n;
}

/** The PUBLISH (or will) properties that travel with a message: what mqtt-packet decoded of them. */
interface PacketProperties {
  payloadFormatIndicator?: boolean;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  userProperties?: Record<string, string | string[]>;
  /** The same User Properties in wire order, when the decoder kept it (fast-publish.ts). */
  userPropertyPairs?: [string, string][];
  messageExpiryInterval?: number;
}

/** The forwarded properties among `p` (undefined when there are none). */
export function forwardedProperties(p: PacketProperties | undefined): MessageProperties | undefined {
  if (p === undefined) return undefined;
  const out: MessageProperties = {};
  let any = false;
  if (p.payloadFormatIndicator !== undefined) ((out.payloadFormatIndicator = p.payloadFormatIndicator), (any = true));
  if (p.contentType !== undefined) ((out.contentType = p.contentType), (any = true));
  if (p.responseTopic !== undefined) ((out.responseTopic = p.responseTopic), (any = true));
  if (p.correlationData !== undefined) ((out.correlationData = p.correlationData), (any = true));
  const pairs = p.userPropertyPairs ?? (p.userProperties === undefined ? undefined : pairsOf(p.userProperties));
  if (pairs !== undefined) ((out.userProperties = pairs), (any = true));
  return any ? out : undefined;
}

/** mqtt-packet's User Properties object as pairs (order across different names is not known there). */
function pairsOf(o: Record<string, string | string[]>): [string, string][] {
  const out: [string, string][] = [];
  for (const [k, v] of Object.entries(o)) for (const one of Array.isArray(v) ? v : [v]) out.push([k, String(one)]);
  return out;
}

/** A client's PUBLISH as a message: its properties kept, its expiry made absolute [MQTT-3.3.2-5]. */
export function messageOf(p: { topic: string; payload: Buffer | string; qos: 0 | 1 | 2; retain: boolean; properties?: PacketProperties }, origin: string, owner = ''): Message {
  const payload = typeof p.payload === 'string' ? Buffer.from(p.payload) : p.payload;
  const properties = forwardedProperties(p.properties);
  const expiry = p.properties?.messageExpiryInterval;
  return {
    topic: p.topic,
    payload,
    qos: p.qos,
    retain: p.retain,
    origin,
    ...(owner !== '' ? { owner } : {}),
    ...(expiry !== undefined ? { expiresAt: Date.now() + expiry * 1000 } : {}),
    ...(properties !== undefined ? { properties } : {}),
  };
}
