/**
 * The device id of an accepted reading's JSON (a queue event), without parsing the reading:
 * the MQTT router needs only the id to name the topic `{prefix}/{device_id}/data`, and most
 * readings have no MQTT subscriber at all. The text is the enriched reading built from what the
 * device sent, so `device_id` is usually its first key; otherwise the top level is scanned for
 * it (strings and nesting skipped), still without building objects.
 * @module
 */
import { validDeviceId } from '../../core/device-id.ts';

const FIRST_KEY = '{"device_id":"';

/** The top-level `device_id` string of the JSON object `json`, or undefined. */
export function readingDeviceId(json: string): string | undefined {
  if (json.startsWith(FIRST_KEY)) {
    const end = json.indexOf('"', FIRST_KEY.length);
    if (end > 0) {
      const id = json.slice(FIRST_KEY.length, end);
      // a valid id has no escapes; anything else takes the careful path
      if (validDeviceId(id)) return id;
    }
  }
  return scan(json);
}

/** Walks the top level of a JSON object for the key "device_id" and returns its string value. */
function scan(json: string): string | undefined {
  let depth = 0;
  let i = 0;
  const n = json.length;
  while (i < n) {
    const c = json.charCodeAt(i);
    if (c === 34 /* " */) {
      const end = stringEnd(json, i);
      if (end < 0) return undefined;
      if (depth === 1 && end - i === 10 && json.startsWith('"device_id"', i)) {
        let j = end + 1;
        while (j < n && isSpace(json.charCodeAt(j))) j++;
        if (json.charCodeAt(j) === 58 /* : */) {
          j++;
          while (j < n && isSpace(json.charCodeAt(j))) j++;
          if (json.charCodeAt(j) !== 34) return undefined;
          const valueEnd = stringEnd(json, j);
          if (valueEnd < 0) return undefined;
          const id = json.slice(j + 1, valueEnd);
          return validDeviceId(id) ? id : undefined;
        }
      }
      i = end + 1;
      continue;
    }
    if (c === 123 /* { */ || c === 91 /* [ */) depth++;
    else if (c === 125 /* } */ || c === 93 /* ] */) depth--;
    i++;
  }
  return undefined;
}

/** Index of the closing quote of the string opening at `start`, or -1. */
function stringEnd(json: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = json.indexOf('"', i);
    if (q < 0) return -1;
    let backslashes = 0;
    for (let k = q - 1; k > start && json.charCodeAt(k) === 92; k--) backslashes++;
    if (backslashes % 2 === 0) return q;
    i = q + 1;
  }
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
}
