/**
 * The alert rules of `neurobuild-ingest consume alerts`: the rules file (JSON, ALERT_RULES_FILE),
 * checked with TypeBox and against the sensor registry (a rule on a sensor or field the server
 * does not know is refused, naming the rule), and the defaults used without a file.
 *
 * ```json
 * {
 *   "secure_areas": ["server-room", "vault"],
 *   "business_hours": { "time_zone": "Europe/Berlin", "days": ["mon","tue","wed","thu","fri"], "start": "08:00", "end": "18:00" },
 *   "rules": [
 *     { "id": "high_gas_concentration", "kind": "threshold", "sensor": "mq134", "field": "gas_concentration", "op": ">", "value": 500, "unit": "ppm" },
 *     { "id": "unauthorized_presence", "kind": "presence_outside_hours", "signals": ["ld2410.presence"], "severity": "critical" }
 *   ]
 * }
 * ```
 *
 * Without `rules`, the two defaults apply (with the file's secure areas and business hours).
 * @module
 */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler, type ValueError } from '@sinclair/typebox/compiler';
import { builtinSensorTypes, type SensorType } from '../../core/readings/registry.ts';

export class RulesError extends Error {
  override name = 'RulesError';
}

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const ID = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$', description: 'letters, digits, _ . - (at most 64)' });
const TIME = Type.String({ pattern: '^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$', description: 'HH:MM (00:00 to 24:00)' });
const SEVERITY = Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]);
const AREAS = Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 10_000 });

const BusinessHoursSchema = Type.Object(
  {
    time_zone: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
    days: Type.Optional(Type.Array(Type.Union(DAY_NAMES.map((d) => Type.Literal(d))), { maxItems: 7 })),
    start: Type.Optional(TIME),
    end: Type.Optional(TIME),
  },
  { additionalProperties: false },
);

const common = {
  id: ID,
  alert_type: Type.Optional(ID),
  severity: Type.Optional(SEVERITY),
  enabled: Type.Optional(Type.Boolean()),
};

const ThresholdRuleSchema = Type.Object(
  {
    ...common,
    kind: Type.Literal('threshold'),
    sensor: Type.String({ minLength: 1 }),
    field: Type.String({ minLength: 1 }),
    op: Type.Union([Type.Literal('>'), Type.Literal('>='), Type.Literal('<'), Type.Literal('<=')]),
    value: Type.Number(),
    unit: Type.Optional(Type.Union([Type.Literal('ppm'), Type.Literal('ppb')])),
  },
  { additionalProperties: false },
);

const PresenceRuleSchema = Type.Object(
  {
    ...common,
    kind: Type.Literal('presence_outside_hours'),
    signals: Type.Optional(Type.Array(Type.String({ pattern: '^[A-Za-z0-9_]+\\.[A-Za-z0-9_]+$' }), { minItems: 1, maxItems: 20 })),
    secure_areas: Type.Optional(AREAS),
    business_hours: Type.Optional(BusinessHoursSchema),
  },
  { additionalProperties: false },
);

const FileSchema = Type.Object(
  {
    secure_areas: Type.Optional(AREAS),
    business_hours: Type.Optional(BusinessHoursSchema),
    rules: Type.Optional(Type.Array(Type.Object({}), { maxItems: 1000 })),
  },
  { additionalProperties: false },
);

const fileCheck = TypeCompiler.Compile(FileSchema);
const kinds = {
  threshold: TypeCompiler.Compile(ThresholdRuleSchema),
  presence_outside_hours: TypeCompiler.Compile(PresenceRuleSchema),
} as const;

export type Op = '>' | '>=' | '<' | '<=';
export type Severity = Static<typeof SEVERITY>;

export interface BusinessHours {
  timeZone: string;
  /** 0 = Sunday … 6 = Saturday. */
  days: ReadonlySet<number>;
  /** Minutes after local midnight: start inclusive, end exclusive. */
  startMin: number;
  endMin: number;
}

interface RuleBase {
  id: string;
  /** The alert's `type` (default: the rule id). */
  alertType: string;
  severity: Severity;
}

export interface ThresholdRule extends RuleBase {
  kind: 'threshold';
  sensor: string;
  field: string;
  op: Op;
  value: number;
  /** The threshold's unit; readings in the other one (ppm / ppb) are converted. */
  unit?: 'ppm' | 'ppb';
}

export interface PresenceRule extends RuleBase {
  kind: 'presence_outside_hours';
  /** Boolean sensor fields meaning "someone is there" (any true). */
  signals: { sensor: string; field: string }[];
  /** Locations / zones, lower-cased. */
  secureAreas: ReadonlySet<string>;
  hours: BusinessHours;
}

export type Rule = ThresholdRule | PresenceRule;

export interface RuleSet {
  rules: Rule[];
  /** Where they came from, for the start log. */
  source: string;
}

/** The defaults of the platform's alert service (INTEGRATION.md §4). */
export const DEFAULT_RULES: readonly object[] = [
  { id: 'high_gas_concentration', kind: 'threshold', sensor: 'mq134', field: 'gas_concentration', op: '>', value: 500, unit: 'ppm', severity: 'warning' },
  { id: 'unauthorized_presence', kind: 'presence_outside_hours', signals: ['ld2410.presence'], severity: 'critical' },
];

export const DEFAULT_BUSINESS_HOURS = { time_zone: 'UTC', days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '18:00' } as const;

/** "/op must be one of > >= < <=" from TypeBox's first error. */
function describe(e: ValueError | undefined): string {
  if (!e) return 'is invalid';
  const path = e.path || '(the whole value)';
  const s = e.schema as TSchema;
  if (Array.isArray(s.anyOf) && s.anyOf.every((x: TSchema) => x.const !== undefined)) {
    return `${path} must be one of ${s.anyOf.map((x: TSchema) => String(x.const)).join(' ')} (got ${JSON.stringify(e.value)})`;
  }
  if (typeof s.description === 'string' && s.pattern) return `${path} must be ${s.description} (got ${JSON.stringify(e.value)})`;
  if (e.message.startsWith('Unexpected property')) return `${path} is not a known setting`;
  return `${path}: ${e.message}${e.value !== undefined && typeof e.value !== 'object' ? ` (got ${JSON.stringify(e.value)})` : ''}`;
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** Throws when Intl does not know the zone. */
export function checkTimeZone(tz: string): void {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
  } catch {
    throw new RulesError(`unknown time zone ${JSON.stringify(tz)} (an IANA name such as UTC or Europe/Berlin)`);
  }
}

function businessHours(own: Static<typeof BusinessHoursSchema> | undefined, inherited: Static<typeof BusinessHoursSchema> | undefined, where: string): BusinessHours {
  const h = { ...DEFAULT_BUSINESS_HOURS, ...inherited, ...own };
  try {
    checkTimeZone(h.time_zone);
  } catch (err) {
    throw new RulesError(`${where}business_hours.time_zone: ${(err as Error).message}`);
  }
  const startMin = minutes(h.start);
  const endMin = minutes(h.end);
  if (startMin >= endMin) throw new RulesError(`${where}business_hours: start ${h.start} must be before end ${h.end}`);
  return { timeZone: h.time_zone, days: new Set(h.days.map((d) => DAY_NAMES.indexOf(d))), startMin, endMin };
}

function sensorField(sensors: readonly SensorType[], sensor: string, field: string, type: 'number' | 'boolean'): string | undefined {
  const t = sensors.find((s) => s.name === sensor);
  if (!t) return `unknown sensor ${JSON.stringify(sensor)} (known: ${sensors.map((s) => s.name).join(', ')})`;
  const props = t.schema.properties as Record<string, TSchema>;
  const ok = Object.entries(props)
    .filter(([, s]) => (type === 'number' ? s.type === 'number' || s.type === 'integer' : s.type === 'boolean'))
    .map(([k]) => k);
  if (!ok.includes(field)) return `${sensor} has no ${type === 'number' ? 'numeric' : 'boolean'} field ${JSON.stringify(field)} (${type === 'number' ? 'numeric' : 'boolean'} fields: ${ok.join(', ') || 'none'})`;
  return undefined;
}

/**
 * The rules of a parsed rules file (an object); `source` names it in errors.
 * @throws RulesError naming the file and the first bad rule
 */
export function buildRules(file: unknown, source: string, sensors: readonly SensorType[] = builtinSensorTypes): RuleSet {
  const fail = (msg: string): never => {
    throw new RulesError(`${source}: ${msg}`);
  };
  if (file === null || typeof file !== 'object' || Array.isArray(file)) fail('must be a JSON object with "rules" (and optionally "secure_areas", "business_hours")');
  if (!fileCheck.Check(file)) fail(describe(fileCheck.Errors(file).First()));
  const f = file as Static<typeof FileSchema>;
  const rawRules = (f.rules as unknown[] | undefined) ?? DEFAULT_RULES;
  const rules: Rule[] = [];
  const ids = new Set<string>();
  rawRules.forEach((raw, i) => {
    const r = raw as Record<string, unknown>;
    const name = `rule #${i + 1}${typeof r.id === 'string' ? ` ${JSON.stringify(r.id)}` : ''}`;
    const bad = (msg: string): never => fail(`${name}: ${msg}`);
    const check = kinds[r.kind as keyof typeof kinds];
    if (!check) return bad(`kind must be one of ${Object.keys(kinds).join(' ')} (got ${JSON.stringify(r.kind)})`);
    if (!check.Check(r)) return bad(describe(check.Errors(r).First()));
    if (ids.has(r.id as string)) return bad('id is used by an earlier rule');
    ids.add(r.id as string);
    if (r.enabled === false) return;
    const base = { id: r.id as string, alertType: (r.alert_type as string | undefined) ?? (r.id as string), severity: (r.severity as Severity | undefined) ?? 'warning' };
    if (r.kind === 'threshold') {
      const t = r as Static<typeof ThresholdRuleSchema>;
      const why = sensorField(sensors, t.sensor, t.field, 'number');
      if (why) return bad(why);
      if (t.unit !== undefined) {
        const props = sensors.find((s) => s.name === t.sensor)!.schema.properties as Record<string, TSchema>;
        if (!props.unit) bad(`unit: ${t.sensor} readings carry no unit to convert from`);
      }
      rules.push({ ...base, kind: 'threshold', sensor: t.sensor, field: t.field, op: t.op, value: t.value, ...(t.unit ? { unit: t.unit } : {}) });
    } else {
      const p = r as Static<typeof PresenceRuleSchema>;
      const signals = (p.signals ?? ['ld2410.presence']).map((s) => {
        const [sensor, field] = s.split('.') as [string, string];
        const why = sensorField(sensors, sensor, field, 'boolean');
        if (why) bad(`signals: ${why}`);
        return { sensor, field };
      });
      let hours: BusinessHours;
      try {
        hours = businessHours(p.business_hours, f.business_hours, '');
      } catch (err) {
        return bad((err as Error).message);
      }
      const areas = (p.secure_areas ?? f.secure_areas ?? []).map((a) => a.trim().toLowerCase());
      rules.push({ ...base, kind: 'presence_outside_hours', signals, secureAreas: new Set(areas), hours });
    }
  });
  // top-level business hours are checked even when no rule uses them (a typo should not wait)
  if (f.business_hours) {
    try {
      businessHours(undefined, f.business_hours, '');
    } catch (err) {
      fail((err as Error).message);
    }
  }
  return { rules, source };
}

/**
 * Parses the text of a rules file.
 * @throws RulesError
 */
export function parseRules(text: string, source: string, sensors?: readonly SensorType[]): RuleSet {
  let file: unknown;
  try {
    file = JSON.parse(text);
  } catch (err) {
    throw new RulesError(`${source} is not JSON: ${(err as Error).message}`);
  }
  return buildRules(file, source, sensors);
}

/** The default rules (no secure areas: unauthorized_presence needs a rules file to name them). */
export function defaultRules(): RuleSet {
  return buildRules({}, 'default rules');
}
