/**
 * The admin token (ADMIN_TOKEN) as a credential: the admin API's bearer token, and on the live
 * WebSocket (`?admin_token=`) a watch-everything subscriber, for the built-in console.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { UnauthenticatedError } from '../core/errors.ts';
import type { Identity } from './identity.ts';

/** Who holds the admin token on the live stream: '@' is in no device or registered identity name, so no revocation can close it by mistake. */
export const ADMIN: Identity = Object.freeze({ id: '@admin', role: 'subscriber', via: 'admin-token' }) as Identity;

/** Constant-time comparison; hashing first makes the time independent of the lengths too. */
export function isAdminToken(given: string, expected: string | undefined): boolean {
  if (!expected) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** The admin identity for `token`, or why not (401). */
export function adminIdentity(token: string, expected: string | undefined): Identity | UnauthenticatedError {
  if (!expected) return new UnauthenticatedError('admin_token is not accepted: ADMIN_TOKEN is not set on this server');
  return isAdminToken(token, expected) ? ADMIN : new UnauthenticatedError('not the admin token');
}
