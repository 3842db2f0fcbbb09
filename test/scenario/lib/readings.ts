/**
 * Readings with a unique (device_id, timestamp) per reading: each device's timestamps are
 * its clock in ms, moved on by at least 1 ms per reading (canonical ISO, as the server stores it).
 * @module
 */
import { keyOf } from './tracker.ts';

export interface ScenarioReading {
  key: string;
  deviceId: string;
  timestamp: string;
  json: string;
  value: Record<string, unknown>;
}

export class ReadingSource {
  #next = 0;
  readonly #last: number[];

  /** `devices` devices named `${prefix}${i}`. */
  constructor(
    readonly prefix: string,
    readonly devices: number,
  ) {
    this.#last = new Array<number>(devices).fill(0);
  }

  next(): ScenarioReading {
    const i = this.#next++ % this.devices;
    const ms = Math.max(Date.now(), this.#last[i]! + 1);
    this.#last[i] = ms;
    const deviceId = `${this.prefix}${i}`;
    const timestamp = new Date(ms).toISOString();
    const value = {
      device_id: deviceId,
      timestamp,
      sensors: {
        ld2410: { presence: true, distance: 100 + (ms % 300), energy: ms % 100 },
        pir: { motion_detected: ms % 2 === 0 },
        mq134: { gas_concentration: 200 + (ms % 50), unit: 'ppm' },
      },
    };
    return { key: keyOf(deviceId, timestamp), deviceId, timestamp, json: JSON.stringify(value), value };
  }
}
