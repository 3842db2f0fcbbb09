/**
 * Bytes + media type → a JavaScript value, or a typed error. No I/O.
 * @module
 */
import { Unpackr } from 'msgpackr';
import { ErrorCode, IngestError, MalformedPayloadError } from './errors.ts';
import { repeatedKey } from './json-keys.ts';

export const MediaKind = { json: 'json', msgpack: 'msgpack' } as const;
export type MediaKind = (typeof MediaKind)[keyof typeof MediaKind];

const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false, int64AsType: 'number' });
const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Media type (a Content-Type header value, parameters allowed) → payload kind.
 * Missing means JSON, as devices often omit the header.
 */
export function mediaKind(contentType: string | undefined): MediaKind | IngestError {
  if (!contentType) return MediaKind.json;
  const semi = contentType.indexOf(';');
  const base = (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
  if (base === 'application/json' || base === 'text/json' || base.endsWith('+json')) return MediaKind.json;
  if (base === 'application/msgpack' || base === 'application/x-msgpack' || base === 'application/vnd.msgpack') {
    return MediaKind.msgpack;
  }
  return new IngestError(
    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
    'Unsupported content type',
    `content type "${base}" is not supported; use application/json or application/msgpack`,
  );
}

/** UTF-8 text of a JSON payload, or why it is not. */
export function jsonText(payload: Uint8Array): string | MalformedPayloadError {
  if (payload.length === 0) return new MalformedPayloadError('body is empty');
  try {
    return utf8.decode(payload);
  } catch (err) {
    return new MalformedPayloadError('body is not valid UTF-8', err);
  }
}

export function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return malformed(err);
  }
  // only objects have keys; a key repeated in one object is ambiguous (json-keys.ts)
  const dup = repeatedKey(text, value);
  return dup === undefined ? value : repeated(dup);
}

/**
 * parseJson for a batch body: also, when it is an array, where each element's text is in
 * `text` (keysAndElements), so that an element's own text can be stored as a single reading's is.
 */
export function parseJsonBatch(text: string): { value: unknown; elements: Int32Array | undefined } | MalformedPayloadError {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return malformed(err);
  }
  const elements = Array.isArray(value) ? new Int32Array(2 * value.length) : undefined;
  const dup = repeatedKey(text, value, elements);
  return dup === undefined ? { value, elements } : repeated(dup);
}

function malformed(err: unknown): MalformedPayloadError {
  return new MalformedPayloadError(`malformed JSON: ${(err as Error).message}`, err);
}

function repeated(key: string): MalformedPayloadError {
  return new MalformedPayloadError(`malformed JSON: key ${JSON.stringify(key.slice(0, 64))} appears twice in one object`);
}

/** Decodes a payload. MessagePack timestamps become ISO strings so they validate as JSON ones do. */
export function decode(payload: Uint8Array, kind: MediaKind): unknown {
  if (payload.length === 0) return new MalformedPayloadError('body is empty');
  if (kind === MediaKind.json) {
    const text = jsonText(payload);
    return text instanceof MalformedPayloadError ? text : parseJson(text);
  }
  try {
    return datesToIso(unpackr.unpack(payload));
  } catch (err) {
    return new MalformedPayloadError(`malformed MessagePack: ${(err as Error).message}`, err);
  }
}

function datesToIso(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  const top = value as Record<string, unknown>;
  if (top.timestamp instanceof Date) {
    top.timestamp = Number.isNaN(top.timestamp.getTime()) ? 'invalid' : top.timestamp.toISOString();
  }
  if (Array.isArray(value)) for (const v of value) datesToIso(v);
  return value;
}
