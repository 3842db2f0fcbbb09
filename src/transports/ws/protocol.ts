/**
 * The live WebSocket protocol (DESIGN §3, byte-compatible with the platform's): what a client
 * may send, and the frames the server sends. JSON text frames by default; a client that asks
 * for MessagePack (`?format=msgpack` or the `msgpack` subprotocol) gets the same objects as
 * binary MessagePack frames and may send MessagePack too. Pure.
 * @module
 */
import { pack, unpack } from 'msgpackr';

export type Format = 'json' | 'msgpack';
export type Mode = 'stream' | 'latest';

export type ClientMessage =
  | { type: 'subscribe'; filters: unknown; mode: Mode | undefined }
  | { type: 'unsubscribe' }
  | { type: 'ping' };

/** A client frame decoded, or the message of the `error` frame that answers it. */
export function parseClientMessage(data: ArrayBuffer, isBinary: boolean): ClientMessage | string {
  let msg: unknown;
  try {
    msg = isBinary ? unpack(new Uint8Array(data)) : JSON.parse(Buffer.from(data).toString('utf8'));
  } catch (err) {
    return `malformed ${isBinary ? 'MessagePack' : 'JSON'}: ${(err as Error).message}`;
  }
  if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) return 'a message must be an object with a "type"';
  const { type, filters, mode } = msg as Record<string, unknown>;
  switch (type) {
    case 'subscribe':
      if (mode !== undefined && mode !== 'stream' && mode !== 'latest') return 'mode must be "stream" or "latest"';
      return { type, filters, mode };
    case 'unsubscribe':
    case 'ping':
      return { type };
    default:
      return `unknown message type ${JSON.stringify(type)} (expected subscribe, unsubscribe or ping)`;
  }
}

/** A control frame (connected, subscribed, unsubscribed, pong, error) in the client's format. */
export function controlFrame(format: Format, type: string, fields: Record<string, unknown> = {}): string | Buffer {
  const obj = { type, ...fields };
  return format === 'json' ? JSON.stringify(obj) : pack(obj);
}

/** `sensor-data` as JSON text, built around the reading's JSON without parsing it again. */
export function jsonDataFrame(readingJson: string, timestamp: string): string {
  return `{"type":"sensor-data","data":${readingJson},"timestamp":"${timestamp}"}`;
}

export function msgpackDataFrame(reading: unknown, timestamp: string): Buffer {
  return pack({ type: 'sensor-data', data: reading, timestamp });
}
