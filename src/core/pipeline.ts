/**
 * The one ingest path every transport uses:
 * decode → validate (+ timestamp) → dedupe key → enrich → batcher → queue.
 * Refused payloads go to the rejects stream with their reason.
 * @module
 */
import type { Logger } from 'pino';
import type { Metrics } from '../metrics/registry.ts';
import type { AppendEntry, AppendResult, QueueBackend, RejectEntry } from '../queue/backend.ts';
import { Batcher } from './batcher.ts';
import { CircuitBreaker } from '../util/circuit-breaker.ts';
import { isoNow } from './clock.ts';
import { Edge } from './edge.ts';
import { decode, jsonText, MediaKind, mediaKind, parseJson, parseJsonBatch } from './decode.ts';
import { dedupeKey } from './dedupe.ts';
import { enrich, enrichedJsonFromText } from './enrich.ts';
import {
  DuplicateReadingError,
  ErrorCode,
  errorType,
  ForbiddenError,
  IngestError,
  InvalidReadingError,
  QueueSaturatedError,
  QueueUnavailableError,
  RateLimitedError,
  ShuttingDownError,
} from './errors.ts';
import type { Admission, IngestItem, Outcome, ReadingExpectation } from './item.ts';
import type { EnrichedReading, Reading } from './readings/reading.ts';
import { NormalisedReading, UnknownFieldsError, type Normalisation, type ReadingValidator } from './validate.ts';
import type { DeviceTracker } from './fleet/device-tracker.ts';
import type { QualityChecks } from './quality.ts';

export interface PipelineOptions {
  /** @default 60000 */
  dedupeWindowMs: number;
  /** Readings per queue round trip. @default 1000 */
  queueBatchSize: number;
  /** Readings awaiting the queue before new ones are refused. @default 50000 */
  maxInFlight: number;
  /** Bytes of a refused payload kept in the rejects stream. @default 4096 */
  rejectPayloadBytes?: number;
  /**
   * Without an authenticated sender, refused readings update the fleet state of at most this many
   * devices a minute (the rejects stream still keeps them, trimmed at REJECTS_MAXLEN): invented
   * device ids cannot grow it without bound. @default 600
   */
  unauthenticatedRejectedDevicesPerMinute?: number;
  /** Queue batches failing in a row that open the circuit breaker. @default 5 */
  breakerThreshold?: number;
  /** How long the open breaker refuses at once before a probe. @default 5000 */
  breakerTimeoutMs?: number;
  /** Readings whose timestamp is older than this (vs receive time) are backfill; 0: none are. @default 0 */
  backfillAfterMs?: number;
}

export interface PipelineDeps {
  validator: ReadingValidator;
  backend: QueueBackend;
  metrics: Metrics;
  log: Logger;
  /** Per-device fleet state (DEVICE_STATE=on): told of every stored, duplicate and refused reading. */
  devices?: DeviceTracker | undefined;
  /** Plausibility flags (QUALITY_CHECKS=on). */
  quality?: QualityChecks | undefined;
}

const REJECTS_IN_FLIGHT = 10_000;

/** Called once with a reading's outcome. */
export type Done = (o: Outcome) => void;

export class Pipeline {
  readonly #deps: PipelineDeps;
  readonly #opts: PipelineOptions;
  readonly #data: Batcher<AppendEntry, AppendResult>;
  readonly #rejects: Batcher<RejectEntry, null>;
  /** Fleet-state entries updated for unauthenticated refusals in the current minute. */
  readonly #rejectedDevices = { since: 0, n: 0 };
  #accepting = true;
  readonly #backfillAfterMs: number;
  readonly #rejectsFailing: Edge;
  readonly #saturated: Edge;
  readonly #queueFailing: Edge;
  readonly #breaker: CircuitBreaker;
  /** A batch failed while the queue was disconnected: its reconnection is a reason to probe at once. */
  #failedDisconnected = false;

  constructor(deps: PipelineDeps, opts: PipelineOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#backfillAfterMs = opts.backfillAfterMs ?? 0;
    const log = deps.log;
    this.#saturated = new Edge(
      () => log.warn({ max_in_flight: opts.maxInFlight }, 'saturated: refusing readings with 503 until the queue catches up (counted in ingest_backpressure_events_total)'),
      () => log.info('no longer saturated'),
    );
    this.#queueFailing = new Edge(
      () => log.error('queue appends failing: answering 503 / holding acknowledgements (counted in sensor_data_errors_total{error_type="queue_unavailable"})'),
      () => log.info('queue appends succeeding again'),
    );
    this.#rejectsFailing = new Edge(
      () => log.error('rejected payloads cannot be kept in the rejects stream (counted in sensor_data_errors_total{error_type="rejects_append_failed"})'),
      () => log.info('rejects stream writable again'),
    );
    this.#breaker = new CircuitBreaker(opts.breakerThreshold ?? 5, opts.breakerTimeoutMs ?? 5000, {
      onChange: (to, _from, failures) => {
        if (to === 'open') log.error({ failures, retry_in_ms: this.#breaker.timeoutMs }, 'circuit breaker open: queue batches keep failing, refusing readings at once (503 / acknowledgements held) until a probe succeeds');
        else if (to === 'half-open') log.warn('circuit breaker half-open: one reading goes to the queue as a probe');
        else log.info('circuit breaker closed: the queue accepts appends again');
      },
    });
    this.#data = new Batcher((items) => deps.backend.appendBatch(items).then((r) => (this.#queueFailing.set(false), this.#breaker.success(), r)), {
      maxBatch: opts.queueBatchSize,
      maxInFlight: opts.maxInFlight,
    }, {
      onFlush: (size, seconds) => deps.metrics.flushed(size, seconds),
      onBatchError: (err) => {
        this.#queueFailing.set(true);
        this.#breaker.failure(Date.now());
        if (!deps.backend.healthy()) this.#failedDisconnected = true;
        return err instanceof IngestError ? err : new QueueUnavailableError(String((err as Error)?.message ?? err), err);
      },
      onSettleError: (err) => this.#settleFailed(err),
    });
    this.#rejects = new Batcher(
      (items) => deps.backend.appendRejects(items).then(() => this.#rejectsRecovered(items.length)),
      { maxBatch: 500, maxInFlight: REJECTS_IN_FLIGHT },
      { onBatchError: (err) => this.#rejectsFailed(err), onSettleError: (err) => this.#settleFailed(err) },
    );
  }

  /** Readings awaiting queue confirmation. */
  get inFlight(): number {
    return this.#data.inFlight;
  }

  /** The circuit breaker's state: closed (normal), open (refusing at once), half-open (probing). */
  get breakerState(): CircuitBreaker['state'] {
    return this.#breaker.state;
  }

  /** One reading in `item.payload`. */
  ingest(item: IngestItem): Promise<Outcome> {
    return new Promise((resolve) => this.submit(item, resolve));
  }

  /**
   * One reading in `item.payload`; `done` is called once with its outcome. The form the reading
   * path uses: callbacks from the queue's batch to the transport, no promise per reading.
   */
  submit(item: IngestItem, done: Done): void {
    const started = performance.now();
    const kind = mediaKind(item.contentType);
    let text: string | undefined;
    let value: unknown;
    if (kind === MediaKind.json) {
      const t = jsonText(item.payload);
      value = t instanceof IngestError ? t : parseJson((text = t));
    } else value = kind instanceof IngestError ? kind : decode(item.payload, kind);
    if (value instanceof IngestError) return this.#refuse(item, value, undefined, done);
    const now = Date.now();
    this.submitValue(value, item, now, isoNow(now), text, started, done);
  }

  /**
   * An array of readings in `item.payload` (at most `max`), or one reading object (a batch of
   * one). Whole-body problems come back as one IngestError; otherwise one Outcome per element,
   * in order.
   */
  async ingestBatch(item: IngestItem, max: number): Promise<Outcome[] | IngestError> {
    const started = performance.now();
    const kind = mediaKind(item.contentType);
    // JSON: the body's text, and where each element's own text is in it (stored as a single reading's is)
    let text: string | undefined;
    let elements: Int32Array | undefined;
    let value: unknown;
    if (kind === MediaKind.json) {
      const t = jsonText(item.payload);
      const parsed = t instanceof IngestError ? t : parseJsonBatch((text = t));
      if (parsed instanceof IngestError) value = parsed;
      else ({ value, elements } = parsed);
    } else value = kind instanceof IngestError ? kind : decode(item.payload, kind);
    if (value instanceof IngestError) return (await this.#refused(item, value)).error;
    if (value === null || typeof value !== 'object') return (await this.#refused(item, this.#batchError('body must be an array of readings, or one reading object'))).error;
    // one reading object is a batch of one, as the platform's previous service took it
    const readings: unknown[] = Array.isArray(value) ? value : [value];
    if (readings.length === 0) return (await this.#refused(item, this.#batchError('batch must contain at least one reading'))).error;
    if (readings.length > max) {
      return (await this.#refused(item, this.#batchError(`batch must contain at most ${max} readings (got ${readings.length})`))).error;
    }
    const now = Date.now();
    const receivedAt = isoNow(now);
    // settled by index: one callback per reading into one array, one promise for the request
    const outcomes = new Array<Outcome>(readings.length);
    await new Promise<void>((resolve) => {
      let left = readings.length;
      for (let i = 0; i < readings.length; i++) {
        // an element's text: from its opening to its closing brace (one object: the whole body)
        const own = elements === undefined ? text : elements[2 * i + 1]! > 0 ? text!.slice(elements[2 * i], elements[2 * i + 1]) : undefined;
        this.submitValue(readings[i], item, now, receivedAt, own, undefined, (o) => {
          outcomes[i] = o;
          if (--left === 0) resolve();
        });
      }
    });
    // one observation per request: every reading of it waited for the same flushes
    this.#deps.metrics.ingestSeconds((performance.now() - started) / 1000);
    return outcomes;
  }

  /**
   * A decoded reading (for transports that decode themselves, and for batch elements).
   * @param text the JSON text `value` was parsed from (a single reading's, or a batch element's)
   */
  ingestValue(value: unknown, item: IngestItem, now: number, receivedAt: string, text?: string): Promise<Outcome> {
    return new Promise((resolve) => this.submitValue(value, item, now, receivedAt, text, undefined, resolve));
  }

  /**
   * The callback form of ingestValue. `started` (performance.now() when the payload arrived): the
   * stored reading's ingest time is observed from it (a batch observes once per request itself).
   */
  submitValue(value: unknown, item: IngestItem, now: number, receivedAt: string, text: string | undefined, started: number | undefined, done: Done): void {
    if (!this.#accepting) return done(this.#count({ ok: false, error: new ShuttingDownError() }));
    if (this.#data.wouldSaturate()) {
      this.#saturated.set(true);
      this.#deps.metrics.backpressure();
      return done(this.#count({ ok: false, error: new QueueSaturatedError(this.#opts.maxInFlight) }));
    }
    if (this.#saturated.active && !this.#data.wouldSaturate(this.#opts.maxInFlight >> 1)) this.#saturated.set(false);
    const sentTimestamp = text === undefined || typeof value !== 'object' || value === null ? undefined : (value as { timestamp?: unknown }).timestamp;
    // a device may write only its own readings, and this is judged before the reading is: a
    // reading for another device is refused (403) whatever else is wrong with it, neither kept in
    // the rejects stream nor counted in that device's state
    if (item.identity !== undefined) {
      const claimed = deviceIdOf(value);
      if (claimed !== undefined && claimed !== item.identity) {
        return done(this.#count({ ok: false, error: new ForbiddenError(`authenticated as "${item.identity}", not as "${claimed}"`) }));
      }
    }
    let checked = this.#deps.validator.validate(value, now);
    let norm: Normalisation | undefined;
    if (checked instanceof NormalisedReading) {
      norm = checked.normalisation;
      checked = checked.reading;
    }
    if (item.expect !== undefined && !(checked instanceof IngestError)) checked = meetsExpectation(checked, item.expect);
    if (checked instanceof IngestError) return this.#refuse(item, checked, value, done);
    const timestampMs = this.#deps.validator.timestampMs;
    const backfill = this.#backfillAfterMs > 0 && now - timestampMs > this.#backfillAfterMs;
    // backfill waits while the queue is busy: live readings keep the other half of MAX_IN_FLIGHT
    if (backfill && this.#data.wouldSaturate(this.#opts.maxInFlight >> 1)) {
      this.#deps.metrics.backpressure();
      const details = `backfill paused: more than half of ${this.#opts.maxInFlight} readings await the queue; live readings first`;
      return done(this.#count({ ok: false, error: new QueueSaturatedError(this.#opts.maxInFlight, details), deviceId: checked.device_id }));
    }
    const plausibility = this.#deps.quality?.check(checked, timestampMs);
    const flags = norm === undefined ? plausibility : plausibility === undefined ? norm.flags : [...norm.flags, ...plausibility];
    const reading = enrich(checked, receivedAt, this.#deps.backend.metadata, backfill, flags);
    // the device's own text when validation changed nothing in it (timestamp already canonical, no field removed)
    const json = text !== undefined && sentTimestamp === reading.timestamp && norm?.fieldsRemoved !== true ? enrichedJsonFromText(text, reading) : JSON.stringify(reading);
    if (item.admit === undefined) return this.#append(reading, json, timestampMs, item, now, norm, started, done);
    item.admit(backfill ? 'backfill' : 'live').then(
      (a: Admission) => (a.ok ? this.#append(reading, json, timestampMs, item, now, norm, started, done) : done(this.#count({ ok: false, error: new RateLimitedError(a.details, a.retryAfterSeconds), deviceId: reading.device_id }))),
      (err: unknown) => done(this.#count({ ok: false, error: new QueueUnavailableError(`rate limiter unavailable: ${(err as Error)?.message ?? err}`, err), deviceId: reading.device_id })),
    );
  }

  /** The enriched reading to the queue (through the circuit breaker); its outcome counted. */
  #append(reading: EnrichedReading, json: string, timestampMs: number, item: IngestItem, now: number, norm: Normalisation | undefined, started: number | undefined, done: Done): void {
    const entry: AppendEntry = { dedupeKey: dedupeKey(reading, this.#opts.dedupeWindowMs), timestampMs, deviceId: reading.device_id, messageId: reading.message_id, json };
    // last, so that the half-open probe is a reading that really goes to the queue
    if (this.#failedDisconnected && this.#breaker.state === 'open' && this.#deps.backend.healthy()) {
      this.#failedDisconnected = false;
      this.#breaker.probeNow();
    }
    if (!this.#breaker.allow(now)) {
      const s = Math.ceil(this.#breaker.retryInMs(now) / 1000);
      return done(this.#count({ ok: false, error: new QueueUnavailableError(`circuit breaker open: the queue failed ${this.#breaker.threshold}+ times in a row; next probe in ${s} s`), deviceId: reading.device_id }));
    }
    this.#data.push(entry, (result) => done(this.#appended(result, reading, timestampMs, item, now, norm, started)));
  }

  /** A reading's append result as its outcome, counted (and its device's state told). */
  #appended(result: AppendResult, reading: EnrichedReading, timestampMs: number, item: IngestItem, now: number, norm: Normalisation | undefined, started: number | undefined): Outcome {
    if (result === 'stored') {
      const m = this.#deps.metrics;
      if (started !== undefined) m.ingestSeconds((performance.now() - started) / 1000);
      for (const sensor in reading.sensors) m.ingested(sensor, item.source);
      if (reading.quality) for (const f of reading.quality) m.qualityFlag(f);
      if (reading.backfill) m.backfill();
      this.#deps.devices?.stored(reading.device_id, item.source, reading.sensors, now, timestampMs, reading.seq, reading.quality);
      const u = norm?.unknown;
      if (u !== undefined) {
        if (u.kept > 0) m.unknownFields('kept', u.kept);
        if (u.stripped > 0) m.unknownFields('stripped', u.stripped);
        this.#deps.devices?.unknownFields(reading.device_id, { kept: u.kept, stripped: u.stripped, refused: 0 }, u.names, now);
      }
      return { ok: true, reading, messageId: reading.message_id };
    }
    if (result === 'duplicate') this.#deps.devices?.duplicate(reading.device_id);
    const error = result === 'duplicate' ? new DuplicateReadingError(reading.device_id) : asQueueError(result);
    return this.#count({ ok: false, error, deviceId: reading.device_id });
  }

  /** True when a new reading would be refused with QUEUE_SATURATED. */
  get saturated(): boolean {
    return this.#data.wouldSaturate();
  }

  /**
   * Calls `resume` once the queue has room again (half of MAX_IN_FLIGHT free): for transports
   * that can stop reading instead of refusing, like MQTT over TCP.
   */
  whenRoom(resume: () => void): void {
    this.#data.whenRoom(resume);
  }

  /** Stops taking new readings (they get SHUTTING_DOWN); what is in flight continues. */
  stopAccepting(): void {
    this.#accepting = false;
  }

  /** Waits until every reading and reject handed in so far is settled. */
  async drain(): Promise<void> {
    await this.#data.drain();
    await this.#rejects.drain();
  }

  #batchError(details: string): IngestError {
    return new IngestError(ErrorCode.INVALID_BATCH, 'Invalid sensor data', details);
  }

  #count(outcome: Outcome & { ok: false }): Outcome & { ok: false } {
    this.#deps.metrics.error(errorType[outcome.error.code]);
    return outcome;
  }

  /**
   * A refused payload: it spends the sender's rate budget like an accepted one (over it, the
   * answer is 429 and nothing is kept), then the error is counted and the payload kept with its
   * reason and its sender's identity in the rejects stream.
   */
  #refuse(item: IngestItem, error: IngestError, value: unknown, done: (o: Outcome & { ok: false }) => void): void {
    if (item.admit === undefined) return done(this.#keepRefused(item, error, value));
    item.admit('live').then(
      (a: Admission) => done(a.ok ? this.#keepRefused(item, error, value) : this.#count({ ok: false, error: new RateLimitedError(a.details, a.retryAfterSeconds) })),
      // the limiter cannot answer: the refusal stands (it was going to be refused anyway)
      () => done(this.#keepRefused(item, error, value)),
    );
  }

  /** The promise form of #refuse, for whole-body refusals. */
  #refused(item: IngestItem, error: IngestError, value?: unknown): Promise<Outcome & { ok: false }> {
    return new Promise((resolve) => this.#refuse(item, error, value, resolve));
  }

  #keepRefused(item: IngestItem, error: IngestError, value?: unknown): Outcome & { ok: false } {
    const deviceId = deviceIdOf(value);
    const outcome = this.#count(deviceId === undefined ? { ok: false, error } : { ok: false, error, deviceId });
    // an authenticated sender's own device (others were refused before validation); without
    // authentication, within a budget of devices a minute
    if (error instanceof UnknownFieldsError) this.#deps.metrics.unknownFields('refused', error.count);
    if (deviceId !== undefined && (item.identity !== undefined || this.#unauthenticatedRejectedDevice())) {
      const at = Date.now();
      this.#deps.devices?.rejected(deviceId, error.details ?? error.message, at);
      if (error instanceof UnknownFieldsError) this.#deps.devices?.unknownFields(deviceId, { kept: 0, stripped: 0, refused: error.count }, error.fields, at);
    }
    if (this.#rejects.wouldSaturate()) {
      this.#deps.metrics.error('rejects_dropped');
      return outcome;
    }
    const entry: RejectEntry = {
      reason: error.details ?? error.message,
      code: error.code,
      source: item.source,
      payload: this.#rejectPayload(item, value),
      receivedAt: isoNow(),
    };
    if (deviceId !== undefined) entry.deviceId = deviceId;
    if (item.identity !== undefined) entry.identity = item.identity;
    if (item.topic !== undefined) entry.reason = `${entry.reason} (topic ${item.topic})`;
    void this.#rejects.add(entry);
    return outcome;
  }

  /** Whether one more device's state may record a refusal by an unauthenticated sender this minute. */
  #unauthenticatedRejectedDevice(): boolean {
    const now = Date.now();
    const w = this.#rejectedDevices;
    if (now - w.since >= 60_000) {
      w.since = now;
      w.n = 0;
    }
    if (w.n >= (this.#opts.unauthenticatedRejectedDevicesPerMinute ?? 600)) return false;
    w.n++;
    return true;
  }

  #rejectPayload(item: IngestItem, value: unknown): string {
    const limit = this.#opts.rejectPayloadBytes ?? 4096;
    if (value !== undefined) {
      try {
        const text = JSON.stringify(value);
        if (text !== undefined) return text.length > limit ? text.slice(0, limit) : text;
      } catch {
        // too deep to serialise (RangeError: 10,000 nested arrays, say; String() would throw
        // the same and crash the process): keep the bytes as received instead
      }
    }
    const bytes = item.payload.subarray(0, limit);
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    return text.includes('\uFFFD') ? 'base64:' + Buffer.from(bytes).toString('base64') : text;
  }

  /** A transport's outcome callback threw (a bug): logged and counted; the other readings of its batch were settled. */
  #settleFailed(err: unknown): void {
    this.#deps.log.error({ err }, 'handling a reading\'s outcome failed');
    this.#deps.metrics.error('internal');
  }

  #rejectsRecovered(n: number): null[] {
    this.#rejectsFailing.set(false);
    return new Array<null>(n).fill(null);
  }

  #rejectsFailed(_err: unknown): null {
    this.#deps.metrics.error('rejects_append_failed');
    this.#rejectsFailing.set(true);
    return null;
  }
}

/** The reading if it is what the transport's addressing says, else why not. */
function meetsExpectation(r: Reading, e: ReadingExpectation): Reading | InvalidReadingError {
  if (r.device_id !== e.deviceId) return new InvalidReadingError(`device_id "${r.device_id}" does not match the topic's device id "${e.deviceId}"`);
  if (e.sensor !== undefined) {
    const other = Object.keys(r.sensors).find((s) => s !== e.sensor);
    if (other !== undefined || r.sensors[e.sensor] === undefined) {
      return new InvalidReadingError(`this topic accepts only the ${e.sensor} sensor${other ? ` (got ${other})` : ''}`);
    }
  }
  return r;
}

function asQueueError(err: Error): IngestError {
  return err instanceof IngestError ? err : new QueueUnavailableError(err.message, err);
}

/** The device a payload claims to be, well-formed or not (core/device-id.ts judges that); bounded for the rejects entry. */
function deviceIdOf(value: unknown): string | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const id = (value as Partial<Reading>).device_id;
  return typeof id === 'string' && id.length <= 128 ? id : undefined;
}
