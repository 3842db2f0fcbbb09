/**
 * DEVICE_AUTH_URL: credentials this server does not hold (the platform's device-management keys,
 * tokens without a local key) are checked by another service over HTTP, as EMQX's HTTP
 * authentication and mosquitto-go-auth's HTTP backend do. The request is a POST carrying the
 * credential in the header the device used (`x-api-key`, `Authorization: Bearer`) and in a JSON
 * body (`{"api_key": …}` / `{"token": …}`); nothing else, so that the verdict depends on the
 * credential alone and can be cached. Answers:
 * - 2xx with a JSON object naming the identity (DEVICE_AUTH_ID_FIELD, optional role): admitted,
 *   unless the object says `"result": "deny"` (EMQX's form);
 * - 401 / 403: refused;
 * - anything else (timeout, 5xx, other 4xx, unreachable, an unreadable answer): the check failed,
 *   and DEVICE_AUTH_ON_FAILURE decides (refuse: fail closed; stale: a credential admitted within
 *   DEVICE_AUTH_STALE_S still is).
 *
 * Verdicts are cached (admissions for DEVICE_AUTH_CACHE_S, refusals for DEVICE_AUTH_NEGATIVE_CACHE_S,
 * each in its own bounded LRU so that a flood of bad credentials cannot evict the good ones);
 * checks of one credential in progress share one call; failures in a row open a circuit breaker.
 * The cache keys are SHA-256 digests: no credential is kept in memory as presented.
 * @module
 */
import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { ErrorCode, IngestError, UnauthenticatedError } from '../core/errors.ts';
import { CircuitBreaker, type BreakerState } from '../util/circuit-breaker.ts';
import { identityIdRefusal, type Identity, type Role } from './identity.ts';

export type CredentialKind = 'api-key' | 'token';

export interface DeviceAuthOptions {
  url: string;
  /** Fields of the answer naming the identity, first present wins; dotted paths reach nested objects. */
  idFields: readonly string[];
  roleField: string;
  cacheMs: number;
  negativeCacheMs: number;
  timeoutMs: number;
  maxPending: number;
  breakerThreshold: number;
  breakerMs: number;
  onFailure: 'refuse' | 'stale';
  staleMs: number;
  /** Entries per verdict cache. */
  maxCached?: number;
}

export type CallOutcome = 'admitted' | 'refused' | 'failed';
export type CacheResult = 'hit' | 'negative_hit' | 'stale' | 'shared' | 'miss';

/** What the composition root connects to metrics and the log (auth/ imports neither). */
export interface DeviceAuthHooks {
  call?(outcome: CallOutcome, seconds: number): void;
  cache?(result: CacheResult): void;
  breaker?(to: BreakerState): void;
  /** A failed check or an unusable answer, with what went wrong (never the credential). */
  problem?(reason: string, status?: number): void;
}

/** The service that verifies credentials did not give a verdict (and no stale one applies). */
export class AuthUnavailableError extends IngestError {
  override name = 'AuthUnavailableError';
  constructor(details: string) {
    super(ErrorCode.AUTH_UNAVAILABLE, 'Authentication unavailable', details);
  }
}

/** Largest answer read from DEVICE_AUTH_URL: an identity fits in far less. */
const MAX_ANSWER_BYTES = 65_536;
const MAX_CACHED = 100_000;

interface Admitted {
  identity: Identity;
  /** Trusted without asking until then. */
  until: number;
  /** With DEVICE_AUTH_ON_FAILURE=stale: admitted while the service fails until then. */
  staleUntil: number;
}

type Verdict = Identity | UnauthenticatedError | AuthUnavailableError;

/** A check that did not reach a verdict: why, for the log and the refusal. */
class Failed {
  constructor(
    readonly reason: string,
    readonly status?: number,
  ) {}
}

export class DeviceAuthClient {
  readonly #o: DeviceAuthOptions;
  readonly #hooks: DeviceAuthHooks;
  readonly #admitted: LRUCache<string, Admitted>;
  readonly #refused: LRUCache<string, { until: number; reason: string }>;
  /** Checks in progress by cache key (bounded by maxPending): later askers share the call. */
  readonly #pending = new Map<string, Promise<Verdict>>();
  readonly #breaker: CircuitBreaker;

  constructor(o: DeviceAuthOptions, hooks: DeviceAuthHooks = {}) {
    this.#o = o;
    this.#hooks = hooks;
    const max = o.maxCached ?? MAX_CACHED;
    this.#admitted = new LRUCache({ max });
    this.#refused = new LRUCache({ max });
    this.#breaker = new CircuitBreaker(o.breakerThreshold, o.breakerMs, { onChange: (to) => hooks.breaker?.(to) });
  }

  get breakerState(): BreakerState {
    return this.#breaker.state;
  }

  /**
   * The identity of a credential admitted lately (no I/O), or undefined: ask check(). `digest`:
   * its hex SHA-256 when the caller has it already (the key-store lookup hashes the same way).
   */
  cached(kind: CredentialKind, credential: string, digest?: string): Identity | undefined {
    const hit = this.#admitted.get(keyOf(kind, credential, digest));
    return hit !== undefined && hit.until > Date.now() ? hit.identity : undefined;
  }

  /** The verdict on `credential`: from the caches, a check in progress, or a new call. */
  check(kind: CredentialKind, credential: string, digest?: string): Promise<Verdict> {
    const key = keyOf(kind, credential, digest);
    const now = Date.now();
    const hit = this.#admitted.get(key);
    if (hit !== undefined && hit.until > now) {
      this.#hooks.cache?.('hit');
      return Promise.resolve(hit.identity);
    }
    const no = this.#refused.get(key);
    if (no !== undefined && no.until > now) {
      this.#hooks.cache?.('negative_hit');
      return Promise.resolve(new UnauthenticatedError(no.reason));
    }
    const shared = this.#pending.get(key);
    if (shared !== undefined) {
      this.#hooks.cache?.('shared');
      return shared;
    }
    this.#hooks.cache?.('miss');
    if (!this.#breaker.allow(now)) return Promise.resolve(this.#failed(key, new Failed('circuit breaker open after repeated failures')));
    if (this.#pending.size >= this.#o.maxPending) return Promise.resolve(this.#failed(key, new Failed(`more than ${this.#o.maxPending} credentials are being verified`), false));
    const p = this.#ask(kind, credential).then((answer) => this.#settle(key, answer));
    this.#pending.set(key, p);
    void p.finally(() => this.#pending.delete(key));
    return p;
  }

  /** An identity was revoked or its credentials replaced here: its admissions are forgotten (an admin's act, not per message). */
  forget(id: string): void {
    if (id === '*') {
      this.#admitted.clear();
      this.#refused.clear();
      return;
    }
    const gone: string[] = [];
    for (const [k, v] of this.#admitted.entries()) if (v.identity.id === id) gone.push(k);
    for (const k of gone) this.#admitted.delete(k);
  }

  #settle(key: string, answer: Identity | UnauthenticatedError | Failed): Verdict {
    const now = Date.now();
    if (answer instanceof Failed) return this.#failed(key, answer);
    this.#breaker.success();
    if (answer instanceof UnauthenticatedError) {
      this.#admitted.delete(key);
      if (this.#o.negativeCacheMs > 0) this.#refused.set(key, { until: now + this.#o.negativeCacheMs, reason: answer.details ?? 'refused' });
      return answer;
    }
    this.#refused.delete(key);
    this.#admitted.set(key, { identity: answer, until: now + this.#o.cacheMs, staleUntil: now + this.#o.staleMs });
    return answer;
  }

  /** No verdict: the failure policy decides. `counts` false: the service was not at fault (too many pending). */
  #failed(key: string, f: Failed, counts = true): Verdict {
    if (counts) this.#breaker.failure(Date.now());
    this.#hooks.problem?.(f.reason, f.status);
    if (this.#o.onFailure === 'stale') {
      const before = this.#admitted.get(key);
      if (before !== undefined && before.staleUntil > Date.now()) {
        this.#hooks.cache?.('stale');
        return before.identity;
      }
    }
    return new AuthUnavailableError(`the credential could not be verified (${f.reason}); retry later`);
  }

  async #ask(kind: CredentialKind, credential: string): Promise<Identity | UnauthenticatedError | Failed> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    let status: number;
    let body: string;
    try {
      const res = await fetch(this.#o.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          ...(kind === 'api-key' ? { 'x-api-key': credential } : { authorization: `Bearer ${credential}` }),
        },
        body: JSON.stringify(kind === 'api-key' ? { api_key: credential } : { token: credential }),
        redirect: 'error',
        signal: AbortSignal.timeout(this.#o.timeoutMs),
      });
      status = res.status;
      if (status >= 200 && status < 300) body = await readBounded(res);
      else {
        body = '';
        await res.body?.cancel();
      }
    } catch (err) {
      this.#hooks.call?.('failed', seconds());
      const e = err as Error;
      return new Failed(e.name === 'TimeoutError' || e.name === 'AbortError' ? `no answer within ${this.#o.timeoutMs} ms` : e.message);
    }
    if (status === 401 || status === 403) {
      this.#hooks.call?.('refused', seconds());
      return new UnauthenticatedError(kind === 'api-key' ? 'invalid or revoked API key' : 'invalid or revoked token');
    }
    if (status < 200 || status >= 300) {
      this.#hooks.call?.('failed', seconds());
      return new Failed(`answered ${status}`, status);
    }
    const verdict = this.#read(body);
    this.#hooks.call?.(verdict instanceof Failed ? 'failed' : verdict instanceof UnauthenticatedError ? 'refused' : 'admitted', seconds());
    return verdict;
  }

  /** A 2xx answer's body → the identity it names, a deny, or an unusable answer. */
  #read(body: string): Identity | UnauthenticatedError | Failed {
    let doc: unknown;
    try {
      doc = JSON.parse(body);
    } catch {
      return new Failed('answered 2xx without a JSON object');
    }
    if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) return new Failed('answered 2xx without a JSON object');
    if ((doc as { result?: unknown }).result === 'deny') return new UnauthenticatedError('credential refused by the verifying service');
    const field = this.#o.idFields.find((f) => pick(doc, f) !== undefined);
    if (field === undefined) return new Failed(`answered 2xx without ${this.#o.idFields.join(' or ')}`);
    const roleValue = pick(doc, this.#o.roleField) ?? 'device';
    if (roleValue !== 'device' && roleValue !== 'subscriber') return new Failed(`answered a role other than "device" or "subscriber"`);
    const role: Role = roleValue;
    const id = pick(doc, field);
    // an identity no reading could carry is not admitted, whoever vouches for it
    const refused = identityIdRefusal(id, role, `the verifying service's ${field}`);
    if (refused !== undefined) return new UnauthenticatedError(refused);
    return { id: id as string, role, via: 'device-auth' };
  }
}

function keyOf(kind: CredentialKind, credential: string, digest = createHash('sha256').update(credential).digest('hex')): string {
  return (kind === 'api-key' ? 'k' : 't') + digest;
}

/** `a.b.c` of a parsed JSON object (own properties only). */
function pick(doc: object, path: string): unknown {
  let at: unknown = doc;
  for (const part of path.split('.')) {
    if (at === null || typeof at !== 'object' || !Object.hasOwn(at, part)) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

async function readBounded(res: Response): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > MAX_ANSWER_BYTES) throw new Error(`answered more than ${MAX_ANSWER_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
