/**
 * Subscription filters of the live WebSocket protocol (DESIGN §3): `device_id` and
 * `sensor_type`, each a string or an array of strings; both absent means every reading.
 * A filter is normalised (sorted, without repeats) so that equal filters share one key,
 * and with it one fan-out group. Pure.
 * @module
 */

export interface Filter {
  /** null: any device. */
  devices: ReadonlySet<string> | null;
  /** null: any sensor type; else a reading matches when it carries at least one of them. */
  sensors: ReadonlySet<string> | null;
  /** Canonical form: equal filters have equal keys. */
  key: string;
  /** What the `subscribed` answer echoes. */
  echo: { device_id?: string[]; sensor_type?: string[] };
}

const MAX_VALUES = 1000;
const MAX_DEVICE_ID = 128;

/** The filter, or the reason it is not one. */
export function parseFilter(raw: unknown, sensorNames: readonly string[]): Filter | string {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'filters must be an object';
  const unknown = Object.keys(raw).filter((k) => k !== 'device_id' && k !== 'sensor_type');
  if (unknown.length) return `unknown filter ${unknown.map((k) => JSON.stringify(k)).join(', ')} (allowed: device_id, sensor_type)`;
  const { device_id: d, sensor_type: s } = raw as Record<string, unknown>;
  const devices = values(d, 'device_id');
  if (typeof devices === 'string') return devices;
  const badDevice = devices?.find((v) => v.length > MAX_DEVICE_ID);
  if (badDevice) return `filters.device_id longer than ${MAX_DEVICE_ID} characters`;
  const sensors = values(s, 'sensor_type');
  if (typeof sensors === 'string') return sensors;
  const badSensor = sensors?.find((v) => !sensorNames.includes(v));
  if (badSensor !== undefined) return `filters.sensor_type ${JSON.stringify(badSensor)} is not a known sensor type (known: ${sensorNames.join(', ')})`;
  const echo: Filter['echo'] = {};
  if (devices) echo.device_id = devices;
  if (sensors) echo.sensor_type = sensors;
  return {
    devices: devices ? new Set(devices) : null,
    sensors: sensors ? new Set(sensors) : null,
    key: JSON.stringify([devices ?? null, sensors ?? null]),
    echo,
  };
}

/** Sorted distinct strings, undefined when absent, or an error message. */
function values(v: unknown, name: string): string[] | undefined | string {
  if (v === undefined) return undefined;
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) return `filters.${name} must not be an empty array`;
  if (list.length > MAX_VALUES) return `filters.${name} has more than ${MAX_VALUES} values`;
  if (!list.every((x) => typeof x === 'string' && x !== '')) return `filters.${name} must be a non-empty string or an array of them`;
  return [...new Set(list as string[])].sort();
}

/** Whether a reading carrying `sensorTypes` passes `f`'s sensor part (its device part is matched by the fan-out's device index). */
export function passesSensors(f: Filter, sensorTypes: readonly string[]): boolean {
  return f.sensors === null || sensorTypes.some((s) => f.sensors!.has(s));
}
