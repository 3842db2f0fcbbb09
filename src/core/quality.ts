/**
 * Plausibility checks that flag a reading instead of refusing it (issue 9): the reading is
 * stored with `quality: [flag, …]` and the flags are counted, so the storage and analytics
 * services can weigh or drop it while nothing a device sent is lost.
 *
 * - `ld2410_absent_but_near`: the radar says nobody is present, yet reports a target at
 *   most `ld2410NearCm` away with at least `ld2410MinEnergy` % energy.
 * - `mq134_step`: the gas concentration moved more than `mq134MaxStepPpm` ppm from the
 *   device's previous reading (ppb converted), when that reading is at most `stepWindowMs`
 *   of device time apart. The previous value is this instance's: readings of one device
 *   spread over several instances are compared with the last one each instance saw.
 * @module
 */
import type { Reading } from './readings/reading.ts';

export const QualityFlag = { ld2410AbsentButNear: 'ld2410_absent_but_near', mq134Step: 'mq134_step' } as const;

export interface QualityOptions {
  ld2410NearCm: number;
  ld2410MinEnergy: number;
  mq134MaxStepPpm: number;
  stepWindowMs: number;
  /** Devices whose last gas value is remembered (the first remembered are forgotten first). @default 100000 */
  maxDevices?: number;
}

export class QualityChecks {
  readonly #o: Required<QualityOptions>;
  /** Last gas concentration (ppm) and its device time, per device, in the order first seen. */
  readonly #lastGas = new Map<string, { ppm: number; at: number }>();

  constructor(opts: QualityOptions) {
    this.#o = { maxDevices: 100_000, ...opts };
  }

  /** The flags of a valid reading (`tsMs`: its timestamp), or undefined when it looks plausible. */
  check(r: Reading, tsMs: number): string[] | undefined {
    let flags: string[] | undefined;
    const ld = r.sensors.ld2410 as { presence?: unknown; distance?: unknown; energy?: unknown } | undefined;
    if (ld !== undefined && ld.presence === false && typeof ld.distance === 'number' && typeof ld.energy === 'number') {
      if (ld.distance <= this.#o.ld2410NearCm && ld.energy >= this.#o.ld2410MinEnergy) (flags ??= []).push(QualityFlag.ld2410AbsentButNear);
    }
    const mq = r.sensors.mq134 as { gas_concentration?: unknown; unit?: unknown } | undefined;
    if (mq !== undefined && typeof mq.gas_concentration === 'number') {
      const ppm = mq.unit === 'ppb' ? mq.gas_concentration / 1000 : mq.gas_concentration;
      const prev = this.#lastGas.get(r.device_id);
      if (prev !== undefined && Math.abs(tsMs - prev.at) <= this.#o.stepWindowMs && Math.abs(ppm - prev.ppm) > this.#o.mq134MaxStepPpm) {
        (flags ??= []).push(QualityFlag.mq134Step);
      }
      // a late (older) reading does not replace the newer value; past maxDevices the device
      // remembered longest ago is forgotten (it loses one comparison at most)
      if (prev === undefined) {
        this.#lastGas.set(r.device_id, { ppm, at: tsMs });
        if (this.#lastGas.size > this.#o.maxDevices) this.#lastGas.delete(this.#lastGas.keys().next().value as string);
      } else if (tsMs >= prev.at) {
        prev.ppm = ppm;
        prev.at = tsMs;
      }
    }
    return flags;
  }
}
