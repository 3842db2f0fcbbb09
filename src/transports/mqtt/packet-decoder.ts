/**
 * Whole frames (from the framer) decoded with mqtt-packet's parser, one parser per protocol
 * level shared by every connection: a parser per connection (an EventEmitter, a BufferList and
 * a packet object) was about a fifth of an idle connection's memory, and a frame is always
 * whole, so no state needs to live between two calls. Pure: bytes in, a packet or an error out.
 * @module
 */
import * as mqtt from 'mqtt-packet';
import type { Packet, Parser } from 'mqtt-packet';

type SettableParser = Parser & { settings: { protocolVersion: number } };

const parsers = new Map<number, SettableParser>();
let decoded: Packet | undefined;
let failure: Error | undefined;

function parserFor(protocolVersion: number): SettableParser {
  let p = parsers.get(protocolVersion);
  if (p === undefined) {
    p = mqtt.parser({ protocolVersion }) as SettableParser;
    p.on('packet', (packet: Packet) => (decoded = packet));
    p.on('error', (err: Error) => (failure = err));
    parsers.set(protocolVersion, p);
  }
  // parsing a CONNECT replaces the parser's settings with the packet: set them for every frame
  p.settings = { protocolVersion };
  return p;
}

/** The packet `frame` (exactly one whole packet) holds, or why it is malformed. */
export function decodeFrame(frame: Buffer, protocolVersion: number): Packet | Error {
  decoded = undefined;
  failure = undefined;
  const parser = parserFor(protocolVersion);
  const left = parser.parse(frame);
  const packet = decoded;
  const error = failure;
  decoded = undefined;
  failure = undefined;
  if (error !== undefined || packet === undefined || left !== 0) {
    // a parser that stopped half way keeps state: the next frame gets a fresh one
    parsers.delete(protocolVersion);
    return error ?? new Error('malformed packet: its content does not fill its remaining length');
  }
  return packet;
}
