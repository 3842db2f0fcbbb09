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
  const apiKey = req.getHeader('x-api-key');
  const authorization = req.getHeader('authorization');
  const remote = ctx.limiter ? Buffer.from(res.getRemoteAddressAsText()).toString() : '';
  if (ctx.lifecycle.draining()) {
    reply.error(new ShuttingDownError(), ctx.retryAfterSeconds, undefined, true);
    ctx.metrics.error(errorType[ErrorCode.SHUTTING_DOWN]);
    return;
  }
  readBody(res, declared, ctx.maxBodyBytes, (body) => {
    if (!reply.open) return;
    if (body === 'too-large') {
      ctx.metrics.error(errorType[ErrorCode.PAYLOAD_TOO_LARGE]);
      const err = new IngestError(ErrorCode.PAYLOAD_TOO_LARGE, 'Payload too large', `body exceeds ${ctx.maxBodyBytes} bytes`);
      // the rest of the body is still on the wire: close rather than read it
      reply.error(err, ctx.retryAfterSeconds, undefined, true);
      return;
    }
    const item: IngestItem = { source: 'http', payload: body, contentType: contentType || undefined };
    if (access === 'admin') {
      const refused = adminRefusal(ctx, authorization);
      if (refused) return refuse(ctx, reply, refused);
      return handle(reply, item);
    }
    // the pipeline asks for admission once it knows whether each reading is live or backfill
    const limited = (key: string) => {
      if (ctx.limiter && opts.bucket) item.admit = admission(ctx.limiter, opts.bucket, key, opts.bucket === Buckets.batch);
      handle(reply, item);
    };
    // without authentication, requests are counted per source address
    if (!ctx.auth.enabled) return limited(remote);
    ctx.auth.authenticate({ apiKey: apiKey || undefined, bearer: bearerOf(authorization) }).then((who) => {
      if (!reply.open) return;
      if (who instanceof IngestError) return refuse(ctx, reply, who);
      if (who.role !== 'device') return refuse(ctx, reply, new ForbiddenError(`"${who.id}" is a ${who.role}: it may watch readings, not write them`));
      item.identity = who.id;
      limited(who.id);
    }, (err: unknown) => internalError(ctx, reply, err));
  });
}

/** Why a request is not the admin's (undefined: it is). Constant-time comparison of the token. */
export function adminRefusal(ctx: HttpContext, authorization: string): IngestError | undefined {
  if (!ctx.adminToken) return new ForbiddenError('the admin API is off (ADMIN_TOKEN is not set)');
  const token = bearerOf(authorization);
  if (!token) return new IngestError(ErrorCode.UNAUTHENTICATED, 'Unauthorized', 'admin routes need Authorization: Bearer <ADMIN_TOKEN>');
  if (!isAdminToken(token, ctx.adminToken)) return new ForbiddenError('not the admin token');
  return undefined;
}

export function refuse(ctx: HttpContext, reply: Reply, err: IngestError): void {
  ctx.metrics.error(errorType[err.code]);
  reply.error(err, ctx.retryAfterSeconds);
}

/** A bug surfaced as a rejected promise: logged with its stack, answered 500. */
export function internalError(ctx: HttpContext, reply: Reply, err: unknown): void {
  ctx.log.error({ err }, 'unexpected error in request');
  ctx.metrics.error(errorType[ErrorCode.INTERNAL]);
  reply.json('500 Internal Server Error', { error: 'Internal server error', code: ErrorCode.INTERNAL });
}
