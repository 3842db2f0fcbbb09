/**
 * The per-device parts of `serve`: the fleet state (DEVICE_STATE=on), a tracker on the ingest
 * path that merges into the queue backend's fleet store once per DEVICE_STATE_FLUSH_MS; and
 * the plausibility checks (QUALITY_CHECKS=on).
 * @module
 */
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.ts';
import { DeviceTracker } from '../core/fleet/device-tracker.ts';
import { QualityChecks } from '../core/quality.ts';
import { Edge } from '../core/edge.ts';
import type { Metrics } from '../metrics/registry.ts';
import type { QueueBackend } from '../queue/backend.ts';

/** This process in the fleet state (an MQTT connection counts while its instance flushes). */
export const instanceId = `${hostname()}:${process.pid}`;

export function createDeviceTracker(config: Config, backend: QueueBackend, metrics: Metrics, log: Logger): DeviceTracker | undefined {
  if (config.DEVICE_STATE === 'off') return undefined;
  const failing = new Edge(
    () => log.warn('fleet state: merging fails; facts are kept and merged later (counted in device_state_flushes_total{result="error"})'),
    () => log.info('fleet state: merging again'),
  );
  const tracker = new DeviceTracker(
    backend.fleet,
    instanceId,
    { flushMs: config.DEVICE_STATE_FLUSH_MS },
    {
      onFlush: (devices) => {
        failing.set(false);
        metrics.fleetFlushed(devices);
      },
      onFlushError: (err) => {
        metrics.fleetFlushFailed();
        if (!failing.active) log.debug({ err: (err as Error)?.message }, 'fleet state flush failed');
        failing.set(true);
      },
      onDropped: (n) => metrics.fleetDropped(n),
    },
  );
  return tracker;
}

export function qualityChecks(config: Config): QualityChecks | undefined {
  if (config.QUALITY_CHECKS === 'off') return undefined;
  return new QualityChecks({
    ld2410NearCm: config.QUALITY_LD2410_NEAR_CM,
    ld2410MinEnergy: config.QUALITY_LD2410_MIN_ENERGY,
    mq134MaxStepPpm: config.QUALITY_MQ134_MAX_STEP_PPM,
    stepWindowMs: config.QUALITY_STEP_WINDOW_MS,
  });
}
