/**
 * Every error the ingest path can answer with, each with a stable code. Transports map a
 * code to their own wire answer in one file each (transports/http/reply.ts, ...).
 * docs/errors.md lists the same codes; test/unit/core/errors.test.ts keeps them in sync.
 * @module
 */

export const ErrorCode = {
  INVALID_READING: 'INGEST_ERR_INVALID_READING',
  MALFORMED_PAYLOAD: 'INGEST_ERR_MALFORMED_PAYLOAD',
  INVALID_BATCH: 'INGEST_ERR_INVALID_BATCH',
  INVALID_METADATA: 'INGEST_ERR_INVALID_METADATA',
  INVALID_QUERY: 'INGEST_ERR_INVALID_QUERY',
  DUPLICATE: 'INGEST_ERR_DUPLICATE',
  PAYLOAD_TOO_LARGE: 'INGEST_ERR_PAYLOAD_TOO_LARGE',
  UNSUPPORTED_MEDIA_TYPE: 'INGEST_ERR_UNSUPPORTED_MEDIA_TYPE',
  NOT_FOUND: 'INGEST_ERR_NOT_FOUND',
  METHOD_NOT_ALLOWED: 'INGEST_ERR_METHOD_NOT_ALLOWED',
  QUEUE_UNAVAILABLE: 'INGEST_ERR_QUEUE_UNAVAILABLE',
  QUEUE_SATURATED: 'INGEST_ERR_QUEUE_SATURATED',
  SHUTTING_DOWN: 'INGEST_ERR_SHUTTING_DOWN',
  TOO_MANY_CONNECTIONS: 'INGEST_ERR_TOO_MANY_CONNECTIONS',
  UNAUTHENTICATED: 'INGEST_ERR_UNAUTHENTICATED',
  AUTH_UNAVAILABLE: 'INGEST_ERR_AUTH_UNAVAILABLE',
  FORBIDDEN: 'INGEST_ERR_FORBIDDEN',
  RATE_LIMITED: 'INGEST_ERR_RATE_LIMITED',
  INTERNAL: 'INGEST_ERR_INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Value of the `error_type` label of sensor_data_errors_total for each code. */
export const errorType: Record<ErrorCode, string> = {
  INGEST_ERR_INVALID_READING: 'validation',
  INGEST_ERR_MALFORMED_PAYLOAD: 'malformed_payload',
  INGEST_ERR_INVALID_BATCH: 'invalid_batch',
  INGEST_ERR_INVALID_METADATA: 'invalid_metadata',
  INGEST_ERR_INVALID_QUERY: 'invalid_query',
  INGEST_ERR_DUPLICATE: 'duplicate',
  INGEST_ERR_PAYLOAD_TOO_LARGE: 'payload_too_large',
  INGEST_ERR_UNSUPPORTED_MEDIA_TYPE: 'unsupported_media_type',
  INGEST_ERR_NOT_FOUND: 'not_found',
  INGEST_ERR_METHOD_NOT_ALLOWED: 'method_not_allowed',
  INGEST_ERR_QUEUE_UNAVAILABLE: 'queue_unavailable',
  INGEST_ERR_QUEUE_SATURATED: 'queue_saturated',
  INGEST_ERR_SHUTTING_DOWN: 'shutting_down',
  INGEST_ERR_TOO_MANY_CONNECTIONS: 'too_many_connections',
  INGEST_ERR_UNAUTHENTICATED: 'unauthenticated',
  INGEST_ERR_AUTH_UNAVAILABLE: 'auth_unavailable',
  INGEST_ERR_FORBIDDEN: 'forbidden',
  INGEST_ERR_RATE_LIMITED: 'rate_limited',
  INGEST_ERR_INTERNAL: 'internal',
};

/** Base of every error the pipeline hands back; `details` is safe to show to the client. */
export class IngestError extends Error {
  override name = 'IngestError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** A reading that fails its schema; `details` names the failing path. */
export class InvalidReadingError extends IngestError {
  override name = 'InvalidReadingError';
  constructor(details: string) {
    super(ErrorCode.INVALID_READING, 'Invalid sensor data', details);
  }
}

export class MalformedPayloadError extends IngestError {
  override name = 'MalformedPayloadError';
  constructor(details: string, cause?: unknown) {
    super(ErrorCode.MALFORMED_PAYLOAD, 'Invalid sensor data', details, { cause });
  }
}

export class DuplicateReadingError extends IngestError {
  override name = 'DuplicateReadingError';
  constructor(readonly deviceId: string) {
    super(ErrorCode.DUPLICATE, 'Duplicate reading');
  }
}

/** The queue did not confirm (down, timed out, circuit open); the reading was not stored. */
export class QueueUnavailableError extends IngestError {
  override name = 'QueueUnavailableError';
  constructor(details: string, cause?: unknown) {
    super(ErrorCode.QUEUE_UNAVAILABLE, 'Queue unavailable', details, { cause });
  }
}

/** Too many readings await confirmation; refuse instead of buffering without bound. */
export class QueueSaturatedError extends IngestError {
  override name = 'QueueSaturatedError';
  constructor(limit: number, details = `more than ${limit} readings await queue confirmation`) {
    super(ErrorCode.QUEUE_SATURATED, 'Queue saturated', details);
  }
}

export class ShuttingDownError extends IngestError {
  override name = 'ShuttingDownError';
  constructor() {
    super(ErrorCode.SHUTTING_DOWN, 'Server shutting down', 'retry against another instance');
  }
}

/** No credentials, or credentials that are wrong, expired or revoked; `details` says which. */
export class UnauthenticatedError extends IngestError {
  override name = 'UnauthenticatedError';
  constructor(details: string) {
    super(ErrorCode.UNAUTHENTICATED, 'Unauthorized', details);
  }
}

/** A valid identity asking for what it may not do (another device's readings, admin routes...). */
export class ForbiddenError extends IngestError {
  override name = 'ForbiddenError';
  constructor(details: string) {
    super(ErrorCode.FORBIDDEN, 'Forbidden', details);
  }
}

/** The identity's token bucket is empty; retry after `retryAfterSeconds`. */
export class RateLimitedError extends IngestError {
  override name = 'RateLimitedError';
  constructor(
    details: string,
    readonly retryAfterSeconds: number,
  ) {
    super(ErrorCode.RATE_LIMITED, 'Too many requests', details);
  }
}
