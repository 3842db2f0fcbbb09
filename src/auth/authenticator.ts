/**
 * AUTH_MODE in one place: turns what a client presents (an API key, a bearer JWT, MQTT
 * username + password) into an Identity or a refusal, for every transport alike. Verified
 * credentials are cached briefly, and forgotten at once on every instance when their key is
 * revoked or rotated (the store's events), so the hot path rarely waits for Redis.
 *
 * Which credential goes where: a key of this server (`nbk_…`) is looked up in the key store only;
 * any other key in the key store (keys imported from elsewhere), then with DEVICE_AUTH_URL; a
 * bearer token is verified here when a JWT key is configured, else with DEVICE_AUTH_URL.
 * @module
 */
import { LRUCache } from 'lru-cache';
import { type IngestError, QueueUnavailableError, UnauthenticatedError } from '../core/errors.ts';
import { generateApiKey, hashApiKey, looksLikeApiKey } from './api-key.ts';
import { ANONYMOUS, type Identity, type IssuedIdentity, type Role } from './identity.ts';
import type { CredentialKind, DeviceAuthClient } from './device-auth.ts';
import type { JwtVerifier } from './jwt.ts';
import type { KeyEventListener, KeyStore } from './key-store.ts';

export type AuthMode = 'none' | 'api-key' | 'jwt' | 'any';

/** A verified API key is trusted for this long without asking the store again (revocation still applies at once). */
const KEY_CACHE_MS = 30_000;
/** Entries per cache; past it the least recently used is evicted (lru-cache: a well-kept package, one eviction per insert). */
const MAX_CACHED = 100_000;
/** How far ahead of this clock a credential's issue time may be (the issuer's clock may run ahead). */
const CLOCK_SKEW_MS = 60_000;
/** Shortest and longest API key accepted from elsewhere (ours are 47 characters): `keys import` holds the same bounds. */
export const MIN_FOREIGN_KEY_LENGTH = 16;
export const MAX_FOREIGN_KEY_LENGTH = 1024;
/** A compact JWS: three base64url parts. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export interface Credentials {
  apiKey?: string | undefined;
  bearer?: string | undefined;
}

interface Cached {
  identity: Identity;
  until: number;
}

const NEVER = 'never';

export class Authenticator {
  readonly #keys: LRUCache<string, Cached>;
  readonly #tokens: LRUCache<string, Cached>;
  /** Per identity: when it was last revoked (epoch ms), or NEVER. */
  readonly #revokedAt: LRUCache<string, number | typeof NEVER>;
  readonly #revokedListeners: KeyEventListener[] = [];

  constructor(
    readonly mode: AuthMode,
    readonly store: KeyStore,
    private readonly jwt: JwtVerifier | undefined,
    /** Entries per cache (tests make it small). */
    maxCached = MAX_CACHED,
    /** DEVICE_AUTH_URL's client, when set. */
    private readonly external?: DeviceAuthClient,
  ) {
    this.#keys = new LRUCache({ max: maxCached });
    this.#tokens = new LRUCache({ max: maxCached });
    this.#revokedAt = new LRUCache({ max: maxCached });
    store.onRevoked((id, revoked) => this.#forget(id, revoked));
  }

  get enabled(): boolean {
    return this.mode !== 'none';
  }

  /**
   * Called on every instance when an identity is revoked (`revoked` true: end what it holds) or
   * its key rotated (false: close what the old key opened).
   */
  onRevoked(listener: KeyEventListener): void {
    this.#revokedListeners.push(listener);
  }

  /** Who presents `c` (HTTP headers, WS query): ANONYMOUS when auth is off. */
  async authenticate(c: Credentials): Promise<Identity | IngestError> {
    if (this.mode === 'none') return ANONYMOUS;
    const allowKey = this.mode === 'api-key' || this.mode === 'any';
    const allowJwt = this.mode === 'jwt' || this.mode === 'any';
    if (c.apiKey && allowKey) return this.#fromKey(c.apiKey);
    if (c.bearer && allowJwt) return this.#fromToken(c.bearer);
    return this.missingCredentials();
  }

  /** The refusal of a request that brings no credentials at all. */
  missingCredentials(): IngestError {
    return new UnauthenticatedError(`missing credentials: ${this.#expected()}`);
  }

  /**
   * The identity of `c` when it was verified lately and is still cached here (no I/O, no
   * promise): what lets HTTP accept a request's body at once; undefined means ask authenticate().
   */
  cached(c: Credentials): Identity | undefined {
    if (this.mode === 'none') return ANONYMOUS;
    const now = Date.now();
    const allowKey = this.mode === 'api-key' || this.mode === 'any';
    if (c.apiKey && allowKey) {
      const hash = hashApiKey(c.apiKey);
      const hit = this.#keys.get(hash);
      if (hit && hit.until > now) return hit.identity;
      return looksLikeApiKey(c.apiKey) ? undefined : this.external?.cached('api-key', c.apiKey, hash);
    }
    if (c.bearer && (this.mode === 'jwt' || this.mode === 'any')) {
      if (!this.jwt) return this.external?.cached('token', c.bearer);
      const hit = this.#tokens.get(c.bearer);
      return hit && hit.until > now ? hit.identity : undefined;
    }
    return undefined;
  }

  /** MQTT CONNECT: username = the identity, password = its API key or a JWT for it. */
  async authenticateMqtt(username: string | undefined, password: Buffer | undefined): Promise<Identity | IngestError> {
    if (this.mode === 'none') return ANONYMOUS;
    if (!username || !password || password.length === 0) return new UnauthenticatedError(`missing credentials: username = device id, password = ${this.#expected()}`);
    const secret = password.toString('utf8');
    const who = await this.authenticate(kindOf(secret) === 'api-key' ? { apiKey: secret } : { bearer: secret });
    if (!('role' in who)) return who;
    if (who.id !== username) return new UnauthenticatedError('username is not the identity of these credentials');
    return who;
  }

  #expected(): string {
    return this.mode === 'api-key' ? 'an API key (x-api-key)' : this.mode === 'jwt' ? 'a JWT (Authorization: Bearer)' : 'an API key (x-api-key) or a JWT (Authorization: Bearer)';
  }

  async #fromKey(key: string): Promise<Identity | IngestError> {
    const ours = looksLikeApiKey(key);
    if (!ours && (key.length < MIN_FOREIGN_KEY_LENGTH || key.length > MAX_FOREIGN_KEY_LENGTH)) return new UnauthenticatedError('invalid API key');
    const hash = hashApiKey(key);
    const now = Date.now();
    const hit = this.#keys.get(hash);
    if (hit && hit.until > now) return hit.identity;
    // a key admitted by DEVICE_AUTH_URL lately: no key-store round trip
    const admitted = ours ? undefined : this.external?.cached('api-key', key, hash);
    if (admitted !== undefined) return admitted;
    let record;
    try {
      record = await this.store.lookup(hash);
    } catch (err) {
      return new QueueUnavailableError(`the key store did not answer: ${(err as Error).message}`, err);
    }
    if (!record) {
      this.#keys.delete(hash);
      if (!ours && this.external) return this.external.check('api-key', key, hash);
      return new UnauthenticatedError('invalid or revoked API key');
    }
    const identity: Identity = { id: record.id, role: record.role, via: 'api-key' };
    this.#keys.set(hash, { identity, until: now + KEY_CACHE_MS });
    return identity;
  }

  async #fromToken(token: string): Promise<Identity | IngestError> {
    const now = Date.now();
    if (!this.jwt) return this.external ? this.external.check('token', token) : new UnauthenticatedError('JWT verification is not configured');
    const hit = this.#tokens.get(token);
    if (hit && hit.until > now) return hit.identity;
    const v = await this.jwt.verify(token);
    if (typeof v === 'string') return new UnauthenticatedError(v);
    const refused = await this.checkIssued(v, 'token');
    if (refused !== undefined) return refused;
    this.#tokens.set(token, { identity: v.identity, until: Math.min(v.expiresAtMs, now + KEY_CACHE_MS) });
    return v.identity;
  }

  /**
   * Whether a credential with an issue time still stands: refused when issued at or before its
   * identity was last revoked, or in the future (past a minute of clock skew), since a far-future
   * `iat` would otherwise outlive every revocation. `what` names it in the refusal.
   */
  async checkIssued(c: IssuedIdentity, what: 'token' | 'certificate'): Promise<IngestError | undefined> {
    if (c.issuedAtMs > Date.now() + CLOCK_SKEW_MS) return new UnauthenticatedError(`${what} issued in the future`);
    let revokedAt;
    try {
      revokedAt = await this.#revocationOf(c.identity.id);
    } catch (err) {
      return new QueueUnavailableError(`the key store did not answer: ${(err as Error).message}`, err);
    }
    if (revokedAt !== undefined && c.issuedAtMs <= revokedAt) return new UnauthenticatedError(`${what} issued before its identity was revoked`);
    return undefined;
  }

  async #revocationOf(id: string): Promise<number | undefined> {
    const known = this.#revokedAt.get(id);
    if (known !== undefined) return known === NEVER ? undefined : known;
    const at = await this.store.revokedAt(id);
    this.#revokedAt.set(id, at ?? NEVER);
    return at;
  }

  #forget(id: string, revoked: boolean): void {
    this.external?.forget(id);
    if (id === '*') {
      this.#keys.clear();
      this.#tokens.clear();
      this.#revokedAt.clear();
      return;
    }
    // a revocation or rotation (an admin's act, not per message) walks the caches once
    for (const cache of [this.#keys, this.#tokens]) {
      const gone: string[] = [];
      for (const [k, v] of cache.entries()) if (v.identity.id === id) gone.push(k);
      for (const k of gone) cache.delete(k);
    }
    this.#revokedAt.delete(id);
    for (const l of this.#revokedListeners) l(id, revoked);
  }

  /** Admin: a new key for `id` (replacing any previous one); the key itself is returned only here. */
  async issueKey(id: string, role: Role): Promise<string> {
    const key = generateApiKey();
    await this.store.put(hashApiKey(key), { id, role, created_at: new Date().toISOString() });
    return key;
  }

  async revoke(id: string): Promise<boolean> {
    return this.store.revoke(id);
  }
}

/** How an MQTT password is read: a compact JWS is a token, anything else (ours or a key from elsewhere) an API key. */
export function kindOf(secret: string): CredentialKind {
  return !looksLikeApiKey(secret) && JWT_SHAPE.test(secret) ? 'token' : 'api-key';
}

/** `Authorization: Bearer <token>` → the token. */
export function bearerOf(header: string): string | undefined {
  return header.length > 7 && header.slice(0, 7).toLowerCase() === 'bearer ' ? header.slice(7).trim() : undefined;
}
