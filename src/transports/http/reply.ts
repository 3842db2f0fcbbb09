/**
 * The one place where an error code becomes an HTTP status and body, and where responses
 * are written (corked, and never to an aborted request).
 * @module
 */
import type { HttpResponse } from 'uWebSockets.js';
import { ErrorCode, type IngestError, RateLimitedError } from '../../core/errors.ts';

export const httpStatus: Record<ErrorCode, string> = {
  INGEST_ERR_INVALID_READING: '400 Bad Request',
  INGEST_ERR_MALFORMED_PAYLOAD: '400 Bad Request',
  INGEST_ERR_INVALID_BATCH: '400 Bad Request',
  INGEST_ERR_INVALID_METADATA: '400 Bad Request',
  INGEST_ERR_INVALID_QUERY: '400 Bad Request',
  INGEST_ERR_DUPLICATE: '409 Conflict',
  INGEST_ERR_PAYLOAD_TOO_LARGE: '413 Payload Too Large',
  INGEST_ERR_UNSUPPORTED_MEDIA_TYPE: '415 Unsupported Media Type',
  INGEST_ERR_NOT_FOUND: '404 Not Found',
  INGEST_ERR_METHOD_NOT_ALLOWED: '405 Method Not Allowed',
  INGEST_ERR_QUEUE_UNAVAILABLE: '503 Service Unavailable',
  INGEST_ERR_QUEUE_SATURATED: '503 Service Unavailable',
  INGEST_ERR_SHUTTING_DOWN: '503 Service Unavailable',
  INGEST_ERR_TOO_MANY_CONNECTIONS: '503 Service Unavailable',
  INGEST_ERR_UNAUTHENTICATED: '401 Unauthorized',
  INGEST_ERR_AUTH_UNAVAILABLE: '503 Service Unavailable',
  INGEST_ERR_FORBIDDEN: '403 Forbidden',
  INGEST_ERR_RATE_LIMITED: '429 Too Many Requests',
  INGEST_ERR_INTERNAL: '500 Internal Server Error',
};

/** Wraps one uWS response: tracks abort, corks every write, answers at most once. */
export class Reply {
  #done = false;
  /** Set by the server while draining: answers carry `Connection: close`. */
  closeAfter = false;
  readonly res: HttpResponse;

  constructor(res: HttpResponse) {
    this.res = res;
    res.onAborted(() => {
      this.#done = true;
    });
  }

  /** False once answered or aborted by the client. */
  get open(): boolean {
    return !this.#done;
  }

  send(status: string, body: string | Uint8Array, contentType = 'application/json', headers?: readonly (readonly [string, string])[]): void {
    if (this.#done) return;
    this.#done = true;
    this.res.cork(() => {
      this.res.writeStatus(status).writeHeader('Content-Type', contentType);
      if (headers) for (const [k, v] of headers) this.res.writeHeader(k, v);
      this.res.end(body, this.closeAfter);
    });
  }

  /** 304: the client's copy is current (no body, no Content-Length). */
  notModified(headers: readonly (readonly [string, string])[]): void {
    if (this.#done) return;
    this.#done = true;
    this.res.cork(() => {
      this.res.writeStatus('304 Not Modified');
      for (const [k, v] of headers) this.res.writeHeader(k, v);
      this.res.endWithoutBody(undefined, this.closeAfter);
    });
  }

  json(status: string, value: unknown, headers?: readonly (readonly [string, string])[]): void {
    this.send(status, JSON.stringify(value), 'application/json', headers);
  }

  /** Answers with the error's status; `close` ends the connection (e.g. an unread oversized body). */
  error(err: IngestError, retryAfterSeconds: number, extra?: Record<string, unknown>, close = false): void {
    if (close) this.closeAfter = true;
    const status = httpStatus[err.code];
    const body: Record<string, unknown> = { error: err.message, code: err.code };
    if (err.details !== undefined) body.details = err.details;
    if (extra) Object.assign(body, extra);
    const headers: [string, string][] = [];
    if (status.startsWith('503')) headers.push(['Retry-After', String(retryAfterSeconds)]);
    if (err instanceof RateLimitedError) headers.push(['Retry-After', String(err.retryAfterSeconds)]);
    if (err.code === ErrorCode.UNAUTHENTICATED) headers.push(['WWW-Authenticate', 'Bearer realm="neurobuild-ingest", ApiKey header="x-api-key"']);
    this.json(status, body, headers.length ? headers : undefined);
  }
}
