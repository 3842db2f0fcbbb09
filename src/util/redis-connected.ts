/**
 * Waiting for an ioredis client (one Redis or a Cluster) to be ready.
 * @module
 */
import type { Cluster, Redis } from 'ioredis';

/**
 * Resolves once `r` is ready, whoever started connecting it: connect() where nobody has, else
 * the attempt under way is awaited. A lazy client starts connecting on its first command, and
 * connect() then refuses ("already connecting") at once, before the connection is ready: a
 * start that went on to its first commands failed them ("Stream isn't writeable"), seen as the
 * shared MQTT state joining ~200 ms late. Rejects when that attempt ends without being ready.
 */
export function connected(r: Redis | Cluster): Promise<void> {
  if (r.status === 'ready') return Promise.resolve();
  if (r.status === 'wait') return r.connect();
  if (r.status === 'end') return Promise.reject(new Error('Connection is closed.'));
  return new Promise((resolve, reject) => {
    const ready = (): void => {
      r.off('close', closed).off('end', closed);
      resolve();
    };
    const closed = (): void => {
      r.off('ready', ready).off('close', closed).off('end', closed);
      reject(new Error('Connection is closed.'));
    };
    // 'end': disconnected for good while waiting between two attempts (no 'close' then)
    r.once('ready', ready).once('close', closed).once('end', closed);
  });
}
