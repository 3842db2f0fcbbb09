/**
 * Who may publish and subscribe to what over MQTT when AUTH_MODE is on. Built in: a device
 * owns `{prefix}/{its id}/#` (publish and subscribe there, its readings included); a subscriber
 * may subscribe to anything under `{prefix}/`, and publishes nothing. MQTT_ACL_FILE adds rules
 * for other topics: `[{"role"?: "device"|"subscriber", "publish"?: [filters], "subscribe"?: [filters]}]`,
 * `%u` in a filter standing for the identity. With AUTH_MODE=none everything is allowed.
 * @module
 */
import { readFileSync } from 'node:fs';
import type { Identity, Role } from '../../auth/identity.ts';
import { matches, validFilter } from './topic-filter.ts';

export interface AclRule {
  role?: Role;
  publish?: string[];
  subscribe?: string[];
}

export class MqttAcl {
  readonly #prefix: string;
  readonly #rules: AclRule[];

  constructor(prefix: string, rules: AclRule[] = []) {
    this.#prefix = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    this.#rules = rules;
  }

  /** Reads and checks MQTT_ACL_FILE. */
  static fromFile(prefix: string, path: string): MqttAcl {
    const rules = JSON.parse(readFileSync(path, 'utf8')) as AclRule[];
    if (!Array.isArray(rules)) throw new Error(`${path}: an ACL file is a JSON array of rules`);
    for (const r of rules) {
      for (const f of [...(r.publish ?? []), ...(r.subscribe ?? [])]) {
        if (typeof f !== 'string' || !validFilter(f.replaceAll('%u', 'x'))) throw new Error(`${path}: ${JSON.stringify(f)} is not a topic filter`);
      }
      if (r.role !== undefined && r.role !== 'device' && r.role !== 'subscriber') throw new Error(`${path}: role must be "device" or "subscriber"`);
    }
    return new MqttAcl(prefix, rules);
  }

  mayPublish(who: Identity, topic: string): boolean {
    if (who.via === 'none') return true;
    if (who.role === 'device' && matches(`${this.#prefix}/${who.id}/#`, topic)) return true;
    return this.#extra(who, 'publish').some((f) => matches(f, topic));
  }

  maySubscribe(who: Identity, filter: string): boolean {
    if (who.via === 'none') return true;
    if (who.role === 'device' && covers(`${this.#prefix}/${who.id}/#`, filter)) return true;
    if (who.role === 'subscriber' && covers(`${this.#prefix}/#`, filter)) return true;
    return this.#extra(who, 'subscribe').some((f) => covers(f, filter));
  }

  /** $SYS topics: only what an ACL rule grants (the built-in rules cover the sensor topics only). */
  mayWatchSystem(who: Identity, filter: string): boolean {
    if (who.via === 'none') return true;
    return this.#extra(who, 'subscribe').some((f) => covers(f, filter));
  }

  #extra(who: Identity, what: 'publish' | 'subscribe'): string[] {
    return this.#rules.filter((r) => r.role === undefined || r.role === who.role).flatMap((r) => (r[what] ?? []).map((f) => f.replaceAll('%u', who.id)));
  }
}

/** Whether every topic `filter` matches is also matched by `allowed`. */
export function covers(allowed: string, filter: string): boolean {
  const a = allowed.split('/');
  const f = filter.split('/');
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '#') return true;
    if (i >= f.length) return false;
    if (f[i] === '#') return false;
    if (a[i] === '+') continue;
    if (a[i] !== f[i]) return false;
  }
  return a.length === f.length;
}
