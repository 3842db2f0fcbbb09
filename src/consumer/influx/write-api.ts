/**
 * The two write endpoints of InfluxDB and what their answers mean for a batch:
 * - v2: `POST /api/v2/write?org=…&bucket=…&precision=ns` with `Authorization: Token …`
 *   (InfluxDB 2.x, and 1.8+ through its compatibility API);
 * - v1: `POST /write?db=…&precision=ns` (InfluxDB 1.x; Debian 12 ships 1.6.7), with Basic
 *   authentication when the token is `user:password`, else `Authorization: Token …` (what 1.8+
 *   and 2.x's /write compatibility endpoint take).
 *
 * Answers: 2xx written. 400 and 422 (and any 4xx not named below): InfluxDB refused the lines
 * (a field type conflict, points outside the retention period, a line it cannot parse); it may
 * have written the others (a partial write), which a rewrite overwrites with the same values.
 * 413: the body is too large. 401, 403, 404 (no such bucket / database / org): a setting is
 * wrong; 408, 429, 5xx, a network error or no answer within the timeout: InfluxDB is not
 * available now. Neither of the last two is the lines' fault: the batch waits.
 * @module
 */

export type InfluxApi = 'v1' | 'v2';

export interface InfluxTarget {
  /** Base URL: http(s)://host:port (a path prefix is kept). */
  url: string;
  api: InfluxApi;
  /** v2 only. */
  org?: string | undefined;
  /** The bucket (v2) or database (v1). */
  bucket: string;
  token?: string | undefined;
  timeoutMs: number;
  fetch?: typeof fetch;
}

export type WriteOutcome =
  | { kind: 'written'; status: number }
  | { kind: 'refused'; status: number; message: string }
  | { kind: 'too-large'; status: number; message: string }
  | { kind: 'misconfigured'; status: number; message: string }
  | { kind: 'unavailable'; status?: number; message: string; retryAfterMs?: number };

function endpoint(t: InfluxTarget, path: string): URL {
  const u = new URL(t.url);
  u.pathname = `${u.pathname.replace(/\/+$/, '')}${path}`;
  u.search = '';
  u.hash = '';
  return u;
}

/** The write URL of `t`. */
export function writeUrl(t: InfluxTarget): string {
  const u = endpoint(t, t.api === 'v2' ? '/api/v2/write' : '/write');
  if (t.api === 'v2') {
    u.searchParams.set('org', t.org ?? '');
    u.searchParams.set('bucket', t.bucket);
  } else {
    u.searchParams.set('db', t.bucket);
  }
  u.searchParams.set('precision', 'ns');
  return u.toString();
}

/** The Authorization header for `t`, if it has a token. */
export function authorization(t: InfluxTarget): string | undefined {
  if (!t.token) return undefined;
  if (t.api === 'v1' && t.token.includes(':')) return `Basic ${Buffer.from(t.token).toString('base64')}`;
  return `Token ${t.token}`;
}

/** host:port and path of the URL, without credentials or query (for messages). */
export function describeInflux(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname}`;
  } catch {
    return '(unparsable INFLUX_URL)';
  }
}

/** InfluxDB's error text: 2.x `{"code","message"}`, 1.x `{"error"}`, else the body; at most 500 characters. */
async function errorText(res: Response): Promise<string> {
  const text = await res.text().catch(() => '');
  let message = text;
  try {
    const j = JSON.parse(text) as { message?: unknown; error?: unknown };
    if (typeof j.message === 'string') message = j.message;
    else if (typeof j.error === 'string') message = j.error;
  } catch {
    // not JSON: the body as it is
  }
  return message.trim().slice(0, 500) || res.statusText || `HTTP ${res.status}`;
}

/** Retry-After in ms (seconds or an HTTP date), at most a minute; undefined when absent or unreadable. */
function retryAfter(res: Response): number | undefined {
  const h = res.headers.get('retry-after');
  if (!h) return undefined;
  const s = Number(h);
  const ms = Number.isFinite(s) ? s * 1000 : Date.parse(h) - Date.now();
  return Number.isFinite(ms) && ms >= 0 ? Math.min(ms, 60_000) : undefined;
}

function networkError(err: unknown, timeoutMs: number): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs} ms`;
  return e.cause?.code ?? e.cause?.message ?? e.message;
}

/** POSTs `body` (lines separated by newlines) and classifies the answer. Never throws. */
export async function writeLines(t: InfluxTarget, body: string): Promise<WriteOutcome> {
  const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8', 'user-agent': 'neurobuild-ingest-influx' };
  const auth = authorization(t);
  if (auth) headers.authorization = auth;
  let res: Response;
  try {
    res = await (t.fetch ?? fetch)(writeUrl(t), { method: 'POST', headers, body, signal: AbortSignal.timeout(t.timeoutMs) });
  } catch (err) {
    return { kind: 'unavailable', message: networkError(err, t.timeoutMs) };
  }
  const status = res.status;
  if (status >= 200 && status < 300) {
    await res.arrayBuffer().catch(() => undefined); // free the connection
    return { kind: 'written', status };
  }
  const message = await errorText(res);
  if (status === 413) return { kind: 'too-large', status, message };
  if (status === 401 || status === 403 || status === 404) return { kind: 'misconfigured', status, message };
  if (status === 408 || status === 429 || status >= 500 || status < 400) {
    const after = retryAfter(res);
    return { kind: 'unavailable', status, message, ...(after !== undefined ? { retryAfterMs: after } : {}) };
  }
  return { kind: 'refused', status, message };
}

/** GET /ping: the server's version (X-Influxdb-Version; '' when it sends none). @throws Error when it does not answer 2xx */
export async function ping(t: InfluxTarget): Promise<string> {
  let res: Response;
  try {
    res = await (t.fetch ?? fetch)(endpoint(t, '/ping').toString(), { signal: AbortSignal.timeout(t.timeoutMs) });
  } catch (err) {
    throw new Error(networkError(err, t.timeoutMs));
  }
  await res.arrayBuffer().catch(() => undefined);
  if (res.status < 200 || res.status >= 300) throw new Error(`GET /ping answered ${res.status}`);
  return res.headers.get('x-influxdb-version') ?? '';
}

/** InfluxDB 1.x: `CREATE DATABASE` (a no-op when it exists). @throws Error with InfluxDB's reason */
export async function createDatabase(t: InfluxTarget): Promise<void> {
  const u = endpoint(t, '/query');
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
  const auth = authorization({ ...t, api: 'v1' });
  if (auth) headers.authorization = auth;
  const body = new URLSearchParams({ q: `CREATE DATABASE "${t.bucket.replace(/["\\]/g, '\\$&')}"` }).toString();
  const res = await (t.fetch ?? fetch)(u.toString(), { method: 'POST', headers, body, signal: AbortSignal.timeout(t.timeoutMs) });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${res.status} ${text.trim().slice(0, 300)}`);
  // 1.x answers 200 with the statement's error in the results
  const err = /"error":"([^"]*)"/.exec(text)?.[1];
  if (err) throw new Error(err);
}
