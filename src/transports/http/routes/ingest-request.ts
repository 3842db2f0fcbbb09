/**
 * Shared front half of the ingest routes: abort tracking, drain check, bounded body read,
 * and the IngestItem handed to the pipeline.
 * @module
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ErrorCode, IngestError, ShuttingDownError, errorType } from '../../../core/errors.ts';
import type { IngestItem } from '../../../core/item.ts';
import { readBody } from '../body.ts';
import type { HttpContext } from '../context.ts';
import { Reply } from '../reply.ts';

export function receiveItem(ctx: HttpContext, res: HttpResponse, req: HttpRequest, handle: (reply: Reply, item: IngestItem) => void): void {
  const reply = new Reply(res);
  const contentType = req.getHeader('content-type');
  const declared = req.getHeader('content-length');
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
    handle(reply, { source: 'http', payload: body, contentType: contentType || undefined });
  });
}

/** A bug surfaced as a rejected promise: logged with its stack, answered 500. */
export function internalError(ctx: HttpContext, reply: Reply, err: unknown): void {
  ctx.log.error({ err }, 'unexpected error in request');
  ctx.metrics.error(errorType[ErrorCode.INTERNAL]);
  reply.json('500 Internal Server Error', { error: 'Internal server error', code: ErrorCode.INTERNAL });
}
