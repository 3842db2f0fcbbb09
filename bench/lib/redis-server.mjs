// A private, throw-away redis-server for a benchmark run (free port, 127.0.0.1, no persistence)
// and an ioredis client connected to it.
import path from 'node:path';
import Redis from 'ioredis';
import { freePort, sleep, spawnLogged, stop, tail } from './processes.mjs';

/** Arguments after --port: bind to 127.0.0.1, no RDB snapshots, no AOF, in the foreground. */
const ARGS = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--daemonize', 'no'];

/**
 * Starts redis-server on a free port (log: <logDir>/redis.log) and waits up to 10 s for PING.
 * `close()` quits the client and stops the server.
 * @returns {Promise<{port: number, redis: import('ioredis').Redis, proc: import('node:child_process').ChildProcess, close: () => Promise<void>}>}
 */
export async function startRedis(logDir) {
  const port = await freePort();
  const log = path.join(logDir, 'redis.log');
  const proc = spawnLogged('redis-server', ['--port', String(port), ...ARGS], log, { PATH: process.env.PATH });
  const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: (n) => (n > 100 ? null : 100), lazyConnect: true });
  redis.on('error', () => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`redis-server exited at start-up:\n${tail(log)}`);
    try {
      if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
      if ((await redis.ping()) === 'PONG') break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > deadline) throw new Error(`redis-server not answering on 127.0.0.1:${port}:\n${tail(log)}`);
    await sleep(100);
  }
  const close = async () => {
    await redis.quit().catch(() => {});
    await stop(proc, 5000);
  };
  return { port, redis, proc, close };
}
