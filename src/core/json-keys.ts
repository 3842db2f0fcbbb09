/**
 * Duplicate object keys in JSON text. JSON.parse keeps the last of `{"device_id":"a","device_id":"b"}`
 * while other parsers keep the first, and the device's own text may be what is stored: a reading
 * whose keys repeat would mean one thing here and another downstream, so it is refused. Run on
 * text JSON.parse has already accepted (so the scan need not check the grammar); one pass, a Set
 * only for objects with more than one key.
 * @module
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

interface Frame {
  object: boolean;
  /** The next string in this object is a key. */
  expectKey: boolean;
  /** The first key (no Set for objects of one key). */
  first: string | undefined;
  keys: Set<string> | undefined;
}

/** The first key that appears twice in one object of `text` (valid JSON), if any. */
export function duplicateKey(text: string): string | undefined {
  const stack: Frame[] = [];
  let top: Frame | undefined;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const ch = text.charCodeAt(i);
    if (ch === QUOTE) {
      const start = i + 1;
      let escaped = false;
      for (i = start; i < n; i++) {
        const c = text.charCodeAt(i);
        if (c === BACKSLASH) {
          escaped = true;
          i++;
        } else if (c === QUOTE) break;
      }
      if (top === undefined || !top.object || !top.expectKey) continue;
      top.expectKey = false;
      const raw = text.slice(start, i);
      // "a" and "\u0061" are the same key
      const key = escaped ? (JSON.parse(`"${raw}"`) as string) : raw;
      if (top.first === undefined) top.first = key;
      else {
        if (top.keys === undefined) top.keys = new Set([top.first]);
        if (top.keys.has(key)) return key;
        top.keys.add(key);
      }
    } else if (ch === OPEN_OBJECT || ch === OPEN_ARRAY) {
      if (top !== undefined) stack.push(top);
      top = { object: ch === OPEN_OBJECT, expectKey: ch === OPEN_OBJECT, first: undefined, keys: undefined };
    } else if (ch === CLOSE_OBJECT || ch === CLOSE_ARRAY) {
      top = stack.pop();
    } else if (ch === COMMA && top !== undefined && top.object) top.expectKey = true;
  }
  return undefined;
}
