/**
 * `neurobuild-ingest consume <sink>`: one StreamConsumer on the readings stream feeding a sink,
 * with the configuration's consumer settings; SIGTERM/SIGINT finish the batch in hand, then
 * exit 0.
 * @module
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { type Sink, SinkConfigError } from '../consumer/sinks/sink.ts';
import { StreamConsumer } from '../consumer/stream-consumer.ts';
import { createRedis } from '../queue/redis/connection.ts';
import { redisConnection } from './redis-connection.ts';
import { configuredSensorTypes } from './sensor-types.ts';

export class ConsumeUsageError extends Error {}

export async function consume(config: Config, log: Logger, sinks: Record<string, Sink>, name: string | undefined): Promise<void> {
  const sink = name === undefined ? undefined : sinks[name];
  if (!sink) throw new ConsumeUsageError(`consume needs a sink: ${Object.keys(sinks).join(' or ')} (got ${name === undefined ? 'none' : JSON.stringify(name)})`);
  if (!config.REDIS_URL && !config.REDIS_HOST) throw new ConsumeUsageError('consume reads the Redis stream: set REDIS_URL or REDIS_HOST');
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
  const consumer = new StreamConsumer(
    redis,
    {
      stream: config.QUEUE_NAME,
      group,
      consumer: consumerName,
      dlq: config.DLQ_NAME,
      batchSize: config.CONSUMER_BATCH_SIZE,
      maxRetryAttempts: config.MAX_RETRY_ATTEMPTS,
      retryBaseMs: config.RETRY_DELAY_MS,
      claimIdleMs: config.CONSUMER_CLAIM_IDLE_MS,
      startId: '0',
      lingerMs: instance.lingerMs ?? 0,
    },
    instance.handle,
    {
      onRetry: (err, attempt, delayMs) => log.warn({ err, attempt, delay_ms: delayMs }, `${name}: batch failed, retrying`),
      onDeadLetter: (e, error) => log.error({ id: e.id, device_id: e.reading?.device_id, error }, `${name}: entry moved to ${config.DLQ_NAME}`),
      onError: (err) => log.error({ err }, `${name}: reading the stream failed; retrying`),
    },
  );
  await consumer.start();
  log.info({ sink: name, stream: config.QUEUE_NAME, group, consumer: consumerName }, `consuming ${config.QUEUE_NAME} into ${name}`);
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info({ signal }, `${name}: stopping after the batch in hand`);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
  await consumer.stop();
  await instance.close();
  await redis.quit().catch(() => redis.disconnect());
  log.info(`${name}: stopped`);
}
