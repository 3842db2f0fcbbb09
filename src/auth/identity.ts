/**
 * Who is talking: a device (may publish its own readings and watch them), a subscriber (may
 * watch every reading, publishes nothing), or, with AUTH_MODE=none, anyone.
 * @module
 */
import { DEVICE_ID_RULE, validDeviceId } from '../core/device-id.ts';

export type Role = 'device' | 'subscriber';
export const ROLES: readonly Role[] = ['device', 'subscriber'];

export interface Identity {
  /** The device id (role device) or the subscriber's name (role subscriber). */
  id: string;
  role: Role;
  /** How it was proven: an API key, a JWT, a client certificate (MQTT over TLS), the admin token (live WebSocket only), the DEVICE_AUTH_URL service, or nothing (AUTH_MODE=none). */
  via: 'api-key' | 'jwt' | 'mtls' | 'admin-token' | 'device-auth' | 'none';
}

/** What a subscriber's id may be (admin API, JWT `sub`): no MQTT wildcards, no `/`, no spaces. */
export const IDENTITY_ID_PATTERN = '^[A-Za-z0-9_.:-]{1,128}$';
const IDENTITY_ID = new RegExp(IDENTITY_ID_PATTERN);

/**
 * Why `id` cannot name an identity of `role` (undefined: it can). A device's id is a device id
 * (core/device-id.ts: what its readings and topics must carry), a subscriber's the looser
 * IDENTITY_ID_PATTERN. `what` names the id in the message.
 */
export function identityIdRefusal(id: unknown, role: Role, what: string): string | undefined {
  if (role === 'device') return typeof id === 'string' && validDeviceId(id) ? undefined : `${what} of a device must match ${DEVICE_ID_RULE}`;
  return typeof id === 'string' && IDENTITY_ID.test(id) ? undefined : `${what} must match ${IDENTITY_ID_PATTERN}`;
}

/** A credential whose issue time is known (a JWT's `iat`, a certificate's notBefore), as revocation judges it. */
export interface IssuedIdentity {
  identity: Identity;
  issuedAtMs: number;
}

/**
 * The owner of what an identity creates that outlives a connection (an MQTT session, a shared
 * subscription group): the role and id, whatever proved them (a device's API key and its JWT own
 * the same sessions). Empty without authentication, where everything is everyone's.
 */
export function ownerOf(who: Identity): string {
  return who.via === 'none' ? '' : `${who.role}:${who.id}`;
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
