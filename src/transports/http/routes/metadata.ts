/** POST /api/v1/devices/metadata: stored in the shared store, used to enrich later readings. */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { decode, mediaKind, type MediaKind } from '../../../core/decode.ts';
import { validateMetadataUpdate } from '../../../core/device-metadata.ts';
import { errorType, IngestError, QueueUnavailableError } from '../../../core/errors.ts';
import type { HttpContext } from '../context.ts';
import { receiveItem } from './ingest-request.ts';

export function metadata(ctx: HttpContext) {
  return (res: HttpResponse, req: HttpRequest): void =>
    receiveItem(ctx, res, req, (reply, item) => {
      const kind = mediaKind(item.contentType);
      const value = kind instanceof IngestError ? kind : decode(item.payload, kind as MediaKind);
      const update = value instanceof IngestError ? value : validateMetadataUpdate(value);
      if (update instanceof IngestError) {
        ctx.metrics.error(errorType[update.code]);
        reply.error(update, ctx.retryAfterSeconds);
        return;
      }
      ctx.backend.metadata.set(update.device_id, update.metadata).then(
        () => reply.json('200 OK', { message: 'Device metadata updated', device_id: update.device_id, metadata: update.metadata }),
        (err: unknown) => {
          ctx.metrics.error('queue_unavailable');
          reply.error(new QueueUnavailableError((err as Error).message, err), ctx.retryAfterSeconds);
        },
      );
    }, { access: ctx.auth.enabled ? 'admin' : 'device' });
}
