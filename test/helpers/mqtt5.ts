/**
 * Small helpers around RawMqtt for the MQTT 5 feature tests: a CONNECT with any flags and
 * properties, SUBSCRIBE → SUBACK, the PUBLISH packets received so far, and a round trip
 * (PINGREQ → PINGRESP) used as an ordering marker: the server writes to one socket in order,
 * so whatever it had sent before answering the PINGREQ has arrived once the PINGRESP has.
 */
import type { IConnackPacket, IConnectPacket, IPublishPacket, ISubackPacket, ISubscription, Packet } from 'mqtt-packet';
import { RawMqtt } from './mqtt-raw.ts';
import { waitFor } from './wait.ts';

export interface ConnectOptions {
  version?: 4 | 5;
  clientId?: string;
  clean?: boolean;
  keepalive?: number;
  username?: string;
  password?: string;
  properties?: IConnectPacket['properties'];
}

/** Opens a raw connection and sends CONNECT; returns the client and its CONNACK (whatever its code). */
export async function rawConnect(port: number, o: ConnectOptions = {}): Promise<{ c: RawMqtt; connack: IConnackPacket }> {
  const version = o.version ?? 5;
  const c = await RawMqtt.open(port, version);
  const p: IConnectPacket = {
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: version,
    clean: o.clean ?? true,
    clientId: o.clientId ?? `raw-${Math.random().toString(36).slice(2)}`,
    keepalive: o.keepalive ?? 60,
  };
  if (o.username !== undefined) p.username = o.username;
  if (o.password !== undefined) p.password = Buffer.from(o.password);
  if (o.properties !== undefined) p.properties = o.properties;
  c.send(p);
  const connack = (await c.next('connack')) as IConnackPacket;
  return { c, connack };
}

/** The CONNACK's code: reasonCode (v5) or returnCode (3.1.1). */
export function connackCode(a: IConnackPacket): number {
  return a.reasonCode ?? a.returnCode ?? 0;
}

let nextSubscribeId = 1;

/** SUBSCRIBE and wait for its SUBACK. */
export async function rawSubscribe(c: RawMqtt, subscriptions: ISubscription[], properties?: Record<string, unknown>): Promise<ISubackPacket> {
  const messageId = (nextSubscribeId = (nextSubscribeId % 65_000) + 1);
  c.send({ cmd: 'subscribe', messageId, subscriptions, ...(properties ? { properties } : {}) } as Packet);
  return (await c.next('suback')) as ISubackPacket;
}

/** The PUBLISH packets received so far (not taken off the list). */
export function publishes(c: RawMqtt): IPublishPacket[] {
  return c.packets.filter((p): p is IPublishPacket => p.cmd === 'publish');
}

/** PINGREQ → PINGRESP: everything the server wrote to this connection before it answered has arrived. */
export async function roundTrip(c: RawMqtt, timeoutMs = 5000): Promise<void> {
  c.send({ cmd: 'pingreq' });
  await c.next('pingresp', timeoutMs);
}

let nextPublishId = 1;

/** Publishes at QoS 1 and waits for the PUBACK; returns it. */
export async function publishQos1(c: RawMqtt, topic: string, payload: string | Buffer, extra: Partial<IPublishPacket> = {}): Promise<Packet> {
  const messageId = (nextPublishId = (nextPublishId % 65_000) + 1);
  c.send({ cmd: 'publish', topic, payload: typeof payload === 'string' ? Buffer.from(payload) : payload, qos: 1, messageId, retain: false, dup: false, ...extra } as IPublishPacket);
  return waitForAck(c, messageId);
}

function waitForAck(c: RawMqtt, messageId: number): Promise<Packet> {
  // several publishes may be awaited on one connection: take only the PUBACK of this id
  return waitFor(() => {
    const i = c.packets.findIndex((p) => p.cmd === 'puback' && (p as { messageId?: number }).messageId === messageId);
    return i >= 0 ? c.packets.splice(i, 1)[0] : undefined;
  }, 5000, `PUBACK ${messageId}`) as Promise<Packet>;
}

/** A metric's value, 0 when the series is absent (a counter never incremented). */
export async function metricValue(server: { metric(series: string): Promise<number | undefined> }, series: string): Promise<number> {
  return (await server.metric(series)) ?? 0;
}
