/**
 * Duplicate object keys in JSON text. JSON.parse keeps the last of `{"device_id":"a","device_id":"b"}`
 * while other parsers keep the first, and the device's own text may be what is stored: a reading
 * whose keys repeat would mean one thing here and another downstream, so it is refused. Run on
 * text JSON.parse has already accepted (so the scan need not check the grammar).
 *
 * The check on every reading is a count: JSON.parse keeps one property per distinct key, so the
 * keys written in the text (one `:` outside strings per key) equal the properties of the parsed
 * value exactly when no object repeats a key. Counting costs ~0.4 µs for a 300-byte reading in
 * Node 20 (JSON.parse itself ~1 µs); naming the repeated key (a Set per object, every key sliced)
 * costs ~2 µs and runs only when the counts differ.
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

const COLON = 0x3a;

/** keysAndElements without elements to find. */
export const NO_ELEMENTS = new Int32Array(0);

/** Where the string opened at `open` closes: the next quote not escaped (preceded by an even run of backslashes); -1 if none. */
function closingQuote(text: string, open: number): number {
  for (let i = open; ; ) {
    i = text.indexOf('"', i + 1);
    if (i < 0) return -1;
    let b = i - 1;
    while (text.charCodeAt(b) === BACKSLASH) b--;
    if ((i - 1 - b) % 2 === 0) return i;
  }
}

/**
 * Keys written in `text` (valid JSON): colons outside strings, which are skipped with indexOf.
 * The same scan finds a batch's elements: for each element `i` of a top-level array that is an
 * object, `elements[2i]` and `elements[2i + 1]` are where its text starts and ends (both 0 for an
 * element that is not an object). `elements` holds 2 × the array's length, zeroed (meaningless
 * when `text` is not an array), or nothing (NO_ELEMENTS) for a single reading.
 */
export function keysAndElements(text: string, elements: Int32Array): number {
  let count = 0;
  let depth = 0;
  let index = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const ch = text.charCodeAt(i);
    if (ch === QUOTE) {
      i = closingQuote(text, i);
      if (i < 0) return count;
    } else if (ch === COLON) count++;
    else if (ch === OPEN_OBJECT || ch === OPEN_ARRAY) {
      if (depth === 1 && ch === OPEN_OBJECT && 2 * index < elements.length) elements[2 * index] = i;
      depth++;
    } else if (ch === CLOSE_OBJECT || ch === CLOSE_ARRAY) {
      depth--;
      if (depth === 1 && ch === CLOSE_OBJECT && 2 * index < elements.length) elements[2 * index + 1] = i + 1;
    } else if (ch === COMMA && depth === 1) index++;
  }
  return count;
}

/** Recursion depth after which keysInValue gives up (-1) and the iterative scan decides. */
const MAX_DEPTH = 64;

/** Own properties of every object in a parsed JSON value, nested ones included; -1 past MAX_DEPTH. */
export function keysInValue(value: unknown, depth = 0): number {
  if (typeof value !== 'object' || value === null) return 0;
  if (depth > MAX_DEPTH) return -1;
  let count = 0;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const n = keysInValue(value[i], depth + 1);
      if (n < 0) return -1;
      count += n;
    }
    return count;
  }
  const obj = value as Record<string, unknown>;
  // JSON.parse objects inherit nothing enumerable, and a "__proto__" key is an own property
  for (const k in obj) {
    const n = keysInValue(obj[k], depth + 1);
    if (n < 0) return -1;
    count += 1 + n;
  }
  return count;
}

/**
 * The first key repeated in one object of `text`, given `value` = JSON.parse(text): the cheap
 * count first, the naming scan (iterative: any depth) only when it says a key was folded or the
 * value is nested deeper than the count recurses. With `elements` (an array's, keysAndElements)
 * the count also finds where each element's text is.
 */
export function repeatedKey(text: string, value: unknown, elements?: Int32Array): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  if (keysAndElements(text, elements ?? NO_ELEMENTS) === keysInValue(value)) return undefined;
  return duplicateKey(text);
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
