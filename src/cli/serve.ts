/**
 * Composition root of `serve`: config → queue backend → core → transports → signals.
 * The only module that knows every implementation.
 * @module
 */
import { SEMI_SPACE_FLAG, semiSpaceSet } from '../config/heap-flags.ts';
import type { Logger } from 'pino';
import { queueBackendOf } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { Pipeline } from '../core/pipeline.ts';
import { createMetrics, exposeToPrimary } from '../metrics/registry.ts';
import type { QueueBackend } from '../queue/backend.ts';
import { MemoryBackend } from '../queue/memory/index.ts';
import { RedisBackend } from '../queue/redis/index.ts';
import type { HttpContext } from '../transports/http/context.ts';
import { metricsRoute } from '../transports/http/routes/metrics.ts';
import { apiRoutes, UwsHttpTransport } from '../transports/http/server.ts';
import { loadUws } from '../transports/native/uws.ts';
import type { Transport } from '../transports/transport.ts';
import { WsTransport } from '../transports/ws/server.ts';
import { AddressLimit } from '../transports/address-limit.ts';
import { ClientAddress } from '../transports/client-address/index.ts';
import { AddressSet } from '../util/ip-address.ts';
import { createMqtt } from './mqtt-listeners.ts';
import { keyLayout, redisConnection } from './redis-connection.ts';
import { onMemoryReport } from './memory-report.ts';
import { onProcessFaults } from './process-faults.ts';
import { createAuth, createLimiter } from './auth-setup.ts';
import { onSignals } from './shutdown.ts';
import { workerLink } from './worker-link.ts';
import { createDeviceTracker, qualityChecks } from './device-state.ts';
import { pipelineOptions, readingValidator } from './pipeline-options.ts';
import { logSensorTypes } from './sensor-types.ts';

export function createBackend(config: Config, log: Logger): QueueBackend {
  if (queueBackendOf(config) === 'redis') {
    return new RedisBackend(
      {
        ...redisConnection(config),
        layout: keyLayout(config),
        dlq: config.DLQ_NAME,
        rejects: config.REJECTS_NAME,
        eventsChannel: config.EVENTS_CHANNEL,
        eventsPubsub: config.EVENTS_PUBSUB,
        eventsPublish: config.EVENTS_PUBLISH,
        metadataKey: config.METADATA_KEY,
        deviceStatePrefix: config.DEVICE_STATE_PREFIX,
        instanceTtlMs: Math.max(5000, config.DEVICE_STATE_FLUSH_MS * 3),
        deviceStateKeepMs: config.DEVICE_STATE_TTL_S * 1000,
        dedupeWindowMs: config.DEDUPE_WINDOW_MS,
        maxLen: config.QUEUE_MAXLEN,
        rejectsMaxLen: config.REJECTS_MAXLEN,
        durability: { level: config.ACK_DURABILITY, replicas: config.ACK_REPLICAS, timeoutMs: config.ACK_WAIT_TIMEOUT_MS },
      },
      log,
    );
  }
  log.warn(
    { max_entries: config.MEMORY_QUEUE_MAXLEN },
    'no Redis configured: using the embedded in-process queue (not durable, single instance); set REDIS_URL, REDIS_HOST or REDIS_CLUSTER_NODES for production',
  );
  return new MemoryBackend({ streamName: config.QUEUE_NAME, dlqName: config.DLQ_NAME, maxLen: config.MEMORY_QUEUE_MAXLEN, dedupeWindowMs: config.DEDUPE_WINDOW_MS, deviceStateKeepMs: config.DEVICE_STATE_TTL_S * 1000 });
}

export async function serve(config: Config, log: Logger): Promise<void> {
  const uws = loadUws();
  const backend = createBackend(config, log);
  let pipelineRef: Pipeline | undefined;
  const metrics = createMetrics({
    queueUp: () => backend.healthy(),
    inFlight: () => pipelineRef?.inFlight ?? 0,
    breakerOpen: () => (pipelineRef?.breakerState ?? 'closed') !== 'closed',
    queueSizes: async () => {
      const s = await backend.status();
      const sizes: Record<string, number> = { [config.QUEUE_NAME]: s.queueSize, [config.DLQ_NAME]: s.dlqSize, [config.REJECTS_NAME]: s.rejectsSize };
      // each shard's stream and DLQ by its own name too (the totals above are their sums)
      if (s.shards.length > 1) for (const shard of s.shards) Object.assign(sizes, { [shard.stream]: shard.queueSize, [shard.dlq]: shard.dlqSize });
      return sizes;
    },
  });
  onProcessFaults(log, metrics);
  const devices = createDeviceTracker(config, backend, metrics, log);
  const validator = readingValidator(config);
  logSensorTypes(config, log);
  const pipeline = new Pipeline(
    { validator, backend, metrics, log, devices, quality: qualityChecks(config) },
    pipelineOptions(config),
  );
  pipelineRef = pipeline;
  const auth = createAuth(config, log, metrics);
  const limiter = createLimiter(config);
  // with --workers: the primary serves METRICS_PORT and forwards signals; SIGTERM when it is gone
  const link = workerLink(() => process.kill(process.pid, 'SIGTERM'));
  if (link) exposeToPrimary(metrics);
  await Promise.all([backend.start(), auth.store.start()]);
  devices?.start();

  let listening = false;
  let draining = false;
  const perAddress = new AddressLimit(config.MAX_CONNECTIONS_PER_IP);
  // TRUSTED_PROXIES was checked by loadConfig
  const trusted = AddressSet.parse(config.TRUSTED_PROXIES);
  const addresses = new ClientAddress(trusted, config.MQTT_PROXY_PROTOCOL);
  if (!semiSpaceSet()) log.info({ flag: SEMI_SPACE_FLAG }, `V8's default young generation: start with NODE_OPTIONS=${SEMI_SPACE_FLAG} for less garbage-collector CPU per reading (src/config/heap-flags.ts)`);
  if (!trusted.empty) log.info({ trusted_proxies: trusted.entries, mqtt_proxy_protocol: config.MQTT_PROXY_PROTOCOL }, 'client addresses behind TRUSTED_PROXIES come from X-Forwarded-For and the PROXY protocol');
  const mqtt = createMqtt(config, { auth, limiter, perAddress, addresses, pipeline, backend, metrics, log, sensorNames: validator.sensorNames, devices });
  // HTTPS and WSS on PORT and WS_PORT; the separate metrics listener stays plain HTTP
  const tls = config.TLS_CERT_FILE && config.TLS_KEY_FILE ? { cert: config.TLS_CERT_FILE, key: config.TLS_KEY_FILE } : undefined;
  const ctx: HttpContext = {
    pipeline,
    validator,
    backend,
    metrics,
    log,
    lifecycle: { ready: () => listening && !draining && backend.healthy(), draining: () => draining },
    // mqtt is up only while every MQTT listener listens and the bridge, when configured, is connected
    listeners: (): Record<string, 'up' | 'down'> => {
      if (mqtt.listeners.length === 0 && !mqtt.bridge) return {};
      const up = mqtt.listeners.every((l) => l.listening) && (mqtt.bridge?.connected ?? true);
      return mqtt.bridge ? { mqtt: up ? 'up' : 'down', mqtt_bridge: mqtt.bridge.connected ? 'up' : 'down' } : { mqtt: up ? 'up' : 'down' };
    },
    maxBodyBytes: config.MAX_BODY_BYTES,
    batchMaxItems: config.BATCH_MAX_ITEMS,
    retryAfterSeconds: config.RETRY_AFTER_SECONDS,
    metricsPath: config.METRICS_PATH,
    scrapeMetrics: link ? link.scrapeMetrics : metrics.scrape,
    auth,
    limiter,
    addresses,
    adminToken: config.ADMIN_TOKEN,
    console: {
      ws: config.WS_PORT === 0 ? undefined : { port: config.WS_PORT, tls: tls !== undefined },
      fleetState: config.DEVICE_STATE === 'on',
      queues: { queue: config.QUEUE_NAME, dlq: config.DLQ_NAME, rejects: config.REJECTS_NAME },
    },
  };
  const http = new UwsHttpTransport(uws, 'http', config.HOST, config.PORT, apiRoutes(ctx), metrics, tls);
  const transports: Transport[] = [http];
  if (config.METRICS_PORT !== 0 && !link) {
    const route = { method: 'get' as const, path: config.METRICS_PATH, handler: metricsRoute(metrics.scrape, metrics.contentType) };
    transports.push(new UwsHttpTransport(uws, 'metrics', config.HOST, config.METRICS_PORT, [route], metrics));
  }
  transports.push(...mqtt.listeners);
  const ws =
    config.WS_PORT === 0
      ? undefined
      : new WsTransport(
          uws,
          {
            host: config.HOST,
            port: config.WS_PORT,
            maxConnections: config.WS_MAX_CONNECTIONS,
            maxBackpressure: config.WS_MAX_BACKPRESSURE_BYTES,
            slowTimeoutMs: config.WS_SLOW_TIMEOUT_MS,
            idleTimeoutS: config.WS_IDLE_TIMEOUT_S,
            flushMs: config.WS_FLUSH_MS,
            retryAfterSeconds: config.RETRY_AFTER_SECONDS,
            tls,
          },
          {
            auth,
            adminToken: config.ADMIN_TOKEN,
            perAddress,
            addresses,
            metrics,
            log,
            sensorNames: validator.sensorNames,
            feed: (listener, listening) => backend.onEvent(listener, listening),
            mqtt: { connections: mqtt.overWebSocket, maxPacketBytes: config.MQTT_MAX_PACKET_BYTES },
          },
        );
  if (ws) transports.push(ws);
  if (mqtt.bridge) transports.push(mqtt.bridge);
  await mqtt.start();
  const ports = await Promise.all(transports.map((t) => t.start()));
  listening = true;
  const shown = config.HOST === '0.0.0.0' ? '127.0.0.1' : config.HOST;
  const urls = Object.fromEntries(
    transports.map((t, i) => [t.name, `${t.name.startsWith('mqtt') ? t.name : t.name === 'ws' ? (tls ? 'wss' : 'ws') : t.name === 'http' && tls ? 'https' : 'http'}://${shown}:${ports[i]}`]).filter(([name]) => name !== 'mqtt-bridge'),
  );
  log.info({ ...urls, queue_backend: backend.kind, pid: process.pid }, `listening: HTTP API on ${urls.http}` + (urls.mqtt ? `, MQTT on ${urls.mqtt}` : '') + (urls.mqtts ? `, MQTT/TLS on ${urls.mqtts}` : '') + (urls.ws ? `, WebSocket on ${urls.ws} (MQTT over WebSocket on ${urls.ws}/mqtt)` : '') + (urls.metrics ? `, metrics on ${urls.metrics}${config.METRICS_PATH}` : ''));

  // SIGHUP: certificate files read again (new handshakes use them; open connections stay)
  process.on('SIGHUP', () => {
    for (const t of [http, ws]) {
      if (!t?.tls) continue;
      t.reloadTls().then(
        (cert) => cert && log.info({ listener: t.name, ...cert }, 'TLS certificate reloaded'),
        (err: Error) => log.error({ err: err.message, listener: t.name }, 'TLS reload failed; the previous certificate stays in use'),
      );
    }
    for (const l of mqtt.listeners) {
      try {
        l.reloadTls();
      } catch (err) {
        log.error({ err: (err as Error).message, listener: l.name }, 'TLS reload failed; the previous certificate stays in use');
        continue;
      }
      if (l.name === 'mqtts') log.info({ listener: l.name }, 'TLS certificate reloaded');
    }
  });
  onMemoryReport(log, () => ({ ...mqtt.tables(), ...(ws ? { ws_connections: ws.connections, ws_subscribers: ws.fanout.size.subscribers, ws_filter_groups: ws.fanout.size.groups } : {}), in_flight: pipeline.inFlight }));
  link?.ready();
  onSignals({
    // a worker's signals come from the primary (Ctrl-C also reaches workers directly: ignored)
    signals: link ? ['SIGTERM'] : ['SIGTERM', 'SIGINT'],
    secondSignalExits: !link,
    log,
    pipeline,
    backend,
    beforeQueueClose: async () => {
      await devices?.stop();
    },
    closeLast: async () => {
      await mqtt.stop();
      await auth.store.close();
      await limiter?.close();
    },
    transports,
    timeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    beginDrain: () => {
      draining = true;
    },
    exit: (code) => {
      log.flush();
      process.exit(code);
    },
  });
}
