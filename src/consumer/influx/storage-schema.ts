/**
 * A reading as the points of the platform's time-series storage service (InfluxDB 2, bucket
 * `sensor_data`; backend/services/data-storage, schemas/*.md): one point per sensor, in that
 * service's measurements, with its tag and field names and its field types.
 *
 * | sensor | measurement | fields (reading field → field, type) | tags beyond the common ones |
 * |---|---|---|---|
 * | ld2410 | ld2410_presence | presence → presence_detected (boolean), distance → distance_cm (float), energy → motion_energy (integer, rounded) | — |
 * | pir | pir_motion | motion_detected → motion_detected (boolean) | sensor_type |
 * | mq134 | mq134_gas | gas_concentration → concentration_ppm (float; ppb ÷ 1000) | calibration |
 *
 * Common tags: `device_id`, and from the reading's device metadata `location`, `zone` and
 * `firmware_ver` (the metadata's `firmware_version`, or `firmware_ver`); the extra tags come
 * from metadata keys of the same name. The storage schema's other fields (motion_distance_cm,
 * rssi, battery_level, …) have no source in a reading and are not written.
 *
 * A sensor type added with SENSOR_TYPES_DIR has no measurement there: it gets one of its own
 * name, with its top-level scalar fields under their own names, typed by value so that every
 * point agrees whatever the consumer's configuration (numbers float, booleans, strings);
 * nested objects, arrays, `null`, a field named `time` (refused by InfluxDB) and names starting
 * with `_` (InfluxDB's own columns) are not written.
 *
 * The timestamp is the device's (`timestamp`), in nanoseconds: a redelivered entry writes the
 * same lines, and InfluxDB keeps one point per series and timestamp, so a replay overwrites
 * itself instead of adding points.
 * @module
 */
import { type Field, FieldKind, LineProtocolError, nanoseconds, toLine } from './line-protocol.ts';

interface FieldRule {
  /** The reading's field. */
  from: string;
  /** The storage service's field. */
  to: string;
  kind: FieldKind;
  /** The value as stored, from the reading's value and the whole sensor object. */
  convert?(value: number, sensor: Record<string, unknown>): number;
}

interface SensorRule {
  measurement: string;
  fields: readonly FieldRule[];
  /** Metadata keys written as tags of this measurement (beyond the common ones). */
  tags: readonly string[];
}

/** The built-in sensors in the storage service's schema. */
export const STORAGE_SCHEMA: Readonly<Record<string, SensorRule>> = {
  ld2410: {
    measurement: 'ld2410_presence',
    fields: [
      { from: 'presence', to: 'presence_detected', kind: FieldKind.boolean },
      { from: 'distance', to: 'distance_cm', kind: FieldKind.float },
      // the storage types energy levels as integers (0-100)
      { from: 'energy', to: 'motion_energy', kind: FieldKind.integer, convert: (v) => Math.round(v) },
    ],
    tags: [],
  },
  pir: {
    measurement: 'pir_motion',
    fields: [{ from: 'motion_detected', to: 'motion_detected', kind: FieldKind.boolean }],
    tags: ['sensor_type'],
  },
  mq134: {
    measurement: 'mq134_gas',
    fields: [
      {
        from: 'gas_concentration',
        to: 'concentration_ppm',
        kind: FieldKind.float,
        convert: (v, sensor) => {
          if (sensor.unit === 'ppm') return v;
          if (sensor.unit === 'ppb') return v / 1000;
          throw new LineProtocolError(`sensors.mq134.unit must be "ppm" or "ppb" (got ${JSON.stringify(sensor.unit)})`);
        },
      },
    ],
    tags: ['calibration'],
  },
};

/** Field names a point of a configured sensor type cannot carry: InfluxDB refuses `time`, and `_…` are its own columns (_time, _value, _field…). */
const reservedField = (name: string) => name === 'time' || name.startsWith('_');

/** Why an entry cannot become points. */
export class UnencodableReadingError extends Error {
  override name = 'UnencodableReadingError';
}

function metadataTag(md: Record<string, unknown> | undefined, key: string): string | undefined {
  const v = md?.[key];
  return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
}

/**
 * The lines of one reading (an entry's `data`), one per sensor that has a field to write.
 * @throws UnencodableReadingError naming what is wrong (a reading that is not one, a time InfluxDB cannot store, a built-in sensor field of the wrong type)
 */
export function readingLines(reading: unknown): string[] {
  if (reading === null || typeof reading !== 'object' || Array.isArray(reading)) throw new UnencodableReadingError('the reading is not a JSON object');
  const r = reading as Record<string, unknown>;
  if (typeof r.device_id !== 'string' || r.device_id === '') throw new UnencodableReadingError('the reading has no device_id');
  if (typeof r.timestamp !== 'string') throw new UnencodableReadingError('the reading has no timestamp');
  const ms = Date.parse(r.timestamp);
  if (Number.isNaN(ms)) throw new UnencodableReadingError(`timestamp ${JSON.stringify(r.timestamp)} is not a date`);
  const sensors = r.sensors;
  if (sensors === null || typeof sensors !== 'object' || Array.isArray(sensors)) throw new UnencodableReadingError('the reading has no sensors object');
  const md = r.device_metadata !== null && typeof r.device_metadata === 'object' && !Array.isArray(r.device_metadata) ? (r.device_metadata as Record<string, unknown>) : undefined;
  try {
    const timestamp = nanoseconds(ms);
    const common: Record<string, string> = { device_id: r.device_id };
    for (const [tag, keys] of [['location', ['location']], ['zone', ['zone']], ['firmware_ver', ['firmware_version', 'firmware_ver']]] as const) {
      for (const k of keys) {
        const v = metadataTag(md, k);
        if (v !== undefined) {
          common[tag] = v;
          break;
        }
      }
    }
    const lines: string[] = [];
    for (const [name, value] of Object.entries(sensors as Record<string, unknown>)) {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UnencodableReadingError(`sensors.${name} is not an object`);
      const sensor = value as Record<string, unknown>;
      const rule = Object.hasOwn(STORAGE_SCHEMA, name) ? STORAGE_SCHEMA[name]! : undefined;
      const fields: Field[] = [];
      const tags = { ...common };
      if (rule) {
        for (const f of rule.fields) {
          const v = sensor[f.from];
          if (v === undefined) continue;
          if (typeof v !== (f.kind === FieldKind.boolean ? 'boolean' : 'number')) throw new UnencodableReadingError(`sensors.${name}.${f.from} must be a ${f.kind === FieldKind.boolean ? 'boolean' : 'number'} (got ${JSON.stringify(v)})`);
          fields.push([f.to, f.kind, typeof v === 'number' && f.convert ? f.convert(v, sensor) : (v as number | boolean)]);
        }
        if (fields.length === 0) throw new UnencodableReadingError(`sensors.${name} has none of ${rule.fields.map((f) => f.from).join(', ')}`);
        for (const t of rule.tags) {
          const v = metadataTag(md, t);
          if (v !== undefined) tags[t] = v;
        }
      } else {
        for (const [key, v] of Object.entries(sensor)) {
          if (reservedField(key)) continue;
          if (typeof v === 'number') fields.push([key, FieldKind.float, v]);
          else if (typeof v === 'boolean') fields.push([key, FieldKind.boolean, v]);
          else if (typeof v === 'string') fields.push([key, FieldKind.string, v]);
        }
        if (fields.length === 0) continue; // nothing InfluxDB can hold: no point, not an error
      }
      lines.push(toLine({ measurement: rule?.measurement ?? name, tags, fields, timestamp }));
    }
    return lines;
  } catch (err) {
    if (err instanceof LineProtocolError) throw new UnencodableReadingError(err.message);
    throw err;
  }
}
