/**
 * The fleet API (issue 9), from the state every instance shares:
 * - GET /api/v1/devices/:id/stats: one device's last seen, counts by transport and sensor,
 *   refusals with the last reason, clock skew, sequence completeness, MQTT connection.
 * - GET /api/v1/devices?silent_for=10m | ?rejecting=true[&within=1h] | (none: all, latest
 *   first), paginated with limit (default 100, at most 1000) and cursor.
 * Admin-only (Authorization: Bearer <ADMIN_TOKEN>) when AUTH_MODE is on, like the metadata
 * endpoint; open otherwise.
 * @module
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ErrorCode, IngestError, QueueUnavailableError } from '../../../core/errors.ts';
import type { DeviceQuery } from '../../../queue/fleet.ts';
import type { HttpContext } from '../context.ts';
import { Reply } from '../reply.ts';
import { adminRefusal, refuse } from './ingest-request.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90s`, `10m`, `2h`, `7d`, `500ms`, or a number of seconds; undefined when malformed. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[1]) * UNITS[m[2] ?? 's']!;
}

function badQuery(details: string): IngestError {
  return new IngestError(ErrorCode.INVALID_QUERY, 'Invalid query', details);
}

/** The query of GET /api/v1/devices, or why it is wrong. */
export function deviceQuery(q: URLSearchParams): { query: DeviceQuery; offset: number; limit: number } | IngestError {
  const limitText = q.get('limit');
  const limit = limitText === null ? 100 : Number(limitText);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) return badQuery('limit must be an integer from 1 to 1000');
  const cursor = q.get('cursor');
  const offset = cursor === null || cursor === '' ? 0 : Number(cursor);
  if (!Number.isInteger(offset) || offset < 0) return badQuery('cursor must be the next_cursor of a previous page');
  const silent = q.get('silent_for');
  const rejecting = q.get('rejecting');
  if (silent !== null && rejecting !== null) return badQuery('use silent_for or rejecting, not both');
  if (silent !== null) {
    const ms = parseDuration(silent);
    if (ms === undefined) return badQuery('silent_for must be a duration like 90s, 10m, 2h or 7d');
    return { query: { kind: 'silent', ms }, offset, limit };
  }
  if (rejecting !== null) {
    if (rejecting !== 'true') return badQuery('rejecting must be true');
    const within = q.get('within') ?? '1h';
    const ms = parseDuration(within);
    if (ms === undefined) return badQuery('within must be a duration like 10m, 1h or 1d');
    return { query: { kind: 'rejecting', ms }, offset, limit };
  }
  return { query: { kind: 'all' }, offset, limit };
}

/** Reads what the handler needs from the request (uWS: before anything async), checks access. */
function guarded(ctx: HttpContext, work: (reply: Reply, req: { id: string; query: string }) => Promise<void>) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const reply = new Reply(res);
    const r = { id: req.getParameter(0) ?? '', query: req.getQuery() ?? '' };
    if (ctx.auth.enabled) {
      const refused = adminRefusal(ctx, req.getHeader('authorization'));
      if (refused) return refuse(ctx, reply, refused);
    }
    work(reply, r).catch((err: unknown) => reply.error(new QueueUnavailableError((err as Error).message, err), ctx.retryAfterSeconds));
  };
}

export function deviceStats(ctx: HttpContext) {
  return guarded(ctx, async (reply, { id }) => {
    const stats = await ctx.backend.fleet.stats(decodeURIComponent(id), Date.now());
    if (!stats) return refuse(ctx, reply, new IngestError(ErrorCode.NOT_FOUND, 'Not found', `no readings or refusals recorded for device ${id}`));
    reply.json('200 OK', stats);
  });
}

export function deviceList(ctx: HttpContext) {
  return guarded(ctx, async (reply, { query }) => {
    const q = deviceQuery(new URLSearchParams(query));
    if (q instanceof IngestError) return refuse(ctx, reply, q);
    const page = await ctx.backend.fleet.list(q.query, q.offset, q.limit, Date.now());
    reply.json('200 OK', page);
  });
}
