/**
 * Every setting of neurobuild-ingest, one property each. The property name is the
 * environment variable; the command-line flag is its kebab-case form (`PORT` → `--port`).
 * `--help` and the configuration table of docs/configuration.md are generated from this schema.
 * @module
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';

const port = (def: number, description: string) =>
  Type.Integer({ minimum: 0, maximum: 65535, default: def, description });
const name = (def: string, description: string) =>
  Type.String({ minLength: 1, maxLength: 200, pattern: '^[A-Za-z0-9:_.{}-]+$', default: def, description });
const positive = (def: number, max: number, description: string) =>
  Type.Integer({ minimum: 1, maximum: max, default: def, description });
const optionalString = (description: string, extra: object = {}) =>
  Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description, ...extra }));

export const ConfigSchema = Type.Object({
  NODE_ENV: Type.String({
    minLength: 1,
    default: 'development',
    description: 'production turns on the defaults meant for it: one worker per CPU (with Redis), rate limits',
  }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0', description: 'Address the HTTP and metrics listeners bind to' }),
  PORT: port(3000, 'HTTP API port'),
  METRICS_PORT: port(9090, 'Port of the separate Prometheus metrics listener (0 disables it; /metrics stays on PORT)'),
  METRICS_PATH: Type.String({ pattern: '^/[A-Za-z0-9/_.-]*$', default: '/metrics', description: 'Path of the Prometheus endpoint' }),
  WS_PORT: port(3001, 'WebSocket port: live readings on /, MQTT over WebSocket on /mqtt (0 disables it)'),
  WS_MAX_CONNECTIONS: positive(10_000, 1_000_000, 'WebSocket connections (both endpoints) beyond which upgrades are refused with 503'),
  WS_MAX_BACKPRESSURE_BYTES: positive(1_048_576, 268_435_456, 'Bytes buffered for one WebSocket subscriber past which frames to it are skipped (latest mode: kept newest per device and sensor)'),
  WS_SLOW_TIMEOUT_MS: positive(10_000, 600_000, 'A subscriber that stays past WS_MAX_BACKPRESSURE_BYTES this long is closed (code 4008)'),
  WS_IDLE_TIMEOUT_S: Type.Integer({ minimum: 8, maximum: 960, default: 120, description: 'A WebSocket connection with no traffic for this long is closed; the server pings at half of it' }),
  WS_FLUSH_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 5, description: 'Readings are fanned out to WebSocket subscribers in groups every this many ms (0: every event-loop turn)' }),
  TLS_CERT_FILE: optionalString('PEM certificate (chain) for HTTPS on PORT and WSS on WS_PORT, used with TLS_KEY_FILE: those ports then speak TLS only (re-read on SIGHUP)'),
  TLS_KEY_FILE: optionalString('PEM private key (unencrypted) of TLS_CERT_FILE', { secret: true }),
  MQTT_PORT: port(1883, 'MQTT listener port (0 disables it)'),
  MQTT_TLS_PORT: port(8883, 'MQTT over TLS port, used when MQTT_TLS_CERT_FILE and MQTT_TLS_KEY_FILE are set (0 disables it)'),
  MQTT_TLS_CERT_FILE: optionalString('PEM certificate (chain) for MQTT over TLS'),
  MQTT_TLS_KEY_FILE: optionalString('PEM private key for MQTT over TLS', { secret: true }),
  MQTT_TLS_CA_FILE: optionalString('PEM CA bundle that signs device client certificates (MQTT over TLS)'),
  MQTT_TLS_CLIENT_CERT: Type.Union([Type.Literal('off'), Type.Literal('optional'), Type.Literal('required')], {
    default: 'off',
    description: 'Client certificates on MQTT over TLS (mTLS): a verified certificate\'s subject CN is the device identity',
  }),
  MQTT_TOPIC_PREFIX: Type.String({ pattern: '^[^#+\\s]+$', default: 'neurobuild/sensors', description: 'Sensor topics are {prefix}/{device_id}/data|status|<sensor type> (ld2410, pir, mq134 and those of SENSOR_TYPES_DIR)' }),
  MQTT_SENSOR_TOPICS: Type.Union([Type.Literal('off'), Type.Literal('on')], {
    default: 'off',
    description: 'on: each accepted reading is also relayed on {prefix}/{device_id}/{sensor} for each sensor it carries (the reading with only that sensor), as the previous ingest service\'s dashboards subscribe (+/pir); a {prefix}/# subscriber then gets each reading once per sensor besides /data',
  }),
  MQTT_SHARED_STATE: Type.Union([Type.Literal('auto'), Type.Literal('off')], {
    default: 'auto',
    description: 'auto: with Redis, MQTT instances (and --workers) share routing, client ids and retained messages through it (docs/mqtt-cluster.md); off: each instance is an island (the embedded queue is always one)',
  }),
  MQTT_INSTANCE_TIMEOUT_MS: Type.Integer({
    minimum: 2000,
    maximum: 600_000,
    default: 5000,
    description: 'With MQTT_SHARED_STATE: an instance whose 1 s heartbeat has not been renewed for this long is taken for gone (its routes forgotten, its wills published); shorter reacts sooner, but a pause past it (GC, a stalled VM) makes the instance announce itself again',
  }),
  MQTT_TOPIC_ALIAS_MAXIMUM: Type.Integer({ minimum: 0, maximum: 65_535, default: 64, description: 'Topic aliases a v5 client may set per connection (announced in CONNACK; 0 turns them off)' }),
  MQTT_MAX_PACKET_BYTES: Type.Integer({ minimum: 64, maximum: 268_435_455, default: 262_144, description: 'Largest MQTT packet accepted (announced to v5 clients); a larger one closes the connection' }),
  MQTT_CONNECT_TIMEOUT_MS: positive(10_000, 600_000, 'A client must send CONNECT within this time after connecting'),
  MQTT_MAX_CONNECT_BYTES: Type.Integer({ minimum: 64, maximum: 268_435_455, default: 16_384, description: 'Largest CONNECT packet (credentials, will) accepted: until its CONNECT is accepted a connection may not make the server hold more (a larger one closes the connection)' }),
  MAX_UNAUTHENTICATED_CONNECTIONS: positive(2000, 1_000_000, 'MQTT connections (TCP, TLS and WebSocket /mqtt) whose CONNECT is not accepted yet; a new one past it is closed at once (WebSocket: 503)'),
  MQTT_RECEIVE_MAXIMUM: positive(64, 65_535, 'QoS 1/2 publishes per connection awaiting the queue before its socket stops being read (announced to v5 clients)'),
  MQTT_MAX_IN_FLIGHT_BYTES: positive(64 * 1_048_576, 16 * 1_073_741_824, 'Payload bytes of MQTT publishes awaiting the queue (all connections) past which sockets stop being read'),
  MQTT_RETRY_MAX_DELAY_MS: positive(2000, 60_000, 'While the queue is unavailable, held QoS 1/2 publishes are retried with backoff up to this delay'),
  MQTT_MAX_OFFLINE_MESSAGES: positive(1000, 1_000_000, 'Messages one session queue holds: QoS 1/2 kept while its client is away, and messages waiting for room in its Receive Maximum or socket; past it the oldest queued QoS 0 goes first, then new messages are refused (counted in mqtt_messages_dropped_total)'),
  MQTT_MAX_OFFLINE_BYTES: positive(1_048_576, 1_073_741_824, 'Bytes one session queue holds (same rule as MQTT_MAX_OFFLINE_MESSAGES)'),
  MQTT_OFFLINE_BYTES_BUDGET: positive(268_435_456, 68_719_476_736, 'Bytes of all session queues together; past it queues shed their oldest QoS 0 first, refuse new messages, and new persistent sessions are refused (CONNACK 0x97, 3.1.1: 3)'),
  MQTT_MAX_SESSIONS: positive(500_000, 100_000_000, 'Sessions held (connected, and persistent ones kept for clients away) past which a CONNECT that needs a new session is refused (CONNACK 0x97, 3.1.1: 3)'),
  MQTT_MAX_SESSION_EXPIRY_S: positive(86_400, 4_294_967_294, 'Longest a session is kept after its client left (v5 Session Expiry Interval is capped to it and told back in CONNACK; 3.1.1 clean session 0 gets it)'),
  MQTT_MAX_SESSIONS_PER_IDENTITY: positive(32, 10_000_000, 'With AUTH_MODE on: sessions one identity holds on an instance (connected and kept); a CONNECT needing one more is refused (CONNACK 0x97, 3.1.1: 3)'),
  MQTT_MAX_SUBSCRIPTIONS_PER_IDENTITY: positive(2000, 100_000_000, 'With AUTH_MODE on: subscriptions of all the sessions of one identity on an instance; more are refused in SUBACK (0x97, 3.1.1: 0x80)'),
  MQTT_MAX_FILTER_BYTES_PER_IDENTITY: positive(131_072, 1_073_741_824, 'With AUTH_MODE on: bytes of the topic filters of all the sessions of one identity on an instance (same refusal)'),
  MQTT_MAX_SUBSCRIPTIONS_PER_CLIENT: positive(1000, 1_000_000, 'Subscriptions one session may hold; more are refused in SUBACK (0x97, 3.1.1: 0x80)'),
  MQTT_MAX_FILTER_BYTES: positive(1024, 65_535, 'Longest topic filter in a SUBSCRIBE, in bytes; longer is refused in SUBACK (0x8F, 3.1.1: 0x80)'),
  MQTT_MAX_TOPIC_LEVELS: positive(128, 1024, 'Most levels in a topic name or filter; more: SUBACK 0x8F (3.1.1: 0x80), a PUBLISH closes the connection (0x90)'),
  MQTT_MAX_KEEP_ALIVE_S: positive(65_535, 65_535, 'Longest keep-alive accepted; a v5 client asking more (or none, when this is below 65535) is told this Server Keep Alive, a 3.1.1 one is refused (CONNACK 2)'),
  MQTT_FLUSH_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 5, description: 'Messages to MQTT subscribers are written out together every this many ms (0: at the end of every event-loop turn); acknowledgements are never held' }),
  MQTT_SYS_INTERVAL_S: Type.Integer({ minimum: 0, maximum: 86_400, default: 10, description: 'Seconds between updates of the retained $SYS/broker/... statistics topics (0: no $SYS topics); with AUTH_MODE on only identities an ACL rule grants $SYS may subscribe' }),
  MQTT_MAX_RETAINED: positive(100_000, 10_000_000, 'Retained messages kept (one per topic); beyond it new retained topics are refused and counted'),
  MQTT_MAX_RETAINED_BYTES: positive(64 * 1_048_576, 68_719_476_736, 'Bytes of all retained messages (payload, topic, properties); a retained publish past it is refused (v5 PUBACK 0x97) and counted'),
  MQTT_MAX_RETAINED_PER_IDENTITY: positive(100, 10_000_000, 'With AUTH_MODE on: retained messages one identity may have set (same refusal)'),
  MQTT_MAX_RETAINED_BYTES_PER_IDENTITY: positive(1_048_576, 68_719_476_736, 'With AUTH_MODE on: bytes of the retained messages one identity may have set (same refusal)'),
  MQTT_DRAIN_TIMEOUT_MS: positive(30_000, 600_000, 'A client that does not read what the server sends for this long is disconnected'),
  RATE_LIMIT: Type.Union([Type.Literal('auto'), Type.Literal('on'), Type.Literal('off')], {
    default: 'auto',
    description: 'Per-device token buckets (shared through Redis when configured); auto = on when NODE_ENV=production',
  }),
  RATE_LIMIT_PER_MINUTE: positive(100, 10_000_000, 'Single readings (HTTP requests, MQTT publishes) per device per minute, in bursts of up to as many'),
  RATE_LIMIT_BATCH_PER_MINUTE: positive(10, 10_000_000, 'Batch requests per device per minute'),
  RATE_LIMIT_BACKFILL_PER_MINUTE: positive(6000, 10_000_000, 'Backfill readings (older than BACKFILL_AFTER_MS) per device per minute: their own budget, so a device flushing its offline buffer does not spend the live one'),
  BACKFILL_AFTER_MS: Type.Integer({ minimum: 0, maximum: 31_536_000_000, default: 300_000, description: 'Readings timestamped longer ago than this are backfill: marked "backfill": true, on their own rate budget, and paused while more than half of MAX_IN_FLIGHT await the queue (HTTP 503 + Retry-After; MQTT QoS 1/2 acknowledgement held) (0: no backfill class)' }),
  QUALITY_CHECKS: Type.Union([Type.Literal('on'), Type.Literal('off')], { default: 'on', description: 'Plausibility checks that flag readings ("quality": [...]) instead of refusing them' }),
  QUALITY_LD2410_NEAR_CM: Type.Integer({ minimum: 0, maximum: 600, default: 100, description: 'ld2410_absent_but_near: presence false with a target at most this close…' }),
  QUALITY_LD2410_MIN_ENERGY: Type.Integer({ minimum: 0, maximum: 100, default: 50, description: '…and at least this energy (%)' }),
  QUALITY_MQ134_MAX_STEP_PPM: Type.Number({ minimum: 0, default: 200, description: 'mq134_step: gas concentration changed more than this (ppm) from the device\'s previous reading…' }),
  QUALITY_STEP_WINDOW_MS: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 60_000, description: '…taken at most this long before (device time)' }),
  MAX_CONNECTIONS_PER_IP: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 1000, description: 'MQTT and WebSocket connections per source address (0: no limit); raise it for sites whose devices share one address (NAT); behind a proxy, set TRUSTED_PROXIES so that the address is the client\'s' }),
  MQTT_ACL_FILE: optionalString('With AUTH_MODE on: JSON rules for topics beyond a device\'s own {prefix}/{device_id}/# (see docs/security.md)'),
  MQTT_BROKER_URL: optionalString('Bridge mode: also ingest the sensor topics of this upstream broker (mqtt://, mqtts://, ws://, wss://)', { pattern: '^(mqtts?|wss?)://', secret: true }),
  MQTT_BRIDGE_CLIENT_ID: optionalString('Client id of the bridge at the upstream broker (a persistent session); default neurobuild-ingest-<hostname>', { pattern: '^[A-Za-z0-9_.:-]{1,128}$' }),
  // behind a reverse proxy or load balancer (docs/gateway.md)
  TRUSTED_PROXIES: optionalString('Addresses and CIDR ranges (IPv4, IPv6; comma or space separated) of the proxies in front of the server: from them the client address is taken from X-Forwarded-For (HTTP, WebSocket) and the PROXY protocol header (MQTT TCP and TLS); unset: trust nobody, the TCP peer is the client', { maxLength: 8192 }),
  MQTT_PROXY_PROTOCOL: Type.Union([Type.Literal('required'), Type.Literal('optional')], {
    default: 'required',
    description: 'MQTT connections (TCP and TLS) from a TRUSTED_PROXIES address: required = must start with a PROXY protocol v1/v2 header (closed without one); optional = with or without one (without: the proxy is the client)',
  }),

  QUEUE_BACKEND: Type.Union([Type.Literal('auto'), Type.Literal('redis'), Type.Literal('memory')], {
    default: 'auto',
    description: 'auto: Redis when REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES is set, else the embedded in-process queue',
  }),
  REDIS_URL: optionalString('Redis connection URL (redis:// or rediss://); overrides REDIS_HOST/PORT/PASSWORD/DB', { pattern: '^rediss?://', secret: true }),
  REDIS_HOST: optionalString('Redis host'),
  REDIS_PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 6379, description: 'Redis port' }),
  REDIS_PASSWORD: optionalString('Redis password', { secret: true }),
  REDIS_DB: Type.Integer({ minimum: 0, maximum: 15, default: 0, description: 'Redis database number' }),
  REDIS_CLUSTER_NODES: optionalString('Redis Cluster seed nodes, host:port comma or space separated ([v6]:port for IPv6): every path that uses Redis then goes through the cluster (REDIS_PASSWORD applies to every node; REDIS_URL, REDIS_HOST, REDIS_PORT and REDIS_DB are not used)', { maxLength: 8192 }),
  STREAM_SHARDS: Type.Integer({
    minimum: 1,
    maximum: 1024,
    default: 1,
    description: 'Readings streams: 1 = QUEUE_NAME itself; N > 1 = QUEUE_NAME:{0-k} … QUEUE_NAME:{N-1-k} (hash tags spread evenly over the cluster slots; names listed by GET /api/v1/queue/status), a device always in shard crc32(device_id) mod N with its dedupe keys, fleet state and rate limits (docs/redis-cluster.md). Every instance and consumer of a deployment must use the same N',
  }),
  EVENTS_PUBSUB: Type.Union([Type.Literal('classic'), Type.Literal('sharded')], {
    default: 'classic',
    description: "Live events: classic = PUBLISH on EVENTS_CHANNEL (what the platform's services subscribe to; on Redis Cluster every node relays every message); sharded = SPUBLISH on EVENTS_CHANNEL:{shard} per stream shard (Redis 7; only the shard's own nodes carry it)",
  }),
  EVENTS_PUBLISH: Type.Union([Type.Literal('subscribed'), Type.Literal('always')], {
    default: 'subscribed',
    description: 'subscribed = a stored reading is published on EVENTS_CHANNEL only while someone listens (asked by the ingest script on its node, marked by listening instances, counted on every node each second): exact on one Redis and for this server\'s own subscribers; an external subscriber on another Cluster node gets readings from within a second; always = every reading is published (Redis pays ~0.5 µs per reading with nobody listening)',
  }),
  REDIS_COMMAND_TIMEOUT_MS: positive(5000, 600_000, 'A Redis reply slower than this fails the batch (answered 503, not acknowledged)'),
  ACK_DURABILITY: Type.Union([Type.Literal('append'), Type.Literal('fsync'), Type.Literal('replicas')], {
    default: 'append',
    description: 'When a reading is acknowledged (202 / PUBACK): append = Redis accepted it; fsync = it is on Redis\' disk (WAITAOF on Redis 7.2+, else appendfsync always, checked at start); replicas = ACK_REPLICAS replicas confirmed it (WAIT). Redis backend only',
  }),
  ACK_REPLICAS: Type.Integer({ minimum: 1, maximum: 100, default: 1, description: 'Replicas that must confirm an append with ACK_DURABILITY=replicas' }),
  ACK_WAIT_TIMEOUT_MS: positive(1000, 60_000, 'Longest wait for the fsync / replica confirmation of a batch; short of it the batch is not acknowledged (503 / ack held)'),
  QUEUE_NAME: name('sensor-data', 'Redis stream of accepted readings'),
  DLQ_NAME: name('sensor-data-dlq', 'Dead-letter stream (written by consumers after MAX_RETRY_ATTEMPTS)'),
  REJECTS_NAME: name('sensor-data-invalid', 'Stream of rejected payloads with their reason'),
  EVENTS_CHANNEL: name('sensor-events', 'Pub/sub channel: one JSON enriched reading per accepted reading'),
  METADATA_KEY: name('device-metadata', 'Redis hash of device metadata (field = device_id)'),
  DEVICE_STATE_PREFIX: name('device-state', 'Key prefix of the per-device fleet state in Redis (<prefix>:d:<device_id> hashes, <prefix>:seen and <prefix>:rejected sorted sets); braces ({device-state}) on Redis Cluster'),
  QUEUE_MAXLEN: Type.Integer({ minimum: 0, default: 0, description: 'Approximate MAXLEN trim of the readings stream (0 = never trim)' }),
  REJECTS_MAXLEN: Type.Integer({ minimum: 0, default: 100_000, description: 'Approximate MAXLEN trim of the rejects stream (0 = never trim)' }),
  MEMORY_QUEUE_MAXLEN: positive(100_000, 100_000_000, 'Embedded backend: entries kept per stream; the oldest are trimmed beyond it'),
  MAX_RETRY_ATTEMPTS: Type.Integer({ minimum: 0, maximum: 100, default: 3, description: 'Consumer retries before an entry goes to the DLQ' }),
  RETRY_DELAY_MS: Type.Integer({ minimum: 0, maximum: 3_600_000, default: 1000, description: 'Consumer retry backoff base' }),
  CONSUMER_GROUP: optionalString('consume: consumer group name (default: the sink\'s name, e.g. storage or alerts)'),
  CONSUMER_NAME: optionalString('consume: this consumer\'s name in its group (default: <hostname>-<pid>)'),
  CONSUMER_SHARDS: Type.String({
    default: 'all',
    maxLength: 8192,
    description: 'consume, dlq: the readings streams this process serves, with STREAM_SHARDS > 1: all, or shard numbers and ranges (0,2,4-5); one reader per shard, so that a consumer deployment can be split by shard',
  }),
  CONSUMER_BATCH_SIZE: positive(500, 100_000, 'consume: entries read and handed to the sink at once'),
  CONSUMER_CLAIM_IDLE_MS: positive(30_000, 3_600_000, 'consume: entries pending this long with another (crashed) consumer are claimed'),
  DATABASE_URL: optionalString('consume postgres: PostgreSQL connection URL', { pattern: '^postgres(ql)?://', secret: true }),
  ALERT_RULES_FILE: optionalString('consume alerts: JSON rules file (see docs/consumers.md); unset: the defaults (gas over 500 ppm, presence in a secure area outside business hours)'),
  ALERTS_STREAM: name('alerts', 'consume alerts: stream the alerts are appended to (condition state in ALERTS_STREAM:state:…, counters in ALERTS_STREAM:stats)'),
  ALERTS_CHANNEL: name('alerts', 'consume alerts: pub/sub channel, one JSON alert per message'),
  ALERTS_MAXLEN: Type.Integer({ minimum: 0, default: 100_000, description: 'consume alerts: approximate MAXLEN trim of the alerts stream (0 = never trim)' }),
  ALERT_SUPPRESS_MS: positive(300_000, 30 * 86_400_000, 'consume alerts: a condition (rule + device) that fired stays quiet this long while it persists, then fires again as a reminder'),
  ALERT_WEBHOOK_URL: optionalString('consume alerts: each alert is also POSTed (JSON) to this URL', { pattern: '^https?://', secret: true }),
  ALERT_WEBHOOK_RETRIES: Type.Integer({ minimum: 0, maximum: 20, default: 3, description: 'consume alerts: webhook attempts after the first (5xx, 408, 429, timeouts, network errors) before the alert is logged and counted as not delivered' }),
  ALERT_WEBHOOK_RETRY_MS: positive(1000, 600_000, 'consume alerts: first webhook retry delay, doubled per attempt (at most 60 s)'),
  ALERT_WEBHOOK_TIMEOUT_MS: positive(5000, 600_000, 'consume alerts: longest wait for the webhook\'s answer per attempt'),
  // consume influx: the platform's time-series storage (InfluxDB line protocol)
  INFLUX_URL: optionalString('consume influx: InfluxDB base URL, e.g. http://influxdb:8086', { pattern: '^https?://' }),
  INFLUX_API: Type.Union([Type.Literal('v2'), Type.Literal('v1')], { default: 'v2', description: 'consume influx: v2 = POST /api/v2/write?org&bucket (InfluxDB 2.x, 1.8+); v1 = POST /write?db (InfluxDB 1.x, e.g. Debian 12\'s 1.6.7)' }),
  INFLUX_ORG: optionalString('consume influx: organization of the bucket (v2; required there)'),
  INFLUX_BUCKET: Type.String({ minLength: 1, maxLength: 255, default: 'sensor_data', description: 'consume influx: bucket (v2) or database (v1) the points are written to' }),
  INFLUX_TOKEN: optionalString('consume influx: v2: API token with write access to the bucket (required); v1: user:password (Basic authentication) or a token', { secret: true }),
  INFLUX_BATCH_LINES: positive(5000, 1_000_000, 'consume influx: most lines (points) in one write request'),
  INFLUX_BATCH_BYTES: positive(1_048_576, 100 * 1_048_576, 'consume influx: most bytes in one write request (a reading\'s lines are never split)'),
  INFLUX_FLUSH_INTERVAL_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000, description: 'consume influx: after a read of fewer than CONSUMER_BATCH_SIZE entries, entries are gathered this long before the write (0: each read is written at once)' }),
  INFLUX_TIMEOUT_MS: positive(10_000, 600_000, 'consume influx: longest wait for InfluxDB\'s answer to a write; then it is tried again'),

  SENSOR_TYPES_DIR: optionalString('Directory of <name>.json files, each the JSON Schema of one more sensor type\'s object (see docs/sensor-types.md); read at start, other files ignored'),
  DEDUPE_WINDOW_MS: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 60_000, description: 'A reading with the same (device_id, seq) — or (device_id, timestamp) when it has no seq — in the same window of device time is a duplicate, recognised for two windows after that window was last written (0 disables)' }),
  DEVICE_STATE: Type.Union([Type.Literal('on'), Type.Literal('off')], { default: 'on', description: 'Per-device fleet state (last seen, counts, rejects, clock skew, sequence gaps, MQTT connection) for /api/v1/devices' }),
  DEVICE_STATE_TTL_S: Type.Integer({ minimum: 60, maximum: 31_536_000, default: 2_592_000, description: 'A device\'s fleet state is dropped this long after its last reading or refusal (30 days); the embedded backend also keeps at most 100,000 devices' }),
  DEVICE_STATE_FLUSH_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 1000, description: 'Per-device facts are merged into the shared fleet state once per this interval (one round trip for all devices)' }),
  CLOCK_SKEW_MS: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 300_000, description: 'Readings timestamped further than this in the future are rejected' }),
  // tolerant input: what a reading may carry beyond the canonical form (docs/reading-format.md)
  UNKNOWN_FIELDS: Type.Union([Type.Literal('keep'), Type.Literal('strip'), Type.Literal('reject')], {
    default: 'keep',
    description: 'Unknown top-level and per-sensor fields of a reading: keep (stored as sent, flagged unknown_fields_kept, within UNKNOWN_FIELDS_MAX and UNKNOWN_FIELDS_MAX_BYTES), strip (removed, flagged unknown_fields_stripped: the previous service\'s behaviour) or reject (400 / MQTT 0x99 naming the field)',
  }),
  UNKNOWN_FIELDS_MAX: positive(16, 1000, 'keep: unknown fields one reading may keep (top level and all its sensors together); past it, or past UNKNOWN_FIELDS_MAX_BYTES, none of them is kept and the reading is stored without them (flagged unknown_fields_stripped)'),
  UNKNOWN_FIELDS_MAX_BYTES: positive(1024, 65_536, 'keep: bytes of the unknown fields one reading may keep (UTF-8 names plus JSON values)'),
  NAIVE_TIMESTAMPS: Type.Union([Type.Literal('utc'), Type.Literal('reject')], {
    default: 'utc',
    description: 'Timestamps without a time zone (2025-10-16T18:35:00): utc reads them as UTC (flagged timestamp_naive_utc), reject refuses them. Epoch seconds and milliseconds (numbers) are always accepted (flagged timestamp_epoch_s / _ms)',
  }),
  MAX_BODY_BYTES: positive(1_048_576, 64 * 1_048_576, 'Largest accepted HTTP body (413 beyond it)'),
  BATCH_MAX_ITEMS: positive(100, 10_000, 'Most readings in one POST /api/v1/sensor-data/batch'),
  QUEUE_BATCH_SIZE: positive(1000, 100_000, 'Most readings appended in one queue round trip'),
  MAX_IN_FLIGHT: positive(50_000, 10_000_000, 'Readings awaiting queue confirmation before new ones are refused with 503'),
  RETRY_AFTER_SECONDS: positive(1, 3600, 'Retry-After sent with 503 answers'),
  WORKERS: Type.Integer({ minimum: 0, maximum: 256, default: 0, description: 'Server processes sharing the ports (0: one per CPU when NODE_ENV=production and Redis is configured, else 1)' }),
  SHUTDOWN_TIMEOUT_MS: positive(10_000, 600_000, 'Longest graceful drain on SIGTERM/SIGINT before exiting anyway'),

  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), {
    default: 'info',
    description: 'Log level',
  }),
  LOG_FORMAT: Type.Union([Type.Literal('json'), Type.Literal('pretty')], { default: 'json', description: 'json (one object per line) or pretty' }),
  AUTH_MODE: Type.Union([Type.Literal('none'), Type.Literal('api-key'), Type.Literal('jwt'), Type.Literal('any')], {
    default: 'none',
    description: 'none (development: anyone may write anything, warned at start) | api-key | jwt | any (either)',
  }),
  ADMIN_TOKEN: optionalString('Bearer token of the admin API (/api/v1/admin/...); unset: the admin API is off', { secret: true, minLength: 16 }),
  API_KEYS_KEY: name('api-keys', 'Redis hash of API key hashes (with :by-id, :revoked and the :events channel)'),
  API_KEYS_FILE: Type.String({ minLength: 1, default: 'neurobuild-api-keys.json', description: 'Embedded backend: file of API key hashes (created on the first key, mode 0600)' }),
  JWT_SECRET: optionalString('HS256 secret for JWTs (AUTH_MODE jwt or any)', { secret: true, minLength: 16 }),
  JWT_PUBLIC_KEY_FILE: optionalString('PEM public key for RS256 / ES256 JWTs'),
  JWT_JWKS_FILE: optionalString('JSON Web Key Set file for RS256 / ES256 JWTs'),
  JWT_ISSUER: optionalString('Required `iss` of JWTs, when set'),
  JWT_AUDIENCE: optionalString('Required `aud` of JWTs; unset, a token with an `aud` must name neurobuild-ingest (tokens without `aud` are accepted)'),
  JWT_DEVICE_CLAIM: Type.String({
    pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}(,[A-Za-z_][A-Za-z0-9_]{0,63}){0,7}$',
    default: 'sub',
    description: 'The JWT claim that names the identity, or an ordered comma-separated list of claims (the first one present wins): deviceId,sub admits the tokens of the platform\'s device-management service and this server\'s own',
  }),
  // credentials verified by another service (EMQX's HTTP authentication is the model): see docs/security.md
  DEVICE_AUTH_URL: optionalString('HTTP(S) endpoint asked about credentials this server does not hold: API keys that are not its own and, without JWT_SECRET/JWT_PUBLIC_KEY_FILE/JWT_JWKS_FILE, bearer tokens (POST, the credential in the header the device used and in a JSON body); 2xx with the identity admits, 401/403 refuses', { pattern: '^https?://' }),
  DEVICE_AUTH_ID_FIELD: Type.String({ pattern: '^[A-Za-z0-9_.]{1,64}(,[A-Za-z0-9_.]{1,64}){0,7}$', default: 'deviceId,device_id', description: 'Field of DEVICE_AUTH_URL\'s JSON answer that names the identity, or an ordered comma-separated list (dotted paths reach nested objects: device.deviceId)' }),
  DEVICE_AUTH_ROLE_FIELD: Type.String({ pattern: '^[A-Za-z0-9_.]{1,64}$', default: 'role', description: 'Field of DEVICE_AUTH_URL\'s answer with the role ("device" or "subscriber"); absent, the identity is a device' }),
  DEVICE_AUTH_CACHE_S: positive(60, 86_400, 'An admitted credential is not asked about again for this long (an admin revocation here forgets it at once on every instance)'),
  DEVICE_AUTH_NEGATIVE_CACHE_S: Type.Integer({ minimum: 0, maximum: 86_400, default: 10, description: 'A refused credential is refused without asking again for this long (0: every attempt asks)' }),
  DEVICE_AUTH_TIMEOUT_MS: positive(2000, 60_000, 'Longest wait for DEVICE_AUTH_URL\'s answer; past it the check counts as failed'),
  DEVICE_AUTH_MAX_PENDING: positive(1000, 1_000_000, 'Distinct credentials being checked with DEVICE_AUTH_URL at once (checks of one credential share one call); past it a new one is refused as unavailable'),
  DEVICE_AUTH_BREAKER_THRESHOLD: positive(5, 10_000, 'DEVICE_AUTH_URL checks failing in a row (timeout, 5xx, unreachable) that open its circuit breaker: checks then fail at once until a probe succeeds'),
  DEVICE_AUTH_BREAKER_MS: positive(5000, 3_600_000, 'Time DEVICE_AUTH_URL\'s open breaker fails checks at once before one goes through as a probe'),
  DEVICE_AUTH_ON_FAILURE: Type.Union([Type.Literal('refuse'), Type.Literal('stale')], {
    default: 'refuse',
    description: 'When DEVICE_AUTH_URL fails (timeout, 5xx, unreachable, breaker open): refuse (fail closed: HTTP/WS 503, MQTT CONNACK server unavailable) | stale (admit a credential it admitted within DEVICE_AUTH_STALE_S, refuse the rest)',
  }),
  DEVICE_AUTH_STALE_S: positive(3600, 604_800, 'With DEVICE_AUTH_ON_FAILURE=stale: how long after its last admission a credential is still admitted while DEVICE_AUTH_URL fails'),
  CIRCUIT_BREAKER_THRESHOLD: positive(5, 10_000, 'Queue batches failing in a row that open the circuit breaker: readings are then refused at once (HTTP 503, MQTT acks held) instead of waiting for Redis'),
  CIRCUIT_BREAKER_TIMEOUT_MS: positive(5000, 3_600_000, 'Time the open circuit breaker refuses readings before letting one through as a probe (success closes it)'),
});

export type Config = Readonly<Static<typeof ConfigSchema>>;
export type ConfigKey = keyof Config;

/** `PORT` → `port`, `METRICS_PORT` → `metrics-port` */
export const flagName = (key: string): string => key.toLowerCase().replaceAll('_', '-');

export const settingSchemas = (): [ConfigKey, TSchema][] =>
  Object.entries(ConfigSchema.properties) as [ConfigKey, TSchema][];
