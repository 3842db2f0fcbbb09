/**
 * JWT verification with `jose`: HS256 with JWT_SECRET, RS256/ES256 with a PEM public key
 * (JWT_PUBLIC_KEY_FILE) or a JSON Web Key Set file (JWT_JWKS_FILE). The identity (device id, or
 * subscriber name with `"role":"subscriber"`) is the first of JWT_DEVICE_CLAIM's claims the token
 * has (`sub` by default; `deviceId,sub` for the platform's device-management tokens, which carry
 * `deviceId` and no `sub`); `exp` is required and honoured.
 * Audience: with JWT_AUDIENCE set, `aud` must name it; without, a token that has an `aud` must
 * name this service (DEFAULT_AUDIENCE), so a token minted for another service of the platform is
 * not accepted here, while tokens without `aud` (the platform's device tokens) still are.
 * @module
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from 'jose';
import { identityIdRefusal, type Identity, type Role } from './identity.ts';

/** The audience a token's `aud`, when present, must include if JWT_AUDIENCE is not set. */
export const DEFAULT_AUDIENCE = 'neurobuild-ingest';

export interface JwtOptions {
  secret?: string | undefined;
  publicKeyFile?: string | undefined;
  jwksFile?: string | undefined;
  issuer?: string | undefined;
  audience?: string | undefined;
  /** Claims that may name the identity, in order (JWT_DEVICE_CLAIM); default ['sub']. */
  identityClaims?: readonly string[] | undefined;
}

export interface VerifiedToken {
  identity: Identity;
  /** Issued-at (ms), for revocations made after it. */
  issuedAtMs: number;
  expiresAtMs: number;
}

export class JwtVerifier {
  readonly #key: Uint8Array | KeyObject | JWTVerifyGetKey;
  readonly #algorithms: string[];
  readonly #opts: JwtOptions;
  readonly #claims: readonly string[];

  constructor(o: JwtOptions) {
    this.#opts = o;
    this.#claims = o.identityClaims?.length ? o.identityClaims : ['sub'];
    if (o.jwksFile) {
      this.#key = createLocalJWKSet(JSON.parse(readFileSync(o.jwksFile, 'utf8')));
      this.#algorithms = ['RS256', 'ES256'];
    } else if (o.publicKeyFile) {
      const key = createPublicKey(readFileSync(o.publicKeyFile));
      this.#key = key;
      this.#algorithms = key.asymmetricKeyType === 'ec' ? ['ES256'] : ['RS256'];
    } else if (o.secret) {
      this.#key = new TextEncoder().encode(o.secret);
      this.#algorithms = ['HS256'];
    } else throw new Error('JWT needs JWT_SECRET, JWT_PUBLIC_KEY_FILE or JWT_JWKS_FILE');
  }

  /** The verified token, or why it is refused (safe to show). */
  async verify(token: string): Promise<VerifiedToken | string> {
    try {
      const { payload } = await jwtVerify(token, this.#key as Uint8Array, {
        algorithms: this.#algorithms,
        requiredClaims: ['exp'],
        ...(this.#opts.issuer ? { issuer: this.#opts.issuer } : {}),
        ...(this.#opts.audience ? { audience: this.#opts.audience } : {}),
      });
      if (!this.#opts.audience && payload.aud !== undefined) {
        const aud = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
        if (!aud.includes(DEFAULT_AUDIENCE)) return `token audience does not include "${DEFAULT_AUDIENCE}" (set JWT_AUDIENCE to accept another)`;
      }
      const role = payload.role === undefined ? 'device' : payload.role;
      if (role !== 'device' && role !== 'subscriber') return 'token role must be "device" or "subscriber"';
      const claim = this.#claims.find((c) => payload[c] !== undefined);
      if (claim === undefined) return `token has no ${this.#claims.join(' or ')} claim naming its identity`;
      const id = payload[claim];
      const refused = identityIdRefusal(id, role, claim === 'sub' ? 'token subject' : `token claim ${claim}`);
      if (refused !== undefined) return refused;
      return {
        identity: { id: id as string, role: role as Role, via: 'jwt' },
        issuedAtMs: (payload.iat ?? 0) * 1000,
        expiresAtMs: payload.exp! * 1000,
      };
    } catch (err) {
      if (err instanceof errors.JWTExpired) return 'token expired';
      if (err instanceof errors.JOSEError) return `invalid token (${err.code})`;
      return 'invalid token';
    }
  }
}
