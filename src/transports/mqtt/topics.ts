/**
 * Sensor topics: `{prefix}/{device_id}/{kind}` with kind data (any sensors), one sensor
 * name (that sensor only) or status (device status, not a reading).
 * @module
 */
import { validDeviceId } from '../../core/device-id.ts';

export type SensorTopic =
  | { kind: 'data'; deviceId: string }
  | { kind: 'sensor'; deviceId: string; sensor: string }
  | { kind: 'status'; deviceId: string };

export class TopicMap {
  readonly #prefix: string;
  readonly #sensors: ReadonlySet<string>;

  constructor(prefix: string, sensorNames: readonly string[]) {
    this.#prefix = prefix.endsWith('/') ? prefix : prefix + '/';
    this.#sensors = new Set(sensorNames);
  }

  /** The sensor topic `topic` names, or undefined for any other topic (a plain relay topic). */
  parse(topic: string): SensorTopic | undefined {
    if (!topic.startsWith(this.#prefix)) return undefined;
    const rest = topic.slice(this.#prefix.length);
    const slash = rest.indexOf('/');
    if (slash <= 0 || rest.indexOf('/', slash + 1) !== -1) return undefined;
    const deviceId = rest.slice(0, slash);
    if (!validDeviceId(deviceId)) return undefined;
    const kind = rest.slice(slash + 1);
    if (kind === 'data') return { kind: 'data', deviceId };
    if (kind === 'status') return { kind: 'status', deviceId };
    if (this.#sensors.has(kind)) return { kind: 'sensor', deviceId, sensor: kind };
    return undefined;
  }
}

/** A topic name a client may publish to: no wildcards, not empty [MQTT-3.3.2-2], [MQTT-4.7.3-1]. */
export function validTopicName(topic: string): boolean {
  return topic.length > 0 && !topic.includes('+') && !topic.includes('#') && !topic.includes('\u0000');
}

/** Levels of a topic name or filter (`a/b` has 2). */
export function topicLevels(topic: string): number {
  let n = 1;
  for (let i = topic.indexOf('/'); i >= 0; i = topic.indexOf('/', i + 1)) n++;
  return n;
}
