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
import { Buckets } from '../../../auth/rate/setup.ts';
import { internalError, receiveItem } from './ingest-request.ts';

/**
 * One result as JSON text. Accepted items (the common case) are written by hand: their
 * device_id matched the id pattern and message_id is a UUID, so nothing needs escaping;
 * a generic JSON.stringify of 100 result objects cost ~6 % of the endpoint's CPU.
 */
function resultJson(o: Outcome): string {
  if (o.ok) return `{"device_id":"${o.reading.device_id}","status":"accepted","message_id":"${o.messageId}"}`;
  const device = o.deviceId === undefined ? 'null' : JSON.stringify(o.deviceId);
  if (o.error.code === ErrorCode.DUPLICATE) return `{"device_id":${device},"status":"duplicate","error":"Duplicate reading"}`;
  const details = o.error.details === undefined ? '' : `,"details":${JSON.stringify(o.error.details)}`;
  return `{"device_id":${device},"status":"failed","error":${JSON.stringify(o.error.message)}${details}}`;
}

export function batch(ctx: HttpContext) {
  return (res: HttpResponse, req: HttpRequest): void =>
    receiveItem(ctx, res, req, (reply, item) => {
      ctx.pipeline.ingestBatch(item, ctx.batchMaxItems).then((outcomes) => {
        if (outcomes instanceof IngestError) {
          reply.error(outcomes, ctx.retryAfterSeconds);
          return;
        }
        // every reading over its rate (live batch budget, backfill budget): 429 + Retry-After, as for a single one
        const first = outcomes[0]!;
        if (!first.ok && first.error.code === ErrorCode.RATE_LIMITED && outcomes.every((o) => !o.ok && o.error.code === ErrorCode.RATE_LIMITED)) {
          reply.error(first.error, ctx.retryAfterSeconds, { total: outcomes.length, results: outcomes.map((o) => JSON.parse(resultJson(o)) as unknown) });
          return;
        }
        const results = outcomes.map(resultJson).join(',');
        const queueFailed = outcomes.some((o) => !o.ok && httpStatus[o.error.code].startsWith('503'));
        if (queueFailed) {
          const body = `{"message":"Batch processed","error":"Queue unavailable","code":"${ErrorCode.QUEUE_UNAVAILABLE}","total":${outcomes.length},"results":[${results}]}`;
          reply.send('503 Service Unavailable', body, 'application/json', [['Retry-After', String(ctx.retryAfterSeconds)]]);
        } else reply.send('202 Accepted', `{"message":"Batch processed","total":${outcomes.length},"results":[${results}]}`);
      }, (err: unknown) => internalError(ctx, reply, err));
    }, { bucket: Buckets.batch });
}
