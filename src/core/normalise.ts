/**
 * What the reading validator tolerates beyond the canonical form, and how it is normalised
 * (docs/reading-format.md): unknown top-level and per-sensor fields (UNKNOWN_FIELDS), timestamps
 * without a time zone (NAIVE_TIMESTAMPS), and epoch seconds or milliseconds. Pure functions on
 * the freshly decoded value; validate.ts calls them only for a reading its compiled check refused,
 * so a canonical reading never pays for any of this.
 * @module
 */

export const UnknownFieldsPolicy = { keep: 'keep', strip: 'strip', reject: 'reject' } as const;
export type UnknownFieldsPolicy = (typeof UnknownFieldsPolicy)[keyof typeof UnknownFieldsPolicy];

export const NaiveTimestampsPolicy = { utc: 'utc', reject: 'reject' } as const;
export type NaiveTimestampsPolicy = (typeof NaiveTimestampsPolicy)[keyof typeof NaiveTimestampsPolicy];

export interface ToleranceOptions {
  /** @default 'keep' */
  unknownFields: UnknownFieldsPolicy;
  /** Unknown fields one reading may keep (top level and every sensor together). @default 16 */
  unknownFieldsMax: number;
  /** UTF-8 bytes of their names and JSON values together. @default 1024 */
  unknownFieldsMaxBytes: number;
  /** @default 'utc' */
  naiveTimestamps: NaiveTimestampsPolicy;
}

export const defaultTolerance: Readonly<ToleranceOptions> = Object.freeze({
  unknownFields: UnknownFieldsPolicy.keep,
  unknownFieldsMax: 16,
  unknownFieldsMaxBytes: 1024,
  naiveTimestamps: NaiveTimestampsPolicy.utc,
});

/** Quality flags of a normalised reading (beside the plausibility flags of quality.ts). */
export const NormalisationFlag = {
  timestampEpochS: 'timestamp_epoch_s',
  timestampEpochMs: 'timestamp_epoch_ms',
  timestampNaiveUtc: 'timestamp_naive_utc',
  unknownFieldsKept: 'unknown_fields_kept',
  unknownFieldsStripped: 'unknown_fields_stripped',
} as const;

// ------------------------------------------------------------------------------ timestamps

/** Epoch numbers below this are seconds; from it on, milliseconds (1e11 s is the year 5138, 1e11 ms is 1973-03-03). */
export const EPOCH_MS_FROM = 1e11;
/** Epoch numbers from this on are refused: microseconds or nanoseconds, or no time at all (1e14 ms is the year 5138). */
export const EPOCH_MAX = 1e14;
/** An epoch timestamp before 2000-01-01 is a clock that was never set (an ESP32 counts from 1970 until SNTP answers). */
export const EPOCH_FLOOR_MS = Date.UTC(2000, 0, 1);

const EPOCH_RULE = 'a number must be epoch seconds (below 1e11) or milliseconds (1e11 up to 1e14), from 2000-01-01 on';

/** A date-time without a time zone: the zoned TIMESTAMP_PATTERN of reading.ts minus its zone. */
const NAIVE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$/;

export type TimestampResult = { iso: string; flag: string } | { error: string } | undefined;

/**
 * A timestamp the canonical check refused, normalised when a rule allows it: `{iso, flag}`, or
 * `{error}` when it is refused by one of these rules, or undefined when none of them applies (the
 * schema then explains what is wrong).
 */
export function normaliseTimestamp(ts: unknown, naive: NaiveTimestampsPolicy): TimestampResult {
  if (typeof ts === 'number') return epochToIso(ts);
  if (typeof ts === 'string' && naive === NaiveTimestampsPolicy.utc && ts.length <= 29 && NAIVE.test(ts)) {
    return { iso: ts + 'Z', flag: NormalisationFlag.timestampNaiveUtc };
  }
  return undefined;
}

/**
 * Epoch seconds or milliseconds → ISO 8601, told apart by magnitude. Fractions are allowed and
 * rounded to the millisecond (the resolution of the stored timestamp).
 */
export function epochToIso(n: number): { iso: string; flag: string } | { error: string } {
  const shown = String(n).slice(0, 32);
  if (!Number.isFinite(n) || n < 0) return { error: `timestamp ${shown} is not an epoch time: ${EPOCH_RULE}` };
  if (n >= EPOCH_MAX) return { error: `timestamp ${shown} is too large (microseconds or nanoseconds?): ${EPOCH_RULE}` };
  const seconds = n < EPOCH_MS_FROM;
  const ms = Math.round(seconds ? n * 1000 : n);
  if (ms < EPOCH_FLOOR_MS) {
    return { error: `timestamp ${shown} is epoch ${seconds ? 'seconds' : 'milliseconds'} before 2000-01-01: the device clock is not set (SNTP not synchronised?); ${EPOCH_RULE}` };
  }
  return { iso: new Date(ms).toISOString(), flag: seconds ? NormalisationFlag.timestampEpochS : NormalisationFlag.timestampEpochMs };
}

// ------------------------------------------------------------------------------ unknown fields

/**
 * Names never kept whatever the policy: members of every JavaScript object (a consumer that
 * copies a reading with Object.assign or a naive deep merge would set a prototype or shadow a
 * constructor), at any depth of a kept value.
 */
const HOSTILE: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);
/** Top-level names the server writes into the enriched reading: a device's own would collide with them. */
export const RESERVED_TOP_LEVEL: ReadonlySet<string> = new Set(['received_at', 'message_id', 'device_metadata', 'backfill', 'quality']);

/** Names of unknown fields remembered for the fleet state: the first few, each cut short. */
const NAMES_KEPT = 10;
const NAME_CHARS = 64;

export interface UnknownField {
  /** `rssi`, `sensors.pir.sensitivity` */
  path: string;
  parent: Record<string, unknown>;
  key: string;
  /** A field of the envelope, not of a sensor. */
  top: boolean;
}

/** What was known of a reading's shape: the envelope's fields, and per sensor type the fields of a closed schema. */
export interface KnownFields {
  top: ReadonlySet<string>;
  /** Absent for a sensor type whose schema allows any field (additionalProperties: true). */
  sensors: ReadonlyMap<string, ReadonlySet<string>>;
}

/** Unknown fields of a value that passed the open (unknown-tolerant) schema, in the order written. */
export function unknownFields(v: Record<string, unknown>, known: KnownFields): UnknownField[] {
  const found: UnknownField[] = [];
  for (const key of Object.keys(v)) if (!known.top.has(key)) found.push({ path: key, parent: v, key, top: true });
  const sensors = v.sensors as Record<string, Record<string, unknown>>;
  for (const name of Object.keys(sensors)) {
    const fields = known.sensors.get(name);
    if (fields === undefined) continue;
    const s = sensors[name]!;
    for (const key of Object.keys(s)) if (!fields.has(key)) found.push({ path: `sensors.${name}.${key}`, parent: s, key, top: false });
  }
  return found;
}

export interface UnknownOutcome {
  kept: number;
  stripped: number;
  /** Paths of the unknown fields (the first NAMES_KEPT, each at most NAME_CHARS). */
  names: string[];
}

/**
 * Applies the keep or strip policy to the fields found (reject is the caller's: it refuses the
 * reading). Keep keeps a field unless its name is hostile or reserved, or its value holds a
 * hostile name or cannot be written as JSON; past `max` fields or `maxBytes` bytes (of those
 * that could be kept), none of the reading's unknown fields is kept. Removes what is not kept.
 */
export function applyUnknownPolicy(found: readonly UnknownField[], o: ToleranceOptions): UnknownOutcome {
  const names = found.slice(0, NAMES_KEPT).map((f) => (f.path.length > NAME_CHARS ? f.path.slice(0, NAME_CHARS) : f.path));
  const drop: UnknownField[] = [];
  const keep: UnknownField[] = [];
  if (o.unknownFields === UnknownFieldsPolicy.keep) {
    let bytes = 0;
    for (const f of found) {
      const reserved = HOSTILE.has(f.key) || (f.top && RESERVED_TOP_LEVEL.has(f.key));
      const size = reserved || bytes > o.unknownFieldsMaxBytes ? -1 : jsonBytes(f.parent[f.key]);
      if (size < 0) drop.push(f);
      else {
        keep.push(f);
        bytes += Buffer.byteLength(f.key, 'utf8') + size;
      }
    }
    if (keep.length > o.unknownFieldsMax || bytes > o.unknownFieldsMaxBytes) drop.push(...keep.splice(0));
  } else drop.push(...found);
  // an own property named __proto__ (JSON.parse makes one) is deleted like any other
  for (const f of drop) delete f.parent[f.key];
  return { kept: keep.length, stripped: drop.length, names };
}

/** UTF-8 bytes of `value` as JSON; -1 when it holds a hostile name at any depth or is no JSON value. */
function jsonBytes(value: unknown): number {
  if (typeof value === 'number') return Number.isFinite(value) ? String(value).length : -1;
  if (typeof value === 'boolean') return value ? 4 : 5;
  if (value === null) return 4;
  let hostile = false;
  let text: string | undefined;
  try {
    text = JSON.stringify(value, (key: string, x: unknown) => {
      if (HOSTILE.has(key)) hostile = true;
      return x;
    });
  } catch {
    // nested too deep to write (RangeError): not kept
    return -1;
  }
  return hostile || text === undefined ? -1 : Buffer.byteLength(text, 'utf8');
}
