/**
 * The consumer SDK, for the platform's TypeScript services that read what neurobuild-ingest
 * writes: `StreamConsumer` (batches, consumer group, retries, DLQ, claiming), `RedisQueue`
 * (the platform's dequeue / requeueWithRetry / subscribe names on the same semantics) and the
 * dead-letter helpers.
 * @module
 */
export { type DeadLetter, deadLetter, listDeadLetters, replayDeadLetters } from './dead-letter.ts';
export type { ConsumedEntry } from './entry.ts';
export { FailedEntriesError } from './failed-entries.ts';
export { type QueueMessage, RedisQueue, type RedisQueueOptions } from './redis-queue.ts';
export { type BatchHandler, type ConsumerEvents, type ConsumerOptions, StreamConsumer } from './stream-consumer.ts';
