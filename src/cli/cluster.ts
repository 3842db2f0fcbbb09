/**
 * `--workers N`: the primary process forks N workers that each run the whole server and
 * share the listening ports (uWebSockets.js listens with SO_REUSEPORT; the MQTT listeners'
 * handles are shared by the cluster module). The primary serves the metrics of all workers
 * (prom-client's AggregatorRegistry) on METRICS_PORT and to each worker's /metrics route,
 * restarts a worker that crashed, and on SIGTERM/SIGINT drains them all before exiting.
 * @module
 */
import cluster, { type Worker } from 'node:cluster';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import client from 'prom-client';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { Msg, type MetricsReply } from './worker-link.ts';
import { workerExecArgv } from '../config/heap-flags.ts';

/** More crashes than this within RESTART_WINDOW_MS stop the whole server instead of restarting. */
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

/** Whether this process is the single executable (Node SEA) rather than node running the bundle. */
export function isSingleExecutable(): boolean {
  try {
    return (createRequire(typeof __filename === 'string' ? __filename : import.meta.url)('node:sea') as { isSea(): boolean }).isSea();
  } catch {
    return false;
  }
}

export async function runPrimary(config: Config, log: Logger, workers: number): Promise<void> {
  // the single executable has no script to run: workers are the binary again, told apart in main.ts
  // and every worker with the young generation sized for the reading path (heap-flags.ts)
  cluster.setupPrimary({ ...(isSingleExecutable() ? { exec: process.execPath, args: process.argv.slice(2) } : {}), execArgv: workerExecArgv() });
  const aggregator = new client.AggregatorRegistry();
  const ready = new Set<number>();
  const crashes: number[] = [];
  let stopping = false;
  let listening = false;

  const fork = (): Worker => {
    const w = cluster.fork();
    w.on('message', (m: { type?: string; id?: number }) => {
      if (m?.type === Msg.ready) {
        ready.add(w.id);
        if (!listening && ready.size === workers) {
          listening = true;
          log.info({ workers, pid: process.pid }, `all ${workers} workers listening`);
        }
      } else if (m?.type === Msg.metrics) {
        aggregator.clusterMetrics().then(
          (text) => w.send({ type: Msg.metricsReply, id: m.id ?? 0, text } satisfies MetricsReply),
          (err: Error) => w.send({ type: Msg.metricsReply, id: m.id ?? 0, error: err.message } satisfies MetricsReply),
        );
      }
    });
    return w;
  };

  cluster.on('exit', (w, code, signal) => {
    const wasReady = ready.delete(w.id);
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) {
        log.info('every worker stopped, exiting');
        log.flush();
        process.exit(exitCode);
      }
      return;
    }
    if (!wasReady) {
      // it never listened (bad port, Redis refused at start, ...): restarting would loop
      log.fatal({ worker: w.id, code, signal }, 'a worker failed to start; stopping');
      stop('worker-failed', 1);
      return;
    }
    const now = Date.now();
    crashes.push(now);
    while (crashes.length && now - crashes[0]! > RESTART_WINDOW_MS) crashes.shift();
    if (crashes.length > MAX_RESTARTS) {
      log.fatal({ crashes: crashes.length, window_ms: RESTART_WINDOW_MS }, 'workers keep crashing; stopping');
      stop('crash-loop', 1);
      return;
    }
    log.error({ worker: w.id, code, signal }, 'worker died; starting a new one');
    setTimeout(() => !stopping && fork(), 1000).unref();
  });

  let exitCode = 0;
  const stop = (reason: string, code: number): void => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    log.info({ reason, workers: Object.keys(cluster.workers ?? {}).length }, 'stopping every worker');
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    // a worker stuck past its own drain deadline is killed
    setTimeout(() => {
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL');
    }, config.SHUTDOWN_TIMEOUT_MS + 5000).unref();
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(code);
  };
  process.on('SIGHUP', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
  });
  process.on('SIGTERM', () => stop('SIGTERM', 0));
  process.on('SIGINT', () => stop('SIGINT', 0));

  if (config.METRICS_PORT !== 0) {
    const server = createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== config.METRICS_PATH) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'Not found', code: 'INGEST_ERR_NOT_FOUND' }));
        return;
      }
      aggregator.clusterMetrics().then(
        (text) => res.writeHead(200, { 'content-type': aggregator.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`# metrics collection failed: ${err.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(new Error(`metrics: cannot listen on ${config.HOST}:${config.METRICS_PORT}: ${err.message}`)));
      server.listen(config.METRICS_PORT, config.HOST, () => resolve());
    });
  }
  log.info({ workers, pid: process.pid }, `starting ${workers} workers`);
  for (let i = 0; i < workers; i++) fork();
}
