/**
 * MQTT's Variable Byte Integer [MQTT-1.5.5] and the fixed header it ends [MQTT-2.2], read in one
 * place for the framer, the fast PUBLISH path, property lists and the UTF-8 checks.
 * @module
 */

/** Where a Variable Byte Integer ends and what it says. */
export interface VarInt {
  value: number;
  /** The position just past it. */
  next: number;
}

/**
 * The Variable Byte Integer at `pos`, reading no byte at or past `end`: 'more' when the bytes end
 * before it does, 'malformed' when it runs past 4 bytes [MQTT-1.5.5].
 */
export function readVarInt(buf: Uint8Array, pos: number, end: number): VarInt | 'more' | 'malformed' {
  let value = 0;
  let multiplier = 1;
  for (let i = 0; i < 4; i++) {
    if (pos + i >= end) return 'more';
    const byte = buf[pos + i]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) return { value, next: pos + i + 1 };
    multiplier *= 128;
  }
  return 'malformed';
}

/**
 * Bytes of the fixed header of a whole frame (the type byte and the Remaining Length), for code
 * handed frames the framer has already checked: the position of the variable header.
 */
export function fixedHeaderLength(frame: Uint8Array): number {
  let h = 1;
  while (h < 5 && frame[h]! & 0x80) h++;
  return h + 1;
}
