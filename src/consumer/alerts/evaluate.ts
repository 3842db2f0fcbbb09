/**
 * One rule against one enriched reading: does the condition hold (`match`), no longer hold
 * (`clear`), or does this reading say nothing about it (`na`: the sensor is not in it)?
 * Pure: business hours are those of the reading's own timestamp, in the rule's time zone
 * (Intl, no time-zone library).
 * @module
 */
import type { EnrichedReading } from '../../core/readings/reading.ts';
import type { BusinessHours, Op, PresenceRule, Rule, ThresholdRule } from './rules.ts';

export type Outcome =
  | { kind: 'na' }
  | {
      kind: 'match' | 'clear';
      /** The measured value (in the rule's unit), or presence for presence rules. */
      value: number | boolean;
      threshold: number | null;
      unit: string | null;
      /** device_metadata.location, else zone; null when the device has none. */
      location: string | null;
      /** What holds (match) or what the condition is (clear), in words. */
      detail: string;
    };

const NA: Outcome = { kind: 'na' };

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Day of week (0 = Sunday) and minutes after midnight of `ms` in `timeZone`. */
export function localTime(ms: number, timeZone: string): { day: number; minutes: number } {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formatters.set(timeZone, f);
  }
  let day = 0;
  let hour = 0;
  let minute = 0;
  for (const p of f.formatToParts(ms)) {
    if (p.type === 'weekday') day = WEEKDAY[p.value] ?? 0;
    else if (p.type === 'hour') hour = Number(p.value) % 24;
    else if (p.type === 'minute') minute = Number(p.value);
  }
  return { day, minutes: hour * 60 + minute };
}

export function inBusinessHours(hours: BusinessHours, ms: number): boolean {
  const { day, minutes } = localTime(ms, hours.timeZone);
  return hours.days.has(day) && minutes >= hours.startMin && minutes < hours.endMin;
}

export function compare(a: number, op: Op, b: number): boolean {
  switch (op) {
    case '>':
      return a > b;
    case '>=':
      return a >= b;
    case '<':
      return a < b;
    case '<=':
      return a <= b;
  }
}

function location(r: EnrichedReading): string | null {
  const m = r.device_metadata;
  const v = m?.location ?? m?.zone;
  return typeof v === 'string' && v !== '' ? v : null;
}

const round = (n: number) => Math.round(n * 1e6) / 1e6;

function threshold(rule: ThresholdRule, r: EnrichedReading): Outcome {
  const s = r.sensors?.[rule.sensor];
  if (s === null || typeof s !== 'object') return NA;
  const raw = s[rule.field];
  if (typeof raw !== 'number' || !Number.isFinite(raw)) return NA;
  let v = raw;
  if (rule.unit) {
    const from = s.unit;
    if (from !== undefined && from !== rule.unit) {
      if (from === 'ppb' && rule.unit === 'ppm') v = round(v / 1000);
      else if (from === 'ppm' && rule.unit === 'ppb') v = v * 1000;
      else return NA; // a unit we cannot convert: this reading says nothing about the rule
    }
  }
  const unit = rule.unit ?? (typeof s.unit === 'string' ? s.unit : null);
  const u = unit ? ` ${unit}` : '';
  const holds = compare(v, rule.op, rule.value);
  return {
    kind: holds ? 'match' : 'clear',
    value: v,
    threshold: rule.value,
    unit,
    location: location(r),
    detail: holds ? `${rule.sensor}.${rule.field} ${v}${u} ${rule.op} ${rule.value}${u}` : `${rule.sensor}.${rule.field} ${v}${u}, no longer ${rule.op} ${rule.value}${u}`,
  };
}

/** The secure area the device is in (its location or zone), or undefined. */
export function secureArea(rule: PresenceRule, r: EnrichedReading): string | undefined {
  const m = r.device_metadata;
  for (const v of [m?.location, m?.zone]) {
    if (typeof v === 'string' && rule.secureAreas.has(v.trim().toLowerCase())) return v;
  }
  return undefined;
}

function presence(rule: PresenceRule, r: EnrichedReading): Outcome {
  let seen = false;
  let present = false;
  for (const sig of rule.signals) {
    const v = r.sensors?.[sig.sensor]?.[sig.field];
    if (typeof v === 'boolean') {
      seen = true;
      present ||= v;
    }
  }
  if (!seen) return NA;
  const at = Date.parse(r.timestamp);
  if (!Number.isFinite(at)) return NA;
  const area = secureArea(rule, r);
  const after = !inBusinessHours(rule.hours, at);
  const holds = present && area !== undefined && after;
  const detail = holds
    ? `presence in secure area ${JSON.stringify(area)} outside business hours (${rule.hours.timeZone})`
    : !present
      ? 'no presence any more'
      : area === undefined
        ? 'presence, not in a secure area'
        : 'presence within business hours';
  return { kind: holds ? 'match' : 'clear', value: present, threshold: null, unit: null, location: location(r), detail };
}

export function evaluate(rule: Rule, r: EnrichedReading): Outcome {
  return rule.kind === 'threshold' ? threshold(rule, r) : presence(rule, r);
}
