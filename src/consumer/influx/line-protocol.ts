/**
 * InfluxDB line protocol, written: `measurement,tag=value,… field=value,… timestamp`, one point
 * per line, the timestamp in nanoseconds. Pure functions: a point in, a line out.
 *
 * Escaping (the parser of InfluxDB 1.x and 2.x, models/points.go, read for these rules and
 * checked against 1.6.7):
 * - measurement: `,` and space get a backslash; tag keys, tag values and field keys: `,`, `=`
 *   and space. The parser ends a key or value at one of those unless the byte before it is a
 *   backslash, and then unescapes `\,` `\=` `\ ` only: a backslash of the value is written as
 *   it is and read back as it was (`a\,b` is written `a\\,b`).
 * - a backslash at the very end would escape the separator after it, and the parser has no way
 *   to write one there (`\\` is "invalid tag format" to 1.6.7): trailing backslashes are left
 *   out, the one place where a stored value differs from the original.
 * - a newline, carriage return or tab cannot appear raw outside a string field (a newline ends
 *   the line): they are written as the two characters `\n`, `\r`, `\t`, as InfluxData's own
 *   clients and Telegraf do, and are stored that way.
 * - string field values: in double quotes, with `\` and `"` escaped (both unescaped on read;
 *   a newline inside the quotes is kept).
 * - an empty tag key or value cannot be written (`tag=` does not parse): the tag is left out.
 *
 * Types: a float is the number as JavaScript prints it (no suffix: `125` is a float),
 * an integer carries the `i` suffix, booleans are `true` / `false`, strings are quoted. A
 * series' field keeps the type of its first write: a point with another type is refused
 * (a field type conflict), so each field's type is fixed by the caller, never by the value.
 * @module
 */

/** The field types of line protocol, named as InfluxDB names them. */
export const FieldKind = { float: 'float', integer: 'integer', boolean: 'boolean', string: 'string' } as const;
export type FieldKind = (typeof FieldKind)[keyof typeof FieldKind];

export type Field = readonly [key: string, kind: FieldKind, value: number | boolean | string];

export interface Point {
  measurement: string;
  /** Tag key → value; written sorted by key (what InfluxDB recommends); empty values (also once trailing backslashes are dropped) are left out. */
  tags: Readonly<Record<string, string>>;
  /** In the order written; at least one. */
  fields: readonly Field[];
  /** Nanoseconds since the epoch as decimal text (see nanoseconds()). */
  timestamp: string;
}

/** A value line protocol cannot carry (the message names it). */
export class LineProtocolError extends Error {
  override name = 'LineProtocolError';
}

const CONTROL: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** `special` gets a backslash, control characters become their two-character escapes, trailing backslashes are dropped. */
function escaper(special: string): (s: string) => string {
  const chars = special.replace(/[\]\\^-]/g, '\\$&');
  const re = new RegExp(`[${chars}]|[\\n\\r\\t]`, 'g');
  const test = new RegExp(`[${chars}\\n\\r\\t]|\\\\$`);
  return (s) => (test.test(s) ? s.replace(/\\+$/, '').replace(re, (c) => CONTROL[c] ?? `\\${c}`) : s);
}

export const escapeMeasurement = escaper(', ');
/** Tag keys, tag values and field keys. */
export const escapeKey = escaper(',= ');

/** A string field value, quotes included. */
export function quoteString(s: string): string {
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}

/** Earliest and latest instants InfluxDB stores (int64 ns, its two reserved values excluded), in ms. */
export const MIN_TIME_MS = -9_223_372_036_854;
export const MAX_TIME_MS = 9_223_372_036_854;

/** Nanoseconds since the epoch of a time in ms, as line protocol's timestamp. @throws LineProtocolError outside 1677-09-21 … 2262-04-11 */
export function nanoseconds(ms: number): string {
  if (!Number.isInteger(ms)) throw new LineProtocolError(`time ${ms} is not a whole number of milliseconds`);
  if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) throw new LineProtocolError(`time ${new Date(ms).toISOString()} is outside what InfluxDB stores (1677-09-21 to 2262-04-11)`);
  // exact for every ms in range, where ms × 1e6 as a double would not be
  return ms === 0 ? '0' : `${ms}000000`;
}

/** One field value in its type's syntax. @throws LineProtocolError when the value does not fit the type */
export function fieldValue(kind: FieldKind, value: number | boolean | string, key = 'field'): string {
  switch (kind) {
    case FieldKind.float:
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new LineProtocolError(`${key} must be a finite number (got ${JSON.stringify(value)})`);
      return String(value);
    case FieldKind.integer:
      if (typeof value !== 'number' || !Number.isSafeInteger(value)) throw new LineProtocolError(`${key} must be an integer within ±2^53 (got ${JSON.stringify(value)})`);
      return `${value}i`;
    case FieldKind.boolean:
      if (typeof value !== 'boolean') throw new LineProtocolError(`${key} must be a boolean (got ${JSON.stringify(value)})`);
      return value ? 'true' : 'false';
    case FieldKind.string:
      if (typeof value !== 'string') throw new LineProtocolError(`${key} must be a string (got ${JSON.stringify(value)})`);
      return quoteString(value);
  }
}

/** The point as one line (no newline). @throws LineProtocolError for a point without fields or a value its type refuses */
export function toLine(p: Point): string {
  if (p.measurement === '') throw new LineProtocolError('the measurement name is empty');
  if (p.fields.length === 0) throw new LineProtocolError(`${p.measurement}: a point needs at least one field`);
  let line = escapeMeasurement(p.measurement);
  for (const key of Object.keys(p.tags).sort()) {
    const k = escapeKey(key);
    const v = escapeKey(p.tags[key]!);
    if (k !== '' && v !== '') line += `,${k}=${v}`;
  }
  let sep = ' ';
  for (const [key, kind, value] of p.fields) {
    line += `${sep}${escapeKey(key)}=${fieldValue(kind, value, key)}`;
    sep = ',';
  }
  return `${line} ${p.timestamp}`;
}
