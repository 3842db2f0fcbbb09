/**
 * Per-device fleet state (issue 9): what each instance learned about a device during one
 * flush interval (a DeviceDelta), merged into state shared by every instance (Redis hashes;
 * a map in the embedded backend), and the answers built from it. No per-device metric
 * labels: Prometheus sees totals, the API sees devices.
 *
 * Stored per device as a flat hash of strings, the same in both backends:
 * last_seen, last_transport, `n:<transport>` and `s:<sensor>` counters, dup, rej,
 * last_reject_reason, last_reject_at, skew_ms, skew_at, `q:<flag>` counters,
 * seq_first, seq_last, seq_recv (the current run of sequence numbers), seq_exp_closed and
 * seq_recv_closed (runs closed by a device restart), mqtt_instance and mqtt_since,
 * `u:kept`, `u:stripped`, `u:refused` (unknown fields) with unknown_last (JSON array of the
 * latest names) and unknown_at.
 * @module
 */

/** A restart: a sequence number this far below the highest seen starts a new run. */
export const SEQ_RESTART_GAP = 1000;

export interface SeqRun {
  min: number;
  max: number;
  /** Readings stored with a sequence number in this run (duplicates are not stored). */
  n: number;
}

/** One device's changes during one flush interval on one instance. */
export interface DeviceDelta {
  id: string;
  /** Newest receive time (ms) of a stored reading, 0 when none. */
  seen: number;
  /** Transport of that reading. */
  transport: string;
  /** Counter increments: `n:<transport>`, `s:<sensor>`, `dup`, `rej`, `q:<flag>`, `u:kept|stripped|refused`. */
  counts: Record<string, number>;
  /** Last refusal's reason and time (ms). */
  rejectReason?: string;
  rejectedAt?: number;
  /** Latest unknown field names (a JSON array of paths) and when (ms). */
  unknownNames?: string;
  unknownAt?: number;
  /** Largest device timestamp − received_at (ms) of the interval, and the number of samples. */
  skew: number;
  skewSamples: number;
  /** Sequence numbers seen; `prev` is the run before a restart seen in the same interval. */
  seq?: SeqRun;
  prev?: SeqRun;
  /** MQTT connection on this instance: 1 connected, 0 disconnected (the last change wins). */
  mqttConnected?: 0 | 1;
  mqttSince?: number;
}

export interface DeviceStats {
  device_id: string;
  last_seen: string | null;
  last_transport: string | null;
  readings: { total: number; by_transport: Record<string, number>; by_sensor: Record<string, number> };
  duplicates: number;
  rejected: { total: number; last_reason: string | null; last_at: string | null };
  /**
   * Device timestamp − received_at of the reading that waited least in the last flush interval
   * with readings (positive: the device clock is ahead; includes network delay, so a few ms low).
   */
  clock_skew_ms: number | null;
  clock_skew_at: string | null;
  quality_flags: Record<string, number>;
  /** Unknown fields (UNKNOWN_FIELDS) by what became of them, and the paths the device sent last. */
  unknown_fields: { kept: number; stripped: number; refused: number; last_names: string[]; last_at: string | null };
  mqtt: { connected: boolean; since: string | null };
  /** Null until the device sends `seq`. */
  sequence: { first: number; last: number; received: number; expected: number; missing: number; completeness: number; restarts_seen: boolean } | null;
}

export interface DeviceSummary {
  device_id: string;
  last_seen: string | null;
  silent_for_s: number | null;
  readings: number;
  rejected: number;
  last_reject_reason: string | null;
  last_reject_at: string | null;
  clock_skew_ms: number | null;
  completeness: number | null;
  mqtt_connected: boolean;
}

export type DeviceQuery =
  | { kind: 'all' }
  /** Not heard from for at least `ms` (longest silent first). */
  | { kind: 'silent'; ms: number }
  /** A reading refused within the last `ms` (latest refusal first). */
  | { kind: 'rejecting'; ms: number };

export interface DevicePage {
  devices: DeviceSummary[];
  total: number;
  /** Pass back as `cursor` for the next page; null on the last one. */
  next_cursor: string | null;
}

export interface FleetStore {
  /** Merges one flush of deltas; also marks this instance alive (its MQTT connections count). */
  apply(deltas: readonly DeviceDelta[], instance: string, nowMs: number): Promise<void>;
  stats(deviceId: string, nowMs: number): Promise<DeviceStats | undefined>;
  list(query: DeviceQuery, offset: number, limit: number, nowMs: number): Promise<DevicePage>;
}

const iso = (ms: string | undefined): string | null => (ms === undefined || ms === '' ? null : new Date(Number(ms)).toISOString());
const num = (v: string | undefined): number => (v === undefined ? 0 : Number(v));

/** The stats answer from a device's hash; `alive(instance)` says whether an MQTT connection's instance still runs. */
export function statsOf(id: string, h: Record<string, string>, alive: (instance: string) => boolean): DeviceStats {
  const byTransport: Record<string, number> = {};
  const bySensor: Record<string, number> = {};
  const quality: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith('n:')) {
      byTransport[k.slice(2)] = Number(v);
      total += Number(v);
    } else if (k.startsWith('s:')) bySensor[k.slice(2)] = Number(v);
    else if (k.startsWith('q:')) quality[k.slice(2)] = Number(v);
  }
  const connected = h.mqtt_instance !== undefined && alive(h.mqtt_instance);
  return {
    device_id: id,
    last_seen: iso(h.last_seen),
    last_transport: h.last_transport ?? null,
    readings: { total, by_transport: byTransport, by_sensor: bySensor },
    duplicates: num(h.dup),
    rejected: { total: num(h.rej), last_reason: h.last_reject_reason ?? null, last_at: iso(h.last_reject_at) },
    clock_skew_ms: h.skew_ms === undefined ? null : Number(h.skew_ms),
    clock_skew_at: iso(h.skew_at),
    quality_flags: quality,
    unknown_fields: { kept: num(h['u:kept']), stripped: num(h['u:stripped']), refused: num(h['u:refused']), last_names: names(h.unknown_last), last_at: iso(h.unknown_at) },
    mqtt: { connected, since: connected ? iso(h.mqtt_since) : null },
    sequence: sequenceOf(h),
  };
}

/** The names kept as a JSON array of strings; anything else (a hash edited by hand) reads as none. */
function names(json: string | undefined): string[] {
  if (json === undefined) return [];
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function sequenceOf(h: Record<string, string>): DeviceStats['sequence'] {
  if (h.seq_first === undefined) return null;
  const first = Number(h.seq_first);
  const last = Number(h.seq_last);
  const received = num(h.seq_recv) + num(h.seq_recv_closed);
  const expected = last - first + 1 + num(h.seq_exp_closed);
  const missing = Math.max(0, expected - received);
  return { first, last, received, expected, missing, completeness: expected === 0 ? 1 : Math.min(1, received / expected), restarts_seen: h.seq_exp_closed !== undefined };
}

export function summaryOf(id: string, h: Record<string, string>, nowMs: number, alive: (instance: string) => boolean): DeviceSummary {
  const s = statsOf(id, h, alive);
  return {
    device_id: id,
    last_seen: s.last_seen,
    silent_for_s: h.last_seen === undefined ? null : Math.max(0, Math.round((nowMs - Number(h.last_seen)) / 1000)),
    readings: s.readings.total,
    rejected: s.rejected.total,
    last_reject_reason: s.rejected.last_reason,
    last_reject_at: s.rejected.last_at,
    clock_skew_ms: s.clock_skew_ms,
    completeness: s.sequence?.completeness ?? null,
    mqtt_connected: s.mqtt.connected,
  };
}

/**
 * Merges a delta into a device's hash (the embedded backend; the Redis script does the same
 * in Lua). Returns the hash.
 */
export function mergeDelta(h: Record<string, string>, d: DeviceDelta, instance: string): Record<string, string> {
  if (d.seen > 0 && d.seen >= num(h.last_seen)) {
    h.last_seen = String(d.seen);
    h.last_transport = d.transport;
  }
  for (const [k, v] of Object.entries(d.counts)) h[k] = String(num(h[k]) + v);
  if (d.rejectReason !== undefined && d.rejectedAt !== undefined && d.rejectedAt >= num(h.last_reject_at)) {
    h.last_reject_reason = d.rejectReason;
    h.last_reject_at = String(d.rejectedAt);
  }
  if (d.unknownNames !== undefined && d.unknownAt !== undefined && d.unknownAt >= num(h.unknown_at)) {
    h.unknown_last = d.unknownNames;
    h.unknown_at = String(d.unknownAt);
  }
  if (d.skewSamples > 0) {
    h.skew_ms = String(Math.round(d.skew));
    h.skew_at = String(d.seen);
  }
  if (d.prev) mergeRun(h, d.prev);
  if (d.seq) mergeRun(h, d.seq);
  if (d.mqttConnected === 1) {
    h.mqtt_instance = instance;
    h.mqtt_since = String(d.mqttSince ?? 0);
  } else if (d.mqttConnected === 0 && h.mqtt_instance === instance) {
    delete h.mqtt_instance;
    delete h.mqtt_since;
  }
  return h;
}

function mergeRun(h: Record<string, string>, r: SeqRun): void {
  if (h.seq_first === undefined) {
    h.seq_first = String(r.min);
    h.seq_last = String(r.max);
    h.seq_recv = String(r.n);
    return;
  }
  const first = Number(h.seq_first);
  const last = Number(h.seq_last);
  if (r.max < last - SEQ_RESTART_GAP) {
    // the device restarted its numbering: the run so far is closed with what it missed
    h.seq_exp_closed = String(num(h.seq_exp_closed) + (last - first + 1));
    h.seq_recv_closed = String(num(h.seq_recv_closed) + num(h.seq_recv));
    h.seq_first = String(r.min);
    h.seq_last = String(r.max);
    h.seq_recv = String(r.n);
    return;
  }
  h.seq_first = String(Math.min(first, r.min));
  h.seq_last = String(Math.max(last, r.max));
  h.seq_recv = String(num(h.seq_recv) + r.n);
}
