/**
 * DISCONNECT from the client: close cleanly, discarding the will [MQTT-3.14.4-3] unless v5 asked
 * for it (0x04); a v5 Session Expiry Interval on DISCONNECT replaces the one of CONNECT, within
 * MQTT_MAX_SESSION_EXPIRY_S, and may not turn a session that ends with its connection into a
 * persistent one (a Protocol Error, MQTT 5 §3.14.2.2.2).
 */
import type { IDisconnectPacket } from 'mqtt-packet';
import { Bound } from '../bounds.ts';
import type { MqttConnection } from '../connection.ts';
import { Reason } from '../reason-codes.ts';

const DISCONNECT_WITH_WILL = 0x04;
const NEVER = 0xffff_ffff;

export function handleDisconnect(c: MqttConnection, p: IDisconnectPacket): void {
  const requested = c.protocolVersion === 5 ? p.properties?.sessionExpiryInterval : undefined;
  const session = c.session;
  if (requested !== undefined && session !== undefined) {
    if (session.expiryMs === 0 && requested > 0) return c.protocolError(Reason.protocolError, 'Session Expiry Interval set on DISCONNECT after 0 on CONNECT');
    const requestedMs = requested >= NEVER ? Number.POSITIVE_INFINITY : requested * 1000;
    const expiryMs = c.ctx.sessions.clampExpiry(requestedMs);
    if (expiryMs < requestedMs) c.ctx.bounds.hit(Bound.sessionExpiry, 'MQTT_MAX_SESSION_EXPIRY_S');
    session.expiryMs = expiryMs;
  }
  c.disconnectedByClient(c.protocolVersion === 5 && p.reasonCode === DISCONNECT_WITH_WILL);
}
