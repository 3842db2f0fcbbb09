/** GET /api/v1/queue/status: backlog downstream (consumer lag), DLQ and rejects sizes, in total and per readings stream (STREAM_SHARDS). */
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
          shards: s.shards.map((sh) => ({ shard: sh.shard, stream: sh.stream, stream_length: sh.streamLength, queue_size: sh.queueSize, dlq: sh.dlq, dlq_size: sh.dlqSize, consumer_groups: sh.groups })),
        }),
      (err: unknown) => reply.error(new QueueUnavailableError((err as Error).message, err), ctx.retryAfterSeconds),
    );
  };
}
