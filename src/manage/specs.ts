/**
 * What an operator declares: checks, contacts and alerts as the CLI's flags and `bearmon
 * apply`'s YAML give them, judged by the very schemas the controller and the delivery stage
 * use (judgeCheckRow, prepareContact), so nothing the CLI writes is refused when it runs.
 *
 * Every problem names the field (a path such as `data.url`) and the value. Pure: no I/O.
 */
import type { CheckRegistry } from '../checks/registry.ts';
import { prepareContact, type ContactRegistry } from '../contacts/registry.ts';
import { judgeCheckRow } from '../db/check-rows.ts';
import { REMIND_MAX_CAP } from '../notify/reminders.ts';
import { MAX_MIN_REGIONS } from '../region.ts';
import { showValue } from '../validation.ts';

/** `partial`: only partial outages (some regions see the check offline, others online). */
export const ALERT_TYPES = ['online', 'offline', 'both', 'partial'] as const;
export type AlertType = (typeof ALERT_TYPES)[number];

export interface CheckSpec {
  name: string;
  type: string;
  /** `checks.data`: the JSON text workers receive. */
  data: string;
  interval: number;
  delay: number;
  /** `checks.min_regions`: distinct regions that must see a change (1: any one, gobearmon's rule). */
  regions: number;
  enabled: boolean;
}
export interface ContactSpec {
  name: string;
  type: string;
  /** `contacts.data`: an address, a phone number or a URL, as the type wants. */
  data: string;
}
export interface AlertSpec {
  /** The check and contact by name (`apply`) or as the operator typed them (`alert add`). */
  check: string;
  contact: string;
  type: AlertType;
  enabled: boolean;
  /** Reminders while the check stays offline: every remindEvery seconds, at most remindMax times (both or neither). */
  remindEvery?: number;
  remindMax?: number;
}

/** One problem: the field at fault (a path inside the object) and a message naming the value. */
export interface SpecProblem {
  field: string;
  message: string;
}
export type Judged<T> = { ok: true; spec: T } | { ok: false; problems: SpecProblem[] };

/** Column widths of gobearmon's schema: longer values would be cut by MySQL. */
export const LIMITS = { name: 64, checkType: 16, checkData: 1024, contactType: 32, contactData: 512 } as const;

const DEFAULTS = { interval: 60, delay: 1, regions: 1, enabled: true, alertType: 'both' as AlertType };
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };

/** Fields each object may have: anything else is a typo the operator should hear about. */
export const FIELDS = {
  check: ['name', 'type', 'data', 'interval', 'delay', 'regions', 'enabled'],
  contact: ['name', 'type', 'data'],
  alert: ['check', 'contact', 'type', 'enabled', 'remindEvery', 'remindMax'],
} as const;

const problem = (field: string, message: string, value: unknown): SpecProblem => ({ field, message: `${field}: ${message} (value ${showValue(value)})` });

/**
 * A name: what `apply` identifies objects by and what every command accepts in place of an
 * id. Not all digits, so a name can never be taken for an id.
 */
export function judgeName(value: unknown, field = 'name'): SpecProblem | string {
  if (value === undefined) return { field, message: `${field}: missing (every object is known by its name)` };
  if (typeof value !== 'string') return problem(field, 'expected a string', value);
  const name = value.trim();
  if (name === '') return problem(field, 'expected a non-empty name', value);
  if (name.length > LIMITS.name) return problem(field, `expected at most ${LIMITS.name} characters`, value);
  if (/^\d+$/.test(name)) return problem(field, 'expected a name that is not all digits (digits are read as an id)', value);
  if (/[\u0000-\u001f\u007f]/.test(name)) return problem(field, 'expected no control characters', value);
  return name;
}

/** Seconds from an integer (seconds) or a duration such as 30s, 5m, 1h, 1d. */
export function judgeSeconds(value: unknown, field: string, min: number): SpecProblem | number {
  let seconds: number | undefined;
  if (typeof value === 'number') seconds = value;
  else if (typeof value === 'string') {
    const match = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(value);
    if (match) seconds = Number(match[1]) * UNIT_SECONDS[match[2] || 's']!;
  }
  if (seconds === undefined || !Number.isSafeInteger(seconds)) return problem(field, 'expected whole seconds or a duration such as 30s, 5m, 1h', value);
  if (seconds < min) return problem(field, `expected at least ${min}`, value);
  return seconds;
}

function judgeInteger(value: unknown, field: string, min: number): SpecProblem | number {
  const n = typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n)) return problem(field, 'expected an integer', value);
  if (n < min) return problem(field, `expected at least ${min}`, value);
  return n;
}

function judgeBoolean(value: unknown, field: string): SpecProblem | boolean {
  if (typeof value === 'boolean') return value;
  return problem(field, 'expected true or false', value);
}

/** `data` as JSON text: an object is serialised, a string must already be JSON. */
function checkDataText(value: unknown): SpecProblem | string {
  if (typeof value === 'string') return value.trim();
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return JSON.stringify(value);
  return problem('data', 'expected the check parameters as an object or a JSON string', value);
}

function unknownFields(input: Record<string, unknown>, allowed: readonly string[]): SpecProblem[] {
  return Object.keys(input)
    .filter((key) => !allowed.includes(key))
    .map((key) => ({ field: key, message: `${key}: unknown field (known: ${allowed.join(', ')})` }));
}

const isProblem = (v: unknown): v is SpecProblem => typeof v === 'object' && v !== null && 'field' in v && 'message' in v;

/** Collects the judged fields; every problem is kept so one run of `apply` shows them all. */
function collect<T extends object>(fields: { [K in keyof T]: SpecProblem | T[K] }, extra: SpecProblem[]): Judged<T> {
  const problems = [...extra];
  const spec: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (isProblem(value)) problems.push(value);
    else spec[key] = value;
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, spec: spec as T };
}

const asObject = (input: unknown, what: string): Record<string, unknown> | SpecProblem =>
  typeof input === 'object' && input !== null && !Array.isArray(input) ? (input as Record<string, unknown>) : { field: '(root)', message: `expected ${what} as a mapping of fields (value ${showValue(input)})` };

export function judgeCheck(registry: CheckRegistry, input: unknown): Judged<CheckSpec> {
  const object = asObject(input, 'a check');
  if (isProblem(object)) return { ok: false, problems: [object] };
  const judged = collect<CheckSpec>(
    {
      name: judgeName(object.name),
      type: typeof object.type === 'string' && object.type.trim() !== '' ? object.type.trim() : problem('type', `expected one of ${[...registry.keys()].join(', ')}`, object.type),
      data: object.data === undefined ? problem('data', 'expected the check parameters', undefined) : checkDataText(object.data),
      interval: object.interval === undefined ? DEFAULTS.interval : judgeSeconds(object.interval, 'interval', 1),
      delay: object.delay === undefined ? DEFAULTS.delay : judgeInteger(object.delay, 'delay', 0),
      regions: object.regions === undefined ? DEFAULTS.regions : judgeRegions(object.regions),
      enabled: object.enabled === undefined ? DEFAULTS.enabled : judgeBoolean(object.enabled, 'enabled'),
    },
    unknownFields(object, FIELDS.check),
  );
  if (!judged.ok) return judged;
  const spec = judged.spec;
  if (spec.data.length > LIMITS.checkData) return { ok: false, problems: [problem('data', `expected at most ${LIMITS.checkData} characters of JSON`, spec.data)] };
  // The row as the controller will read it: its verdict is the one that matters.
  const verdict = judgeCheckRow(registry, { id: 1, name: spec.name, type: spec.type, data: spec.data, check_interval: spec.interval, delay: spec.delay, min_regions: spec.regions, status: 'online' });
  if (!verdict.ok) return { ok: false, problems: [{ field: verdict.misconfigured.field, message: verdict.misconfigured.message }] };
  return judged;
}

export function judgeContact(registry: ContactRegistry, input: unknown): Judged<ContactSpec> {
  const object = asObject(input, 'a contact');
  if (isProblem(object)) return { ok: false, problems: [object] };
  const judged = collect<ContactSpec>(
    {
      name: judgeName(object.name),
      type: typeof object.type === 'string' && object.type.trim() !== '' ? object.type.trim() : problem('type', `expected one of ${[...registry.keys()].join(', ')}`, object.type),
      data: typeof object.data === 'string' ? object.data.trim() : problem('data', 'expected a string (an e-mail address, a phone number or a URL)', object.data),
    },
    unknownFields(object, FIELDS.contact),
  );
  if (!judged.ok) return judged;
  const spec = judged.spec;
  if (spec.data.length > LIMITS.contactData) return { ok: false, problems: [problem('data', `expected at most ${LIMITS.contactData} characters`, spec.data)] };
  // The delivery stage's own judgement of the row.
  const prepared = prepareContact(registry, spec.type, spec.data);
  if (!prepared.ok) return { ok: false, problems: [{ field: prepared.message.split(':')[0]!, message: prepared.message }] };
  return judged;
}

export function judgeAlert(input: unknown): Judged<AlertSpec> {
  const object = asObject(input, 'an alert');
  if (isProblem(object)) return { ok: false, problems: [object] };
  const ref = (field: 'check' | 'contact') => {
    const value = object[field];
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return String(value);
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
    return problem(field, `expected the ${field}'s name or id`, value);
  };
  const type = object.type ?? DEFAULTS.alertType;
  return collect<AlertSpec>(
    {
      check: ref('check'),
      contact: ref('contact'),
      type: (ALERT_TYPES as readonly unknown[]).includes(type) ? (type as AlertType) : problem('type', 'expected online, offline, both or partial', type),
      enabled: object.enabled === undefined ? DEFAULTS.enabled : judgeBoolean(object.enabled, 'enabled'),
      // A minute at least: a reminder is for a person, not a heartbeat.
      ...(object.remindEvery === undefined ? {} : { remindEvery: judgeSeconds(object.remindEvery, 'remindEvery', 60) }),
      ...(object.remindMax === undefined ? {} : { remindMax: judgeRemindMax(object.remindMax) }),
    },
    [...unknownFields(object, FIELDS.alert), ...remindPair(object)],
  );
}

/** 1..MAX_MIN_REGIONS: more regions than that is a typo, not a topology. */
function judgeRegions(value: unknown): SpecProblem | number {
  const n = judgeInteger(value, 'regions', 1);
  return typeof n === 'number' && n > MAX_MIN_REGIONS ? problem('regions', `expected at most ${MAX_MIN_REGIONS}`, value) : n;
}

/** At most REMIND_MAX_CAP: a reminder's slot number is part of its outbox key. */
function judgeRemindMax(value: unknown): SpecProblem | number {
  const n = judgeInteger(value, 'remindMax', 1);
  return typeof n === 'number' && n > REMIND_MAX_CAP ? problem('remindMax', `expected at most ${REMIND_MAX_CAP}`, value) : n;
}

/** Reminders need both how often and how many: one without the other is a mistake worth naming. */
function remindPair(object: Record<string, unknown>): SpecProblem[] {
  if (object.remindEvery !== undefined && object.remindMax === undefined) return [{ field: 'remindMax', message: 'remindMax: missing (how many reminders at most, with remindEvery)' }];
  if (object.remindMax !== undefined && object.remindEvery === undefined) return [{ field: 'remindEvery', message: 'remindEvery: missing (how often to remind, with remindMax)' }];
  return [];
}

/** One line listing the problems, for the CLI. */
export const describeProblems = (problems: readonly SpecProblem[]): string => problems.map((p) => p.message).join('; ');
