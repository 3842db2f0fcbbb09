/**
 * POST /api/v1/sensor-data/batch: up to BATCH_MAX_ITEMS readings with one result each.
 * 202 when every valid reading was stored; 503 + Retry-After when the queue failed any of
 * them (the results say which were stored, so a client may resend the whole batch: the
 * stored ones come back as duplicates).
 * @module
 */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ErrorCode, IngestError } from '../../../core/errors.ts';
import type { Outcome } from '../../../core/item.ts';
import { httpStatus } from '../reply.ts';
import type { HttpContext } from '../context.ts';
import { receiveItem } from './ingest-request.ts';
import { internalError } from './sensor-data.ts';

interface ItemResult {
  device_id: string | null;
  status: 'accepted' | 'failed' | 'duplicate';
  message_id?: string;
  error?: string;
  details?: string;
}

function toResult(o: Outcome): ItemResult {
  if (o.ok) return { device_id: o.reading.device_id, status: 'accepted', message_id: o.messageId };
  const device_id = o.deviceId ?? null;
  if (o.error.code === ErrorCode.DUPLICATE) return { device_id, status: 'duplicate', error: o.error.message };
  const r: ItemResult = { device_id, status: 'failed', error: o.error.message };
  if (o.error.details !== undefined) r.details = o.error.details;
  return r;
}

export function batch(ctx: HttpContext) {
  return (res: HttpResponse, req: HttpRequest): void =>
    receiveItem(ctx, res, req, (reply, item) => {
      ctx.pipeline.ingestBatch(item, ctx.batchMaxItems).then((outcomes) => {
        if (outcomes instanceof IngestError) {
          reply.error(outcomes, ctx.retryAfterSeconds);
          return;
        }
        const results = outcomes.map(toResult);
        const queueFailed = outcomes.some((o) => !o.ok && httpStatus[o.error.code].startsWith('503'));
        const body = { message: 'Batch processed', total: results.length, results };
        if (queueFailed) {
          reply.json('503 Service Unavailable', { ...body, error: 'Queue unavailable', code: ErrorCode.QUEUE_UNAVAILABLE }, [
            ['Retry-After', String(ctx.retryAfterSeconds)],
          ]);
        } else reply.json('202 Accepted', body);
      }, (err: unknown) => internalError(ctx, reply, err));
    });
}
