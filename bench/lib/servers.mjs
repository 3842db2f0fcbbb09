// Servers under test: starting a Node script on free ports and waiting for GET /ready (or any
// readiness probe), and judging how it stopped (its log is scanned by server-logs.mjs).
import { freePort, httpStatus, sleep, spawnLogged, stop, tail } from './processes.mjs';
import fs from 'node:fs';
import path from 'node:path';
import { deployedNodeOptions } from './baseline.mjs';
import { ROOT } from './paths.mjs';

/** The NODE_OPTIONS this tree's Dockerfile sets. */
export const DEPLOYED_NODE_OPTIONS = deployedNodeOptions(fs.readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8'));

/**
 * The environment every benchmark gives neurobuild-ingest under test: the Redis backend on
 * `sensor-data`, its other listeners on the given free ports, quiet logs, and no per-device rate
 * limits (on by default in production, they would refuse the load). Extra settings go on top.
 */
export function oursEnv(ports, extra = {}) {
  return {
    // as the Dockerfile deploys it (the young generation's size: src/config/heap-flags.ts)
    NODE_OPTIONS: DEPLOYED_NODE_OPTIONS,
    QUEUE_BACKEND: 'redis',
    QUEUE_NAME: 'sensor-data',
    METRICS_PORT: '0',
    LOG_LEVEL: 'warn',
    RATE_LIMIT: 'off',
    // every load generator is on 127.0.0.1: the per-address and pre-CONNECT caps are for strangers
    MAX_CONNECTIONS_PER_IP: '0',
    MAX_UNAUTHENTICATED_CONNECTIONS: '100000',
    WS_PORT: String(ports.ws),
    MQTT_PORT: String(ports.mqtt),
    MQTT_TLS_PORT: '0',
    ...extra,
  };
}

/**
 * Starts `node <script>` with HOST=127.0.0.1, a free PORT, NODE_ENV=production and REDIS_URL,
 * plus env(ports) where ports = {ws, mqtt} are two more free ports for its other listeners.
 * Output goes to logFile. Resolves once GET /ready answers 200; throws (with the log's tail)
 * if the process exits first or is not ready within 30 s.
 * @returns {Promise<{child: import('node:child_process').ChildProcess, port: number, ports: {ws: number, mqtt: number}}>}
 */
export async function startNodeServer({ label, script, env, redisPort, logFile }) {
  const port = await freePort();
  const ports = { ws: await freePort(), mqtt: await freePort() };
  const childEnv = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'production',
    HOST: '127.0.0.1',
    PORT: String(port),
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    ...env(ports),
  };
  const child = spawnLogged(process.execPath, [script], logFile, childEnv);
  await waitReady(child, { label, logFile, isReady: async () => (await httpStatus(port, '/ready')) === 200 });
  return { child, port, ports };
}

/**
 * Polls `isReady()` every 100 ms until it resolves true. Throws (with the log's tail) if the
 * child exits first, or stops it and throws if it is not ready within 30 s.
 */
export async function waitReady(child, { label, logFile, isReady }) {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${label} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}); log ${logFile}:\n${tail(logFile)}`);
    }
    if (await isReady()) return;
    await sleep(100);
  }
  await stop(child, 2000);
  throw new Error(`${label} not ready within 30 s; log ${logFile}:\n${tail(logFile)}`);
}

/**
 * A message when a server did not stop cleanly (killed after the grace period, non-zero exit,
 * or a signal other than SIGTERM), else null. `exit` is what stop() returned (undefined when
 * the server never started).
 */
export function unclean(exit, label, graceS) {
  if (!exit) return null; // never started
  if (!(exit.forced || (exit.code !== 0 && exit.code !== null) || (exit.signal && exit.signal !== 'SIGTERM'))) return null;
  return `${label} did not stop cleanly (code ${exit.code}, signal ${exit.signal}${exit.forced ? `, killed after ${graceS} s` : ''})`;
}
