/**
 * Collects per-device facts on the ingest path (a map update per reading, no I/O) and hands
 * them to the fleet store once per flush interval: one round trip per interval for all the
 * devices heard from, whatever the reading rate.
 *
 * When the store fails, the interval's deltas are kept and merged into the next flush, up to
 * `maxDevices` devices; past that, new devices' facts are dropped and counted (the readings
 * themselves are unaffected: the fleet state is an observation, not part of the acknowledgement).
 * @module
 */
import type { DeviceDelta, FleetStore, SeqRun } from '../../queue/fleet.ts';
import { SEQ_RESTART_GAP } from '../../queue/fleet.ts';
import { validDeviceId } from '../device-id.ts';

// counter names, built once per transport and sensor type (not a string concatenation per reading);
// the names come from validated readings (sensor types of the registry) and the transports
const TRANSPORT_KEY: Record<string, string> = Object.create(null);
const SENSOR_KEY: Record<string, string> = Object.create(null);


export interface DeviceTrackerOptions {
  flushMs: number;
  /** Devices kept between flushes (and across failed flushes). @default 100000 */
  maxDevices?: number;
}

export interface DeviceTrackerEvents {
  onFlush?(devices: number, seconds: number): void;
  onFlushError?(err: unknown): void;
  onDropped?(n: number): void;
}

export class DeviceTracker {
  #pending = new Map<string, DeviceDelta>();
  readonly #store: FleetStore;
  readonly #instance: string;
  readonly #o: Required<DeviceTrackerOptions>;
  readonly #events: DeviceTrackerEvents;
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  /** MQTT connections per device on this instance (a takeover opens the new one before closing the old). */
  readonly #connections = new Map<string, number>();

  constructor(store: FleetStore, instance: string, opts: DeviceTrackerOptions, events: DeviceTrackerEvents = {}) {
    this.#store = store;
    this.#instance = instance;
    this.#o = { maxDevices: 100_000, ...opts };
    this.#events = events;
  }

  start(): void {
    this.#timer = setInterval(() => void this.flush(), this.#o.flushMs);
    this.#timer.unref();
  }

  #delta(id: string): DeviceDelta | undefined {
    let d = this.#pending.get(id);
    if (d === undefined) {
      if (this.#pending.size >= this.#o.maxDevices) {
        this.#events.onDropped?.(1);
        return undefined;
      }
      d = { id, seen: 0, transport: '', counts: {}, skew: 0, skewSamples: 0 };
      this.#pending.set(id, d);
    }
    return d;
  }

  /** A stored reading. `timestampMs` is the device's time, `seq` its sequence number if any. */
  stored(id: string, transport: string, sensors: Record<string, unknown>, receivedMs: number, timestampMs: number, seq: number | undefined, flags?: readonly string[]): void {
    const d = this.#delta(id);
    if (d === undefined) return;
    if (receivedMs >= d.seen) {
      d.seen = receivedMs;
      d.transport = transport;
    }
    const c = d.counts;
    const nk = (TRANSPORT_KEY[transport] ??= 'n:' + transport);
    c[nk] = (c[nk] ?? 0) + 1;
    for (const s in sensors) {
      const sk = (SENSOR_KEY[s] ??= 's:' + s);
      c[sk] = (c[sk] ?? 0) + 1;
    }
    if (flags) for (const f of flags) c['q:' + f] = (c['q:' + f] ?? 0) + 1;
    // clock skew: the largest (device time − received) of the interval, the reading that waited
    // least on the way; a buffered reading only lowers it
    const skew = timestampMs - receivedMs;
    if (d.skewSamples === 0 || skew > d.skew) d.skew = skew;
    d.skewSamples++;
    if (seq !== undefined) addSeq(d, seq);
  }

  duplicate(id: string): void {
    const d = this.#delta(id);
    if (d) d.counts.dup = (d.counts.dup ?? 0) + 1;
  }

  /** A refused reading that named a device (only well-formed ids: a refused payload may say anything). */
  rejected(id: string, reason: string, nowMs: number): void {
    if (!validDeviceId(id)) return;
    const d = this.#delta(id);
    if (d === undefined) return;
    d.counts.rej = (d.counts.rej ?? 0) + 1;
    d.rejectReason = reason.length > 500 ? reason.slice(0, 500) : reason;
    d.rejectedAt = nowMs;
  }

  /**
   * Unknown fields of a reading (UNKNOWN_FIELDS), counted by what became of them: kept or stripped
   * in a stored reading, refused with it. `names`: their paths, the device's latest.
   */
  unknownFields(id: string, n: { kept: number; stripped: number; refused: number }, names: readonly string[], nowMs: number): void {
    if (!validDeviceId(id)) return;
    const d = this.#delta(id);
    if (d === undefined) return;
    const c = d.counts;
    if (n.kept > 0) c['u:kept'] = (c['u:kept'] ?? 0) + n.kept;
    if (n.stripped > 0) c['u:stripped'] = (c['u:stripped'] ?? 0) + n.stripped;
    if (n.refused > 0) c['u:refused'] = (c['u:refused'] ?? 0) + n.refused;
    if (d.unknownAt === undefined || nowMs >= d.unknownAt) {
      d.unknownNames = JSON.stringify(names);
      d.unknownAt = nowMs;
    }
  }

  mqttConnected(id: string, nowMs: number): void {
    const n = (this.#connections.get(id) ?? 0) + 1;
    this.#connections.set(id, n);
    if (n > 1) return;
    const d = this.#delta(id);
    if (d) {
      d.mqttConnected = 1;
      d.mqttSince = nowMs;
    }
  }

  mqttDisconnected(id: string): void {
    const n = (this.#connections.get(id) ?? 0) - 1;
    if (n > 0) {
      this.#connections.set(id, n);
      return;
    }
    this.#connections.delete(id);
    const d = this.#delta(id);
    if (d) d.mqttConnected = 0;
  }

  /** Devices with facts waiting for the next flush. */
  get pending(): number {
    return this.#pending.size;
  }

  /** Hands what was collected to the store (one flush at a time; a failed one is merged back). */
  flush(): Promise<void> {
    if (this.#flushing) return this.#flushing;
    const deltas = [...this.#pending.values()];
    this.#pending = new Map();
    const started = performance.now();
    this.#flushing = this.#store
      .apply(deltas, this.#instance, Date.now())
      .then(
        () => this.#events.onFlush?.(deltas.length, (performance.now() - started) / 1000),
        (err: unknown) => {
          this.#events.onFlushError?.(err);
          this.#restore(deltas);
        },
      )
      .finally(() => {
        this.#flushing = undefined;
      });
    return this.#flushing;
  }

  /** Stops the timer and flushes what is left (once). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#flushing;
    // connections still open on this instance are over with it
    for (const id of [...this.#connections.keys()]) {
      this.#connections.set(id, 1);
      this.mqttDisconnected(id);
    }
    await this.flush();
  }

  /** A failed flush's deltas merged back under the newer ones. */
  #restore(older: DeviceDelta[]): void {
    let dropped = 0;
    for (const o of older) {
      const n = this.#pending.get(o.id);
      if (n === undefined) {
        if (this.#pending.size >= this.#o.maxDevices) dropped++;
        else this.#pending.set(o.id, o);
        continue;
      }
      this.#pending.set(o.id, mergeDeltas(o, n));
    }
    if (dropped > 0) this.#events.onDropped?.(dropped);
  }
}

function addSeq(d: DeviceDelta, seq: number): void {
  const r = d.seq;
  if (r === undefined) {
    d.seq = { min: seq, max: seq, n: 1 };
    return;
  }
  if (seq < r.max - SEQ_RESTART_GAP) {
    // a restart within the interval: the run so far becomes `prev` (a second one merges into it)
    d.prev = d.prev ? joinRuns(d.prev, r) : r;
    d.seq = { min: seq, max: seq, n: 1 };
    return;
  }
  if (seq < r.min) r.min = seq;
  if (seq > r.max) r.max = seq;
  r.n++;
}

function joinRuns(a: SeqRun, b: SeqRun): SeqRun {
  return { min: Math.min(a.min, b.min), max: Math.max(a.max, b.max), n: a.n + b.n };
}

/** `older` then `newer`, as if collected in one interval. */
function mergeDeltas(older: DeviceDelta, newer: DeviceDelta): DeviceDelta {
  const m: DeviceDelta = { ...newer, counts: { ...older.counts } };
  for (const [k, v] of Object.entries(newer.counts)) m.counts[k] = (m.counts[k] ?? 0) + v;
  if (older.seen > newer.seen) {
    m.seen = older.seen;
    m.transport = older.transport;
  }
  if (newer.rejectReason === undefined && older.rejectReason !== undefined) {
    m.rejectReason = older.rejectReason;
    m.rejectedAt = older.rejectedAt;
  }
  // the latest names by time (a delta restored after a failed flush may hold later ones)
  if (older.unknownNames !== undefined && (newer.unknownNames === undefined || (older.unknownAt ?? 0) > (newer.unknownAt ?? 0))) {
    m.unknownNames = older.unknownNames;
    m.unknownAt = older.unknownAt;
  }
  if (older.skewSamples > 0 && (newer.skewSamples === 0 || older.skew > newer.skew)) m.skew = older.skew;
  m.skewSamples = older.skewSamples + newer.skewSamples;
  if (newer.mqttConnected === undefined && older.mqttConnected !== undefined) {
    m.mqttConnected = older.mqttConnected;
    m.mqttSince = older.mqttSince;
  }
  // sequence runs: the older interval's runs come first
  const runs = [older.prev, older.seq, newer.prev, newer.seq].filter((r): r is SeqRun => r !== undefined);
  delete m.prev;
  delete m.seq;
  for (const r of runs) {
    if (m.seq === undefined) m.seq = { ...r };
    else if (r.max < m.seq.max - SEQ_RESTART_GAP) {
      m.prev = m.prev ? joinRuns(m.prev, m.seq) : m.seq;
      m.seq = { ...r };
    } else m.seq = joinRuns(m.seq, r);
  }
  return m;
}
