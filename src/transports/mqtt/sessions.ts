/**
 * The registry of sessions by client id: take over, start clean, resume, end, expire.
 * @module
 */
import type { MqttConnection } from './connection.ts';
import type { MqttContext } from './context.ts';
import { Reason } from './reason-codes.ts';
import { Session } from './session.ts';

/**
 * Attaches `c` to the session of `clientId`: the previous connection with that id is closed
 * [MQTT-3.1.4-2]; a clean start discards the old state [MQTT-3.1.2-6]. Returns whether a
 * session was present (for CONNACK).
 */
export function attachSession(ctx: MqttContext, c: MqttConnection, clientId: string, cleanStart: boolean, expiryMs: number): boolean {
  const old = ctx.sessions.get(clientId);
  if (old?.connection && old.connection !== c) {
    const previous = old.connection;
    old.connection = undefined;
    previous.disconnect(Reason.sessionTakenOver, 'another connection took over this client id');
  }
  let session = old;
  const present = old !== undefined && !cleanStart;
  if (!present) {
    if (old) endSession(ctx, old);
    session = new Session(clientId, expiryMs, ctx.limits.maxOfflineMessages, () => ctx.metrics.error('mqtt_message_dropped'));
    ctx.sessions.set(clientId, session);
  } else session!.expiryMs = expiryMs;
  c.session = session;
  session!.connection = c;
  return present;
}

/** Forgets a session and its subscriptions. */
export function endSession(ctx: MqttContext, s: Session): void {
  if (ctx.sessions.get(s.clientId) === s) ctx.sessions.delete(s.clientId);
  ctx.router.drop(s);
}

/** Ends the sessions whose client stayed away past their expiry. */
export function expireSessions(ctx: MqttContext, now: number): void {
  for (const s of ctx.sessions.values()) if (s.connection === undefined && s.expiresAt !== undefined && now >= s.expiresAt) endSession(ctx, s);
}
