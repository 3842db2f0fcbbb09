/**
 * Who is talking: a device (may publish its own readings and watch them), a subscriber (may
 * watch every reading, publishes nothing), or, with AUTH_MODE=none, anyone.
 * @module
 */
export type Role = 'device' | 'subscriber';

export interface Identity {
  /** The device id (role device) or the subscriber's name (role subscriber). */
  id: string;
  role: Role;
  /** How it was proven: an API key, a JWT, a client certificate (MQTT over TLS), the admin token (live WebSocket only), or nothing (AUTH_MODE=none). */
  via: 'api-key' | 'jwt' | 'mtls' | 'admin-token' | 'none';
}

export const ANONYMOUS: Identity = Object.freeze({ id: '', role: 'device', via: 'none' }) as Identity;

/** May this identity publish readings of `deviceId`? */
export function mayPublish(who: Identity, deviceId: string): boolean {
  return who.via === 'none' || (who.role === 'device' && who.id === deviceId);
}

/** May this identity watch the readings of `deviceId` (undefined: of every device)? */
export function mayWatch(who: Identity, deviceId: string | undefined): boolean {
  return who.via === 'none' || who.role === 'subscriber' || (deviceId !== undefined && who.id === deviceId);
}
