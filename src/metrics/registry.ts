/**
 * Every Prometheus metric of the service. Names and labels of the first five are fixed by
 * DESIGN §3 (the platform's dashboards and alert rules query them); no per-device labels.
 * @module
 */
import client from 'prom-client';

export interface QueueSizes {
  [queueName: string]: number;
}

export interface MetricSources {
  queueSizes(): Promise<QueueSizes>;
  queueUp(): boolean;
  inFlight(): number;
  /** 1 while the circuit breaker refuses readings (open or half-open). */
  breakerOpen?(): boolean;
}

export function createMetrics(sources: MetricSources, opts: { defaultMetrics?: boolean } = {}) {
  const registry = new client.Registry();
  if (opts.defaultMetrics !== false) client.collectDefaultMetrics({ register: registry });

  // Counted per sensor of every accepted reading: a prom-client inc() per reading cost ~6 % of
  // the batch endpoint's CPU (profiled), so the hot path adds to plain numbers and the
  // counter takes the deltas when it is scraped.
  // by transport, then sensor type: no key string built per reading
  const pendingIngested = new Map<string, Map<string, { labels: { sensor_type: string; transport: string }; n: number }>>();
  new client.Counter({
    name: 'sensor_data_ingested_total',
    help: 'Readings accepted (queue confirmed), per sensor present in the reading',
    labelNames: ['sensor_type', 'transport'] as const,
    registers: [registry],
    collect() {
      for (const bySensor of pendingIngested.values()) {
        for (const p of bySensor.values()) {
          if (p.n > 0) this.inc(p.labels, p.n);
          p.n = 0;
        }
      }
    },
  });
  const errors = new client.Counter({
    name: 'sensor_data_errors_total',
    help: 'Readings or requests refused, by error type',
    labelNames: ['error_type'] as const,
    registers: [registry],
  });
  const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  // ingest latency is observed per reading (MQTT, single POSTs): counted here into plain numbers
  // (prom-client's observe checks and hashes its labels each time, ~2 % of the server's CPU under
  // MQTT load) and added to the histogram's series when it is scraped
  const pendingIngest = { buckets: new Float64Array(LATENCY_BUCKETS.length), sum: 0, count: 0 };
  const latency = new client.Histogram({
    name: 'sensor_data_processing_latency_seconds',
    help: 'Time per operation: ingest = payload received to queue confirmed; queue_append = one batch round trip',
    labelNames: ['operation'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [registry],
    collect() {
      if (pendingIngest.count === 0) return;
      const series = histogramSeries(this, { operation: 'ingest' });
      for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
        series.bucketValues[LATENCY_BUCKETS[i]!] = (series.bucketValues[LATENCY_BUCKETS[i]!] ?? 0) + pendingIngest.buckets[i]!;
        pendingIngest.buckets[i] = 0;
      }
      series.sum += pendingIngest.sum;
      series.count += pendingIngest.count;
      pendingIngest.sum = 0;
      pendingIngest.count = 0;
    },
  });
  const activeConnections = new client.Gauge({
    name: 'active_connections',
    help: 'Open client connections by type',
    labelNames: ['connection_type'] as const,
    registers: [registry],
  });
  new client.Gauge({
    name: 'queue_size',
    help: 'Entries waiting downstream per stream (consumer lag when groups exist, else length)',
    labelNames: ['queue_name'] as const,
    registers: [registry],
    // with --workers every worker reads the same streams: not a sum
    aggregator: 'max',
    async collect() {
      try {
        const sizes = await sources.queueSizes();
        for (const [queue_name, size] of Object.entries(sizes)) this.set({ queue_name }, size);
      } catch {
        // queue down: keep the last values; ingest_queue_up says why
      }
    },
  });
  const batchSize = new client.Histogram({
    name: 'ingest_queue_batch_size',
    help: 'Readings per queue round trip',
    buckets: [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000],
    registers: [registry],
  });
  new client.Gauge({
    name: 'ingest_in_flight',
    help: 'Readings awaiting queue confirmation',
    registers: [registry],
    collect() {
      this.set(sources.inFlight());
    },
  });
  new client.Gauge({
    name: 'ingest_circuit_breaker_open',
    help: '1 while the circuit breaker refuses readings at once (open or half-open) after repeated queue failures',
    registers: [registry],
    aggregator: 'max',
    collect() {
      this.set(sources.breakerOpen?.() ? 1 : 0);
    },
  });
  const backpressure = new client.Counter({
    name: 'ingest_backpressure_events_total',
    help: 'Readings refused because MAX_IN_FLIGHT readings awaited the queue',
    registers: [registry],
  });
  new client.Gauge({
    name: 'ingest_queue_up',
    help: '1 when the queue backend accepts appends',
    registers: [registry],
    aggregator: 'min',
    collect() {
      this.set(sources.queueUp() ? 1 : 0);
    },
  });

  const wsSkipped = new client.Counter({
    name: 'websocket_frames_skipped_total',
    help: 'Live-stream frames not sent to stream-mode WebSocket subscribers past WS_MAX_BACKPRESSURE_BYTES (counted from the first sweep that finds them behind)',
    registers: [registry],
  });

  const fleetFlushes = new client.Counter({
    name: 'device_state_flushes_total',
    help: 'Merges of per-device facts into the shared fleet state (DEVICE_STATE), by result',
    labelNames: ['result'],
    registers: [registry],
  });
  const fleetDevices = new client.Counter({
    name: 'device_state_devices_flushed_total',
    help: 'Device deltas merged into the fleet state (one per device heard from per DEVICE_STATE_FLUSH_MS)',
    registers: [registry],
  });
  const fleetDropped = new client.Counter({
    name: 'device_state_dropped_total',
    help: 'Device deltas dropped because too many devices were waiting for a flush (the fleet store kept failing)',
    registers: [registry],
  });

  const qualityFlags = new client.Counter({
    name: 'readings_quality_flags_total',
    help: 'Stored readings flagged by a plausibility check (QUALITY_CHECKS) or a normalisation (epoch or naive timestamp, unknown fields), by flag',
    labelNames: ['flag'],
    registers: [registry],
  });
  const backfilled = new client.Counter({
    name: 'readings_backfill_total',
    help: 'Stored readings older than BACKFILL_AFTER_MS on arrival (a device flushing its offline buffer)',
    registers: [registry],
  });

  // tolerant input: unknown fields of readings by what became of them (no per-field label: the
  // names are per device in the fleet state)
  const unknownFields = new client.Counter({
    name: 'readings_unknown_fields_total',
    help: 'Unknown top-level and per-sensor fields of readings (UNKNOWN_FIELDS), by action: kept or stripped in a stored reading, refused with it',
    labelNames: ['action'] as const,
    registers: [registry],
  });

  // MQTT: messages to subscribers not delivered, bounds hit, and the sizes of the shared tables
  const mqttDropped = new client.Counter({
    name: 'mqtt_messages_dropped_total',
    help: 'Messages to MQTT subscribers not delivered, by reason (session_queue_full, offline_budget, qos0_offline, expired, packet_too_large, session_ended)',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const mqttBounds = new client.Counter({
    name: 'mqtt_bounds_hit_total',
    help: 'Times an MQTT bound was reached (sessions, session_expiry, subscriptions, filter_bytes, topic_levels, session_queue, offline_budget, keep_alive)',
    labelNames: ['bound'] as const,
    registers: [registry],
  });
  let mqttSnapshot: (() => MqttSnapshot) | undefined;
  const mqttLast = { received: 0, sent: 0 };
  new client.Counter({
    name: 'mqtt_messages_total',
    help: 'PUBLISH packets received from and sent to MQTT clients',
    labelNames: ['direction'] as const,
    registers: [registry],
    collect() {
      const s = mqttSnapshot?.();
      if (s === undefined) return;
      this.inc({ direction: 'received' }, s.messagesReceived - mqttLast.received);
      this.inc({ direction: 'sent' }, s.messagesSent - mqttLast.sent);
      mqttLast.received = s.messagesReceived;
      mqttLast.sent = s.messagesSent;
    },
  });
  const mqttGauge = (name: string, help: string, pick: (s: MqttSnapshot) => number) =>
    new client.Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const s = mqttSnapshot?.();
        if (s !== undefined) this.set(pick(s));
      },
    });
  mqttGauge('mqtt_sessions', 'MQTT sessions held by this instance (connected, and persistent ones kept for clients away)', (s) => s.sessions);
  mqttGauge('mqtt_subscriptions', 'MQTT subscriptions held by this instance', (s) => s.subscriptions);
  mqttGauge('mqtt_retained_messages', 'Retained MQTT messages held by this instance', (s) => s.retained);
  mqttGauge('mqtt_remote_routes', 'Routes (distinct topic filters and shared groups) of the other instances in this instance\'s route table (MQTT across instances; 0 without)', (s) => s.remoteRoutes);
  mqttGauge('mqtt_instances', 'Instances of the shared MQTT state seen alive, this one included (0 without shared state)', (s) => s.instances);
  mqttGauge('mqtt_queued_bytes', 'Bytes of messages waiting in MQTT session queues (bounded by MQTT_OFFLINE_BYTES_BUDGET)', (s) => s.queuedBytes);

  // DEVICE_AUTH_URL (credentials verified by another service)
  const deviceAuthCalls = new client.Counter({
    name: 'device_auth_calls_total',
    help: 'Calls to DEVICE_AUTH_URL by outcome: admitted, refused (401/403 or a deny answer), failed (timeout, 5xx, unreachable, an unusable answer)',
    labelNames: ['outcome'] as const,
    registers: [registry],
  });
  const deviceAuthSeconds = new client.Histogram({
    name: 'device_auth_call_seconds',
    help: 'Time DEVICE_AUTH_URL took to answer (or to fail)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const deviceAuthCache = new client.Counter({
    name: 'device_auth_cache_total',
    help: 'Checks of credentials held by DEVICE_AUTH_URL: answered from the cache (hit, negative_hit), by a stale admission while it fails (stale), by joining a call in progress (shared), or needing a call (miss)',
    labelNames: ['result'] as const,
    registers: [registry],
  });
  let deviceAuthBreaker = 0;
  new client.Gauge({
    name: 'device_auth_breaker_open',
    help: '1 while the circuit breaker in front of DEVICE_AUTH_URL fails checks at once (open or half-open)',
    registers: [registry],
    collect() {
      this.set(deviceAuthBreaker);
    },
  });

  const errorChildren = new Map<string, { inc(): void }>();
  const appendLatency = latency.labels({ operation: 'queue_append' });

  return {
    registry,
    /** The exposition text of this process (cluster mode replaces it by the aggregate of all workers). */
    scrape: (): Promise<string> => registry.metrics(),
    contentType: registry.contentType as string,
    activeConnections,
    /** Cheap on the hot path: plain counting, handed to prom-client at scrape time. */
    ingested(sensorType: string, transport: string): void {
      let bySensor = pendingIngested.get(transport);
      if (bySensor === undefined) pendingIngested.set(transport, (bySensor = new Map()));
      const p = bySensor.get(sensorType);
      if (p !== undefined) p.n++;
      else bySensor.set(sensorType, { labels: { sensor_type: sensorType, transport }, n: 1 });
    },
    error(errorType: string): void {
      let c = errorChildren.get(errorType);
      if (c === undefined) {
        c = errors.labels({ error_type: errorType });
        errorChildren.set(errorType, c);
      }
      c.inc();
    },
    ingestSeconds(s: number): void {
      let i = 0;
      while (i < LATENCY_BUCKETS.length && s > LATENCY_BUCKETS[i]!) i++;
      // above the last bound: only +Inf (the count), as prom-client does
      if (i < LATENCY_BUCKETS.length) pendingIngest.buckets[i]!++;
      pendingIngest.sum += s;
      pendingIngest.count++;
    },
    flushed(size: number, seconds: number): void {
      batchSize.observe(size);
      appendLatency.observe(seconds);
    },
    backpressure(): void {
      backpressure.inc();
    },
    wsFramesSkipped(n: number): void {
      wsSkipped.inc(n);
    },
    fleetFlushed(devices: number): void {
      fleetFlushes.inc({ result: 'ok' });
      fleetDevices.inc(devices);
    },
    fleetFlushFailed(): void {
      fleetFlushes.inc({ result: 'error' });
    },
    fleetDropped(n: number): void {
      fleetDropped.inc(n);
    },
    qualityFlag(flag: string): void {
      qualityFlags.inc({ flag });
    },
    backfill(): void {
      backfilled.inc();
    },
    unknownFields(action: 'kept' | 'stripped' | 'refused', n: number): void {
      unknownFields.inc({ action }, n);
    },
    /** A message to an MQTT subscriber was not delivered (also counted as sensor_data_errors_total{error_type="mqtt_message_dropped"} except for expiry). */
    mqttDropped(reason: string): void {
      mqttDropped.inc({ reason });
    },
    mqttBoundHit(bound: string): void {
      mqttBounds.inc({ bound });
    },
    deviceAuthCall(outcome: string, seconds: number): void {
      deviceAuthCalls.inc({ outcome });
      deviceAuthSeconds.observe(seconds);
    },
    deviceAuthCache(result: string): void {
      deviceAuthCache.inc({ result });
    },
    deviceAuthBreaker(open: boolean): void {
      deviceAuthBreaker = open ? 1 : 0;
    },
    /** Where the MQTT gauges and message counters are read from at scrape time. */
    mqttSource(snapshot: () => MqttSnapshot): void {
      mqttSnapshot = snapshot;
    },
  };
}

/** What the MQTT side reports at scrape time. */
export interface MqttSnapshot {
  sessions: number;
  subscriptions: number;
  retained: number;
  queuedBytes: number;
  /** Routes of the other instances held in the route table (0 without shared state). */
  remoteRoutes: number;
  /** Instances seen alive, this one included (0 without shared state). */
  instances: number;
  messagesReceived: number;
  messagesSent: number;
}

export type Metrics = ReturnType<typeof createMetrics>;

/** In a cluster worker: lets the primary's AggregatorRegistry collect this process's metrics. */
export function exposeToPrimary(m: Metrics): void {
  client.AggregatorRegistry.setRegistries([m.registry]);
  // constructing one is what installs prom-client's worker-side message listener
  new client.AggregatorRegistry();
}

/**
 * One series of a prom-client 15 Histogram (its `hashMap` entry, created by `zero`), to add
 * counts to without an observe per value. Checked: a prom-client whose histograms keep their
 * series otherwise fails here, in the metrics tests, not silently.
 */
function histogramSeries(h: client.Histogram, labels: Record<string, string>): { bucketValues: Record<number, number>; sum: number; count: number } {
  type Series = { labels: Record<string, string>; bucketValues: Record<number, number>; sum: number; count: number };
  const find = (): Series | undefined => {
    const map = (h as unknown as { hashMap?: Record<string, Series> }).hashMap;
    return map === undefined ? undefined : Object.values(map).find((v) => Object.keys(labels).every((k) => v.labels[k] === labels[k]));
  };
  let series = find();
  if (series === undefined) {
    // zero() makes the series (and would reset one that exists)
    h.zero(labels);
    series = find();
  }
  if (series === undefined) throw new Error('prom-client Histogram internals changed: its series (hashMap) are not where they were');
  return series;
}
