/**
 * Compiled validation of readings: `Check` on the hot path, `Errors` only for a reading
 * that failed, turned into one line naming the failing path
 * (`sensors.ld2410.distance must be <= 600`).
 *
 * A reading the canonical check refuses gets a second look (normalise.ts): an epoch or naive
 * timestamp is normalised, and unknown fields are kept, stripped or refused (UNKNOWN_FIELDS),
 * by a second compiled check that lets unknown fields through. What that changed comes back
 * with the reading (NormalisedReading) for its quality flags and the fleet state.
 * @module
 */
import type { TObject, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { InvalidReadingError } from './errors.ts';
import {
  applyUnknownPolicy,
  defaultTolerance,
  NaiveTimestampsPolicy,
  NormalisationFlag,
  normaliseTimestamp,
  unknownFields,
  UnknownFieldsPolicy,
  type KnownFields,
  type ToleranceOptions,
  type UnknownField,
  type UnknownOutcome,
} from './normalise.ts';
import { readingSchema, type Reading } from './readings/reading.ts';
import type { SensorType } from './readings/registry.ts';

/** What validation changed in a reading to accept it. */
export interface Normalisation {
  /** Quality flags (NormalisationFlag), at least one. */
  flags: string[];
  /** Unknown fields found, when there were some (UNKNOWN_FIELDS keep or strip). */
  unknown: UnknownOutcome | undefined;
  /** Fields were removed: the device's JSON text is no longer the reading. */
  fieldsRemoved: boolean;
}

/** A reading accepted after normalisation (the canonical ones come back as a plain Reading). */
export class NormalisedReading {
  constructor(
    readonly reading: Reading,
    readonly normalisation: Normalisation,
  ) {}
}

/** A reading refused for its unknown fields (UNKNOWN_FIELDS=reject). */
export class UnknownFieldsError extends InvalidReadingError {
  override name = 'UnknownFieldsError';
  constructor(
    readonly fields: readonly string[],
    readonly count: number,
  ) {
    super(`${fields[0]} is not an allowed property${count > 1 ? ` (${count} unknown fields)` : ''}`);
  }
}

export class ReadingValidator {
  readonly #check: TypeCheck<TObject>;
  /** The same schema with unknown top-level and per-sensor fields allowed (unknown sensor types are not). */
  readonly #open: TypeCheck<TObject>;
  readonly #known: KnownFields;
  readonly #sensorNames: string[];
  readonly #skewMs: number;
  readonly #o: ToleranceOptions;
  readonly #timestampRule: string;

  /** @param clockSkewMs readings timestamped further in the future are rejected */
  constructor(types: readonly SensorType[], clockSkewMs: number, tolerance: Partial<ToleranceOptions> = {}) {
    const strict = readingSchema(types);
    this.#check = TypeCompiler.Compile(strict);
    this.#open = TypeCompiler.Compile(readingSchema(types, { openFields: true }));
    const sensors = new Map<string, ReadonlySet<string>>();
    for (const t of types) if (t.schema.additionalProperties === false) sensors.set(t.name, new Set(Object.keys(t.schema.properties)));
    this.#known = { top: new Set(Object.keys(strict.properties)), sensors };
    this.#sensorNames = types.map((t) => t.name);
    this.#skewMs = clockSkewMs;
    this.#o = { ...defaultTolerance, ...tolerance };
    this.#timestampRule =
      this.#o.naiveTimestamps === NaiveTimestampsPolicy.utc
        ? 'timestamp must be an ISO 8601 date-time (without a time zone: UTC) or a number of epoch seconds or milliseconds'
        : 'timestamp must be an ISO 8601 date-time with a time zone or a number of epoch seconds or milliseconds';
  }

  get sensorNames(): readonly string[] {
    return this.#sensorNames;
  }

  /**
   * The time (epoch ms) of the timestamp of the reading `validate` accepted last: read right after
   * the call, it saves parsing the timestamp a second time.
   */
  timestampMs = Number.NaN;

  /**
   * Returns the reading with its timestamp normalised (a NormalisedReading when more than the
   * timestamp's notation was changed to accept it), or the error to answer with.
   * Mutates `value` (the freshly decoded object) instead of copying it, only once it is accepted.
   */
  validate(value: unknown, now: number): Reading | NormalisedReading | InvalidReadingError {
    if (!this.#check.Check(value)) return this.#tolerant(value, now);
    const reading = value as unknown as Reading;
    const ts = reading.timestamp;
    const ms = this.#timestampMs(ts, now);
    if (ms instanceof InvalidReadingError) return ms;
    // toISOString costs more than the rest of validation here; skip it when the text is already canonical
    if (!isCanonical(ts)) reading.timestamp = canonical(ts, ms);
    this.timestampMs = ms;
    return reading;
  }

  /** The time of a timestamp that matched the pattern, or why it is no date / too far ahead. */
  #timestampMs(ts: string, now: number): number | InvalidReadingError {
    let ms = utcMs(ts);
    if (Number.isNaN(ms)) {
      ms = Date.parse(ts);
      if (Number.isNaN(ms) || !dayExists(ts)) return new InvalidReadingError('timestamp is not a valid date');
    }
    if (ms - now > this.#skewMs) {
      return new InvalidReadingError(`timestamp is more than ${this.#skewMs / 1000} s in the future`);
    }
    return ms;
  }

  /** The second look at a reading the canonical check refused (normalise.ts). */
  #tolerant(value: unknown, now: number): Reading | NormalisedReading | InvalidReadingError {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return this.#refused(value);
    const v = value as Record<string, unknown>;
    const sent = v.timestamp;
    const flags: string[] = [];
    const ts = normaliseTimestamp(sent, this.#o.naiveTimestamps);
    if (ts !== undefined && 'error' in ts) return new InvalidReadingError(ts.error);
    // tentatively, so that the check sees it; put back if the reading is refused (the rejects
    // stream keeps what the device sent)
    if (ts !== undefined) {
      v.timestamp = ts.iso;
      flags.push(ts.flag);
    }
    const refuse = (e: InvalidReadingError): InvalidReadingError => {
      v.timestamp = sent;
      return e;
    };
    if (!this.#open.Check(v)) return refuse(this.#refused(v, this.#open));
    const ms = this.#timestampMs(v.timestamp as string, now);
    if (ms instanceof InvalidReadingError) return refuse(ms);
    const found = unknownFields(v, this.#known);
    if (found.length > 0 && this.#o.unknownFields === UnknownFieldsPolicy.reject) return refuse(rejectUnknown(found));
    // accepted from here on
    const unknown = found.length > 0 ? applyUnknownPolicy(found, this.#o) : undefined;
    if (unknown !== undefined) {
      if (unknown.kept > 0) flags.push(NormalisationFlag.unknownFieldsKept);
      if (unknown.stripped > 0) flags.push(NormalisationFlag.unknownFieldsStripped);
    }
    const reading = v as unknown as Reading;
    if (!isCanonical(reading.timestamp)) reading.timestamp = canonical(reading.timestamp, ms);
    this.timestampMs = ms;
    // not reached (the canonical check refused it for its timestamp's form or unknown fields),
    // but a NormalisedReading always carries a flag
    if (flags.length === 0) return reading;
    return new NormalisedReading(reading, { flags, unknown, fieldsRemoved: (unknown?.stripped ?? 0) > 0 });
  }

  #refused(value: unknown, check: TypeCheck<TObject> = this.#check): InvalidReadingError {
    const first = check.Errors(value).First();
    return new InvalidReadingError(first ? describe(first, this.#sensorNames, this.#timestampRule) : 'reading is invalid');
  }
}

function rejectUnknown(found: readonly UnknownField[]): UnknownFieldsError {
  return new UnknownFieldsError(
    found.slice(0, 10).map((f) => f.path.slice(0, 64)),
    found.length,
  );
}

const CANONICAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Exactly what toISOString() returns for years 0000–9999. */
function isCanonical(ts: string): boolean {
  return ts.length === 24 && CANONICAL.test(ts);
}

/**
 * toISOString() of a timestamp that matched TIMESTAMP_PATTERN and parsed to `ms`. Devices often
 * send whole seconds in UTC (`2025-10-16T18:33:58Z`): that text plus `.000` is the answer, without
 * a Date (toISOString is ~1.3 µs, most of validating such a reading).
 */
function canonical(ts: string, ms: number): string {
  // (24:00:00, which Date.parse takes as the next day's midnight, goes the long way)
  if (ts.length === 20 && ts.charCodeAt(19) === 0x5a /* Z */ && (ts.charCodeAt(11) !== 0x32 /* 2 */ || ts.charCodeAt(12) < 0x34) /* 4 */) return `${ts.slice(0, 19)}.000Z`;
  return new Date(ms).toISOString();
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The digit at `i` of `s`, or NaN. */
function digit(s: string, i: number): number {
  const d = s.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : Number.NaN;
}

/**
 * The time of `YYYY-MM-DDTHH:MM:SS.mmmZ` or `YYYY-MM-DDTHH:MM:SSZ` naming an existing day and a
 * time before 24:00, by arithmetic (Date.parse costs ~0.3 µs, a tenth of a batch reading's
 * CPU); NaN for anything else, which Date.parse then judges.
 */
export function utcMs(ts: string): number {
  const n = ts.length;
  if ((n !== 24 && n !== 20) || ts.charCodeAt(n - 1) !== 0x5a /* Z */) return Number.NaN;
  if (ts.charCodeAt(4) !== 0x2d || ts.charCodeAt(7) !== 0x2d || ts.charCodeAt(10) !== 0x54 || ts.charCodeAt(13) !== 0x3a || ts.charCodeAt(16) !== 0x3a) return Number.NaN;
  if (n === 24 && ts.charCodeAt(19) !== 0x2e /* . */) return Number.NaN;
  const year = digit(ts, 0) * 1000 + digit(ts, 1) * 100 + digit(ts, 2) * 10 + digit(ts, 3);
  const month = digit(ts, 5) * 10 + digit(ts, 6);
  const day = digit(ts, 8) * 10 + digit(ts, 9);
  const hour = digit(ts, 11) * 10 + digit(ts, 12);
  const minute = digit(ts, 14) * 10 + digit(ts, 15);
  const second = digit(ts, 17) * 10 + digit(ts, 18);
  const milli = n === 24 ? digit(ts, 20) * 100 + digit(ts, 21) * 10 + digit(ts, 22) : 0;
  // NaN (a non-digit) fails every comparison
  if (!(month >= 1 && month <= 12 && day >= 1 && hour <= 23 && minute <= 59 && second <= 59 && milli >= 0 && year >= 0)) return Number.NaN;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  if (day > (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!)) return Number.NaN;
  // days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil)
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (month + (month > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146097 + doe - 719468;
  return days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + milli;
}

/** Date.parse accepts 2025-02-30 and rolls it over into March; a device sending it has a bug. */
function dayExists(ts: string): boolean {
  const day = (ts.charCodeAt(8) - 48) * 10 + (ts.charCodeAt(9) - 48);
  if (day <= 28) return true;
  const month = (ts.charCodeAt(5) - 48) * 10 + (ts.charCodeAt(6) - 48);
  if (month !== 2) return day <= DAYS_IN_MONTH[month - 1]!;
  const year = Number(ts.slice(0, 4));
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return day <= (leap ? 29 : 28);
}

/** `/sensors/ld2410/distance` → `sensors.ld2410.distance`; the root is `body`. */
export function dotted(path: string): string {
  return path === '' ? 'body' : path.slice(1).replaceAll('/', '.');
}

function typeName(schema: TSchema): string {
  const t = schema.type as string | undefined;
  if (t === 'object') return 'an object';
  if (t === 'array') return 'an array';
  if (t === 'integer') return 'an integer';
  if (t === 'null') return 'null';
  return t ? `a ${t}` : 'valid';
}

function describe(e: ValueError, sensorNames: readonly string[], timestampRule: string): string {
  const at = dotted(e.path);
  const s = e.schema;
  // a string, a number, a pattern: one message says what is accepted
  if (at === 'timestamp' && e.type !== ValueErrorType.ObjectRequiredProperty) return timestampRule;
  switch (e.type) {
    case ValueErrorType.ObjectRequiredProperty:
      return `${at} is required`;
    case ValueErrorType.ObjectAdditionalProperties:
      return at.startsWith('sensors.') && at.split('.').length === 2
        ? `${at} is not a known sensor type (known: ${sensorNames.join(', ')})`
        : `${at} is not an allowed property`;
    case ValueErrorType.ObjectMinProperties:
      return at === 'sensors' ? 'sensors must contain at least one sensor' : `${at} must not be empty`;
    case ValueErrorType.NumberMaximum:
    case ValueErrorType.IntegerMaximum:
      return `${at} must be <= ${s.maximum}`;
    case ValueErrorType.NumberMinimum:
    case ValueErrorType.IntegerMinimum:
      return `${at} must be >= ${s.minimum}`;
    case ValueErrorType.NumberExclusiveMaximum:
    case ValueErrorType.IntegerExclusiveMaximum:
      return `${at} must be < ${s.exclusiveMaximum}`;
    case ValueErrorType.NumberExclusiveMinimum:
    case ValueErrorType.IntegerExclusiveMinimum:
      return `${at} must be > ${s.exclusiveMinimum}`;
    case ValueErrorType.NumberMultipleOf:
    case ValueErrorType.IntegerMultipleOf:
      return `${at} must be a multiple of ${s.multipleOf}`;
    case ValueErrorType.ArrayMinItems:
      return `${at} must have at least ${s.minItems} items`;
    case ValueErrorType.ArrayMaxItems:
      return `${at} must have at most ${s.maxItems} items`;
    case ValueErrorType.Literal:
      return `${at} must be ${JSON.stringify(s.const)}`;
    case ValueErrorType.StringPattern:
      return `${at} must match ${s.pattern}`;
    case ValueErrorType.StringMaxLength:
      return `${at} must be at most ${s.maxLength} characters`;
    case ValueErrorType.StringMinLength:
      return s.minLength === 1 ? `${at} must not be empty` : `${at} must be at least ${s.minLength} characters`;
    case ValueErrorType.Union:
      // enum of a configured sensor type: literals, and null (Type.Null has no const)
      if (Array.isArray(s.anyOf) && s.anyOf.every((x: TSchema) => x.const !== undefined || x.type === 'null')) {
        return `${at} must be one of ${s.anyOf.map((x: TSchema) => JSON.stringify(x.const ?? null)).join(', ')}`;
      }
      return `${at} is invalid`;
    default:
      return `${at} must be ${typeName(s)}`;
  }
}
