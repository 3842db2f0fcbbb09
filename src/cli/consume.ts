/**
 * `neurobuild-ingest consume <sink>`: a StreamConsumer on each readings stream it serves (every
 * shard, or CONSUMER_SHARDS), each on a connection of its own, feeding one sink, with the
 * configuration's consumer settings; SIGTERM/SIGINT finish the batches in hand, then exit 0.
 * @module
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { redisConfigured, SET_REDIS, shardsServed } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { type Sink, SinkConfigError } from '../consumer/sinks/sink.ts';
import { StreamConsumer } from '../consumer/stream-consumer.ts';
import { createRedis, type RedisClient } from '../queue/redis/connection.ts';
import { keyLayout, redisConnection } from './redis-connection.ts';
import { configuredSensorTypes } from './sensor-types.ts';

export class ConsumeUsageError extends Error {}

export async function consume(config: Config, log: Logger, sinks: Record<string, Sink>, name: string | undefined): Promise<void> {
  const sink = name === undefined ? undefined : sinks[name];
  if (!sink) throw new ConsumeUsageError(`consume needs a sink: ${Object.keys(sinks).join(' or ')} (got ${name === undefined ? 'none' : JSON.stringify(name)})`);
  if (!redisConfigured(config)) throw new ConsumeUsageError(`consume reads the Redis stream: set ${SET_REDIS}`);
  const sensors = configuredSensorTypes(config);
  try {
    sink.check?.(config, sensors);
  } catch (err) {
    if (err instanceof SinkConfigError) throw new ConsumeUsageError(err.message);
    throw err;
  }
  const redis = createRedis(redisConnection(config), `neurobuild-consume-${name}`);
  redis.on('error', () => {});
  await redis.connect();
  const instance = await sink.open(config, log, redis, sensors).catch((err: unknown) => {
    if (err instanceof SinkConfigError) throw new ConsumeUsageError(err.message);
    throw err;
  });
  const group = config.CONSUMER_GROUP ?? sink.group;
  const consumerName = config.CONSUMER_NAME ?? `${hostname()}-${process.pid}`;
  const layout = keyLayout(config);
  const shards = shardsServed(config);
  // a reader per shard, each on its own connection (XREADGROUP BLOCK holds one); the first shares the sink's
  const connections: RedisClient[] = [redis];
  const consumers = shards.map((shard, k) => {
    const conn = k === 0 ? redis : redis.duplicate();
    if (k > 0) {
      conn.on('error', () => {});
      connections.push(conn);
    }
    const stream = layout.stream(shard);
    const dlq = layout.name(config.DLQ_NAME, shard);
    const where = layout.shards > 1 ? { shard, stream } : {};
    return new StreamConsumer(
      conn,
      {
        stream,
        group,
        consumer: consumerName,
        dlq,
        batchSize: config.CONSUMER_BATCH_SIZE,
        maxRetryAttempts: config.MAX_RETRY_ATTEMPTS,
        retryBaseMs: config.RETRY_DELAY_MS,
        claimIdleMs: config.CONSUMER_CLAIM_IDLE_MS,
        startId: '0',
        lingerMs: instance.lingerMs ?? 0,
      },
      instance.handle,
      {
        onRetry: (err, attempt, delayMs) => log.warn({ err, attempt, delay_ms: delayMs, ...where }, `${name}: batch failed, retrying`),
        onDeadLetter: (e, error) => log.error({ id: e.id, device_id: e.reading?.device_id, error, ...where }, `${name}: entry moved to ${dlq}`),
        onError: (err) => log.error({ err, ...where }, `${name}: reading the stream failed; retrying`),
      },
    );
  });
  await Promise.all(consumers.map((c) => c.start()));
  log.info(
    { sink: name, stream: config.QUEUE_NAME, group, consumer: consumerName, shards, stream_shards: layout.shards, streams: shards.map((i) => layout.stream(i)) },
    layout.shards > 1 ? `consuming shards ${shards.join(',')} of ${layout.shards} into ${name}` : `consuming ${config.QUEUE_NAME} into ${name}`,
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, `${name}: stopping after the batch in hand`);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await Promise.all(consumers.map((c) => c.stop()));
  await instance.close();
  await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
  log.info(`${name}: stopped`);
}
