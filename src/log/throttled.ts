/**
 * Logging what strangers can cause as often as they like (refused credentials, bounds hit):
 * the first occurrence of each kind is logged, then at most one line a minute per kind with how
 * many were not logged, and every string field is cut short. The counts belong in metrics; the
 * log only says that it is happening, so a flood of bad CONNECTs cannot flood the disk.
 * @module
 */
import type { Logger } from 'pino';

const EVERY_MS = 60_000;
/** Longest string field kept (client ids and usernames can be 64 KB). */
const MAX_FIELD = 128;

/** `v` cut to MAX_FIELD characters (with the original length), when it is a longer string. */
export function clip(v: unknown): unknown {
  return typeof v === 'string' && v.length > MAX_FIELD ? `${v.slice(0, MAX_FIELD)}… (${v.length} chars)` : v;
}

export class ThrottledLog {
  readonly #log: Logger;
  readonly #level: 'info' | 'warn' | 'error';
  readonly #everyMs: number;
  /** Per kind (a fixed set chosen by the code, never from input): occurrences not logged, and when it last logged. */
  readonly #seen = new Map<string, { skipped: number; loggedAt: number }>();

  constructor(log: Logger, level: 'info' | 'warn' | 'error' = 'info', everyMs = EVERY_MS) {
    this.#log = log;
    this.#level = level;
    this.#everyMs = everyMs;
  }

  /** One occurrence of `kind`: logged with `fields` (strings clipped) unless one was within the last minute. */
  note(kind: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const seen = this.#seen.get(kind);
    if (seen !== undefined && now - seen.loggedAt < this.#everyMs) {
      seen.skipped++;
      return;
    }
    const skipped = seen?.skipped ?? 0;
    this.#seen.set(kind, { skipped: 0, loggedAt: now });
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(fields)) out[k] = clip(v);
    if (skipped > 0) out.not_logged_since_last = skipped;
    this.#log[this.#level](out, skipped > 0 ? `${msg} (and ${skipped} more since the last line, not logged one by one)` : msg);
  }
}
