/**
 * Shared front half of the ingest routes: abort tracking, drain check, bounded body read,
 * credentials (with AUTH_MODE on), and the IngestItem handed to the pipeline.
 * @module
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ErrorCode, ForbiddenError, IngestError, ShuttingDownError, errorType } from '../../../core/errors.ts';
import { Buckets } from '../../../auth/rate/setup.ts';
import { admission } from '../../admission.ts';
import { bearerOf } from '../../../auth/authenticator.ts';
import { isAdminToken } from '../../../auth/admin-token.ts';
import { ANONYMOUS, type Identity } from '../../../auth/identity.ts';
import type { IngestItem } from '../../../core/item.ts';
import { readBody } from '../body.ts';
import type { HttpContext } from '../context.ts';
import { Reply } from '../reply.ts';

/** Who may call a route when AUTH_MODE is on: a device (for its own readings) or the admin token. */
export type Access = 'device' | 'admin';

export interface RouteAccess {
  /** Default device. */
  access?: Access;
  /** Rate-limit bucket of the route's live readings (with RATE_LIMIT on): single or batch; backfill has its own. */
  bucket?: string;
}

export function receiveItem(ctx: HttpContext, res: HttpResponse, req: HttpRequest, handle: (reply: Reply, item: IngestItem) => void, opts: RouteAccess = {}): void {
  const access = opts.access ?? 'device';
  const reply = new Reply(res);
  const contentType = req.getHeader('content-type');
  const declared = req.getHeader('content-length');
  const credentials = { apiKey: req.getHeader('x-api-key') || undefined, bearer: bearerOf(req.getHeader('authorization')) };
  const authorization = req.getHeader('authorization');
  const remote = ctx.limiter ? ctx.addresses.ofRequest(res, req) : '';
  if (ctx.lifecycle.draining()) {
    reply.error(new ShuttingDownError(), ctx.retryAfterSeconds, undefined, true);
    ctx.metrics.error(errorType[ErrorCode.SHUTTING_DOWN]);
    return;
  }
  // credentials are judged from the headers before the body is read: a refused request is
  // answered and its connection closed with the body unread, and while a key or token is being
  // verified (not cached here) the body waits in the socket (paused), not in memory
  let who: Identity | undefined;
  if (access === 'admin') {
    const refused = adminRefusal(ctx, authorization);
    if (refused) return refuse(ctx, reply, refused, true);
  } else if (!ctx.auth.enabled) who = ANONYMOUS;
  else if (credentials.apiKey === undefined && credentials.bearer === undefined) {
    return refuse(ctx, reply, ctx.auth.missingCredentials(), true);
  } else {
    who = ctx.auth.cached(credentials);
    if (who !== undefined && who.role !== 'device') return refuse(ctx, reply, notADevice(who), true);
  }
  let body: Buffer | undefined;
  const proceed = () => {
    if (!reply.open || body === undefined || (access === 'device' && who === undefined)) return;
    // a bug thrown here would escape into uWS (or, after authentication, be an unhandled rejection)
    try {
      start();
    } catch (err) {
      internalError(ctx, reply, err);
    }
  };
  const start = () => {
    const item: IngestItem = { source: 'http', payload: body!, contentType: contentType || undefined };
    if (access === 'admin') return handle(reply, item);
    if (who!.via !== 'none') item.identity = who!.id;
    // the pipeline asks for admission once it knows whether each reading is live or backfill;
    // without authentication, requests are counted per source address
    if (ctx.limiter && opts.bucket) item.admit = admission(ctx.limiter, opts.bucket, who!.via === 'none' ? remote : who!.id, opts.bucket === Buckets.batch);
    handle(reply, item);
  };
  readBody(res, declared, ctx.maxBodyBytes, (b) => {
    if (!reply.open) return;
    if (b === 'too-large') {
      ctx.metrics.error(errorType[ErrorCode.PAYLOAD_TOO_LARGE]);
      const err = new IngestError(ErrorCode.PAYLOAD_TOO_LARGE, 'Payload too large', `body exceeds ${ctx.maxBodyBytes} bytes`);
      // the rest of the body is still on the wire: close rather than read it
      reply.error(err, ctx.retryAfterSeconds, undefined, true);
      return;
    }
    body = b;
    proceed();
  });
  if (access === 'admin' || who !== undefined) return;
  res.pause();
  ctx.auth.authenticate(credentials).then((verified) => {
    if (!reply.open) return;
    if (verified instanceof IngestError) return refuse(ctx, reply, verified, true);
    if (verified.role !== 'device') return refuse(ctx, reply, notADevice(verified), true);
    who = verified;
    res.cork(() => res.resume());
    proceed();
  }).catch((err: unknown) => internalError(ctx, reply, err));
}

function notADevice(who: Identity): IngestError {
  return new ForbiddenError(`"${who.id}" is a ${who.role}: it may watch readings, not write them`);
}

/** Why a request is not the admin's (undefined: it is). Constant-time comparison of the token. */
export function adminRefusal(ctx: HttpContext, authorization: string): IngestError | undefined {
  if (!ctx.adminToken) return new ForbiddenError('the admin API is off (ADMIN_TOKEN is not set)');
  const token = bearerOf(authorization);
  if (!token) return new IngestError(ErrorCode.UNAUTHENTICATED, 'Unauthorized', 'admin routes need Authorization: Bearer <ADMIN_TOKEN>');
  if (!isAdminToken(token, ctx.adminToken)) return new ForbiddenError('not the admin token');
  return undefined;
}

/** Answers `err` (counted); `close`: and closes the connection (a body left unread on the wire). */
export function refuse(ctx: HttpContext, reply: Reply, err: IngestError, close = false): void {
  ctx.metrics.error(errorType[err.code]);
  reply.error(err, ctx.retryAfterSeconds, undefined, close);
}

/** A bug surfaced as a rejected promise: logged with its stack, answered 500. */
export function internalError(ctx: HttpContext, reply: Reply, err: unknown): void {
  ctx.log.error({ err }, 'unexpected error in request');
  ctx.metrics.error(errorType[ErrorCode.INTERNAL]);
  reply.json('500 Internal Server Error', { error: 'Internal server error', code: ErrorCode.INTERNAL });
}
