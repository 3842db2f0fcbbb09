/** POST /api/v1/sensor-data: one reading; 202 only after the queue confirmed it. */
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { ErrorCode } from '../../../core/errors.ts';
import type { HttpContext } from '../context.ts';
import { Buckets } from '../../../auth/rate/setup.ts';
import { internalError, receiveItem } from './ingest-request.ts';

export function sensorData(ctx: HttpContext) {
  return (res: HttpResponse, req: HttpRequest): void =>
    receiveItem(ctx, res, req, (reply, item) => {
      ctx.pipeline.submit(item, (o) => {
        try {
          if (o.ok) {
            // every interpolated value is pattern-checked (device id, ISO time, UUID): no escaping needed
            const r = o.reading;
            reply.send(
              '202 Accepted',
              `{"message":"Sensor data accepted","message_id":"${o.messageId}","device_id":"${r.device_id}","timestamp":"${r.timestamp}"}`,
            );
          } else if (o.error.code === ErrorCode.DUPLICATE) {
            reply.error(o.error, ctx.retryAfterSeconds, { device_id: o.deviceId });
          } else reply.error(o.error, ctx.retryAfterSeconds);
        } catch (err) {
          internalError(ctx, reply, err);
        }
      });
    }, { bucket: Buckets.single });
}
