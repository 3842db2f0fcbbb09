/**
 * API keys: 32 random bytes, shown once, stored only as their SHA-256. A key carries 256 bits of
 * entropy, so a fast hash is enough (no password-style stretching is needed to stop guessing);
 * comparison is by hash lookup, never by comparing secrets.
 * @module
 */
import { createHash, randomBytes } from 'node:crypto';

const PREFIX = 'nbk_';

export function generateApiKey(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

/** The stored form of a key (hex SHA-256). */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** Cheap shape check before any lookup. */
export function looksLikeApiKey(key: string): boolean {
  return key.length === PREFIX.length + 43 && key.startsWith(PREFIX);
}
