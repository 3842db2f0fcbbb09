/** GET /api/v1/queue/status: backlog downstream (consumer lag), DLQ and rejects sizes. */
import type { HttpResponse } from 'uWebSockets.js';
import { QueueUnavailableError } from '../../../core/errors.ts';
import { Reply } from '../reply.ts';
import type { HttpContext } from '../context.ts';

export function queueStatus(ctx: HttpContext) {
  return (res: HttpResponse): void => {
    const reply = new Reply(res);
    ctx.backend.status().then(
      (s) =>
        reply.json('200 OK', {
          queue_size: s.queueSize,
          dlq_size: s.dlqSize,
          timestamp: new Date().toISOString(),
          stream_length: s.streamLength,
          rejects_size: s.rejectsSize,
          consumer_groups: s.groups,
          queue_backend: ctx.backend.kind,
        }),
      (err: unknown) => reply.error(new QueueUnavailableError((err as Error).message, err), ctx.retryAfterSeconds),
    );
  };
}
