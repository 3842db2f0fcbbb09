/**
 * The quarantine on the admin API (Authorization: Bearer <ADMIN_TOKEN>; off without it), on
 * either queue backend:
 * - GET /api/v1/admin/rejects?device_id=&code=&since=&limit=&cursor= : entries newest first,
 *   `limit` (default 50, at most 1000) per page, `next_cursor` to continue (null: the end).
 * - GET /api/v1/admin/rejects/:id : one entry whole.
 * - POST /api/v1/admin/rejects/replay {ids?, device_id?, code?, since?, limit?, cursor?, dry_run?} :
 *   entries run through this server's pipeline again (core/replay.ts), oldest first, at most
 *   `limit` (default 100, at most 1000); the counts and one result per entry.
 * @module
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ErrorCode, IngestError, QueueUnavailableError } from '../../../core/errors.ts';
import { parseRejectQuery, REJECT_ID, rejectView, replayRejects, type ReplayRequest } from '../../../core/replay.ts';
import type { HttpContext } from '../context.ts';
import { Reply } from '../reply.ts';
import { adminRefusal, receiveItem, refuse } from './ingest-request.ts';

const LIST_DEFAULT = 50;
const REPLAY_DEFAULT = 100;
const MAX = 1000;
const QUERY_KEYS = ['device_id', 'code', 'since', 'limit', 'cursor'];
const BODY_KEYS = ['ids', ...QUERY_KEYS, 'dry_run'];

function badQuery(details: string): IngestError {
  return new IngestError(ErrorCode.INVALID_QUERY, 'Invalid query', details);
}

/** The token checked, what the handler needs read from the request (uWS: before anything async), then `work`. */
function admin(ctx: HttpContext, work: (reply: Reply, req: { id: string; query: string }) => Promise<void>) {
  return (res: HttpResponse, req: HttpRequest): void => {
    const reply = new Reply(res);
    const r = { id: req.getParameter(0) ?? '', query: req.getQuery() ?? '' };
    const refused = adminRefusal(ctx, req.getHeader('authorization'));
    if (refused) return refuse(ctx, reply, refused);
    work(reply, r).catch((err: unknown) => reply.error(new QueueUnavailableError((err as Error).message, err), ctx.retryAfterSeconds));
  };
}

/** GET /api/v1/admin/rejects */
export function rejectList(ctx: HttpContext) {
  return admin(ctx, async (reply, { query }) => {
    const params = new URLSearchParams(query);
    const unknown = [...params.keys()].find((k) => !QUERY_KEYS.includes(k));
    if (unknown !== undefined) return refuse(ctx, reply, badQuery(`unknown parameter ${JSON.stringify(unknown)}; known: ${QUERY_KEYS.join(', ')}`));
    const get = (k: string) => params.get(k) || undefined;
    const q = parseRejectQuery({ device_id: get('device_id'), code: get('code'), since: get('since'), limit: get('limit'), cursor: get('cursor') }, Date.now(), MAX);
    if (typeof q === 'string') return refuse(ctx, reply, badQuery(q));
    const page = await ctx.backend.listRejects(q.filter, { order: 'newest', limit: q.limit ?? LIST_DEFAULT, ...(q.after === undefined ? {} : { after: q.after }) });
    reply.json('200 OK', { entries: page.entries.map(rejectView), count: page.entries.length, next_cursor: page.next });
  });
}

/** GET /api/v1/admin/rejects/:id */
export function rejectById(ctx: HttpContext) {
  return admin(ctx, async (reply, { id }) => {
    if (!REJECT_ID.test(id)) return refuse(ctx, reply, badQuery(`${JSON.stringify(id)} is not an entry id (<ms>-<seq>)`));
    const entry = await ctx.backend.getReject(id);
    if (!entry) return refuse(ctx, reply, new IngestError(ErrorCode.NOT_FOUND, 'Not found', `no entry ${id} in the rejects stream (replayed, trimmed, or never there)`));
    reply.json('200 OK', rejectView(entry));
  });
}

/** The replay request of a POST body, or why it is refused. */
export function replayRequest(body: unknown, now: number): ReplayRequest | string {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'body must be a JSON object: {"ids"?, "device_id"?, "code"?, "since"?, "limit"?, "cursor"?, "dry_run"?}';
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).find((k) => !BODY_KEYS.includes(k));
  if (unknown !== undefined) return `unknown field ${JSON.stringify(unknown)}; known: ${BODY_KEYS.join(', ')}`;
  if (b.dry_run !== undefined && typeof b.dry_run !== 'boolean') return 'dry_run must be true or false';
  for (const k of ['device_id', 'code', 'since', 'cursor']) if (b[k] !== undefined && typeof b[k] !== 'string') return `${k} must be a string`;
  if (b.limit !== undefined && typeof b.limit !== 'number' && typeof b.limit !== 'string') return 'limit must be a number';
  const dryRun = b.dry_run === true;
  if (b.ids !== undefined) {
    if (!Array.isArray(b.ids) || b.ids.length === 0 || b.ids.length > MAX) return `ids must be an array of 1 to ${MAX} entry ids`;
    const bad = b.ids.find((id) => typeof id !== 'string' || !REJECT_ID.test(id));
    if (bad !== undefined) return `${JSON.stringify(bad)} is not an entry id (<ms>-<seq>)`;
    const other = QUERY_KEYS.find((k) => b[k] !== undefined);
    if (other !== undefined) return `ids replays exactly those entries; it does not combine with ${other}`;
    return { ids: b.ids as string[], dryRun };
  }
  const q = parseRejectQuery(
    { device_id: b.device_id as string | undefined, code: b.code as string | undefined, since: b.since as string | undefined, limit: b.limit as string | number | undefined, cursor: b.cursor as string | undefined },
    now,
    MAX,
  );
  if (typeof q === 'string') return q;
  return { filter: q.filter, limit: q.limit ?? REPLAY_DEFAULT, ...(q.after === undefined ? {} : { after: q.after }), dryRun };
}

/** POST /api/v1/admin/rejects/replay → 200 with the counts and results; 503 (same body) when the queue did not take some. */
export function rejectReplay(ctx: HttpContext) {
  return (res: HttpResponse, req: HttpRequest): void =>
    receiveItem(
      ctx,
      res,
      req,
      (reply, item) => {
        let body: unknown = {};
        const text = Buffer.from(item.payload).toString('utf8');
        if (text.trim() !== '') {
          try {
            body = JSON.parse(text);
          } catch {
            return refuse(ctx, reply, badQuery('body must be JSON'));
          }
        }
        const request = replayRequest(body, Date.now());
        if (typeof request === 'string') return refuse(ctx, reply, badQuery(request));
        replayRejects({ backend: ctx.backend, pipeline: ctx.pipeline, validator: ctx.validator }, request).then(
          (report) => {
            const { results: _r, ...counts } = report;
            ctx.log.info(counts, `admin: rejects ${report.dry_run ? 'replayed (dry run)' : 'replayed'}`);
            if (report.failed > 0) reply.json('503 Service Unavailable', report, [['Retry-After', String(ctx.retryAfterSeconds)]]);
            else reply.json('200 OK', report);
          },
          (err: unknown) => reply.error(new QueueUnavailableError((err as Error).message, err), ctx.retryAfterSeconds),
        );
      },
      { access: 'admin' },
    );
}
