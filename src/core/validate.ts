/**
 * Compiled validation of readings: `Check` on the hot path, `Errors` only for a reading
 * that failed, turned into one line naming the failing path
 * (`sensors.ld2410.distance must be <= 600`).
 * @module
 */
import type { TObject, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { InvalidReadingError } from './errors.ts';
import { readingSchema, type Reading } from './readings/reading.ts';
import type { SensorType } from './readings/registry.ts';

export class ReadingValidator {
  readonly #check: TypeCheck<TObject>;
  readonly #sensorNames: string[];
  readonly #skewMs: number;

  /** @param clockSkewMs readings timestamped further in the future are rejected */
  constructor(types: readonly SensorType[], clockSkewMs: number) {
    this.#check = TypeCompiler.Compile(readingSchema(types));
    this.#sensorNames = types.map((t) => t.name);
    this.#skewMs = clockSkewMs;
  }

  get sensorNames(): readonly string[] {
    return this.#sensorNames;
  }

  /**
   * Returns the reading with its timestamp normalised, or the error to answer with.
   * Mutates `value` (the freshly decoded object) instead of copying it.
   */
  validate(value: unknown, now: number): Reading | InvalidReadingError {
    if (!this.#check.Check(value)) return new InvalidReadingError(this.#explain(value));
    const reading = value as unknown as Reading;
    const ts = reading.timestamp;
    const ms = Date.parse(ts);
    if (Number.isNaN(ms) || !dayExists(ts)) return new InvalidReadingError('timestamp is not a valid date');
    if (ms - now > this.#skewMs) {
      return new InvalidReadingError(`timestamp is more than ${this.#skewMs / 1000} s in the future`);
    }
    // toISOString costs more than the rest of validation here; skip it when the text is already canonical
    if (!isCanonical(ts)) reading.timestamp = new Date(ms).toISOString();
    return reading;
  }

  #explain(value: unknown): string {
    const first = this.#check.Errors(value).First();
    return first ? describe(first, this.#sensorNames) : 'reading is invalid';
  }
}

const CANONICAL = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Exactly what toISOString() returns for years 0000–9999. */
function isCanonical(ts: string): boolean {
  return ts.length === 24 && CANONICAL.test(ts);
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

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

function describe(e: ValueError, sensorNames: readonly string[]): string {
  const at = dotted(e.path);
  const s = e.schema;
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
      return at === 'timestamp' ? 'timestamp must be an ISO 8601 date-time with a time zone' : `${at} must match ${s.pattern}`;
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
